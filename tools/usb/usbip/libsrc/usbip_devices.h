/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Local USB devices, read from sysfs through libudev.
 */
#ifndef USBIP_DEVICES_H
#define USBIP_DEVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "usbip_common.h"
#include "usbip_proto.h"

/* bDeviceClass of hubs, which are never exported. */
#define USBIP_CLASS_HUB		0x09

int usbip_local_devices(struct usbip_devinfo **devs, size_t *ndev, struct usbip_error *err);
int usbip_local_device(const char *busid, struct usbip_devinfo *dev, struct usbip_error *err);

uint32_t usbip_speed_from_sysfs(const char *text);
const char *usbip_speed_str(uint32_t speed);
int usbip_parse_sysfs_uint(const char *text, int base, unsigned long max, unsigned long *val);

/*
 * Reads one numeric attribute of a device for usbip_read_device_numbers():
 * the number in @base, at most @max; when @optional, a missing or empty
 * attribute reads as 0.  Returns 0 or a negative errno with @err set.
 */
typedef int (*usbip_attr_reader)(void *ctx, const char *attr, int base, unsigned long max,
				 bool optional, unsigned long *val, struct usbip_error *err);
int usbip_read_device_numbers(usbip_attr_reader read, void *ctx, struct usbip_devinfo *dev,
			      struct usbip_error *err);
int usbip_busid_cmp(const char *a, const char *b);
void usbip_sort_devices(struct usbip_devinfo *devs, size_t ndev);

struct usbip_names;
struct usbip_session;
void usbip_print_local_device(FILE *out, const struct usbip_devinfo *dev,
			      const struct usbip_names *names, bool parsable);
void usbip_print_local_device_session(FILE *out, const struct usbip_devinfo *dev,
				      const struct usbip_names *names, bool parsable,
				      const struct usbip_session *session);
void usbip_print_remote_device(FILE *out, const struct usbip_devinfo *dev,
			       const struct usbip_names *names);

#endif /* USBIP_DEVICES_H */
