/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Server side of libusbip: the sysfs interface of the usbip-host driver.
 *
 * Every path is built under a sysfs root that is /sys unless the
 * environment variable USBIP_SYSFS_ROOT names another directory.  That
 * variable is a test hook: it lets the programs run against a fake sysfs
 * tree made of plain files and directories, without any kernel driver.
 */
#ifndef USBIP_HOST_H
#define USBIP_HOST_H

#include <stdbool.h>
#include <stddef.h>

#include "usbip_common.h"
#include "usbip_proto.h"

/* Environment variable that replaces /sys (test hook). */
#define USBIP_SYSFS_ROOT_ENV	"USBIP_SYSFS_ROOT"
/* Name of the server-side driver in /sys/bus/usb/drivers. */
#define USBIP_HOST_DRIVER	"usbip-host"

const char *usbip_sysfs_root(void);
int usbip_sysfs_path(char *buf, struct usbip_error *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int usbip_sysfs_read_text(const char *path, char *buf, size_t size);
int usbip_sysfs_write_text(const char *path, const char *text, struct usbip_error *err);
int usbip_sysfs_read_status(const char *dir, const char *busid, int *status,
			    struct usbip_error *err);
int usbip_sysfs_write_sockfd(const char *dir, int sockfd, struct usbip_error *err);
int usbip_sysfs_read_num(const char *dir, const char *attr, int base, unsigned long max,
			 bool optional, unsigned long *val, struct usbip_error *err);
int usbip_sysfs_device_path(const char *dir, struct usbip_devinfo *dev, struct usbip_error *err);

int usbip_host_driver_loaded(struct usbip_error *err);
int usbip_host_read_device(const char *busid, struct usbip_devinfo *dev,
			   struct usbip_error *err);
int usbip_host_driver_of(const char *busid, char *name, size_t size, struct usbip_error *err);
int usbip_host_is_bound(const char *busid);
int usbip_host_bind(const char *busid, struct usbip_error *err);
int usbip_host_unbind(const char *busid, struct usbip_error *err);
int usbip_host_status(const char *busid, int *status, struct usbip_error *err);
int usbip_host_export_fd(const char *busid, int sockfd, struct usbip_error *err);
int usbip_host_devices(struct usbip_devinfo **devs, size_t *ndev, struct usbip_error *err);

#endif /* USBIP_HOST_H */
