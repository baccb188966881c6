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
#include <stdint.h>

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
int usbip_sysfs_write_shown(const char *path, const char *text, const char *shown,
			    struct usbip_error *err);
int usbip_sysfs_read_status(const char *dir, const char *busid, int *status,
			    struct usbip_error *err);
int usbip_sysfs_write_sockfd(const char *dir, int sockfd, struct usbip_error *err);
int usbip_sysfs_write_sockfd_line(const char *dir, const char *line, const char *shown,
				  struct usbip_error *err);
int usbip_sysfs_read_ext_caps(const char *dir, uint32_t *caps, struct usbip_error *err);

/* Size of the text written to usbip_sockfd, terminating NUL included. */
#define USBIP_SOCKFD_LINE_SIZE	192
void usbip_sockfd_line_session(char *buf, int sockfd, const struct usbip_ext_block *blk,
			       bool redact);
void usbip_sockfd_line_resume(char *buf, int sockfd, const uint8_t *old, const uint8_t *new,
			      bool redact);

/**
 * struct usbip_session - the usbip_session attribute of an exported device
 * @state: USBIP_SESSION_NONE (no session, or a plain connection),
 *	USBIP_SESSION_ACTIVE (a session on a live connection) or
 *	USBIP_SESSION_RESUMABLE (its connection failed; waiting for a resume)
 * @journal: bytes of answers kept for a resume (active)
 * @left_ms: what is left of the resume window (resumable)
 */
struct usbip_session {
	enum {
		USBIP_SESSION_NONE,
		USBIP_SESSION_ACTIVE,
		USBIP_SESSION_RESUMABLE,
	} state;
	unsigned long long journal;
	uint32_t left_ms;
};

int usbip_parse_session(const char *text, struct usbip_session *s);
unsigned int usbip_session_left_s(const struct usbip_session *s);
int usbip_sysfs_read_session(const char *dir, struct usbip_session *s, struct usbip_error *err);
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
int usbip_host_ext_caps(const char *busid, uint32_t *caps, struct usbip_error *err);
int usbip_host_write_sockfd(const char *busid, const char *line, const char *shown,
			    struct usbip_error *err);
int usbip_host_session(const char *busid, struct usbip_session *s, struct usbip_error *err);
int usbip_host_devices(struct usbip_devinfo **devs, size_t *ndev, struct usbip_error *err);

#endif /* USBIP_HOST_H */
