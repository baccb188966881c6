/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Device mode of libusbip: USB gadgets bound to a usbip-vudc virtual device
 * controller, exported by "usbipd --device" and listed by
 * "usbip list --device".
 *
 * Like usbip_host.h, every path is built under usbip_sysfs_root(), so the
 * USBIP_SYSFS_ROOT test hook works here as well.
 */
#ifndef USBIP_VUDC_H
#define USBIP_VUDC_H

#include <stddef.h>
#include <stdint.h>

#include "usbip_common.h"
#include "usbip_proto.h"

/* Name of the platform driver, and prefix of its devices' names. */
#define USBIP_VUDC_DRIVER	"usbip-vudc"
/* Size of the dev_desc attribute: a USB device descriptor. */
#define USBIP_VUDC_DESC_SIZE	18

int usbip_vudc_driver_loaded(struct usbip_error *err);
int usbip_vudc_read_device(const char *busid, struct usbip_devinfo *dev,
			   struct usbip_error *err);
int usbip_vudc_status(const char *busid, int *status, struct usbip_error *err);
int usbip_vudc_export_fd(const char *busid, int sockfd, struct usbip_error *err);
int usbip_vudc_ext_caps(const char *busid, uint32_t *caps, struct usbip_error *err);
int usbip_vudc_write_sockfd(const char *busid, const char *line, const char *shown,
			    struct usbip_error *err);
int usbip_vudc_devices(struct usbip_devinfo **devs, size_t *ndev, struct usbip_error *err);
uint32_t usbip_speed_from_udc(const char *text);
int usbip_vudc_parse_desc(const uint8_t *desc, size_t len, struct usbip_devinfo *dev,
			  struct usbip_error *err);

#endif /* USBIP_VUDC_H */
