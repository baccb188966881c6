// SPDX-License-Identifier: GPL-2.0
/*
 * Tests of the usb.ids reader against tests/data/usb.ids, of the numeric
 * fallback without a database, and of the configured/environment paths.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "usbip_names.h"

static char fixture[4096];

static void test_fixture(void)
{
	struct usbip_names *n = usbip_names_load(fixture);
	char buf[256];

	CHECK(n != NULL, "fixture loads");
	if (!n)
		return;
	CHECK_STR(usbip_names_source(n), fixture, "source is the fixture");
	/* 3 vendors, 4 products, 4 classes, 3 subclasses, 3 protocols. */
	CHECK(usbip_names_count(n) == 17, "17 distinct names (got %zu)", usbip_names_count(n));
	CHECK_STR(usbip_names_vendor(n, 0x0525), "Netchip Technology, Inc.", "vendor 0525");
	CHECK_STR(usbip_names_product(n, 0x0525, 0xa4a5), "Linux-USB File-backed Storage Gadget",
		  "product 0525:a4a5, first duplicate wins");
	CHECK_STR(usbip_names_product(n, 0x0525, 0xa4a6), "Linux-USB Ethernet/RNDIS Gadget",
		  "product 0525:a4a6");
	CHECK_STR(usbip_names_product(n, 0x1d6b, 0x0002), "2.0 root hub", "product 1d6b:0002");
	CHECK_STR(usbip_names_product(n, 0x0525, 0x0001), NULL,
		  "double-indented vendor line is not a product");
	CHECK_STR(usbip_names_vendor(n, 0xabcd), "Vendor With DOS Line End",
		  "upper-case hex id, CR stripped");
	CHECK_STR(usbip_names_product(n, 0xabcd, 0xef01), "Product With Trailing Blanks",
		  "trailing blanks and CR stripped");
	CHECK_STR(usbip_names_product(n, 0xabcd, 0x0101), NULL,
		  "line under an AT entry is not a product");
	CHECK_STR(usbip_names_class(n, 0x08), "Mass Storage", "class 08");
	CHECK_STR(usbip_names_subclass(n, 0x08, 0x06), "SCSI", "subclass 08/06");
	CHECK_STR(usbip_names_protocol(n, 0x08, 0x06, 0x50), "Bulk-Only", "protocol 08/06/50");
	CHECK_STR(usbip_names_protocol(n, 0xff, 0xff, 0xff), "Vendor Specific Protocol",
		  "protocol ff/ff/ff");
	CHECK_STR(usbip_names_subclass(n, 0x09, 0x01), NULL,
		  "line under an L entry is not a subclass");
	CHECK_STR(usbip_names_vendor(n, 0x1234), NULL, "vendor line without a name is ignored");
	CHECK_STR(usbip_names_vendor(n, 0x0012), NULL, "two-digit vendor id is ignored");
	CHECK_STR(usbip_names_vendor(n, 0xffff), NULL, "unknown vendor is NULL");

	usbip_names_product_str(n, buf, sizeof(buf), 0x0525, 0xa4a5);
	CHECK_STR(buf, "Netchip Technology, Inc. : Linux-USB File-backed Storage Gadget (0525:a4a5)",
		  "product string");
	usbip_names_product_str(n, buf, sizeof(buf), 0x0525, 0xffff);
	CHECK_STR(buf, "Netchip Technology, Inc. : unknown product (0525:ffff)",
		  "product string, unknown product");
	usbip_names_class_str(n, buf, sizeof(buf), 0x08, 0x06, 0x50);
	CHECK_STR(buf, "Mass Storage / SCSI / Bulk-Only (08/06/50)", "class string");
	usbip_names_class_str(n, buf, sizeof(buf), 0x08, 0x07, 0x01);
	CHECK_STR(buf, "Mass Storage / unknown subclass / unknown protocol (08/07/01)",
		  "class string, unknown subclass");
	usbip_names_free(n);
}

static void test_missing(void)
{
	struct usbip_names *n = usbip_names_load("/nonexistent/usb.ids");
	char buf[256];

	CHECK(n != NULL, "missing file still gives a database");
	CHECK(usbip_names_source(n) == NULL && usbip_names_count(n) == 0,
	      "missing file: no source, no names");
	CHECK_STR(usbip_names_vendor(n, 0x0525), NULL, "missing file: lookups are NULL");
	usbip_names_product_str(n, buf, sizeof(buf), 0x0525, 0xa4a5);
	CHECK_STR(buf, "unknown vendor : unknown product (0525:a4a5)",
		  "missing file: numeric product string");
	usbip_names_class_str(n, buf, sizeof(buf), 0xe0, 0x01, 0x01);
	CHECK_STR(buf, "unknown class / unknown subclass / unknown protocol (e0/01/01)",
		  "missing file: numeric class string");
	usbip_names_free(n);

	usbip_names_product_str(NULL, buf, sizeof(buf), 0x1d6b, 0x0002);
	CHECK_STR(buf, "unknown vendor : unknown product (1d6b:0002)", "NULL database is numeric");

	n = usbip_names_load("/");
	CHECK(n && !usbip_names_source(n), "a directory is not taken as usb.ids");
	usbip_names_free(n);
}

static void test_paths(void)
{
	char list[8192];
	struct usbip_names *n;

	snprintf(list, sizeof(list), "/nonexistent/a:/nonexistent/b:%s", fixture);
	n = usbip_names_load(list);
	CHECK(n && usbip_names_source(n) && !strcmp(usbip_names_source(n), fixture) &&
	      usbip_names_vendor(n, 0x1d6b), "path list: first readable file is used");
	usbip_names_free(n);

	setenv(USBIP_USB_IDS_ENV, fixture, 1);
	n = usbip_names_load_default();
	CHECK(n && usbip_names_source(n) && !strcmp(usbip_names_source(n), fixture),
	      "$%s overrides the configured path", USBIP_USB_IDS_ENV);
	usbip_names_free(n);

	setenv(USBIP_USB_IDS_ENV, "/nonexistent/usb.ids", 1);
	n = usbip_names_load_default();
	CHECK(n && !usbip_names_source(n), "$%s naming a missing file gives numeric names",
	      USBIP_USB_IDS_ENV);
	usbip_names_free(n);
	unsetenv(USBIP_USB_IDS_ENV);

	/* The real database, when this machine has one. */
	n = usbip_names_load(USBIP_USB_IDS_PATH);
	if (n && usbip_names_source(n)) {
		CHECK_STR(usbip_names_vendor(n, 0x1d6b), "Linux Foundation",
			  "system usb.ids (%s): vendor 1d6b", usbip_names_source(n));
		CHECK(usbip_names_count(n) > 10000, "system usb.ids has %zu names",
		      usbip_names_count(n));
	} else {
		tap_skip("no system usb.ids in %s", USBIP_USB_IDS_PATH);
	}
	usbip_names_free(n);
}

int main(void)
{
	const char *srcdir = getenv("srcdir");

	snprintf(fixture, sizeof(fixture), "%s/data/usb.ids", srcdir ? srcdir : ".");
	test_fixture();
	test_missing();
	test_paths();
	return tap_done();
}
