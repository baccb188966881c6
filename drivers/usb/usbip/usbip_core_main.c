// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * usbip-core: the layer shared by the USB/IP drivers (vhci-hcd,
 * usbip-host, usbip-vudc): wire format, socket I/O, connection events and
 * the debug mask.  See usbip_common.h for the API.
 */
#define pr_fmt(fmt) "usbip-core: " fmt

#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/sysfs.h>

#include "usbip_common.h"

/*
 * The debug mask, /sys/module/usbip_core/parameters/usbip_debug.
 * Categories are the USBIP_DBG_* bits of usbip_common.h.
 */
unsigned long usbip_debug_flags;
EXPORT_SYMBOL_GPL(usbip_debug_flags);
module_param_named(usbip_debug, usbip_debug_flags, ulong, 0644);
MODULE_PARM_DESC(usbip_debug, "debug message categories (bit mask, USBIP_DBG_*)");

#if IS_ENABLED(CONFIG_USBIP_SELFTEST)
static int selftest;
module_param(selftest, int, 0444);
MODULE_PARM_DESC(selftest,
		 "testing: run the self-test at load and refuse to load if it fails: 1 over TCP on 127.0.0.1 (AF_UNIX if that fails), 2 over AF_UNIX only");
#endif

/**
 * usbip_debug_show() - format the debug mask for a sysfs show method
 * @buf: the sysfs page
 *
 * Return: bytes written ("0x..." and a newline).
 */
ssize_t usbip_debug_show(char *buf)
{
	return sysfs_emit(buf, "%#lx\n", READ_ONCE(usbip_debug_flags));
}
EXPORT_SYMBOL_GPL(usbip_debug_show);

/**
 * usbip_debug_store() - set the debug mask from a sysfs store method
 * @buf: a number, decimal or 0x-prefixed hex
 * @count: its length
 *
 * Return: @count, or -EINVAL / -ERANGE.
 */
ssize_t usbip_debug_store(const char *buf, size_t count)
{
	unsigned long val;
	int ret;

	ret = kstrtoul(buf, 0, &val);
	if (ret)
		return ret;
	WRITE_ONCE(usbip_debug_flags, val);
	return count;
}
EXPORT_SYMBOL_GPL(usbip_debug_store);

static int __init usbip_core_init(void)
{
	int ret;

	ret = usbip_event_init();
	if (ret)
		return ret;

#if IS_ENABLED(CONFIG_USBIP_SELFTEST)
	if (selftest) {
		ret = usbip_selftest_run(selftest == 2);
		if (ret)
			goto err_selftest;
	}
#endif
	return 0;

#if IS_ENABLED(CONFIG_USBIP_SELFTEST)
err_selftest:
	usbip_event_exit();
	return ret;
#endif
}

static void __exit usbip_core_exit(void)
{
	usbip_event_exit();
}

module_init(usbip_core_init);
module_exit(usbip_core_exit);
MODULE_DESCRIPTION("USB/IP core: wire protocol, socket I/O and connection events");
MODULE_LICENSE("GPL");
