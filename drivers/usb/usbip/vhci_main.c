// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vhci-hcd: USB/IP client virtual host controller.
 *
 * This module is an empty shell in this release: it loads and unloads, and
 * does nothing else.  It registers no driver and no device.  The real
 * driver lands with its own issue.
 */

#include <linux/module.h>
#include <linux/printk.h>

static int __init vhci_init(void)
{
	pr_notice("vhci-hcd: not implemented in this build, nothing registered\n");
	return 0;
}

static void __exit vhci_exit(void)
{
}

module_init(vhci_init);
module_exit(vhci_exit);

MODULE_DESCRIPTION("USB/IP client virtual host controller (empty shell)");
MODULE_LICENSE("GPL");
