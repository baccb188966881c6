// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * usbip-vudc: USB/IP virtual USB device controller.
 *
 * This module is an empty shell in this release: it loads and unloads, and
 * does nothing else.  It registers no driver and no device.  The real
 * driver lands with its own issue.
 */

#include <linux/module.h>
#include <linux/printk.h>

static int __init vudc_init(void)
{
	pr_notice("usbip-vudc: not implemented in this build, nothing registered\n");
	return 0;
}

static void __exit vudc_exit(void)
{
}

module_init(vudc_init);
module_exit(vudc_exit);

MODULE_DESCRIPTION("USB/IP virtual USB device controller (empty shell)");
MODULE_LICENSE("GPL");
