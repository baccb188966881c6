/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared helpers of libusbip: diagnostics and the error report that the
 * parsing functions fill in.
 */
#ifndef USBIP_COMMON_H
#define USBIP_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* Set by "usbip --debug"; enables usbip_dbg() output on stderr. */
extern bool usbip_debug_enabled;
/* Prefix of every diagnostic line, "usbip" unless a program changes it. */
extern const char *usbip_progname;
/*
 * When set, diagnostics go to this function instead of stderr: @priority is
 * a syslog(3) priority (LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG) and
 * @line the text without prefix or newline.  usbipd -D sets it to syslog.
 */
extern void (*usbip_log_sink)(int priority, const char *line);

/**
 * struct usbip_error - human-readable reason a library call failed
 * @msg: NUL-terminated text naming what failed and why, no trailing newline
 *
 * Functions that take a ``struct usbip_error *`` accept NULL when the caller
 * does not want the text; the return value still says whether they failed.
 */
struct usbip_error {
	char msg[256];
};

void usbip_set_error(struct usbip_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void usbip_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void usbip_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void usbip_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void usbip_dbg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* USBIP_COMMON_H */
