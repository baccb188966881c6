// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * usbip-host: USB/IP server stub driver.
 *
 * This module is an empty shell in this release: it loads and unloads, and
 * does nothing else.  It registers no driver and no device.  The real
 * driver lands with its own issue.
 */

#include <linux/module.h>
#include <linux/printk.h>

static int __init stub_init(void)
{
	pr_notice("usbip-host: not implemented in this build, nothing registered\n");
	return 0;
}

static void __exit stub_exit(void)
{
}

module_init(stub_init);
module_exit(stub_exit);

MODULE_DESCRIPTION("USB/IP server stub driver (empty shell)");
MODULE_LICENSE("GPL");
