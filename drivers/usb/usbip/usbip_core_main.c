// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * usbip-core: placeholder replaced by the wire layer.
 */
#include <linux/module.h>

static int __init usbip_core_init(void)
{
	return 0;
}

static void __exit usbip_core_exit(void)
{
}

module_init(usbip_core_init);
module_exit(usbip_core_exit);
MODULE_LICENSE("GPL");
