// SPDX-License-Identifier: GPL-2.0
/*
 * Tests of the sysfs attribute parsers, bus id ordering, the "usbip list -l"
 * output format (with a session's state), and of the enumeration of this
 * machine's devices.
 */
#include <errno.h>
#include <linux/usb/ch9.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "usbip_devices.h"
#include "usbip_host.h"
#include "usbip_json.h"
#include "usbip_names.h"

static void test_speed(void)
{
	static const struct {
		const char *text;
		uint32_t speed;
	} cases[] = {
		{ "1.5", USB_SPEED_LOW }, { "12", USB_SPEED_FULL }, { "480", USB_SPEED_HIGH },
		{ "480\n", USB_SPEED_HIGH }, { "53.3-480", USB_SPEED_WIRELESS },
		{ "5000", USB_SPEED_SUPER }, { "10000", USB_SPEED_SUPER_PLUS },
		{ "20000", USB_SPEED_SUPER_PLUS }, { "4800", USB_SPEED_UNKNOWN },
		{ "1.5x", USB_SPEED_UNKNOWN }, { "", USB_SPEED_UNKNOWN },
		{ "unknown", USB_SPEED_UNKNOWN },
	};
	size_t i;

	CHECK(USB_SPEED_LOW == 1 && USB_SPEED_HIGH == 3 && USB_SPEED_SUPER_PLUS == 6,
	      "enum usb_device_speed numbers are 1 (low) .. 6 (super plus)");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK(usbip_speed_from_sysfs(cases[i].text) == cases[i].speed,
		      "speed \"%.*s%s\" -> %u", (int)strcspn(cases[i].text, "\n"),
		      cases[i].text, strchr(cases[i].text, '\n') ? "\\n" : "", cases[i].speed);
	CHECK(usbip_speed_from_sysfs(NULL) == USB_SPEED_UNKNOWN, "missing speed -> unknown");
	CHECK(!strcmp(usbip_speed_str(USB_SPEED_HIGH), "high speed (480 Mbit/s)") &&
	      !strcmp(usbip_speed_str(42), "unknown speed"), "speed descriptions");
}

static void test_parse_uint(void)
{
	unsigned long v = 0;

	CHECK(usbip_parse_sysfs_uint(" 1", 10, 255, &v) == 0 && v == 1,
	      "\" 1\" (bNumInterfaces format) is 1");
	CHECK(usbip_parse_sysfs_uint("0525\n", 16, 0xffff, &v) == 0 && v == 0x525, "hex 0525");
	CHECK(usbip_parse_sysfs_uint("ff", 16, 0xff, &v) == 0 && v == 0xff, "hex ff at the max");
	CHECK(usbip_parse_sysfs_uint("100", 16, 0xff, &v) == -EINVAL, "hex 100 above max 0xff");
	CHECK(usbip_parse_sysfs_uint("256", 10, 255, &v) == -EINVAL, "256 above max 255");
	CHECK(usbip_parse_sysfs_uint("12a", 10, 255, &v) == -EINVAL, "trailing garbage");
	CHECK(usbip_parse_sysfs_uint("-1", 10, 255, &v) == -EINVAL, "negative number");
	CHECK(usbip_parse_sysfs_uint("", 10, 255, &v) == -EINVAL, "empty text");
	CHECK(usbip_parse_sysfs_uint(NULL, 10, 255, &v) == -EINVAL, "missing attribute");
	CHECK(usbip_parse_sysfs_uint("99999999999999999999999", 10, ~0UL, &v) == -EINVAL,
	      "overflow");
}

static void test_sort(void)
{
	static const char *const in[] = {
		"2-1", "1-10", "usbip-vudc.0", "1-2", "1-1.10", "1-1.2", "1-1", "10-1", "1-01.3",
	};
	static const char *const want[] = {
		"1-1", "1-1.2", "1-01.3", "1-1.10", "1-2", "1-10", "2-1", "10-1", "usbip-vudc.0",
	};
	struct usbip_devinfo devs[9];
	size_t i;
	int ok = 1;

	memset(devs, 0, sizeof(devs));
	for (i = 0; i < 9; i++)
		strcpy(devs[i].busid, in[i]);
	usbip_sort_devices(devs, 9);
	for (i = 0; i < 9; i++)
		if (strcmp(devs[i].busid, want[i])) {
			tap_diag("position %zu: got %s, want %s", i, devs[i].busid, want[i]);
			ok = 0;
		}
	CHECK(ok, "bus ids sort naturally");
	CHECK(usbip_busid_cmp("1-1", "1-1") == 0, "equal bus ids compare equal");
}

static char *print_to_string(const struct usbip_devinfo *dev, const struct usbip_names *names,
			     bool parsable)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);

	if (!f)
		return NULL;
	usbip_print_local_device(f, dev, names, parsable);
	fclose(f);
	return text;
}

static void test_print(void)
{
	const char *srcdir = getenv("srcdir");
	struct usbip_devinfo dev;
	struct usbip_names *names;
	char path[4096], *text;

	snprintf(path, sizeof(path), "%s/data/usb.ids", srcdir ? srcdir : ".");
	names = usbip_names_load(path);
	memset(&dev, 0, sizeof(dev));
	strcpy(dev.busid, "1-1");
	dev.idVendor = 0x0525;
	dev.idProduct = 0xa4a5;

	text = print_to_string(&dev, names, false);
	CHECK_STR(text, " - busid 1-1 (0525:a4a5)\n"
		  "   Netchip Technology, Inc. : Linux-USB File-backed Storage Gadget (0525:a4a5)\n\n",
		  "list -l format");
	free(text);
	text = print_to_string(&dev, NULL, false);
	CHECK_STR(text, " - busid 1-1 (0525:a4a5)\n   unknown vendor : unknown product (0525:a4a5)\n\n",
		  "list -l format without usb.ids");
	free(text);
	strcpy(dev.busid, "3-2.4");
	dev.idVendor = 0x1d6b;
	dev.idProduct = 0x0104;
	text = print_to_string(&dev, names, true);
	CHECK_STR(text, "busid=3-2.4#usbid=1d6b:0104#\n", "list -l -p format");
	free(text);
	usbip_names_free(names);
}

/* usbip_session as our server drivers write it, and the list -l lines. */
static void test_session(void)
{
	static const char *const bad[] = {
		"", "resumed", "resumable left_ms=", "resumable left_ms=-1",
		"resumable left_ms=4294967296", "active journal=12x", "active =3", "active journal",
	};
	struct usbip_session s = { .state = USBIP_SESSION_ACTIVE };
	struct usbip_devinfo dev;
	char *text = NULL;
	size_t size = 0, i;
	FILE *f;

	CHECK(usbip_parse_session("none\n", &s) == 0 && s.state == USBIP_SESSION_NONE,
	      "\"none\": no session");
	CHECK(usbip_parse_session("active journal=65536", &s) == 0 &&
	      s.state == USBIP_SESSION_ACTIVE && s.journal == 65536,
	      "\"active journal=65536\"");
	CHECK(usbip_parse_session("resumable left_ms=12001\n", &s) == 0 &&
	      s.state == USBIP_SESSION_RESUMABLE && s.left_ms == 12001 &&
	      usbip_session_left_s(&s) == 13, "\"resumable left_ms=12001\": 13 s left (rounded up)");
	CHECK(usbip_parse_session("resumable left_ms=0", &s) == 0 && usbip_session_left_s(&s) == 0,
	      "\"resumable left_ms=0\": 0 s left");
	CHECK(usbip_parse_session("resumable left_ms=3000 later=7", &s) == 0 && s.left_ms == 3000 &&
	      usbip_session_left_s(&s) == 3, "unknown KEY=VALUE words are ignored");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(usbip_parse_session(bad[i], &s) == -EINVAL, "\"%s\" is refused", bad[i]);

	memset(&dev, 0, sizeof(dev));
	strcpy(dev.busid, "1-1");
	dev.idVendor = 0x0525;
	dev.idProduct = 0xa4a5;
	usbip_parse_session("resumable left_ms=999", &s);
	f = open_memstream(&text, &size);
	if (!f)
		return;
	usbip_print_local_device_session(f, &dev, NULL, false, &s);
	s.state = USBIP_SESSION_ACTIVE;
	usbip_print_local_device_session(f, &dev, NULL, true, &s);
	usbip_print_local_device_session(f, &dev, NULL, false, &s);
	s.state = USBIP_SESSION_NONE;
	usbip_print_local_device_session(f, &dev, NULL, false, &s);
	fclose(f);
	CHECK_STR(text, " - busid 1-1 (0525:a4a5)\n   unknown vendor : unknown product (0525:a4a5)\n"
		  "   session: resumable, 1 s left\n\n"
		  "busid=1-1#usbid=0525:a4a5#\n"
		  " - busid 1-1 (0525:a4a5)\n   unknown vendor : unknown product (0525:a4a5)\n"
		  "   session: active\n\n"
		  " - busid 1-1 (0525:a4a5)\n   unknown vendor : unknown product (0525:a4a5)\n\n",
		  "list -l lines: resumable, -p unchanged, active, none");
	free(text);
}

static void test_enumerate(void)
{
	struct usbip_devinfo *devs = NULL;
	struct usbip_error err = { "" };
	size_t ndev = 0, i;
	int ret, ok = 1;

	ret = usbip_local_devices(&devs, &ndev, &err);
	CHECK(ret == 0, "local enumeration succeeds: %s", ret ? err.msg : "ok");
	tap_diag("%zu local USB devices", ndev);
	for (i = 0; i < ndev; i++) {
		const struct usbip_devinfo *d = &devs[i];

		tap_diag("%s: %04x:%04x busnum %u devnum %u speed %u class %02x intfs %u %s",
			 d->busid, d->idVendor, d->idProduct, d->busnum, d->devnum, d->speed,
			 d->bDeviceClass, d->bNumInterfaces, d->path);
		if (usbip_check_busid(d->busid, sizeof(d->busid), NULL) || !d->busnum ||
		    !d->devnum || strncmp(d->path, "/sys/", 5) ||
		    d->bNumInterfaces > USBIP_MAX_INTERFACES)
			ok = 0;
		if (i && usbip_busid_cmp(devs[i - 1].busid, d->busid) >= 0)
			ok = 0;
	}
	CHECK(ok, "every enumerated device is sane and the list is sorted");
	CHECK(usbip_local_device("no-such-device", &(struct usbip_devinfo){ .busnum = 0 },
				 &err) == -ENODEV && strstr(err.msg, "no-such-device"),
	      "unknown bus id: %s", err.msg);
	CHECK(usbip_local_device("../1-1", &(struct usbip_devinfo){ .busnum = 0 }, &err) ==
	      -EINVAL, "bus id with a slash is refused: %s", err.msg);
	if (ndev) {
		struct usbip_devinfo one;

		CHECK(usbip_local_device(devs[0].busid, &one, &err) == 0 &&
		      one.idVendor == devs[0].idVendor && one.devnum == devs[0].devnum,
		      "device %s read by bus id matches the list", devs[0].busid);
	} else {
		tap_skip("no local USB device to read by bus id");
	}
	free(devs);
}

int main(void)
{
	test_speed();
	test_parse_uint();
	test_sort();
	test_print();
	test_session();
	test_enumerate();
	return tap_done();
}
