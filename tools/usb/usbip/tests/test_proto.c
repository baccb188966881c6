// SPDX-License-Identifier: GPL-2.0
/*
 * Byte-exact tests of the management protocol records, and of the checks
 * the decoders apply to peer input.  Expected bytes are written out by hand
 * from the protocol layout, never produced by the code under test.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "usbip_proto.h"

#define DEV_PATH "/sys/devices/pci0000:00/0000:00:1d.7/usb1/1-1"

static void sample_device(struct usbip_devinfo *dev)
{
	memset(dev, 0, sizeof(*dev));
	strcpy(dev->path, DEV_PATH);
	strcpy(dev->busid, "1-1");
	dev->busnum = 1;
	dev->devnum = 2;
	dev->speed = 3;
	dev->idVendor = 0x0525;
	dev->idProduct = 0xa4a5;
	dev->bcdDevice = 0x0401;
	dev->bDeviceClass = 0x00;
	dev->bDeviceSubClass = 0x00;
	dev->bDeviceProtocol = 0x00;
	dev->bConfigurationValue = 1;
	dev->bNumConfigurations = 1;
	dev->bNumInterfaces = 2;
	dev->intf[0] = (struct usbip_ifinfo){ 0x08, 0x06, 0x50 };
	dev->intf[1] = (struct usbip_ifinfo){ 0xff, 0x01, 0x02 };
}

/* Bytes 288..311 of the sample device record. */
static const uint8_t sample_tail[24] = {
	0x00, 0x00, 0x00, 0x01,		/* busnum */
	0x00, 0x00, 0x00, 0x02,		/* devnum */
	0x00, 0x00, 0x00, 0x03,		/* speed */
	0x05, 0x25,			/* idVendor */
	0xa4, 0xa5,			/* idProduct */
	0x04, 0x01,			/* bcdDevice */
	0x00, 0x00, 0x00,		/* class, subclass, protocol */
	0x01, 0x01, 0x02,		/* config value, num configs, num interfaces */
};

/* The sample device record as it must appear on the wire. */
static void sample_record(uint8_t *rec)
{
	memset(rec, 0, USBIP_DEVICE_WIRE_SIZE);
	memcpy(rec, DEV_PATH, strlen(DEV_PATH));
	memcpy(rec + 256, "1-1", 3);
	memcpy(rec + 288, sample_tail, sizeof(sample_tail));
}

static int same_device(const struct usbip_devinfo *a, const struct usbip_devinfo *b)
{
	return !strcmp(a->path, b->path) && !strcmp(a->busid, b->busid) &&
	       a->busnum == b->busnum && a->devnum == b->devnum && a->speed == b->speed &&
	       a->idVendor == b->idVendor && a->idProduct == b->idProduct &&
	       a->bcdDevice == b->bcdDevice && a->bDeviceClass == b->bDeviceClass &&
	       a->bDeviceSubClass == b->bDeviceSubClass &&
	       a->bDeviceProtocol == b->bDeviceProtocol &&
	       a->bConfigurationValue == b->bConfigurationValue &&
	       a->bNumConfigurations == b->bNumConfigurations &&
	       a->bNumInterfaces == b->bNumInterfaces &&
	       !memcmp(a->intf, b->intf, a->bNumInterfaces * sizeof(a->intf[0]));
}

static void dump_diff(const uint8_t *got, const uint8_t *want, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (got[i] != want[i]) {
			tap_diag("first difference at byte %zu: got 0x%02x, want 0x%02x", i,
				 got[i], want[i]);
			return;
		}
}

#define CHECK_BYTES(got, want, len, ...) do {					\
	int same_ = !memcmp((got), (want), (len));				\
	if (!same_)								\
		dump_diff((got), (want), (len));				\
	tap_check(same_, __FILE__, __LINE__, __VA_ARGS__);			\
} while (0)

static void test_ophdr(void)
{
	static const uint8_t want_req[8] = { 0x01, 0x11, 0x80, 0x05, 0, 0, 0, 0 };
	static const uint8_t in[8] = { 0x01, 0x11, 0x00, 0x05, 0xde, 0xad, 0xbe, 0xef };
	struct usbip_ophdr hdr = { .version = 0x0111, .code = 0x8003, .status = 0x01020304 };
	static const uint8_t want_hdr[8] = { 0x01, 0x11, 0x80, 0x03, 0x01, 0x02, 0x03, 0x04 };
	struct usbip_error err = { "" };
	uint8_t out[8];

	CHECK(USBIP_OP_REQ_DEVLIST == 0x8005 && USBIP_OP_REP_DEVLIST == 0x0005 &&
	      USBIP_OP_REQ_IMPORT == 0x8003 && USBIP_OP_REP_IMPORT == 0x0003,
	      "op codes are 0x8005/0x0005/0x8003/0x0003");
	CHECK(USBIP_VERSION == 0x0111, "protocol version is 0x0111");

	usbip_pack_ophdr(out, &hdr);
	CHECK_BYTES(out, want_hdr, 8, "op header packs big-endian");

	usbip_pack_req_devlist(out);
	CHECK_BYTES(out, want_req, 8, "OP_REQ_DEVLIST is 01 11 80 05 00 00 00 00");

	usbip_unpack_ophdr(in, &hdr);
	CHECK(hdr.version == 0x0111 && hdr.code == 0x0005 && hdr.status == 0xdeadbeef,
	      "op header unpacks big-endian");
	CHECK(usbip_check_ophdr(&hdr, USBIP_OP_REP_DEVLIST, &err) == 0,
	      "op header with the expected code passes");
	CHECK(usbip_check_ophdr(&hdr, USBIP_OP_REP_IMPORT, &err) == -EPROTO &&
	      strstr(err.msg, "unexpected op code 0x0005"), "unexpected op code is refused: %s",
	      err.msg);
	hdr.version = 0x0106;
	CHECK(usbip_check_ophdr(&hdr, USBIP_OP_REP_DEVLIST, &err) == -EPROTO &&
	      strstr(err.msg, "0x0106"), "other protocol version is refused: %s", err.msg);
}

static void test_device_record(void)
{
	struct usbip_devinfo dev, back;
	struct usbip_error err = { "" };
	uint8_t out[USBIP_DEVICE_WIRE_SIZE + 1], want[USBIP_DEVICE_WIRE_SIZE];
	static const uint8_t intf_want[4] = { 0x08, 0x06, 0x50, 0x00 };
	static const uint8_t intf_in[4] = { 0xe0, 0x01, 0x01, 0x7f };
	struct usbip_ifinfo intf;

	sample_device(&dev);
	sample_record(want);
	/* Poison the output: unused string bytes must come out as zeros. */
	memset(out, 0xa5, sizeof(out));
	CHECK(usbip_pack_device(out, &dev, &err) == 0, "sample device packs");
	CHECK_BYTES(out, want, USBIP_DEVICE_WIRE_SIZE, "device record is byte-exact (312 bytes)");
	CHECK(out[USBIP_DEVICE_WIRE_SIZE] == 0xa5, "device record writes exactly 312 bytes");

	CHECK(usbip_unpack_device(want, &back, &err) == 0, "sample record unpacks");
	CHECK(back.bNumInterfaces == 2 && back.intf[0].bInterfaceClass == 0,
	      "record carries bNumInterfaces, not the interfaces");
	/* The interfaces travel separately; compare everything else. */
	memcpy(back.intf, dev.intf, sizeof(dev.intf));
	CHECK(same_device(&dev, &back), "unpacked record equals the original");

	usbip_pack_interface(out, &dev.intf[0]);
	CHECK_BYTES(out, intf_want, 4, "interface record is class, subclass, protocol, 0");
	usbip_unpack_interface(intf_in, &intf);
	CHECK(intf.bInterfaceClass == 0xe0 && intf.bInterfaceSubClass == 0x01 &&
	      intf.bInterfaceProtocol == 0x01, "interface record unpacks, padding ignored");
}

/* Unpacks a corrupted copy of the sample record; expects -EINVAL and @needle. */
static void expect_bad_record(size_t off, const void *bytes, size_t n, const char *needle,
			      const char *what)
{
	uint8_t rec[USBIP_DEVICE_WIRE_SIZE];
	struct usbip_devinfo dev;
	struct usbip_error err = { "" };
	int ret;

	sample_record(rec);
	memcpy(rec + off, bytes, n);
	ret = usbip_unpack_device(rec, &dev, &err);
	CHECK(ret == -EINVAL && strstr(err.msg, needle), "%s is refused: %s", what, err.msg);
}

static void test_device_validation(void)
{
	uint8_t long_busid[32], long_path[256];
	struct usbip_devinfo dev;
	struct usbip_error err = { "" };
	uint8_t out[USBIP_DEVICE_WIRE_SIZE];

	memset(long_busid, '1', sizeof(long_busid));
	memset(long_path, 'a', sizeof(long_path));
	expect_bad_record(256, long_busid, 32, "not NUL-terminated", "unterminated bus id");
	expect_bad_record(0, long_path, 256, "not NUL-terminated", "unterminated path");
	expect_bad_record(256, "\0", 1, "empty", "empty bus id");
	expect_bad_record(256, "../x\0", 5, "invalid byte 0x2f", "bus id with a slash");
	expect_bad_record(256, "..\0", 3, "not allowed", "bus id \"..\"");
	expect_bad_record(256, "1 1\0", 4, "invalid byte 0x20", "bus id with a space");
	expect_bad_record(5, "\x1b", 1, "invalid byte 0x1b at offset 5", "path with ESC");
	expect_bad_record(311, "\x21", 1, "33 interfaces", "bNumInterfaces 33");
	expect_bad_record(288, "\x00\x01\x00\x00", 4, "out of range", "busnum 65536");
	expect_bad_record(292, "\x00\x01\x00\x00", 4, "out of range", "devnum 65536");

	sample_device(&dev);
	dev.bNumInterfaces = 32;
	CHECK(usbip_pack_device(out, &dev, &err) == 0, "32 interfaces are allowed");
	dev.bNumInterfaces = 33;
	CHECK(usbip_pack_device(out, &dev, &err) == -EINVAL, "packing 33 interfaces is refused");
	sample_device(&dev);
	memset(dev.busid, 'x', sizeof(dev.busid));
	CHECK(usbip_pack_device(out, &dev, &err) == -EINVAL,
	      "packing an unterminated bus id is refused");
}

/* OP_REP_DEVLIST with the sample device and a second one without interfaces. */
static size_t sample_devlist(uint8_t *buf)
{
	static const uint8_t head[12] = {
		0x01, 0x11, 0x00, 0x05, 0, 0, 0, 0,	/* op header */
		0x00, 0x00, 0x00, 0x02,			/* two devices */
	};
	static const uint8_t intfs[8] = { 0x08, 0x06, 0x50, 0x00, 0xff, 0x01, 0x02, 0x00 };
	static const uint8_t tail2[24] = {
		0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x7f, 0x00, 0x00, 0x00, 0x05,
		0x1d, 0x6b, 0x01, 0x04, 0xff, 0xff, 0x09, 0x00, 0x03, 0x00, 0x01, 0x00,
	};
	size_t off = 0;

	memcpy(buf, head, sizeof(head));
	off += sizeof(head);
	sample_record(buf + off);
	off += USBIP_DEVICE_WIRE_SIZE;
	memcpy(buf + off, intfs, sizeof(intfs));
	off += sizeof(intfs);
	memset(buf + off, 0, USBIP_DEVICE_WIRE_SIZE);
	memcpy(buf + off, "/sys/devices/x/usb2/2-4.1", 25);
	memcpy(buf + off + 256, "2-4.1", 5);
	memcpy(buf + off + 288, tail2, sizeof(tail2));
	off += USBIP_DEVICE_WIRE_SIZE;
	return off;
}

static void second_device(struct usbip_devinfo *dev)
{
	memset(dev, 0, sizeof(*dev));
	strcpy(dev->path, "/sys/devices/x/usb2/2-4.1");
	strcpy(dev->busid, "2-4.1");
	dev->busnum = 2;
	dev->devnum = 127;
	dev->speed = 5;
	dev->idVendor = 0x1d6b;
	dev->idProduct = 0x0104;
	dev->bcdDevice = 0xffff;
	dev->bDeviceClass = 0x09;
	dev->bDeviceSubClass = 0x00;
	dev->bDeviceProtocol = 0x03;
	dev->bConfigurationValue = 0;
	dev->bNumConfigurations = 1;
	dev->bNumInterfaces = 0;
}

static void test_devlist(void)
{
	uint8_t want[1024], out[1024], bad[1024];
	struct usbip_devinfo devs[2], *got = NULL;
	struct usbip_error err = { "" };
	size_t len = sample_devlist(want);
	uint32_t ndev = 99;
	ssize_t n;

	sample_device(&devs[0]);
	second_device(&devs[1]);
	CHECK(len == 12 + 312 + 8 + 312, "sample OP_REP_DEVLIST is %zu bytes", len);
	CHECK(usbip_rep_devlist_size(devs, 2) == len, "usbip_rep_devlist_size() agrees");
	memset(out, 0xa5, sizeof(out));
	n = usbip_pack_rep_devlist(out, sizeof(out), devs, 2, &err);
	CHECK(n == (ssize_t)len, "OP_REP_DEVLIST packs to %zd bytes", n);
	CHECK_BYTES(out, want, len, "OP_REP_DEVLIST is byte-exact");
	CHECK(usbip_pack_rep_devlist(out, len - 1, devs, 2, &err) == -ENOSPC,
	      "packing into a short buffer gives -ENOSPC");

	err.msg[0] = '\0';
	CHECK(usbip_unpack_rep_devlist(want, len, &got, &ndev, &err) == 0 && ndev == 2,
	      "OP_REP_DEVLIST unpacks%s%s", err.msg[0] ? ": " : "", err.msg);
	CHECK(got && same_device(&got[0], &devs[0]) && same_device(&got[1], &devs[1]),
	      "unpacked devices and interfaces equal the originals");
	free(got);

	n = usbip_pack_rep_devlist(out, sizeof(out), NULL, 0, &err);
	CHECK(n == 12 && !memcmp(out, "\x01\x11\x00\x05\0\0\0\0\0\0\0\0", 12),
	      "empty OP_REP_DEVLIST is header + zero count");
	CHECK(usbip_unpack_rep_devlist(out, 12, &got, &ndev, &err) == 0 && ndev == 0 && !got,
	      "empty OP_REP_DEVLIST unpacks to no devices");

	/* Malformed lists. */
	CHECK(usbip_unpack_rep_devlist(want, len - 1, &got, &ndev, &err) == -EPROTO &&
	      strstr(err.msg, "truncated"), "list missing its last byte: %s", err.msg);
	CHECK(usbip_unpack_rep_devlist(want, 12 + 312 + 4, &got, &ndev, &err) == -EPROTO &&
	      strstr(err.msg, "truncated"), "list cut inside interfaces: %s", err.msg);
	memcpy(bad, want, len);
	bad[len] = 0;
	CHECK(usbip_unpack_rep_devlist(bad, len + 1, &got, &ndev, &err) == -EPROTO &&
	      strstr(err.msg, "1 unexpected bytes"), "trailing byte: %s", err.msg);
	memcpy(bad, want, len);
	memcpy(bad + 8, "\x00\x00\x10\x01", 4);
	CHECK(usbip_unpack_rep_devlist(bad, len, &got, &ndev, &err) == -EPROTO &&
	      strstr(err.msg, "4097 devices"), "device count above the limit: %s", err.msg);
	memcpy(bad + 8, "\xff\xff\xff\xff", 4);
	CHECK(usbip_unpack_rep_devlist(bad, len, &got, &ndev, &err) == -EPROTO,
	      "device count 0xffffffff is refused: %s", err.msg);
	memcpy(bad + 8, "\x00\x00\x00\x03", 4);
	CHECK(usbip_unpack_rep_devlist(bad, len, &got, &ndev, &err) == -EPROTO &&
	      strstr(err.msg, "truncated"), "count larger than the records: %s", err.msg);
	memcpy(bad, want, len);
	bad[7] = 1;
	CHECK(usbip_unpack_rep_devlist(bad, len, &got, &ndev, &err) == -EPROTO &&
	      strstr(err.msg, "status 1"), "failure status: %s", err.msg);
	memcpy(bad, want, len);
	bad[3] = 0x03;
	CHECK(usbip_unpack_rep_devlist(bad, len, &got, &ndev, &err) == -EPROTO,
	      "wrong op code: %s", err.msg);
	memcpy(bad, want, len);
	bad[12 + 256 + 3] = 'x';	/* "1-1" -> "1-1x", still terminated */
	CHECK(usbip_unpack_rep_devlist(bad, len, &got, &ndev, &err) == 0 &&
	      !strcmp(got[0].busid, "1-1x"), "modified but valid bus id is taken as is");
	free(got);
	memcpy(bad, want, len);
	memset(bad + 12 + 256, 'x', 32);
	CHECK(usbip_unpack_rep_devlist(bad, len, &got, &ndev, &err) == -EINVAL && !got &&
	      ndev == 0, "unterminated bus id in a list: %s", err.msg);
}

static void test_import(void)
{
	static const uint8_t want_req[40] = {
		0x01, 0x11, 0x80, 0x03, 0, 0, 0, 0, '1', '-', '1', '.', '2',
	};
	static const uint8_t want_fail[8] = { 0x01, 0x11, 0x00, 0x03, 0, 0, 0, 4 };
	uint8_t out[400], want_rep[320];
	struct usbip_devinfo dev, back;
	struct usbip_error err = { "" };
	char busid[USBIP_BUSID_SIZE];
	uint32_t status = 99;

	memset(out, 0xa5, sizeof(out));
	CHECK(usbip_pack_req_import(out, "1-1.2", &err) == 0, "OP_REQ_IMPORT packs");
	CHECK_BYTES(out, want_req, 40, "OP_REQ_IMPORT is byte-exact (40 bytes)");
	CHECK(usbip_unpack_req_import(want_req, 40, busid, &err) == 0 &&
	      !strcmp(busid, "1-1.2"), "OP_REQ_IMPORT unpacks");
	CHECK(usbip_unpack_req_import(want_req, 39, busid, &err) == -EPROTO,
	      "short OP_REQ_IMPORT: %s", err.msg);
	CHECK(usbip_pack_req_import(out, "0123456789012345678901234567890", &err) == 0,
	      "31-character bus id packs");
	CHECK(usbip_pack_req_import(out, "01234567890123456789012345678901", &err) == -EINVAL &&
	      strstr(err.msg, "longer than 31"), "32-character bus id: %s", err.msg);
	memset(out + 8, 'a', 32);
	CHECK(usbip_unpack_req_import(out, 40, busid, &err) == -EINVAL &&
	      strstr(err.msg, "not NUL-terminated"), "unterminated import bus id: %s", err.msg);
	CHECK(usbip_pack_req_import(out, "../../x", &err) == -EINVAL, "bus id with slashes");

	sample_device(&dev);
	memcpy(want_rep, "\x01\x11\x00\x03\0\0\0\0", 8);
	sample_record(want_rep + 8);
	memset(out, 0xa5, sizeof(out));
	CHECK(usbip_pack_rep_import(out, sizeof(out), 0, &dev, &err) == 320,
	      "OP_REP_IMPORT status 0 is 320 bytes");
	CHECK_BYTES(out, want_rep, 320, "OP_REP_IMPORT is byte-exact, no interface records");
	CHECK(usbip_unpack_rep_import(want_rep, 320, &status, &back, &err) == 0 && status == 0 &&
	      !strcmp(back.busid, "1-1") && back.idProduct == 0xa4a5 && back.bNumInterfaces == 2,
	      "OP_REP_IMPORT unpacks");
	CHECK(usbip_pack_rep_import(out, sizeof(out), USBIP_OP_ST_NODEV, NULL, &err) == 8,
	      "failed OP_REP_IMPORT is 8 bytes");
	CHECK_BYTES(out, want_fail, 8, "failed OP_REP_IMPORT is byte-exact");
	CHECK(usbip_unpack_rep_import(want_fail, 8, &status, &back, &err) == 0 && status == 4,
	      "failed OP_REP_IMPORT unpacks with its status");
	CHECK(usbip_unpack_rep_import(want_rep, 319, &status, &back, &err) == -EPROTO,
	      "short OP_REP_IMPORT: %s", err.msg);
	memcpy(out, want_rep, 320);
	out[7] = 1;
	CHECK(usbip_unpack_rep_import(out, 320, &status, &back, &err) == -EPROTO,
	      "failure status followed by a record: %s", err.msg);
	CHECK(!strcmp(usbip_op_status_str(USBIP_OP_ST_NODEV), "no such device") &&
	      !strcmp(usbip_op_status_str(77), "unknown status"), "status strings");
}

/* The framers: the size a message has at least, as its bytes arrive. */
static void test_framing(void)
{
	static const uint8_t req_devlist[8] = { 0x01, 0x11, 0x80, 0x05, 0, 0, 0, 0 };
	static const uint8_t req_import[40] = {
		0x01, 0x11, 0x80, 0x03, 0, 0, 0, 9, '1', '-', '1',
	};
	uint8_t buf[1024], rep[320];
	struct usbip_devinfo dev, back;
	struct usbip_error err = { "" };
	struct usbip_request req;
	uint32_t status;
	size_t len = sample_devlist(buf);

	CHECK(usbip_req_need(req_devlist, 0, &err) == 8 && usbip_req_need(req_devlist, 7, &err) == 8,
	      "request: 8 bytes needed until the op header is there");
	CHECK(usbip_req_need(req_devlist, 8, &err) == 8, "OP_REQ_DEVLIST is 8 bytes");
	CHECK(usbip_req_need(req_import, 8, &err) == 40, "OP_REQ_IMPORT is 40 bytes");
	CHECK(usbip_unpack_request(req_import, 40, &req, &err) == 0 &&
	      req.code == USBIP_OP_REQ_IMPORT && !strcmp(req.busid, "1-1"),
	      "OP_REQ_IMPORT decodes (its status is ignored)");
	CHECK(usbip_unpack_request(req_devlist, 8, &req, &err) == 0 &&
	      req.code == USBIP_OP_REQ_DEVLIST && !req.busid[0], "OP_REQ_DEVLIST decodes");
	CHECK(usbip_unpack_request(req_import, 39, &req, &err) == -EPROTO,
	      "39-byte import request: %s", err.msg);
	memcpy(buf + 900, req_devlist, 8);
	buf[901] = 0x06;
	CHECK(usbip_req_need(buf + 900, 8, &err) == -EPROTO && strstr(err.msg, "version 0x0106"),
	      "request of version 0x0106: %s", err.msg);
	buf[901] = 0x11;
	buf[903] = 0x02;
	CHECK(usbip_req_need(buf + 900, 8, &err) == -EOPNOTSUPP &&
	      strstr(err.msg, "unknown op code 0x8002"), "request 0x8002: %s", err.msg);

	/* Sample list: 12 + (312 + 2 * 4) + 312 = 644 bytes. */
	CHECK(len == 644, "sample list is 644 bytes");
	CHECK(usbip_rep_devlist_need(buf, 0, &err) == 8 && usbip_rep_devlist_need(buf, 8, &err) == 12,
	      "device list: op header, then the count");
	CHECK(usbip_rep_devlist_need(buf, 12, &err) == 636,
	      "with the count: 2 records of at least 312 bytes");
	CHECK(usbip_rep_devlist_need(buf, 636, &err) == 644,
	      "with the first record: its 2 interfaces are added");
	CHECK(usbip_rep_devlist_need(buf, 644, &err) == 644, "complete list: its own size");
	buf[12 + 311] = 33;
	CHECK(usbip_rep_devlist_need(buf, 636, &err) == -EPROTO && strstr(err.msg, "33 interfaces"),
	      "33 interfaces refused as soon as seen: %s", err.msg);
	buf[12 + 311] = 2;
	buf[8] = 0xff;
	CHECK(usbip_rep_devlist_need(buf, 12, &err) == -EPROTO && strstr(err.msg, "devices"),
	      "count 0xff000002 refused before anything is read: %s", err.msg);
	buf[8] = 0;
	buf[7] = 2;
	CHECK(usbip_rep_devlist_need(buf, 8, &err) == -EPROTO && strstr(err.msg, "refused"),
	      "failure status: the list ends there: %s", err.msg);
	buf[7] = 0;

	sample_device(&dev);
	CHECK(usbip_pack_rep_import(rep, sizeof(rep), 0, &dev, &err) == 320, "import reply packs");
	CHECK(usbip_rep_import_need(rep, 0, &err) == 8 && usbip_rep_import_need(rep, 8, &err) == 320,
	      "import reply: op header, then 320 bytes with status 0");
	CHECK(usbip_unpack_rep_import_for(rep, 320, "1-1", &status, &back, &err) == 0 &&
	      status == 0 && back.speed == 3, "import reply for 1-1 accepted");
	CHECK(usbip_unpack_rep_import_for(rep, 320, "1-2", &status, &back, &err) == -EPROTO &&
	      strstr(err.msg, "instead of \"1-2\""), "import reply for another device: %s", err.msg);
	dev.speed = 4;
	usbip_pack_rep_import(rep, sizeof(rep), 0, &dev, &err);
	CHECK(usbip_unpack_rep_import_for(rep, 320, "1-1", &status, &back, &err) == -EPROTO &&
	      strstr(err.msg, "speed 4"), "import of a wireless-speed device: %s", err.msg);
	rep[7] = 2;
	CHECK(usbip_rep_import_need(rep, 8, &err) == 8 &&
	      usbip_unpack_rep_import_for(rep, 8, "1-1", &status, &back, &err) == 0 &&
	      status == 2, "refused import: 8 bytes, status 2");
	rep[3] = 0x05;
	CHECK(usbip_rep_import_need(rep, 8, &err) == -EPROTO, "import reply with the devlist code");
}

/* Random corruption of a valid list must be decoded or refused, never crash. */
static void test_mutations(void)
{
	uint8_t want[1024], buf[1024];
	size_t len = sample_devlist(want), n;
	struct usbip_devinfo *got;
	struct usbip_error err;
	unsigned int seed = 12345, accepted = 0, refused = 0, silent = 0;
	uint32_t ndev;
	int i, j;

	for (i = 0; i < 20000; i++) {
		memcpy(buf, want, len);
		for (j = rand_r(&seed) % 4; j >= 0; j--)
			buf[rand_r(&seed) % len] = rand_r(&seed);
		n = len - (rand_r(&seed) % 8 == 0 ? rand_r(&seed) % len : 0);
		err.msg[0] = '\0';
		if (usbip_unpack_rep_devlist(buf, n, &got, &ndev, &err) == 0) {
			accepted++;
			free(got);
		} else {
			refused++;
			if (!err.msg[0])
				silent++;
		}
	}
	tap_diag("mutations: %u accepted, %u refused", accepted, refused);
	CHECK(accepted && refused && !silent,
	      "20000 corrupted lists: all decoded or refused with a reason");
}

/* Protocol extensions: hello, answer and extension block. */
static void test_ext(void)
{
	static const uint8_t want_tail[12] = { 'U', 'I', 'P', 'X', 1, 0, 0, 30, 0, 0, 0, 1 };
	static const uint8_t want_blk[48] = {
		'U', 'I', 'P', 'X', 1, 0, 0, 48, 0, 0, 0, 1,
		1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
		0, 0, 0x75, 0x30, 0, 0, 0x03, 0xe8, 0, 0x10, 0, 0,
	};
	struct usbip_ext_hello h = { .version = 1, .window_s = 30, .caps = USBIP_EXT_CAP_SESSION };
	struct usbip_ext_block blk = { .version = 1, .caps = USBIP_EXT_CAP_SESSION,
				       .window_ms = 30000, .heartbeat_ms = 1000,
				       .journal_max = 1 << 20 }, back;
	struct usbip_ext_hello got, answer = h;
	struct usbip_error err = { "" };
	uint8_t field[32], buf[1100];
	int i;

	for (i = 0; i < 16; i++)
		blk.token[i] = i + 1;

	memset(field, 0xa5, sizeof(field));
	strcpy((char *)field, "1-1.2");
	CHECK(usbip_ext_hello_put(field, &h, &err) == 0, "hello fits after \"1-1.2\"");
	CHECK(!memcmp(field, "1-1.2\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20) &&
	      !memcmp(field + 20, want_tail, 12), "hello: zeros after the NUL, then the 12 bytes");
	CHECK(usbip_check_busid((const char *)field, 32, &err) == 0 &&
	      !strcmp((const char *)field, "1-1.2"), "the field is still the bus id \"1-1.2\"");
	CHECK(usbip_ext_hello_get(field, &got) == 1 && got.version == 1 && got.flags == 0 &&
	      got.window_s == 30 && got.caps == USBIP_EXT_CAP_SESSION, "hello reads back");
	memset(field, 0, sizeof(field));
	strcpy((char *)field, "1-1.2.3.4.5.6.7.8.9");
	CHECK(usbip_ext_hello_put(field, &h, &err) == 0, "19-character bus id: hello fits");
	memset(field, 0, sizeof(field));
	strcpy((char *)field, "1-1.2.3.4.5.6.7.8.90");
	CHECK(usbip_ext_hello_put(field, &h, &err) == -ENOSPC && strstr(err.msg, "no room"),
	      "20-character bus id: no room (%s)", err.msg);
	CHECK(field[20] == '\0', "no room: the field is left alone");

	memset(field, 0, sizeof(field));
	strcpy((char *)field, "1-1");
	CHECK(usbip_ext_hello_get(field, &got) == 0, "zeros after the bus id: no hello");
	CHECK(usbip_ext_hello_put(field, &h, NULL) == 0, "hello for the tests below");
	field[22] = 'Q';
	CHECK(usbip_ext_hello_get(field, &got) == 0, "wrong magic: no hello");
	field[22] = 'P';
	field[24] = 0;
	CHECK(usbip_ext_hello_get(field, &got) == 0, "version 0: no hello");
	field[24] = 200;
	CHECK(usbip_ext_hello_get(field, &got) == 1 && got.version == 200,
	      "a later version is a hello (the server answers with its own)");
	field[25] = USBIP_EXT_FLAG_ANSWER;
	CHECK(usbip_ext_hello_get(field, &got) == 1 && got.flags == USBIP_EXT_FLAG_ANSWER,
	      "the answer flag reads back (callers tell a hello from an answer by it)");
	memset(field, 'x', 20);
	CHECK(usbip_ext_hello_get(field, &got) == 0, "no NUL before the hello: no hello");

	memset(buf, 0xa5, sizeof(buf));
	CHECK(usbip_pack_ext_block(buf, sizeof(buf), &blk, &err) == 48, "block packs, 48 bytes");
	CHECK_BYTES(buf, want_blk, 48, "block is byte-exact");
	CHECK(usbip_pack_ext_block(buf, 47, &blk, &err) == -ENOSPC, "block: 47-byte buffer");
	memcpy(buf, want_blk, 48);
	CHECK(usbip_ext_block_need(buf, 0, &err) == 48 && usbip_ext_block_need(buf, 47, &err) == 48,
	      "block framing: 48 until the header is in");
	CHECK(usbip_ext_block_need(buf, 48, &err) == 48, "block framing: complete at 48");
	CHECK(usbip_unpack_ext_block(buf, 48, &answer, USBIP_EXT_CAP_SESSION, &back, &err) == 0 &&
	      back.version == 1 && back.caps == USBIP_EXT_CAP_SESSION &&
	      !memcmp(back.token, blk.token, 16) && back.window_ms == 30000 &&
	      back.heartbeat_ms == 1000 && back.journal_max == 1 << 20, "block unpacks");
	buf[7] = 100;
	memset(buf + 48, 0xee, 52);
	CHECK(usbip_ext_block_need(buf, 48, &err) == 100 &&
	      usbip_unpack_ext_block(buf, 100, &answer, 1, &back, &err) == 0 &&
	      back.window_ms == 30000, "a 100-byte block: the unknown tail is ignored");
	CHECK(usbip_unpack_ext_block(buf, 99, &answer, 1, &back, &err) == -EPROTO,
	      "a block shorter than its length: %s", err.msg);
	buf[6] = 4;
	buf[7] = 1;
	CHECK(usbip_ext_block_need(buf, 48, &err) == -EPROTO && strstr(err.msg, "1025 bytes"),
	      "block length 1025: %s", err.msg);
	buf[6] = 0;
	buf[7] = 47;
	CHECK(usbip_ext_block_need(buf, 48, &err) == -EPROTO, "block length 47: %s", err.msg);
	memcpy(buf, want_blk, 48);
	buf[0] = 'u';
	CHECK(usbip_ext_block_need(buf, 48, &err) == -EPROTO && strstr(err.msg, "magic"),
	      "block with a wrong magic: %s", err.msg);
	memcpy(buf, want_blk, 48);
	CHECK(usbip_unpack_ext_block(buf, 48, &answer, 0, &back, &err) == -EPROTO &&
	      strstr(err.msg, "not offered") && back.version == 0,
	      "capabilities not offered: %s", err.msg);
	answer.version = 2;
	buf[4] = 2;
	CHECK(usbip_unpack_ext_block(buf, 48, &answer, 1, &back, &err) == -EPROTO &&
	      strstr(err.msg, "version 2"), "version above ours: %s", err.msg);
	answer.version = 1;
	buf[4] = 1;
	buf[11] = 0;
	CHECK(usbip_unpack_ext_block(buf, 48, &answer, 1, &back, &err) == -EPROTO &&
	      strstr(err.msg, "contradicts"), "block caps differ from the answer: %s", err.msg);
}

/* Sessions: the block's checks, OP_REQ_RESUME and OP_REP_RESUME. */
static void test_resume(void)
{
	static const uint8_t token[16] = { 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4,
					   5, 6, 7, 8, 9, 10, 11, 0xff };
	static const uint8_t want_req[56] = {
		0x01, 0x11, 0x80, 0x10, 0, 0, 0, 0,
		'1', '-', '1', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		'U', 'I', 'P', 'X', 1, 0, 0, 60, 0, 0, 0, 1,
		0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0xff,
	};
	static const uint8_t want_answer[12] = { 'U', 'I', 'P', 'X', 1, 1, 0, 60, 0, 0, 0, 1 };
	struct usbip_ext_hello h = { .version = 1, .window_s = 60, .caps = USBIP_EXT_CAP_SESSION };
	struct usbip_ext_block blk = { .version = 1, .caps = USBIP_EXT_CAP_SESSION,
				       .window_ms = 60000, .heartbeat_ms = 5000,
				       .journal_max = 4 << 20 }, back;
	uint8_t req[56], rep[400], want_rec[312], blkbuf[48];
	struct usbip_ext_hello answer, got;
	struct usbip_devinfo dev, out;
	struct usbip_request r;
	struct usbip_error err = { "" };
	uint32_t status;
	int i;

	for (i = 0; i < 16; i++)
		blk.token[i] = 0xa0 + i;

	/* The block of a session: a token and a window, or it is refused. */
	answer = (struct usbip_ext_hello){ .version = 1, .flags = USBIP_EXT_FLAG_ANSWER,
					   .caps = USBIP_EXT_CAP_SESSION };
	CHECK(usbip_pack_ext_block(blkbuf, sizeof(blkbuf), &blk, &err) == 48 &&
	      usbip_unpack_ext_block(blkbuf, 48, &answer, 1, &back, &err) == 0 &&
	      back.window_ms == 60000 && back.journal_max == 4 << 20,
	      "session block with a token and a 60 s window unpacks");
	memset(blkbuf + 12, 0, 16);
	CHECK(usbip_unpack_ext_block(blkbuf, 48, &answer, 1, &back, &err) == -EPROTO &&
	      strstr(err.msg, "without a token") && back.version == 0,
	      "session block with an all-zero token: %s", err.msg);
	answer.caps = 0;
	blkbuf[11] = 0;
	CHECK(usbip_unpack_ext_block(blkbuf, 48, &answer, 1, &back, &err) == 0,
	      "a zero token without a session is the normal case");
	answer.caps = USBIP_EXT_CAP_SESSION;
	usbip_pack_ext_block(blkbuf, sizeof(blkbuf), &blk, NULL);
	memset(blkbuf + 28, 0, 4);
	CHECK(usbip_unpack_ext_block(blkbuf, 48, &answer, 1, &back, &err) == -EPROTO &&
	      strstr(err.msg, "window of 0 ms"), "session block with window 0: %s", err.msg);
	memcpy(blkbuf + 28, "\x00\x36\xee\x81", 4);
	CHECK(usbip_unpack_ext_block(blkbuf, 48, &answer, 1, &back, &err) == -EPROTO &&
	      strstr(err.msg, "3600001 ms"), "session block with a 3600001 ms window: %s",
	      err.msg);
	blkbuf[31] = 0x80;
	CHECK(usbip_unpack_ext_block(blkbuf, 48, &answer, 1, &back, &err) == 0 &&
	      back.window_ms == 3600000, "session block with the longest window, 3600000 ms");

	/* OP_REQ_RESUME */
	memset(req, 0xa5, sizeof(req));
	CHECK(usbip_pack_req_resume(req, "1-1", &h, token, &err) == 0, "resume request packs");
	CHECK_BYTES(req, want_req, 56, "resume request is byte-exact (56 bytes)");
	CHECK(usbip_pack_req_resume(req, "1-1", NULL, token, &err) == 0 &&
	      !memcmp(req, want_req, 8) && !memcmp(req + 8, "1-1", 4) &&
	      !memcmp(req + 12, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20) &&
	      !memcmp(req + 40, token, 16), "resume request without a hello: zeros after the bus id");
	CHECK(usbip_pack_req_resume(req, "1-1.2.3.4.5.6.7.8.90", &h, token, &err) == -ENOSPC,
	      "resume of a 20-character bus id with a hello: no room (%s)", err.msg);
	CHECK(usbip_pack_req_resume(req, "1-1/2", &h, token, &err) == -EINVAL,
	      "resume of an invalid bus id: %s", err.msg);
	memcpy(req, want_req, 56);
	CHECK(usbip_req_need(req, 0, &err) == 8 && usbip_req_need(req, 8, &err) == 56 &&
	      usbip_req_need(req, 56, &err) == 56, "resume request framing: 8, then 56");
	memset(&r, 0x5a, sizeof(r));
	CHECK(usbip_unpack_request(req, 56, &r, &err) == 0 && r.code == USBIP_OP_REQ_RESUME &&
	      !strcmp(r.busid, "1-1") && !memcmp(r.token, token, 16),
	      "resume request decodes: code 0x8010, bus id, token");
	CHECK(usbip_ext_hello_get((const uint8_t *)r.busid, &got) == 1 && got.window_s == 60 &&
	      got.caps == USBIP_EXT_CAP_SESSION && !(got.flags & USBIP_EXT_FLAG_ANSWER),
	      "the resume's hello is in the decoded bus id field");
	CHECK(usbip_unpack_request(req, 55, &r, &err) == -EPROTO,
	      "55 bytes of a resume request: %s", err.msg);
	memset(req + 8, 'x', 32);
	CHECK(usbip_unpack_request(req, 56, &r, &err) == -EINVAL && r.code == USBIP_OP_REQ_RESUME,
	      "resume request with an unterminated bus id: %s", err.msg);
	memcpy(req, want_req, 56);
	req[8] = '\0';
	CHECK(usbip_unpack_req_resume(req, 56, r.busid, r.token, &err) == -EINVAL,
	      "resume request with an empty bus id: %s", err.msg);
	memcpy(req, want_req, 56);
	req[3] = 0x03;
	CHECK(usbip_unpack_req_resume(req, 56, r.busid, r.token, &err) == -EPROTO,
	      "resume decoder on an import header: %s", err.msg);

	/* OP_REP_RESUME */
	sample_device(&dev);
	sample_record(want_rec);
	memcpy(want_rec + 256 + 20, want_answer, 12);
	memset(rep, 0xa5, sizeof(rep));
	answer = h;		/* the flag is set by the encoder */
	CHECK(usbip_pack_rep_resume(rep, sizeof(rep), USBIP_OP_ST_OK, &dev, &answer, &blk,
				    &err) == 368, "resume reply packs: 368 bytes");
	CHECK(!memcmp(rep, "\x01\x11\x00\x10\0\0\0\0", 8), "resume reply header: code 0x0010");
	CHECK_BYTES(rep + 8, want_rec, 312, "resume reply record: the answer in the bus id tail");
	usbip_pack_ext_block(blkbuf, sizeof(blkbuf), &blk, NULL);
	CHECK_BYTES(rep + 320, blkbuf, 48, "resume reply: the block follows the record");
	CHECK(usbip_pack_rep_resume(rep, 367, USBIP_OP_ST_OK, &dev, &answer, &blk, &err) ==
	      -ENOSPC, "resume reply: 367-byte buffer");
	CHECK(usbip_rep_resume_need(rep, 0, &err) == 8 && usbip_rep_resume_need(rep, 8, &err) == 320,
	      "resume reply framing: 8, then 320 (the block is framed on its own)");
	memset(&out, 0, sizeof(out));
	CHECK(usbip_unpack_rep_resume_for(rep, 320, "1-1", &status, &out, &got, &err) == 0 &&
	      status == 0 && !strcmp(out.busid, "1-1") && out.idVendor == 0x0525 &&
	      got.flags == USBIP_EXT_FLAG_ANSWER && got.window_s == 60 &&
	      got.caps == USBIP_EXT_CAP_SESSION, "resume reply decodes with its answer");
	CHECK(usbip_unpack_ext_block(rep + 320, 48, &got, USBIP_EXT_CAP_SESSION, &back, &err) ==
	      0 && !memcmp(back.token, blk.token, 16), "its block carries the new token");
	CHECK(usbip_unpack_rep_resume_for(rep, 320, "1-2", &status, &out, &got, &err) == -EPROTO &&
	      strstr(err.msg, "instead of"), "resume reply about another device: %s", err.msg);
	CHECK(usbip_unpack_rep_resume_for(rep, 368, "1-1", &status, &out, &got, &err) == -EPROTO,
	      "resume reply decoder given the block too: %s", err.msg);
	rep[8 + 256 + 25] = 0;
	CHECK(usbip_unpack_rep_resume_for(rep, 320, "1-1", &status, &out, &got, &err) == -EPROTO &&
	      strstr(err.msg, "without an answer"), "resume reply echoing a hello: %s", err.msg);
	memset(rep + 8 + 256 + 20, 0, 12);
	CHECK(usbip_unpack_rep_resume_for(rep, 320, "1-1", &status, &out, &got, &err) == -EPROTO &&
	      strstr(err.msg, "without an answer"), "resume reply without an answer: %s", err.msg);
	answer.caps = 0;
	usbip_pack_rep_resume(rep, sizeof(rep), USBIP_OP_ST_OK, &dev, &answer, &blk, NULL);
	CHECK(usbip_unpack_rep_resume_for(rep, 320, "1-1", &status, &out, &got, &err) == -EPROTO &&
	      strstr(err.msg, "capabilities 0x0"), "resume reply without a session: %s", err.msg);
	answer.caps = USBIP_EXT_CAP_SESSION;
	answer.version = 2;
	usbip_pack_rep_resume(rep, sizeof(rep), USBIP_OP_ST_OK, &dev, &answer, &blk, NULL);
	CHECK(usbip_unpack_rep_resume_for(rep, 320, "1-1", &status, &out, &got, &err) == -EPROTO &&
	      strstr(err.msg, "version 2"), "resume reply of extension version 2: %s", err.msg);
	CHECK(usbip_pack_rep_resume(rep, 8, USBIP_OP_ST_NA, NULL, NULL, NULL, &err) == 8 &&
	      !memcmp(rep, "\x01\x11\x00\x10\0\0\0\x01", 8), "refused resume: 8 bytes, status 1");
	CHECK(usbip_rep_resume_need(rep, 8, &err) == 8 &&
	      usbip_unpack_rep_resume_for(rep, 8, "1-1", &status, &out, &got, &err) == 0 &&
	      status == USBIP_OP_ST_NA, "refused resume decodes as status 1");
	CHECK(usbip_unpack_rep_resume_for(rep, 320, "1-1", &status, &out, &got, &err) == -EPROTO,
	      "refused resume followed by a record: %s", err.msg);
	rep[3] = 0x03;
	CHECK(usbip_rep_resume_need(rep, 8, &err) == -EPROTO && strstr(err.msg, "0x0003"),
	      "resume reply framer on an import reply: %s", err.msg);
}

int main(void)
{
	test_ophdr();
	test_device_record();
	test_device_validation();
	test_devlist();
	test_import();
	test_framing();
	test_mutations();
	test_ext();
	test_resume();
	return tap_done();
}
