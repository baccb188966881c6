// SPDX-License-Identifier: GPL-2.0
/*
 * Messages of a failed on-demand module load (usbip_kmod_explain()), and
 * usbip_kmod_need() against an empty modules directory.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"
#include "usbip_kmod.h"

static int has(const char *text, const char *part)
{
	if (strstr(text, part))
		return 1;
	tap_diag("\"%s\" lacks \"%s\"", text, part);
	return 0;
}

int main(void)
{
	struct usbip_error err;
	char dir[] = "/tmp/usbip-test-kmod.XXXXXX", kdir[128];
	int ret;

	usbip_kmod_explain(&err, USBIP_KMOD_NOT_ROOT, "vhci-hcd", "6.1.0-1-amd64", NULL);
	CHECK(has(err.msg, "vhci-hcd module is not loaded") && has(err.msg, "needs root") &&
	      has(err.msg, "modprobe vhci-hcd"), "not root: names the module and the way out");

	usbip_kmod_explain(&err, USBIP_KMOD_NOT_INSTALLED, "usbip-host", "6.1.0-1-amd64", NULL);
	CHECK(has(err.msg, "usbip-host module is not loaded and not installed") &&
	      has(err.msg, "kernel 6.1.0-1-amd64") && has(err.msg, "DKMS"),
	      "not installed: names the module and the kernel release");

	usbip_kmod_explain(&err, USBIP_KMOD_CONFLICT, "vhci-hcd", "6.1.0-1-amd64",
			   "loaded usbip_core is in-tree (taint ''), modprobe resolves it to "
			   "out-of-tree /lib/modules/6.1.0-56-amd64/updates/usbip-core.ko; run "
			   "'modprobe -r usbip_core' first");
	CHECK(has(err.msg, "cannot load vhci-hcd: a conflicting copy is already loaded") &&
	      has(err.msg, "loaded usbip_core is in-tree") &&
	      has(err.msg, "run 'modprobe -r usbip_core' first"),
	      "conflict: says which copy and how to unload, within the message size");

	usbip_kmod_explain(&err, USBIP_KMOD_OTHER, "usbip-vudc", "6.1.0-1-amd64",
			   strerror(ENOEXEC));
	CHECK(has(err.msg, "loading the usbip-vudc module failed") &&
	      has(err.msg, strerror(ENOEXEC)) && has(err.msg, "dmesg"),
	      "other failure: the kernel's error and dmesg");

	usbip_kmod_explain(&err, USBIP_KMOD_CONFLICT, "vhci-hcd", "k", NULL);
	CHECK(strlen(err.msg) < sizeof(err.msg) - 1 && has(err.msg, "unknown"),
	      "conflict without detail still reads");

	setenv(USBIP_NO_AUTOLOAD_ENV, "1", 1);
	strcpy(err.msg, "untouched");
	CHECK(usbip_kmod_need("no-such-module-xyz", &err) == 0 &&
	      !strcmp(err.msg, "untouched"), "USBIP_NO_AUTOLOAD=1 loads nothing and succeeds");
	unsetenv(USBIP_NO_AUTOLOAD_ENV);

	if (!mkdtemp(dir)) {
		tap_skip("mkdtemp failed");
		return tap_done();
	}
	snprintf(kdir, sizeof(kdir), "%s/9.9.9-test", dir);
	mkdir(kdir, 0755);
	setenv(USBIP_KMOD_DIR_ENV, kdir, 1);
	ret = usbip_kmod_need("usbip-no-such-module", &err);
	CHECK(ret == -ENOENT && has(err.msg, "not installed for kernel 9.9.9-test"),
	      "a module missing from the modules directory is 'not installed' (%d)", ret);
	rmdir(kdir);
	rmdir(dir);
	return tap_done();
}
