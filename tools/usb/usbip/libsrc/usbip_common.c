// SPDX-License-Identifier: GPL-2.0
/*
 * Diagnostics shared by the usbip programs and libusbip.
 */
#include <stdio.h>
#include <syslog.h>

#include "usbip_common.h"

bool usbip_debug_enabled;
const char *usbip_progname = "usbip";
void (*usbip_log_sink)(int priority, const char *line);

/**
 * usbip_set_error() - record why an operation failed
 * @err: report to fill, may be NULL
 * @fmt: printf-style format of the reason
 */
void usbip_set_error(struct usbip_error *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

static void usbip_vlog(const char *level, const char *fmt, va_list ap)
{
	if (usbip_log_sink) {
		char line[1024];
		int priority = level[0] == 'e' ? LOG_ERR : level[0] == 'w' ? LOG_WARNING :
			       level[0] == 'i' ? LOG_INFO : LOG_DEBUG;

		vsnprintf(line, sizeof(line), fmt, ap);
		usbip_log_sink(priority, line);
		return;
	}
	fprintf(stderr, "%s: %s", usbip_progname, level);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

/**
 * usbip_err() - print an error line on stderr
 * @fmt: printf-style format, without trailing newline
 */
void usbip_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	usbip_vlog("error: ", fmt, ap);
	va_end(ap);
}

/**
 * usbip_warn() - print a warning line on stderr
 * @fmt: printf-style format, without trailing newline
 */
void usbip_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	usbip_vlog("warning: ", fmt, ap);
	va_end(ap);
}

/**
 * usbip_info() - print an informational line on stderr
 * @fmt: printf-style format, without trailing newline
 */
void usbip_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	usbip_vlog("info: ", fmt, ap);
	va_end(ap);
}

/**
 * usbip_dbg() - print a debug line on stderr when debugging is enabled
 * @fmt: printf-style format, without trailing newline
 */
void usbip_dbg(const char *fmt, ...)
{
	va_list ap;

	if (!usbip_debug_enabled)
		return;
	va_start(ap, fmt);
	usbip_vlog("debug: ", fmt, ap);
	va_end(ap);
}
