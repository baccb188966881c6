/* SPDX-License-Identifier: GPL-2.0 */
/*
 * libusbip internals shared by its source files; not installed.
 */
#ifndef USBIP_INTERNAL_H
#define USBIP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "usbip_common.h"
#include "usbip_devices.h"
#include "usbip_proto.h"

/* One row of a table from a sysfs speed text to enum usb_device_speed. */
struct usbip_speed_name {
	const char *text;
	uint32_t speed;
};

uint32_t usbip_speed_lookup(const char *text, const struct usbip_speed_name *map, size_t n);

/* An interface as read, before the interfaces are put in number order. */
struct usbip_intf_slot {
	unsigned long number;
	struct usbip_ifinfo info;
};

int usbip_read_interface(usbip_attr_reader read, void *ctx, struct usbip_intf_slot *slot,
			 struct usbip_error *err);
void usbip_set_interfaces(struct usbip_devinfo *dev, struct usbip_intf_slot *slots, size_t n);

/*
 * Tells whether the entry @name of a driver's directory @dir is one of its
 * devices, for usbip_driver_devices().
 */
typedef bool (*usbip_driver_entry_filter)(const char *dir, const char *name);
/* Reads the device @busid for usbip_driver_devices(). */
typedef int (*usbip_device_reader)(const char *busid, struct usbip_devinfo *dev,
				   struct usbip_error *err);

int usbip_driver_devices(const char *dir, usbip_driver_entry_filter want,
			 usbip_device_reader read, const char *what,
			 struct usbip_devinfo **devs, size_t *ndev, struct usbip_error *err);

#endif /* USBIP_INTERNAL_H */
