// SPDX-License-Identifier: GPL-2.0
/*
 * Encoding and decoding of the USB/IP management protocol records.
 *
 * Every multi-byte field is big-endian on the wire.  Fields are written and
 * read one by one at fixed offsets; no structure is ever laid over a
 * network buffer, so host padding and alignment never matter.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/usb/ch9.h>

#include "usbip_proto.h"

/* Offsets inside the 8-byte op header. */
#define OPHDR_OFF_VERSION	0
#define OPHDR_OFF_CODE		2
#define OPHDR_OFF_STATUS	4

/* Offsets inside the 312-byte device record. */
#define DEV_OFF_PATH		0
#define DEV_OFF_BUSID		USBIP_DEVICE_BUSID_OFF
#define DEV_OFF_BUSNUM		288
#define DEV_OFF_DEVNUM		292
#define DEV_OFF_SPEED		296
#define DEV_OFF_IDVENDOR	300
#define DEV_OFF_IDPRODUCT	302
#define DEV_OFF_BCDDEVICE	304
#define DEV_OFF_CLASS		306
#define DEV_OFF_SUBCLASS	307
#define DEV_OFF_PROTOCOL	308
#define DEV_OFF_CONFIG		309
#define DEV_OFF_NUMCONFIGS	310
#define DEV_OFF_NUMINTF		311

_Static_assert(DEV_OFF_NUMINTF + 1 == USBIP_DEVICE_WIRE_SIZE, "device record layout");
_Static_assert(DEV_OFF_BUSID == USBIP_PATH_SIZE, "path field size");
_Static_assert(DEV_OFF_BUSNUM - DEV_OFF_BUSID == USBIP_BUSID_SIZE, "busid field size");

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/**
 * usbip_pack_ophdr() - encode an op header
 * @out: 8 bytes of output
 * @hdr: header to encode
 */
void usbip_pack_ophdr(uint8_t *out, const struct usbip_ophdr *hdr)
{
	put_be16(out + OPHDR_OFF_VERSION, hdr->version);
	put_be16(out + OPHDR_OFF_CODE, hdr->code);
	put_be32(out + OPHDR_OFF_STATUS, hdr->status);
}

/**
 * usbip_unpack_ophdr() - decode an op header; any value is accepted
 * @in: 8 bytes of input
 * @hdr: decoded header
 *
 * Use usbip_check_ophdr() to validate the result.
 */
void usbip_unpack_ophdr(const uint8_t *in, struct usbip_ophdr *hdr)
{
	hdr->version = get_be16(in + OPHDR_OFF_VERSION);
	hdr->code = get_be16(in + OPHDR_OFF_CODE);
	hdr->status = get_be32(in + OPHDR_OFF_STATUS);
}

/**
 * usbip_check_ophdr() - check the version and code of a received op header
 * @hdr: decoded header
 * @expected_code: the op code the protocol state expects next
 * @err: reason on failure, may be NULL
 *
 * The status is not checked: its meaning depends on the message.
 *
 * Return: 0, or -EPROTO when the version or the code is wrong.
 */
int usbip_check_ophdr(const struct usbip_ophdr *hdr, uint16_t expected_code,
		      struct usbip_error *err)
{
	if (hdr->version != USBIP_VERSION) {
		usbip_set_error(err, "peer speaks protocol version 0x%04x, we speak 0x%04x",
				hdr->version, USBIP_VERSION);
		return -EPROTO;
	}
	if (hdr->code != expected_code) {
		usbip_set_error(err, "unexpected op code 0x%04x (expected 0x%04x)",
				hdr->code, expected_code);
		return -EPROTO;
	}
	return 0;
}

/**
 * usbip_op_status_str() - describe an op header status value
 * @status: USBIP_OP_ST_* value
 *
 * Return: a static string, never NULL.
 */
const char *usbip_op_status_str(uint32_t status)
{
	switch (status) {
	case USBIP_OP_ST_OK:
		return "ok";
	case USBIP_OP_ST_NA:
		return "request failed";
	case USBIP_OP_ST_DEV_BUSY:
		return "device busy (already imported)";
	case USBIP_OP_ST_DEV_ERR:
		return "device in error state";
	case USBIP_OP_ST_NODEV:
		return "no such device";
	case USBIP_OP_ST_ERROR:
		return "unexpected error on the server";
	default:
		return "unknown status";
	}
}

/**
 * usbip_check_busid() - validate a bus id field of a record
 * @field: the field, @size bytes, not necessarily NUL-terminated
 * @size: size of the field (USBIP_BUSID_SIZE)
 * @err: reason on failure, may be NULL
 *
 * A bus id names a sysfs directory, so besides being NUL-terminated inside
 * its field it must be non-empty, printable, free of spaces and slashes and
 * not "." or "..".
 *
 * Return: 0, or -EINVAL.
 */
int usbip_check_busid(const char *field, size_t size, struct usbip_error *err)
{
	const char *end = memchr(field, '\0', size);
	const char *p;

	if (!end) {
		usbip_set_error(err, "bus id is not NUL-terminated within %zu bytes", size);
		return -EINVAL;
	}
	if (end == field) {
		usbip_set_error(err, "bus id is empty");
		return -EINVAL;
	}
	for (p = field; p < end; p++) {
		unsigned char c = *p;

		if (c <= 0x20 || c >= 0x7f || c == '/') {
			usbip_set_error(err, "bus id contains invalid byte 0x%02x at offset %zu",
					c, (size_t)(p - field));
			return -EINVAL;
		}
	}
	if (!strcmp(field, ".") || !strcmp(field, "..")) {
		usbip_set_error(err, "bus id \"%s\" is not allowed", field);
		return -EINVAL;
	}
	return 0;
}

static int check_path(const char *field, struct usbip_error *err)
{
	const char *end = memchr(field, '\0', USBIP_PATH_SIZE);
	const char *p;

	if (!end) {
		usbip_set_error(err, "device path is not NUL-terminated within %d bytes",
				USBIP_PATH_SIZE);
		return -EINVAL;
	}
	for (p = field; p < end; p++) {
		unsigned char c = *p;

		if (c < 0x20 || c >= 0x7f) {
			usbip_set_error(err, "device path contains invalid byte 0x%02x at offset %zu",
					c, (size_t)(p - field));
			return -EINVAL;
		}
	}
	return 0;
}

static int check_device(const struct usbip_devinfo *dev, struct usbip_error *err)
{
	int ret;

	ret = check_path(dev->path, err);
	if (ret)
		return ret;
	ret = usbip_check_busid(dev->busid, sizeof(dev->busid), err);
	if (ret)
		return ret;
	/* devid = busnum << 16 | devnum, so both must fit in 16 bits. */
	if (dev->busnum > 0xffff || dev->devnum > 0xffff) {
		usbip_set_error(err, "device %s: busnum %u / devnum %u out of range (max 65535)",
				dev->busid, dev->busnum, dev->devnum);
		return -EINVAL;
	}
	if (dev->bNumInterfaces > USBIP_MAX_INTERFACES) {
		usbip_set_error(err, "device %s: %u interfaces, more than the %d USB allows",
				dev->busid, dev->bNumInterfaces, USBIP_MAX_INTERFACES);
		return -EINVAL;
	}
	return 0;
}

/**
 * usbip_pack_device() - encode a device record
 * @out: USBIP_DEVICE_WIRE_SIZE bytes of output
 * @dev: device to encode
 * @err: reason on failure, may be NULL
 *
 * Unused bytes of the string fields are sent as zeros.
 *
 * Return: 0, or -EINVAL if @dev holds values the record cannot carry.
 */
int usbip_pack_device(uint8_t *out, const struct usbip_devinfo *dev, struct usbip_error *err)
{
	int ret;

	ret = check_device(dev, err);
	if (ret)
		return ret;

	memset(out, 0, USBIP_DEVICE_WIRE_SIZE);
	memcpy(out + DEV_OFF_PATH, dev->path, strlen(dev->path));
	memcpy(out + DEV_OFF_BUSID, dev->busid, strlen(dev->busid));
	put_be32(out + DEV_OFF_BUSNUM, dev->busnum);
	put_be32(out + DEV_OFF_DEVNUM, dev->devnum);
	put_be32(out + DEV_OFF_SPEED, dev->speed);
	put_be16(out + DEV_OFF_IDVENDOR, dev->idVendor);
	put_be16(out + DEV_OFF_IDPRODUCT, dev->idProduct);
	put_be16(out + DEV_OFF_BCDDEVICE, dev->bcdDevice);
	out[DEV_OFF_CLASS] = dev->bDeviceClass;
	out[DEV_OFF_SUBCLASS] = dev->bDeviceSubClass;
	out[DEV_OFF_PROTOCOL] = dev->bDeviceProtocol;
	out[DEV_OFF_CONFIG] = dev->bConfigurationValue;
	out[DEV_OFF_NUMCONFIGS] = dev->bNumConfigurations;
	out[DEV_OFF_NUMINTF] = dev->bNumInterfaces;
	return 0;
}

/**
 * usbip_unpack_device() - decode and validate a device record from a peer
 * @in: USBIP_DEVICE_WIRE_SIZE bytes of input
 * @dev: decoded device; @dev->intf is zeroed
 * @err: reason on failure, may be NULL
 *
 * Return: 0, or -EINVAL when a string is unterminated or not printable, the
 * bus id could not name a sysfs directory, busnum/devnum exceed 16 bits or
 * bNumInterfaces exceeds 32.
 */
int usbip_unpack_device(const uint8_t *in, struct usbip_devinfo *dev, struct usbip_error *err)
{
	memset(dev, 0, sizeof(*dev));
	memcpy(dev->path, in + DEV_OFF_PATH, USBIP_PATH_SIZE);
	memcpy(dev->busid, in + DEV_OFF_BUSID, USBIP_BUSID_SIZE);
	dev->busnum = get_be32(in + DEV_OFF_BUSNUM);
	dev->devnum = get_be32(in + DEV_OFF_DEVNUM);
	dev->speed = get_be32(in + DEV_OFF_SPEED);
	dev->idVendor = get_be16(in + DEV_OFF_IDVENDOR);
	dev->idProduct = get_be16(in + DEV_OFF_IDPRODUCT);
	dev->bcdDevice = get_be16(in + DEV_OFF_BCDDEVICE);
	dev->bDeviceClass = in[DEV_OFF_CLASS];
	dev->bDeviceSubClass = in[DEV_OFF_SUBCLASS];
	dev->bDeviceProtocol = in[DEV_OFF_PROTOCOL];
	dev->bConfigurationValue = in[DEV_OFF_CONFIG];
	dev->bNumConfigurations = in[DEV_OFF_NUMCONFIGS];
	dev->bNumInterfaces = in[DEV_OFF_NUMINTF];

	return check_device(dev, err);
}

/**
 * usbip_pack_interface() - encode an interface record (padding byte 0)
 * @out: USBIP_INTERFACE_WIRE_SIZE bytes of output
 * @intf: interface to encode
 */
void usbip_pack_interface(uint8_t *out, const struct usbip_ifinfo *intf)
{
	out[0] = intf->bInterfaceClass;
	out[1] = intf->bInterfaceSubClass;
	out[2] = intf->bInterfaceProtocol;
	out[3] = 0;
}

/**
 * usbip_unpack_interface() - decode an interface record (padding ignored)
 * @in: USBIP_INTERFACE_WIRE_SIZE bytes of input
 * @intf: decoded interface
 */
void usbip_unpack_interface(const uint8_t *in, struct usbip_ifinfo *intf)
{
	intf->bInterfaceClass = in[0];
	intf->bInterfaceSubClass = in[1];
	intf->bInterfaceProtocol = in[2];
}

/**
 * usbip_pack_req_devlist() - encode OP_REQ_DEVLIST (an op header only)
 * @out: USBIP_OP_HDR_WIRE_SIZE bytes of output
 */
void usbip_pack_req_devlist(uint8_t *out)
{
	struct usbip_ophdr hdr = {
		.version = USBIP_VERSION,
		.code = USBIP_OP_REQ_DEVLIST,
		.status = USBIP_OP_ST_OK,
	};

	usbip_pack_ophdr(out, &hdr);
}

/**
 * usbip_rep_devlist_size() - bytes of an OP_REP_DEVLIST message
 * @devs: devices to list
 * @ndev: number of entries in @devs
 *
 * Return: size of the op header, count and records.
 */
size_t usbip_rep_devlist_size(const struct usbip_devinfo *devs, uint32_t ndev)
{
	size_t size = USBIP_OP_HDR_WIRE_SIZE + USBIP_DEVLIST_COUNT_WIRE_SIZE;
	uint32_t i;

	for (i = 0; i < ndev; i++)
		size += USBIP_DEVICE_WIRE_SIZE +
			(size_t)devs[i].bNumInterfaces * USBIP_INTERFACE_WIRE_SIZE;
	return size;
}

/**
 * usbip_pack_rep_devlist() - encode a complete OP_REP_DEVLIST (status 0)
 * @buf: output buffer
 * @len: size of @buf
 * @devs: devices to list, each followed by its bNumInterfaces interfaces
 * @ndev: number of entries in @devs
 * @err: reason on failure, may be NULL
 *
 * Return: bytes written, -ENOSPC if @len is too small, -EINVAL if a device
 * cannot be encoded.
 */
ssize_t usbip_pack_rep_devlist(uint8_t *buf, size_t len, const struct usbip_devinfo *devs,
			       uint32_t ndev, struct usbip_error *err)
{
	struct usbip_ophdr hdr = {
		.version = USBIP_VERSION,
		.code = USBIP_OP_REP_DEVLIST,
		.status = USBIP_OP_ST_OK,
	};
	size_t need = usbip_rep_devlist_size(devs, ndev);
	uint8_t *p = buf;
	uint32_t i, j;
	int ret;

	if (len < need) {
		usbip_set_error(err, "device list needs %zu bytes, buffer has %zu", need, len);
		return -ENOSPC;
	}
	usbip_pack_ophdr(p, &hdr);
	p += USBIP_OP_HDR_WIRE_SIZE;
	put_be32(p, ndev);
	p += USBIP_DEVLIST_COUNT_WIRE_SIZE;
	for (i = 0; i < ndev; i++) {
		ret = usbip_pack_device(p, &devs[i], err);
		if (ret)
			return ret;
		p += USBIP_DEVICE_WIRE_SIZE;
		for (j = 0; j < devs[i].bNumInterfaces; j++) {
			usbip_pack_interface(p, &devs[i].intf[j]);
			p += USBIP_INTERFACE_WIRE_SIZE;
		}
	}
	return p - buf;
}

/**
 * usbip_unpack_devlist_count() - decode and bound the device count of OP_REP_DEVLIST
 * @in: USBIP_DEVLIST_COUNT_WIRE_SIZE bytes following the op header
 * @ndev: decoded count
 * @err: reason on failure, may be NULL
 *
 * Return: 0, or -EPROTO when the count exceeds USBIP_MAX_DEVLIST.
 */
int usbip_unpack_devlist_count(const uint8_t *in, uint32_t *ndev, struct usbip_error *err)
{
	*ndev = get_be32(in);
	if (*ndev > USBIP_MAX_DEVLIST) {
		usbip_set_error(err, "peer announces %u devices, more than the limit of %d",
				*ndev, USBIP_MAX_DEVLIST);
		return -EPROTO;
	}
	return 0;
}

/**
 * usbip_unpack_rep_devlist() - decode and validate a complete OP_REP_DEVLIST
 * @buf: the message, op header first
 * @len: its length; it must match the content exactly
 * @devs: on success a calloc()ed array the caller frees, NULL when empty
 * @ndev: on success the number of devices
 * @err: reason on failure, may be NULL
 *
 * Return: 0, -EPROTO for a malformed or truncated message, a failure
 * status, or trailing bytes, -EINVAL for an invalid device record, -ENOMEM.
 */
int usbip_unpack_rep_devlist(const uint8_t *buf, size_t len, struct usbip_devinfo **devs,
			     uint32_t *ndev, struct usbip_error *err)
{
	struct usbip_devinfo *list = NULL;
	struct usbip_ophdr hdr;
	size_t off, need;
	uint32_t count, i, j;
	int ret;

	*devs = NULL;
	*ndev = 0;
	if (len < USBIP_OP_HDR_WIRE_SIZE) {
		usbip_set_error(err, "device list truncated: %zu bytes, op header needs %d",
				len, USBIP_OP_HDR_WIRE_SIZE);
		return -EPROTO;
	}
	usbip_unpack_ophdr(buf, &hdr);
	ret = usbip_check_ophdr(&hdr, USBIP_OP_REP_DEVLIST, err);
	if (ret)
		return ret;
	if (hdr.status != USBIP_OP_ST_OK) {
		usbip_set_error(err, "peer refused the device list: status %u (%s)",
				hdr.status, usbip_op_status_str(hdr.status));
		return -EPROTO;
	}
	off = USBIP_OP_HDR_WIRE_SIZE;
	if (len - off < USBIP_DEVLIST_COUNT_WIRE_SIZE) {
		usbip_set_error(err, "device list truncated before the device count");
		return -EPROTO;
	}
	ret = usbip_unpack_devlist_count(buf + off, &count, err);
	if (ret)
		return ret;
	off += USBIP_DEVLIST_COUNT_WIRE_SIZE;
	/* Refuse before allocating if even interface-less records cannot fit. */
	need = (size_t)count * USBIP_DEVICE_WIRE_SIZE;
	if (len - off < need) {
		usbip_set_error(err, "device list truncated: %u devices need at least %zu bytes, %zu left",
				count, need, len - off);
		return -EPROTO;
	}
	if (count) {
		list = calloc(count, sizeof(*list));
		if (!list) {
			usbip_set_error(err, "out of memory for %u devices", count);
			return -ENOMEM;
		}
	}
	for (i = 0; i < count; i++) {
		if (len - off < USBIP_DEVICE_WIRE_SIZE) {
			usbip_set_error(err, "device list truncated in device %u of %u", i + 1, count);
			ret = -EPROTO;
			goto err_free;
		}
		ret = usbip_unpack_device(buf + off, &list[i], err);
		if (ret)
			goto err_free;
		off += USBIP_DEVICE_WIRE_SIZE;
		need = (size_t)list[i].bNumInterfaces * USBIP_INTERFACE_WIRE_SIZE;
		if (len - off < need) {
			usbip_set_error(err, "device list truncated in the interfaces of device %s",
					list[i].busid);
			ret = -EPROTO;
			goto err_free;
		}
		for (j = 0; j < list[i].bNumInterfaces; j++) {
			usbip_unpack_interface(buf + off, &list[i].intf[j]);
			off += USBIP_INTERFACE_WIRE_SIZE;
		}
	}
	if (off != len) {
		usbip_set_error(err, "device list followed by %zu unexpected bytes", len - off);
		ret = -EPROTO;
		goto err_free;
	}
	*devs = list;
	*ndev = count;
	return 0;

err_free:
	free(list);
	return ret;
}

/**
 * usbip_pack_req_import() - encode a complete OP_REQ_IMPORT
 * @out: USBIP_REQ_IMPORT_WIRE_SIZE bytes of output
 * @busid: bus id of the device to import
 * @err: reason on failure, may be NULL
 *
 * Return: 0, or -EINVAL when @busid is too long or invalid.
 */
int usbip_pack_req_import(uint8_t *out, const char *busid, struct usbip_error *err)
{
	struct usbip_ophdr hdr = {
		.version = USBIP_VERSION,
		.code = USBIP_OP_REQ_IMPORT,
		.status = USBIP_OP_ST_OK,
	};
	char field[USBIP_BUSID_SIZE] = "";
	size_t n = strlen(busid);
	int ret;

	if (n >= USBIP_BUSID_SIZE) {
		usbip_set_error(err, "bus id \"%.40s%s\" is longer than %d characters", busid,
				n > 40 ? "..." : "", USBIP_BUSID_SIZE - 1);
		return -EINVAL;
	}
	memcpy(field, busid, n);
	ret = usbip_check_busid(field, sizeof(field), err);
	if (ret)
		return ret;
	usbip_pack_ophdr(out, &hdr);
	memcpy(out + USBIP_OP_HDR_WIRE_SIZE, field, sizeof(field));
	return 0;
}

/**
 * usbip_unpack_req_import() - decode and validate a complete OP_REQ_IMPORT
 * @buf: the message, op header first
 * @len: its length, must be USBIP_REQ_IMPORT_WIRE_SIZE
 * @busid: USBIP_BUSID_SIZE bytes receiving the NUL-terminated bus id
 * @err: reason on failure, may be NULL
 *
 * The status of a request is ignored.
 *
 * Return: 0, -EPROTO for a bad header or length, -EINVAL for a bad bus id.
 */
int usbip_unpack_req_import(const uint8_t *buf, size_t len, char *busid,
			    struct usbip_error *err)
{
	struct usbip_ophdr hdr;
	int ret;

	if (len != USBIP_REQ_IMPORT_WIRE_SIZE) {
		usbip_set_error(err, "import request is %zu bytes, expected %d", len,
				USBIP_REQ_IMPORT_WIRE_SIZE);
		return -EPROTO;
	}
	usbip_unpack_ophdr(buf, &hdr);
	ret = usbip_check_ophdr(&hdr, USBIP_OP_REQ_IMPORT, err);
	if (ret)
		return ret;
	ret = usbip_check_busid((const char *)buf + USBIP_OP_HDR_WIRE_SIZE, USBIP_BUSID_SIZE, err);
	if (ret)
		return ret;
	memcpy(busid, buf + USBIP_OP_HDR_WIRE_SIZE, USBIP_BUSID_SIZE);
	return 0;
}

/**
 * usbip_pack_rep_import() - encode a complete OP_REP_IMPORT
 * @buf: output buffer
 * @len: size of @buf
 * @status: USBIP_OP_ST_* result; only USBIP_OP_ST_OK carries a device
 * @dev: the imported device when @status is USBIP_OP_ST_OK, else unused
 * @err: reason on failure, may be NULL
 *
 * Return: bytes written (8 or 320), -ENOSPC, or -EINVAL for a bad @dev.
 */
ssize_t usbip_pack_rep_import(uint8_t *buf, size_t len, uint32_t status,
			      const struct usbip_devinfo *dev, struct usbip_error *err)
{
	struct usbip_ophdr hdr = {
		.version = USBIP_VERSION,
		.code = USBIP_OP_REP_IMPORT,
		.status = status,
	};
	size_t need = status == USBIP_OP_ST_OK ? USBIP_REP_IMPORT_WIRE_SIZE :
						 USBIP_OP_HDR_WIRE_SIZE;
	int ret;

	if (len < need) {
		usbip_set_error(err, "import reply needs %zu bytes, buffer has %zu", need, len);
		return -ENOSPC;
	}
	if (status == USBIP_OP_ST_OK) {
		ret = usbip_pack_device(buf + USBIP_OP_HDR_WIRE_SIZE, dev, err);
		if (ret)
			return ret;
	}
	usbip_pack_ophdr(buf, &hdr);
	return need;
}

/* OP_REP_IMPORT or OP_REP_RESUME (@code): header, length, record. */
static int unpack_rep(const uint8_t *buf, size_t len, uint16_t code, const char *what,
		      uint32_t *status, struct usbip_devinfo *dev, struct usbip_error *err)
{
	struct usbip_ophdr hdr;
	size_t need;
	int ret;

	if (len < USBIP_OP_HDR_WIRE_SIZE) {
		usbip_set_error(err, "%s reply truncated: %zu bytes, op header needs %d",
				what, len, USBIP_OP_HDR_WIRE_SIZE);
		return -EPROTO;
	}
	usbip_unpack_ophdr(buf, &hdr);
	ret = usbip_check_ophdr(&hdr, code, err);
	if (ret)
		return ret;
	need = hdr.status == USBIP_OP_ST_OK ? USBIP_REP_IMPORT_WIRE_SIZE : USBIP_OP_HDR_WIRE_SIZE;
	if (len != need) {
		usbip_set_error(err, "%s reply with status %u is %zu bytes, expected %zu",
				what, hdr.status, len, need);
		return -EPROTO;
	}
	*status = hdr.status;
	if (hdr.status != USBIP_OP_ST_OK)
		return 0;
	return usbip_unpack_device(buf + USBIP_OP_HDR_WIRE_SIZE, dev, err);
}

/**
 * usbip_unpack_rep_import() - decode and validate a complete OP_REP_IMPORT
 * @buf: the message, op header first
 * @len: its length: 320 when the status is 0, 8 otherwise
 * @status: the reply's status
 * @dev: the device when *@status is USBIP_OP_ST_OK, untouched otherwise
 * @err: reason on failure, may be NULL
 *
 * A non-zero status is a valid reply, not a decoding error: the caller
 * reports it (see usbip_op_status_str()).
 *
 * Return: 0, -EPROTO for a bad header or length, -EINVAL for a bad record.
 */
int usbip_unpack_rep_import(const uint8_t *buf, size_t len, uint32_t *status,
			    struct usbip_devinfo *dev, struct usbip_error *err)
{
	return unpack_rep(buf, len, USBIP_OP_REP_IMPORT, "import", status, dev, err);
}

/* The header of a message of code @code, once its 8 bytes are there. */
static int need_ophdr(const uint8_t *buf, size_t len, uint16_t code, struct usbip_ophdr *hdr,
		      struct usbip_error *err)
{
	if (len < USBIP_OP_HDR_WIRE_SIZE)
		return 1;
	usbip_unpack_ophdr(buf, hdr);
	return usbip_check_ophdr(hdr, code, err);
}

/**
 * usbip_req_need() - frame a management request as a server receives it
 * @buf: the request's bytes received so far
 * @len: their number
 * @err: reason on failure, may be NULL
 *
 * The op header says how long the request is: 8 bytes for OP_REQ_DEVLIST,
 * 40 for OP_REQ_IMPORT, 56 for OP_REQ_RESUME (usbip_ext.rst).  See the
 * *_need() convention in usbip_proto.h.
 *
 * Return: the size of the whole request as far as known (8 until the op
 * header is complete), -EPROTO for another protocol version, -EOPNOTSUPP
 * for an op code that is not a request we serve.
 */
ssize_t usbip_req_need(const uint8_t *buf, size_t len, struct usbip_error *err)
{
	struct usbip_ophdr hdr;

	if (len < USBIP_OP_HDR_WIRE_SIZE)
		return USBIP_OP_HDR_WIRE_SIZE;
	usbip_unpack_ophdr(buf, &hdr);
	if (hdr.version != USBIP_VERSION) {
		usbip_set_error(err, "protocol version 0x%04x, expected 0x%04x", hdr.version,
				USBIP_VERSION);
		return -EPROTO;
	}
	switch (hdr.code) {
	case USBIP_OP_REQ_DEVLIST:
		return USBIP_OP_HDR_WIRE_SIZE;
	case USBIP_OP_REQ_IMPORT:
		return USBIP_REQ_IMPORT_WIRE_SIZE;
	case USBIP_OP_REQ_RESUME:
		return USBIP_REQ_RESUME_WIRE_SIZE;
	default:
		usbip_set_error(err, "unknown op code 0x%04x", hdr.code);
		return -EOPNOTSUPP;
	}
}

/**
 * usbip_unpack_request() - decode and check a complete management request
 * @buf: the request, op header first
 * @len: its length, which must be exactly what usbip_req_need() said
 * @req: the decoded request
 * @err: reason on failure, may be NULL
 *
 * The status field of a request carries nothing and is ignored.
 *
 * Return: 0; -EPROTO, -EOPNOTSUPP as usbip_req_need(), or -EPROTO for a
 * wrong length; -EINVAL for an OP_REQ_IMPORT or OP_REQ_RESUME whose bus id
 * is unterminated or could not name a device (@req->code is then set).
 */
int usbip_unpack_request(const uint8_t *buf, size_t len, struct usbip_request *req,
			 struct usbip_error *err)
{
	ssize_t need = usbip_req_need(buf, len, err);

	memset(req, 0, sizeof(*req));
	if (need < 0)
		return need;
	if ((size_t)need != len) {
		usbip_set_error(err, "request is %zu bytes, expected %zd", len, need);
		return -EPROTO;
	}
	req->code = get_be16(buf + OPHDR_OFF_CODE);
	if (req->code == USBIP_OP_REQ_RESUME)
		return usbip_unpack_req_resume(buf, len, req->busid, req->token, err);
	if (req->code != USBIP_OP_REQ_IMPORT)
		return 0;
	return usbip_unpack_req_import(buf, len, req->busid, err);
}

/**
 * usbip_rep_devlist_need() - frame an OP_REP_DEVLIST as a client receives it
 * @buf: the reply's bytes received so far
 * @len: their number
 * @err: reason on failure, may be NULL
 *
 * The size is bounded as soon as a field that sets it arrives: the count
 * by USBIP_MAX_DEVLIST, each record's bNumInterfaces by
 * USBIP_MAX_INTERFACES, so the answer never exceeds
 * USBIP_REP_DEVLIST_MAX_WIRE_SIZE.  Records whose interfaces are not known
 * yet count as interface-less, which keeps the answer a lower bound: a
 * caller reading up to it can take many records per read.  See the
 * *_need() convention in usbip_proto.h.
 *
 * Return: the size of the whole reply as far as known; -EPROTO for a wrong
 * version or code, a failure status (the reply ends there), a count or an
 * interface number beyond the limits.
 */
ssize_t usbip_rep_devlist_need(const uint8_t *buf, size_t len, struct usbip_error *err)
{
	struct usbip_ophdr hdr;
	uint32_t count, i;
	size_t off, need, nintf;
	int ret;

	ret = need_ophdr(buf, len, USBIP_OP_REP_DEVLIST, &hdr, err);
	if (ret)
		return ret < 0 ? ret : USBIP_OP_HDR_WIRE_SIZE;
	if (hdr.status != USBIP_OP_ST_OK) {
		usbip_set_error(err, "the server refused the device list: status %u (%s)",
				hdr.status, usbip_op_status_str(hdr.status));
		return -EPROTO;
	}
	off = USBIP_OP_HDR_WIRE_SIZE + USBIP_DEVLIST_COUNT_WIRE_SIZE;
	if (len < off)
		return off;
	ret = usbip_unpack_devlist_count(buf + USBIP_OP_HDR_WIRE_SIZE, &count, err);
	if (ret)
		return ret;
	need = off + (size_t)count * USBIP_DEVICE_WIRE_SIZE;
	/* Walk the records whose last byte, bNumInterfaces, has arrived. */
	for (i = 0; i < count && off + USBIP_DEVICE_WIRE_SIZE <= len; i++) {
		nintf = buf[off + DEV_OFF_NUMINTF];
		if (nintf > USBIP_MAX_INTERFACES) {
			usbip_set_error(err, "device %u of %u claims %zu interfaces, more than "
					"the %d USB allows", i + 1, count, nintf,
					USBIP_MAX_INTERFACES);
			return -EPROTO;
		}
		off += USBIP_DEVICE_WIRE_SIZE + nintf * USBIP_INTERFACE_WIRE_SIZE;
		need += nintf * USBIP_INTERFACE_WIRE_SIZE;
	}
	return need;
}

/**
 * usbip_rep_import_need() - frame an OP_REP_IMPORT as a client receives it
 * @buf: the reply's bytes received so far
 * @len: their number
 * @err: reason on failure, may be NULL
 *
 * A reply is 320 bytes when its status is 0, else the 8-byte op header.
 * See the *_need() convention in usbip_proto.h.
 *
 * Return: the size of the whole reply as far as known (8 until the op
 * header is complete), or -EPROTO for a wrong version or code.
 */
ssize_t usbip_rep_import_need(const uint8_t *buf, size_t len, struct usbip_error *err)
{
	struct usbip_ophdr hdr;
	int ret;

	ret = need_ophdr(buf, len, USBIP_OP_REP_IMPORT, &hdr, err);
	if (ret)
		return ret < 0 ? ret : USBIP_OP_HDR_WIRE_SIZE;
	return hdr.status == USBIP_OP_ST_OK ? USBIP_REP_IMPORT_WIRE_SIZE : USBIP_OP_HDR_WIRE_SIZE;
}

/* Speeds a virtual port of vhci-hcd can take (its attach file refuses others). */
static bool import_speed_ok(uint32_t speed)
{
	switch (speed) {
	case USB_SPEED_LOW:
	case USB_SPEED_FULL:
	case USB_SPEED_HIGH:
	case USB_SPEED_SUPER:
	case USB_SPEED_SUPER_PLUS:
		return true;
	default:
		return false;
	}
}

/* The device of an accepted import or resume: the one asked for, a port's speed. */
static int check_rep_device(const struct usbip_devinfo *dev, const char *busid,
			    struct usbip_error *err)
{
	if (strncmp(dev->busid, busid, sizeof(dev->busid))) {
		usbip_set_error(err, "the server answered with device \"%s\" instead of \"%s\"",
				dev->busid, busid);
		return -EPROTO;
	}
	if (!import_speed_ok(dev->speed)) {
		usbip_set_error(err, "the server gives device %s speed %u, which no USB port has",
				dev->busid, dev->speed);
		return -EPROTO;
	}
	return 0;
}

/**
 * usbip_unpack_rep_import_for() - decode and check the reply to our import
 * @buf: the complete reply, op header first
 * @len: its length
 * @busid: the bus id that was asked for
 * @status: the reply's status
 * @dev: the device when *@status is USBIP_OP_ST_OK
 * @err: reason on failure, may be NULL
 *
 * Besides the checks of usbip_unpack_rep_import(), an accepted import must
 * be of the device that was asked for and have a speed a virtual port can
 * take.  A refusal (non-zero status) is a valid reply: the caller explains it.
 *
 * Return: 0, -EPROTO for a bad header or length, an answer about another
 * device or an impossible speed, -EINVAL for a bad record.
 */
int usbip_unpack_rep_import_for(const uint8_t *buf, size_t len, const char *busid,
				uint32_t *status, struct usbip_devinfo *dev,
				struct usbip_error *err)
{
	int ret;

	ret = usbip_unpack_rep_import(buf, len, status, dev, err);
	if (ret || *status != USBIP_OP_ST_OK)
		return ret;
	return check_rep_device(dev, busid, err);
}

/* --- Protocol extensions (Documentation/usb/usbip_ext.rst) --- */

static const uint8_t ext_magic[4] = { 'U', 'I', 'P', 'X' };

/* Offsets in a hello (from USBIP_EXT_HELLO_OFF) and in an extension block. */
#define HELLO_OFF_MAGIC		0
#define HELLO_OFF_VERSION	4
#define HELLO_OFF_FLAGS		5
#define HELLO_OFF_WINDOW	6
#define HELLO_OFF_CAPS		8
#define BLK_OFF_MAGIC		0
#define BLK_OFF_VERSION		4
#define BLK_OFF_FLAGS		5
#define BLK_OFF_LENGTH		6
#define BLK_OFF_CAPS		8
#define BLK_OFF_TOKEN		12
#define BLK_OFF_WINDOW		28
#define BLK_OFF_HEARTBEAT	32
#define BLK_OFF_JOURNAL		36
_Static_assert(USBIP_EXT_HELLO_OFF + HELLO_OFF_CAPS + 4 == USBIP_BUSID_SIZE, "hello layout");
_Static_assert(BLK_OFF_JOURNAL + 4 + 8 == USBIP_EXT_BLOCK_V1_SIZE, "block layout");

/**
 * usbip_ext_hello_put() - write a hello (or an answer) into a bus id field
 * @field: USBIP_BUSID_SIZE bytes holding a NUL-terminated bus id
 * @hello: what to write
 * @err: reason on failure, may be NULL
 *
 * The bytes between the bus id's NUL and the hello become zeros, so the
 * field stays a valid bus id for every reader.
 *
 * Return: 0, or -ENOSPC when the bus id is longer than USBIP_EXT_BUSID_MAX
 * (or not terminated) and the field has no room.
 */
int usbip_ext_hello_put(uint8_t *field, const struct usbip_ext_hello *hello,
			struct usbip_error *err)
{
	const uint8_t *nul = memchr(field, '\0', USBIP_EXT_HELLO_OFF);
	uint8_t *h = field + USBIP_EXT_HELLO_OFF;

	if (!nul) {
		usbip_set_error(err, "bus id longer than %d characters leaves no room for the "
				"extension hello", USBIP_EXT_BUSID_MAX);
		return -ENOSPC;
	}
	memset((uint8_t *)nul, 0, h - nul);
	memcpy(h + HELLO_OFF_MAGIC, ext_magic, sizeof(ext_magic));
	h[HELLO_OFF_VERSION] = hello->version;
	h[HELLO_OFF_FLAGS] = hello->flags;
	put_be16(h + HELLO_OFF_WINDOW, hello->window_s);
	put_be32(h + HELLO_OFF_CAPS, hello->caps);
	return 0;
}

/**
 * usbip_ext_hello_get() - find a hello (or an answer) in a bus id field
 * @field: USBIP_BUSID_SIZE bytes as received
 * @hello: the hello, when there is one
 *
 * A hello is there only when the bus id ends before USBIP_EXT_HELLO_OFF,
 * the magic follows at that offset and the version is not 0.  Anything
 * else in the tail (zeros from a plain peer, or garbage) means no hello:
 * it is never a reason to refuse a message.
 *
 * Return: 1 when a hello was found, else 0.
 */
int usbip_ext_hello_get(const uint8_t *field, struct usbip_ext_hello *hello)
{
	const uint8_t *h = field + USBIP_EXT_HELLO_OFF;

	if (!memchr(field, '\0', USBIP_EXT_HELLO_OFF) ||
	    memcmp(h + HELLO_OFF_MAGIC, ext_magic, sizeof(ext_magic)) || !h[HELLO_OFF_VERSION])
		return 0;
	hello->version = h[HELLO_OFF_VERSION];
	hello->flags = h[HELLO_OFF_FLAGS];
	hello->window_s = get_be16(h + HELLO_OFF_WINDOW);
	hello->caps = get_be32(h + HELLO_OFF_CAPS);
	return 1;
}

/**
 * usbip_pack_ext_block() - encode a version 1 extension block
 * @buf: output
 * @len: size of @buf, at least USBIP_EXT_BLOCK_V1_SIZE
 * @blk: the block (@blk->version is sent as is)
 * @err: reason on failure, may be NULL
 *
 * Return: USBIP_EXT_BLOCK_V1_SIZE, or -ENOSPC.
 */
ssize_t usbip_pack_ext_block(uint8_t *buf, size_t len, const struct usbip_ext_block *blk,
			     struct usbip_error *err)
{
	if (len < USBIP_EXT_BLOCK_V1_SIZE) {
		usbip_set_error(err, "extension block needs %d bytes, buffer has %zu",
				USBIP_EXT_BLOCK_V1_SIZE, len);
		return -ENOSPC;
	}
	memset(buf, 0, USBIP_EXT_BLOCK_V1_SIZE);
	memcpy(buf + BLK_OFF_MAGIC, ext_magic, sizeof(ext_magic));
	buf[BLK_OFF_VERSION] = blk->version;
	put_be16(buf + BLK_OFF_LENGTH, USBIP_EXT_BLOCK_V1_SIZE);
	put_be32(buf + BLK_OFF_CAPS, blk->caps);
	memcpy(buf + BLK_OFF_TOKEN, blk->token, USBIP_EXT_TOKEN_SIZE);
	put_be32(buf + BLK_OFF_WINDOW, blk->window_ms);
	put_be32(buf + BLK_OFF_HEARTBEAT, blk->heartbeat_ms);
	put_be32(buf + BLK_OFF_JOURNAL, blk->journal_max);
	return USBIP_EXT_BLOCK_V1_SIZE;
}

/**
 * usbip_ext_block_need() - frame an extension block as a client receives it
 * @buf: the block's bytes received so far
 * @len: their number
 * @err: reason on failure, may be NULL
 *
 * See the *_need() convention above.
 *
 * Return: the size of the block as far as known (USBIP_EXT_BLOCK_MIN until
 * its length field has arrived), or -EPROTO for a wrong magic or a length
 * out of [USBIP_EXT_BLOCK_MIN, USBIP_EXT_BLOCK_MAX].
 */
ssize_t usbip_ext_block_need(const uint8_t *buf, size_t len, struct usbip_error *err)
{
	uint16_t blen;

	if (len < USBIP_EXT_BLOCK_MIN)
		return USBIP_EXT_BLOCK_MIN;
	if (memcmp(buf + BLK_OFF_MAGIC, ext_magic, sizeof(ext_magic))) {
		usbip_set_error(err, "extension block does not start with its magic");
		return -EPROTO;
	}
	blen = get_be16(buf + BLK_OFF_LENGTH);
	if (blen < USBIP_EXT_BLOCK_MIN || blen > USBIP_EXT_BLOCK_MAX) {
		usbip_set_error(err, "extension block claims %u bytes, outside %d to %d", blen,
				USBIP_EXT_BLOCK_MIN, USBIP_EXT_BLOCK_MAX);
		return -EPROTO;
	}
	return blen;
}

/**
 * usbip_unpack_ext_block() - decode and check the extension block of a reply
 * @buf: the whole block, as framed by usbip_ext_block_need()
 * @len: its length
 * @answer: the answer found in the reply's bus id field
 * @offered: the capability bits the client offered in its hello
 * @blk: the decoded block
 * @err: reason on failure, may be NULL
 *
 * The block must repeat the answer's version and capabilities, the
 * version must not be above ours and the capabilities must be a subset of
 * @offered.  With USBIP_EXT_CAP_SESSION agreed, the token must not be all
 * zeros and the resume window must be 1 ms to USBIP_EXT_WINDOW_MAX_MS: a
 * session without them could never be resumed.  Bytes after the fields of
 * version 1 are ignored.
 *
 * Return: 0, or -EPROTO.
 */
int usbip_unpack_ext_block(const uint8_t *buf, size_t len, const struct usbip_ext_hello *answer,
			   uint32_t offered, struct usbip_ext_block *blk, struct usbip_error *err)
{
	ssize_t need = usbip_ext_block_need(buf, len, err);

	memset(blk, 0, sizeof(*blk));
	if (need < 0)
		return need;
	if ((size_t)need != len) {
		usbip_set_error(err, "extension block is %zu bytes, its length field says %zd",
				len, need);
		return -EPROTO;
	}
	if (answer->version > USBIP_EXT_VERSION) {
		usbip_set_error(err, "the server answers with extension version %u, we asked "
				"for at most %d", answer->version, USBIP_EXT_VERSION);
		return -EPROTO;
	}
	if (answer->caps & ~offered) {
		usbip_set_error(err, "the server agrees to capabilities 0x%x that were not "
				"offered (0x%x)", answer->caps, offered);
		return -EPROTO;
	}
	if (buf[BLK_OFF_VERSION] != answer->version ||
	    get_be32(buf + BLK_OFF_CAPS) != answer->caps) {
		usbip_set_error(err, "extension block (version %u, capabilities 0x%x) contradicts "
				"the answer (version %u, capabilities 0x%x)", buf[BLK_OFF_VERSION],
				get_be32(buf + BLK_OFF_CAPS), answer->version, answer->caps);
		return -EPROTO;
	}
	if (answer->caps & USBIP_EXT_CAP_SESSION) {
		static const uint8_t zeros[USBIP_EXT_TOKEN_SIZE];
		uint32_t window = get_be32(buf + BLK_OFF_WINDOW);

		if (!memcmp(buf + BLK_OFF_TOKEN, zeros, sizeof(zeros))) {
			usbip_set_error(err, "the server agrees to a session without a token");
			return -EPROTO;
		}
		if (!window || window > USBIP_EXT_WINDOW_MAX_MS) {
			usbip_set_error(err, "the server agrees to a session with a resume window "
					"of %u ms, outside 1 to %u", window,
					USBIP_EXT_WINDOW_MAX_MS);
			return -EPROTO;
		}
	}
	blk->version = answer->version;
	blk->caps = answer->caps;
	memcpy(blk->token, buf + BLK_OFF_TOKEN, USBIP_EXT_TOKEN_SIZE);
	blk->window_ms = get_be32(buf + BLK_OFF_WINDOW);
	blk->heartbeat_ms = get_be32(buf + BLK_OFF_HEARTBEAT);
	blk->journal_max = get_be32(buf + BLK_OFF_JOURNAL);
	return 0;
}

/* --- Resume of a session (OP_REQ_RESUME, OP_REP_RESUME) --- */

#define RESUME_OFF_BUSID	USBIP_OP_HDR_WIRE_SIZE
#define RESUME_OFF_TOKEN	(RESUME_OFF_BUSID + USBIP_BUSID_SIZE)
_Static_assert(RESUME_OFF_TOKEN + USBIP_EXT_TOKEN_SIZE == USBIP_REQ_RESUME_WIRE_SIZE,
	       "resume request layout");

/**
 * usbip_pack_req_resume() - encode a complete OP_REQ_RESUME
 * @out: USBIP_REQ_RESUME_WIRE_SIZE bytes of output
 * @busid: bus id of the device whose session is resumed
 * @hello: the hello to put after the bus id, or NULL for none
 * @token: USBIP_EXT_TOKEN_SIZE bytes, the session's token
 * @err: reason on failure, may be NULL
 *
 * Return: 0, -EINVAL when @busid is too long or invalid, -ENOSPC when it
 * leaves no room for @hello.
 */
int usbip_pack_req_resume(uint8_t *out, const char *busid, const struct usbip_ext_hello *hello,
			  const uint8_t *token, struct usbip_error *err)
{
	uint8_t req[USBIP_REQ_IMPORT_WIRE_SIZE];
	int ret;

	/* The same header and bus id field as an import, then the code and token. */
	ret = usbip_pack_req_import(req, busid, err);
	if (ret)
		return ret;
	if (hello) {
		ret = usbip_ext_hello_put(req + USBIP_OP_HDR_WIRE_SIZE, hello, err);
		if (ret)
			return ret;
	}
	memcpy(out, req, sizeof(req));
	put_be16(out + OPHDR_OFF_CODE, USBIP_OP_REQ_RESUME);
	memcpy(out + RESUME_OFF_TOKEN, token, USBIP_EXT_TOKEN_SIZE);
	return 0;
}

/**
 * usbip_unpack_req_resume() - decode and validate a complete OP_REQ_RESUME
 * @buf: the message, op header first
 * @len: its length, must be USBIP_REQ_RESUME_WIRE_SIZE
 * @busid: USBIP_BUSID_SIZE bytes receiving the bus id field as received
 *	(NUL-terminated; a hello may follow the NUL)
 * @token: USBIP_EXT_TOKEN_SIZE bytes receiving the token
 * @err: reason on failure, may be NULL
 *
 * The status of a request is ignored.  The token is not looked at: only
 * the driver holding the session can tell whether it is right.
 *
 * Return: 0, -EPROTO for a bad header or length, -EINVAL for a bad bus id.
 */
int usbip_unpack_req_resume(const uint8_t *buf, size_t len, char *busid, uint8_t *token,
			    struct usbip_error *err)
{
	struct usbip_ophdr hdr;
	int ret;

	if (len != USBIP_REQ_RESUME_WIRE_SIZE) {
		usbip_set_error(err, "resume request is %zu bytes, expected %d", len,
				USBIP_REQ_RESUME_WIRE_SIZE);
		return -EPROTO;
	}
	usbip_unpack_ophdr(buf, &hdr);
	ret = usbip_check_ophdr(&hdr, USBIP_OP_REQ_RESUME, err);
	if (ret)
		return ret;
	ret = usbip_check_busid((const char *)buf + RESUME_OFF_BUSID, USBIP_BUSID_SIZE, err);
	if (ret)
		return ret;
	memcpy(busid, buf + RESUME_OFF_BUSID, USBIP_BUSID_SIZE);
	memcpy(token, buf + RESUME_OFF_TOKEN, USBIP_EXT_TOKEN_SIZE);
	return 0;
}

/**
 * usbip_pack_rep_resume() - encode a complete OP_REP_RESUME
 * @buf: output buffer
 * @len: size of @buf
 * @status: USBIP_OP_ST_OK, or the refusal (USBIP_OP_ST_NA), which has
 *	nothing after the op header
 * @dev: the device when @status is USBIP_OP_ST_OK, else unused
 * @answer: the answer written into the record's bus id field (its
 *	USBIP_EXT_FLAG_ANSWER is set here), when @status is USBIP_OP_ST_OK
 * @blk: the extension block that follows the record, likewise
 * @err: reason on failure, may be NULL
 *
 * Return: bytes written (8, or 320 + USBIP_EXT_BLOCK_V1_SIZE), -ENOSPC
 * (buffer too small, or a bus id without room for the answer), or
 * -EINVAL for a bad @dev.
 */
ssize_t usbip_pack_rep_resume(uint8_t *buf, size_t len, uint32_t status,
			      const struct usbip_devinfo *dev, const struct usbip_ext_hello *answer,
			      const struct usbip_ext_block *blk, struct usbip_error *err)
{
	struct usbip_ophdr hdr = {
		.version = USBIP_VERSION,
		.code = USBIP_OP_REP_RESUME,
		.status = status,
	};
	struct usbip_ext_hello a;
	ssize_t n;
	int ret;

	if (status != USBIP_OP_ST_OK) {
		if (len < USBIP_OP_HDR_WIRE_SIZE) {
			usbip_set_error(err, "resume reply needs %d bytes, buffer has %zu",
					USBIP_OP_HDR_WIRE_SIZE, len);
			return -ENOSPC;
		}
		usbip_pack_ophdr(buf, &hdr);
		return USBIP_OP_HDR_WIRE_SIZE;
	}
	if (len < USBIP_REP_RESUME_WIRE_SIZE + USBIP_EXT_BLOCK_V1_SIZE) {
		usbip_set_error(err, "resume reply needs %d bytes, buffer has %zu",
				USBIP_REP_RESUME_WIRE_SIZE + USBIP_EXT_BLOCK_V1_SIZE, len);
		return -ENOSPC;
	}
	ret = usbip_pack_device(buf + USBIP_OP_HDR_WIRE_SIZE, dev, err);
	if (ret)
		return ret;
	a = *answer;
	a.flags |= USBIP_EXT_FLAG_ANSWER;
	ret = usbip_ext_hello_put(buf + USBIP_OP_HDR_WIRE_SIZE + USBIP_DEVICE_BUSID_OFF, &a, err);
	if (ret)
		return ret;
	n = usbip_pack_ext_block(buf + USBIP_REP_RESUME_WIRE_SIZE,
				 len - USBIP_REP_RESUME_WIRE_SIZE, blk, err);
	if (n < 0)
		return n;
	usbip_pack_ophdr(buf, &hdr);
	return USBIP_REP_RESUME_WIRE_SIZE + n;
}

/**
 * usbip_rep_resume_need() - frame an OP_REP_RESUME as a client receives it
 * @buf: the reply's bytes received so far
 * @len: their number
 * @err: reason on failure, may be NULL
 *
 * A reply is the op header and, when its status is 0, the device record
 * (320 bytes); the extension block that follows an accepted resume is
 * framed by usbip_ext_block_need().  See the *_need() convention above.
 *
 * Return: the size of the reply as far as known (8 until the op header is
 * complete), or -EPROTO for a wrong version or code.
 */
ssize_t usbip_rep_resume_need(const uint8_t *buf, size_t len, struct usbip_error *err)
{
	struct usbip_ophdr hdr;
	int ret;

	ret = need_ophdr(buf, len, USBIP_OP_REP_RESUME, &hdr, err);
	if (ret)
		return ret < 0 ? ret : USBIP_OP_HDR_WIRE_SIZE;
	return hdr.status == USBIP_OP_ST_OK ? USBIP_REP_RESUME_WIRE_SIZE : USBIP_OP_HDR_WIRE_SIZE;
}

/**
 * usbip_unpack_rep_resume_for() - decode and check the reply to our resume
 * @buf: the reply as framed by usbip_rep_resume_need(), op header first
 * @len: its length
 * @busid: the bus id whose session was resumed
 * @status: the reply's status
 * @dev: the device when *@status is USBIP_OP_ST_OK
 * @answer: the answer in its bus id field when *@status is USBIP_OP_ST_OK
 * @err: reason on failure, may be NULL
 *
 * An accepted resume must be of the device asked for, with a speed a port
 * can have, and carry an answer (USBIP_EXT_FLAG_ANSWER set, a version we
 * speak, USBIP_EXT_CAP_SESSION agreed): only then does the extension
 * block follow, to be checked by usbip_unpack_ext_block() against that
 * answer.  A refusal (non-zero status) is a valid reply: the server closes
 * the connection after it.
 *
 * Return: 0, -EPROTO for a bad header, length, device or answer, -EINVAL
 * for a bad record.
 */
int usbip_unpack_rep_resume_for(const uint8_t *buf, size_t len, const char *busid,
				uint32_t *status, struct usbip_devinfo *dev,
				struct usbip_ext_hello *answer, struct usbip_error *err)
{
	int ret;

	ret = unpack_rep(buf, len, USBIP_OP_REP_RESUME, "resume", status, dev, err);
	if (ret || *status != USBIP_OP_ST_OK)
		return ret;
	ret = check_rep_device(dev, busid, err);
	if (ret)
		return ret;
	if (!usbip_ext_hello_get((const uint8_t *)dev->busid, answer) ||
	    !(answer->flags & USBIP_EXT_FLAG_ANSWER)) {
		usbip_set_error(err, "the server accepted the resume of %s without an answer "
				"in the device record", busid);
		return -EPROTO;
	}
	if (answer->version > USBIP_EXT_VERSION || !(answer->caps & USBIP_EXT_CAP_SESSION)) {
		usbip_set_error(err, "the server resumed %s with extension version %u and "
				"capabilities 0x%x, not a session of version 1 to %d", busid,
				answer->version, answer->caps, USBIP_EXT_VERSION);
		return -EPROTO;
	}
	return 0;
}
