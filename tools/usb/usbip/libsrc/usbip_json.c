// SPDX-License-Identifier: GPL-2.0
/*
 * A small JSON writer: string escaping and the device object shared by
 * every "usbip list --json" mode.
 */
#include <linux/usb/ch9.h>
#include <stdint.h>
#include <stdio.h>

#include "usbip_host.h"
#include "usbip_json.h"
#include "usbip_names.h"

/* Length of the valid UTF-8 sequence at @s, 0 if it is not one. */
static int utf8_len(const unsigned char *s)
{
	uint32_t cp;
	int n, i;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and values past U+10FFFF are invalid. */
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

/**
 * usbip_json_string() - write @s as a JSON string literal
 * @out: stream
 * @s: NUL-terminated bytes, any content
 *
 * Quotes, backslashes and control characters are escaped; bytes that are
 * not valid UTF-8 become U+FFFD, so the output is always valid JSON.
 */
void usbip_json_string(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	int n;

	fputc('"', out);
	while (*p) {
		switch (*p) {
		case '"':
			fputs("\\\"", out);
			break;
		case '\\':
			fputs("\\\\", out);
			break;
		case '\n':
			fputs("\\n", out);
			break;
		case '\r':
			fputs("\\r", out);
			break;
		case '\t':
			fputs("\\t", out);
			break;
		default:
			if (*p < 0x20 || *p == 0x7f) {
				fprintf(out, "\\u%04x", *p);
				break;
			}
			n = utf8_len(p);
			if (!n) {
				fputs("\\ufffd", out);
				break;
			}
			fwrite(p, 1, n, out);
			p += n;
			continue;
		}
		p++;
	}
	fputc('"', out);
}

/** usbip_json_string_or_null() - a string, or null when @s is NULL */
void usbip_json_string_or_null(FILE *out, const char *s)
{
	if (s)
		usbip_json_string(out, s);
	else
		fputs("null", out);
}

/**
 * usbip_json_speed() - the schema's name of an enum usb_device_speed
 * @speed: the value
 *
 * Return: "low", "full", "high", "wireless", "super", "super_plus" or
 * "unknown".
 */
const char *usbip_json_speed(uint32_t speed)
{
	switch (speed) {
	case USB_SPEED_LOW:
		return "low";
	case USB_SPEED_FULL:
		return "full";
	case USB_SPEED_HIGH:
		return "high";
	case USB_SPEED_WIRELESS:
		return "wireless";
	case USB_SPEED_SUPER:
		return "super";
	case USB_SPEED_SUPER_PLUS:
		return "super_plus";
	default:
		return "unknown";
	}
}

static void json_hex(FILE *out, const char *key, unsigned int v, int width)
{
	fprintf(out, "\"%s\":\"%0*x\"", key, width, v);
}

/**
 * usbip_json_device() - write one device object of the list schema
 * @out: stream
 * @dev: the device
 * @names: usb.ids names, may be NULL (names are then null)
 */
void usbip_json_device(FILE *out, const struct usbip_devinfo *dev,
		       const struct usbip_names *names)
{
	usbip_json_device_session(out, dev, names, NULL);
}

/**
 * usbip_json_device_session() - usbip_json_device() with a session
 * @out: stream
 * @dev: the device
 * @names: usb.ids names, may be NULL
 * @session: the device's session state (usbip_host_session()), or NULL
 *
 * An active or suspended session adds "session": {"state": "active"} or
 * {"state": "resumable", "left_s": N} (N rounded up) to the object.
 */
void usbip_json_device_session(FILE *out, const struct usbip_devinfo *dev,
			       const struct usbip_names *names,
			       const struct usbip_session *session)
{
	unsigned int i;

	fputs("{\"busid\":", out);
	usbip_json_string(out, dev->busid);
	fputs(",\"path\":", out);
	usbip_json_string(out, dev->path);
	fputc(',', out);
	json_hex(out, "vendor_id", dev->idVendor, 4);
	fputc(',', out);
	json_hex(out, "product_id", dev->idProduct, 4);
	fputs(",\"vendor\":", out);
	usbip_json_string_or_null(out, usbip_names_vendor(names, dev->idVendor));
	fputs(",\"product\":", out);
	usbip_json_string_or_null(out, usbip_names_product(names, dev->idVendor,
							     dev->idProduct));
	fprintf(out, ",\"speed\":\"%s\",\"busnum\":%u,\"devnum\":%u,", usbip_json_speed(dev->speed),
		dev->busnum, dev->devnum);
	json_hex(out, "bcd_device", dev->bcdDevice, 4);
	fputc(',', out);
	json_hex(out, "class", dev->bDeviceClass, 2);
	fputc(',', out);
	json_hex(out, "subclass", dev->bDeviceSubClass, 2);
	fputc(',', out);
	json_hex(out, "protocol", dev->bDeviceProtocol, 2);
	fputs(",\"class_name\":", out);
	usbip_json_string_or_null(out, usbip_names_class(names, dev->bDeviceClass));
	fprintf(out, ",\"configuration\":%u,\"num_configurations\":%u,\"interfaces\":[",
		dev->bConfigurationValue, dev->bNumConfigurations);
	for (i = 0; i < dev->bNumInterfaces && i < USBIP_MAX_INTERFACES; i++) {
		const struct usbip_ifinfo *in = &dev->intf[i];

		fprintf(out, "%s{\"index\":%u,", i ? "," : "", i);
		json_hex(out, "class", in->bInterfaceClass, 2);
		fputc(',', out);
		json_hex(out, "subclass", in->bInterfaceSubClass, 2);
		fputc(',', out);
		json_hex(out, "protocol", in->bInterfaceProtocol, 2);
		fputs(",\"class_name\":", out);
		usbip_json_string_or_null(out, usbip_names_class(names, in->bInterfaceClass));
		fputc('}', out);
	}
	fputc(']', out);
	if (session && session->state == USBIP_SESSION_ACTIVE)
		fputs(",\"session\":{\"state\":\"active\"}", out);
	else if (session && session->state == USBIP_SESSION_RESUMABLE)
		fprintf(out, ",\"session\":{\"state\":\"resumable\",\"left_s\":%u}",
			usbip_session_left_s(session));
	fputc('}', out);
}
