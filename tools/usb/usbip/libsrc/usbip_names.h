/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Vendor, product and class names from the usb.ids database.
 *
 * A missing database is not an error: every lookup then returns NULL and
 * the formatting helpers print the numbers with "unknown ..." names.
 */
#ifndef USBIP_NAMES_H
#define USBIP_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Environment variable that replaces the configured list of usb.ids paths. */
#define USBIP_USB_IDS_ENV	"USBIP_USB_IDS"

struct usbip_names;

struct usbip_names *usbip_names_load(const char *pathlist);
struct usbip_names *usbip_names_load_default(void);
void usbip_names_free(struct usbip_names *names);
const char *usbip_names_source(const struct usbip_names *names);
size_t usbip_names_count(const struct usbip_names *names);

const char *usbip_names_vendor(const struct usbip_names *names, uint16_t vendor);
const char *usbip_names_product(const struct usbip_names *names, uint16_t vendor,
				uint16_t product);
const char *usbip_names_class(const struct usbip_names *names, uint8_t cls);
const char *usbip_names_subclass(const struct usbip_names *names, uint8_t cls, uint8_t subclass);
const char *usbip_names_protocol(const struct usbip_names *names, uint8_t cls, uint8_t subclass,
				 uint8_t protocol);

void usbip_names_product_str(const struct usbip_names *names, char *buf, size_t len,
			     uint16_t vendor, uint16_t product);
void usbip_names_class_str(const struct usbip_names *names, char *buf, size_t len,
			   uint8_t cls, uint8_t subclass, uint8_t protocol);

#endif /* USBIP_NAMES_H */
