/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Loading the kernel module a command needs, through libkmod.
 *
 * usbip attach/port/detach need vhci-hcd, usbip bind/unbind and usbipd
 * need usbip-host (usbip-vudc for usbipd --device).  When the module is
 * not loaded, usbip_kmod_need() loads it the way "modprobe" would, and
 * when that fails the error names the reason: not root, not installed for
 * the running kernel, or another build of the module (or of a module it
 * depends on) already loaded.
 *
 * Environment:
 *   USBIP_NO_AUTOLOAD=1  never load anything (test hook; the command then
 *                        fails later with its own "not loaded" error)
 *   USBIP_KMOD_DIR=DIR   look modules up in DIR instead of
 *                        /lib/modules/$(uname -r) (test hook)
 *   USBIP_SYSFS_ROOT     (the fake sysfs test hook) without
 *                        USBIP_KMOD_DIR: never load anything either
 */
#ifndef USBIP_KMOD_H
#define USBIP_KMOD_H

#include <stddef.h>

#include "usbip_common.h"

#define USBIP_NO_AUTOLOAD_ENV	"USBIP_NO_AUTOLOAD"
#define USBIP_KMOD_DIR_ENV	"USBIP_KMOD_DIR"

/**
 * enum usbip_kmod_failure - why a module could not be loaded
 * @USBIP_KMOD_NOT_ROOT: loading needs root (CAP_SYS_MODULE)
 * @USBIP_KMOD_NOT_INSTALLED: no module of that name for this kernel
 * @USBIP_KMOD_CONFLICT: another build of it, or of a dependency, is loaded
 * @USBIP_KMOD_OTHER: the kernel refused it for another reason
 */
enum usbip_kmod_failure {
	USBIP_KMOD_NOT_ROOT,
	USBIP_KMOD_NOT_INSTALLED,
	USBIP_KMOD_CONFLICT,
	USBIP_KMOD_OTHER,
};

int usbip_kmod_need(const char *module, struct usbip_error *err);
void usbip_kmod_explain(struct usbip_error *err, enum usbip_kmod_failure why,
			const char *module, const char *kver, const char *detail);

#endif /* USBIP_KMOD_H */
