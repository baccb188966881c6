# SPDX-License-Identifier: GPL-2.0
#
# Top-level Makefile of the usbip repository.
#
#   make            kernel modules (against KDIR) and the userspace tools
#   make deps       install every Debian package that building and testing need
#   make check      every test: unit, tools, install, fuzz smoke, sparse, and
#                   the QEMU VM suite
#   make fuzz-long  every libFuzzer target for 10^7 executions (not in check)
#   make check-debug  the VM suite on a KASAN/lockdep/UBSAN/kmemleak build of
#                   Debian's 6.1 (built once per machine, cached in
#                   /var/cache/usbip-debug-kernel), plus fault injection
#   make demo       boot a VM and show what the project can do
#   make install    modules into /lib/modules/KVER/updates (+ depmod), tools,
#                   libusbip, man pages, systemd units, examples
#   make uninstall  remove what make install put in place
#   make dkms-install  register the module sources with DKMS, so that every
#                   new kernel gets them built (dkms-uninstall undoes it)
#   make clean
#
# Variables:
#   KDIR     kernel build directory (default: the running kernel's, else the
#            installed Debian 12 linux-headers-amd64)
#   KVER     kernel release of KDIR (derived from KDIR)
#   DESTDIR  staging root for make install
#   PREFIX   install prefix of the tools (default /usr/local)
#   UNITDIR  systemd unit directory (default PREFIX/lib/systemd/system)
#   SYSCONFDIR  configuration directory (default /etc)

SHELL := /bin/bash
TOP := $(CURDIR)
BUILD := $(TOP)/build

# Kernel to build against.  Debian 12's linux-headers-amd64 depends on the
# current 6.1 headers package; its name gives the directory.
DEBIAN_HEADERS := $(shell dpkg-query -W -f='$${Depends}' linux-headers-amd64 2>/dev/null | \
	grep -o 'linux-headers-[^ ,]*' | head -n1)
ifeq ($(origin KDIR),undefined)
  ifneq ($(wildcard /lib/modules/$(shell uname -r)/build/Makefile),)
    KDIR := /lib/modules/$(shell uname -r)/build
  else ifneq ($(DEBIAN_HEADERS),)
    KDIR := /usr/src/$(DEBIAN_HEADERS)
  else
    KDIR := /lib/modules/$(shell uname -r)/build
  endif
endif
KVER ?= $(shell sed -n 's/^\#define UTS_RELEASE "\(.*\)"/\1/p' \
	$(KDIR)/include/generated/utsrelease.h 2>/dev/null)

# Out of tree, the Kconfig choices come from the command line.
KCONFIG_VARS := CONFIG_USBIP_CORE=m CONFIG_USBIP_VHCI_HCD=m \
	CONFIG_USBIP_HOST=m CONFIG_USBIP_VUDC=m
# USBIP_SELFTEST=1 builds the test hooks in (tests/run --build does); a
# release build (make, make install, DKMS) has none.
# USBIP_DEBUG=1 compiles the modules' debug messages in (-DDEBUG), for a
# kernel without dynamic debug (the debug kernel of make check-debug).
ifeq ($(USBIP_DEBUG),1)
KCONFIG_VARS += CONFIG_USBIP_DEBUG=y
endif
ifeq ($(USBIP_SELFTEST),1)
KCONFIG_VARS += CONFIG_USBIP_SELFTEST=y
endif

# Each kernel gets its own copy of the sources under build/kmod/KVER, so that
# builds for several kernels never share object files.
KMOD_DIR := $(BUILD)/kmod/$(KVER)
KMOD_SRC := $(KMOD_DIR)/drivers/usb/usbip
MODULES := usbip-core vhci-hcd usbip-host usbip-vudc

PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
UNITDIR ?= $(PREFIX)/lib/systemd/system
DOCDIR ?= $(PREFIX)/share/doc/usbip
VERSION := $(shell sed -n '/^AC_INIT/{s/^[^,]*, *\[//;s/\].*//;p;}' \
	tools/usb/usbip/configure.ac)
UNITS := usbipd.service usbip-bind@.service usbip-attach@.service
EXAMPLES := usbip-client.modules-load.conf usbip-server.modules-load.conf \
	usbip.modprobe.conf attach-example.conf
DKMS_SRC := /usr/src/usbip-$(VERSION)
TOOLS_SRC := $(TOP)/tools/usb/usbip
TOOLS_BUILD := $(BUILD)/tools

.PHONY: all modules tools deps check check-debug debug-kernel demo install uninstall \
	clean sparse unit tools-check fuzz fuzz-long vmtest help kmod-sync dkms-install \
	dkms-uninstall install-check

all: modules tools

help:
	@sed -n '3,28s/^# \{0,1\}//p' $(firstword $(MAKEFILE_LIST))

kmod-sync:
	@if [ ! -f "$(KDIR)/Makefile" ]; then \
		echo "error: no kernel build directory at KDIR=$(KDIR);" \
		     "run 'make deps' or pass KDIR=" >&2; exit 1; fi
	@mkdir -p $(KMOD_SRC) $(KMOD_DIR)/include/uapi/linux
	@cp -p drivers/usb/usbip/Makefile drivers/usb/usbip/Kconfig \
		drivers/usb/usbip/*.[ch] $(KMOD_SRC)/
	@cp -p include/uapi/linux/*.h $(KMOD_DIR)/include/uapi/linux/ 2>/dev/null || true

# Builds the four modules for KDIR into build/kmod/KVER/drivers/usb/usbip.
modules: kmod-sync
	$(MAKE) -C $(KDIR) M=$(KMOD_SRC) $(KCONFIG_VARS) modules
	@echo "modules for $(KVER): $(KMOD_SRC)/{$$(echo $(MODULES) | tr ' ' ,)}.ko"

# sparse over every module source, the test code (CONFIG_USBIP_SELFTEST)
# included; any sparse warning fails.
sparse: kmod-sync
	@command -v sparse >/dev/null || { echo "error: sparse not installed (make deps)" >&2; exit 1; }
	@rm -f $(KMOD_SRC)/*.o
	$(MAKE) -C $(KDIR) M=$(KMOD_SRC) $(KCONFIG_VARS) CONFIG_USBIP_SELFTEST=y C=2 modules 2>&1 | tee $(KMOD_DIR)/sparse.log
	@if grep -E '(warning|error):' $(KMOD_DIR)/sparse.log; then \
		echo "sparse: FAILED, see above" >&2; exit 1; fi
	@echo "sparse: clean"

$(TOOLS_SRC)/configure: $(TOOLS_SRC)/configure.ac $(TOOLS_SRC)/autogen.sh
	cd $(TOOLS_SRC) && ./autogen.sh

# configure runs again whenever PREFIX changes, so that "make install
# PREFIX=/usr" does not install files that point into /usr/local.
tools: $(TOOLS_SRC)/configure
	@if [ ! -f $(TOOLS_BUILD)/Makefile ] || \
	    [ "$$(cat $(TOOLS_BUILD)/.prefix 2>/dev/null)" != "$(PREFIX)" ]; then \
		mkdir -p $(TOOLS_BUILD) && cd $(TOOLS_BUILD) && \
		$(TOOLS_SRC)/configure --prefix=$(PREFIX) --sbindir=$(PREFIX)/sbin \
			--sysconfdir=$(SYSCONFDIR) >configure.log && \
		echo "$(PREFIX)" >.prefix || { cat configure.log; exit 1; }; fi
	$(MAKE) -C $(TOOLS_BUILD)
	@mkdir -p $(TOOLS_BUILD)/dist
	@for f in $(UNITS) usbip-keep-attached; do \
		sed -e 's|@SBINDIR@|$(PREFIX)/sbin|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
			$(TOOLS_SRC)/systemd/$$f.in >$(TOOLS_BUILD)/dist/$$f || exit 1; done

deps:
	bash tests/deps.sh

unit:
	$(MAKE) -C tests/unit run

tools-check: tools
	$(MAKE) -C $(TOOLS_BUILD) check

fuzz:
	$(MAKE) -C tests/fuzz run

# Every fuzz target for at least 10^7 executions (ASan + UBSan); not part of
# make check.  Prints each target's execution count.
fuzz-long:
	$(MAKE) -C tests/fuzz long

vmtest:
	bash tests/run

# Each stage prints the time it starts, so a CI log shows where time goes.
stage = @echo "==> make check: $(1) at $$(date +%T)"

check:
	$(call stage,deps)
	$(MAKE) deps
	$(call stage,build)
	$(MAKE) all
	$(call stage,unit)
	$(MAKE) unit
	$(call stage,tools-check)
	$(MAKE) tools-check
	$(call stage,install-check)
	$(MAKE) install-check
	$(call stage,fuzz)
	$(MAKE) fuzz
	$(call stage,sparse)
	$(MAKE) sparse
	$(call stage,VM scenarios)
	bash tests/run --build
	$(call stage,done)

# The VM suite on the debug kernel (tests/debug-kernel): every scenario of
# 6.1 and the fault-injection one; any KASAN, lockdep, UBSAN, kmemleak or
# WARNING report fails.  Not part of make check: the first run builds the
# kernel (25-40 minutes on an idle 2-core machine, two hours on a busy
# one; "make debug-kernel" builds just that), and the suite runs several times
# slower than on Debian's kernel.
debug-kernel:
	bash tests/deps.sh --debug-kernel
	bash tests/debug-kernel/build

check-debug:
	$(call stage,deps)
	$(MAKE) deps
	$(call stage,debug kernel)
	$(MAKE) debug-kernel
	$(call stage,build)
	$(MAKE) all
	$(call stage,VM scenarios on the debug kernel)
	bash tests/run --build --kernel debug
	$(call stage,done)

# The demo boots Debian's current 6.1 kernel, so build for exactly that one.
demo: deps
	$(MAKE) modules KDIR=/usr/src/linux-headers-$$(bash tests/vm/kver 6.1)
	$(MAKE) tools
	bash tests/demo.sh

install: modules tools
	install -d $(DESTDIR)/lib/modules/$(KVER)/updates
	install -m 0644 $(patsubst %,$(KMOD_SRC)/%.ko,$(MODULES)) \
		$(DESTDIR)/lib/modules/$(KVER)/updates/
	if [ -z "$(DESTDIR)" ]; then depmod -a $(KVER); fi
	$(MAKE) -C $(TOOLS_BUILD) install DESTDIR=$(DESTDIR)
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(DOCDIR)/examples
	install -m 0644 $(addprefix $(TOOLS_BUILD)/dist/,$(UNITS)) $(DESTDIR)$(UNITDIR)/
	install -m 0755 $(TOOLS_BUILD)/dist/usbip-keep-attached $(DESTDIR)$(PREFIX)/sbin/
	install -m 0644 $(addprefix $(TOOLS_SRC)/etc/,$(EXAMPLES)) $(DESTDIR)$(DOCDIR)/examples/
	install -m 0644 README $(DESTDIR)$(DOCDIR)/
	if [ -z "$(DESTDIR)" ] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then \
		systemctl daemon-reload; fi

uninstall:
	rm -f $(patsubst %,$(DESTDIR)/lib/modules/$(KVER)/updates/%.ko,$(MODULES))
	if [ -z "$(DESTDIR)" ]; then depmod -a $(KVER); fi
	if [ -f $(TOOLS_BUILD)/Makefile ]; then \
		$(MAKE) -C $(TOOLS_BUILD) uninstall DESTDIR=$(DESTDIR); fi
	rm -f $(addprefix $(DESTDIR)$(UNITDIR)/,$(UNITS)) \
		$(DESTDIR)$(PREFIX)/sbin/usbip-keep-attached \
		$(addprefix $(DESTDIR)$(DOCDIR)/examples/,$(EXAMPLES)) $(DESTDIR)$(DOCDIR)/README
	-rmdir $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR) 2>/dev/null

# DKMS: the module sources go to /usr/src/usbip-VERSION, where dkms.conf
# tells DKMS to run "make modules KDIR=..." for each kernel.
dkms-install:
	install -d $(DESTDIR)$(DKMS_SRC)/drivers/usb/usbip $(DESTDIR)$(DKMS_SRC)/include/uapi/linux
	install -m 0644 Makefile Kconfig COPYING dkms.conf $(DESTDIR)$(DKMS_SRC)/
	install -m 0644 drivers/usb/usbip/Makefile drivers/usb/usbip/Kconfig \
		drivers/usb/usbip/*.[ch] $(DESTDIR)$(DKMS_SRC)/drivers/usb/usbip/
	install -m 0644 include/uapi/linux/*.h $(DESTDIR)$(DKMS_SRC)/include/uapi/linux/
	install -d $(DESTDIR)$(DKMS_SRC)/tools/usb/usbip
	install -m 0644 tools/usb/usbip/configure.ac $(DESTDIR)$(DKMS_SRC)/tools/usb/usbip/
	if [ -z "$(DESTDIR)" ]; then dkms add usbip/$(VERSION) && \
		dkms install usbip/$(VERSION); fi

dkms-uninstall:
	-if [ -z "$(DESTDIR)" ]; then dkms remove usbip/$(VERSION) --all; fi
	rm -rf $(DESTDIR)$(DKMS_SRC)

# Host-side checks of the installation: DESTDIR file list, systemd units,
# a DKMS build, man-page lint.
install-check: all
	bash tests/install/check.sh

clean:
	rm -rf $(BUILD)
	-$(MAKE) -C tests/unit clean
	-$(MAKE) -C tests/fuzz clean
