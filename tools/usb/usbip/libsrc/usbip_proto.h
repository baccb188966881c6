/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Management protocol records of USB/IP (device list and import), in host
 * byte order, and the functions that convert them to and from their
 * big-endian wire form.  Nothing here does I/O: callers read or write the
 * bytes, these functions only encode, decode and validate them.
 *
 * The numbers (version, op codes, status values, port) come from the
 * project's <linux/usbip.h> (include/uapi/linux/usbip.h).
 */
#ifndef USBIP_PROTO_H
#define USBIP_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/usbip.h>

#include "usbip_common.h"

#ifndef USBIP_OP_REQ_DEVLIST
#error "<linux/usbip.h> is not the project's header; check -I for include/uapi"
#endif

/* Sizes of the records on the wire, in bytes. */
#define USBIP_OP_HDR_WIRE_SIZE		8
#define USBIP_DEVICE_WIRE_SIZE		312
#define USBIP_INTERFACE_WIRE_SIZE	4
#define USBIP_DEVLIST_COUNT_WIRE_SIZE	4
/* OP_REQ_IMPORT: op header + busid. */
#define USBIP_REQ_IMPORT_WIRE_SIZE	(USBIP_OP_HDR_WIRE_SIZE + USBIP_BUSID_SIZE)
/* OP_REP_IMPORT with status 0: op header + device record. */
#define USBIP_REP_IMPORT_WIRE_SIZE	(USBIP_OP_HDR_WIRE_SIZE + USBIP_DEVICE_WIRE_SIZE)

/* Offset of the bus id field in a device record. */
#define USBIP_DEVICE_BUSID_OFF		256

/* Sizes of the string fields, terminating NUL included. */
#define USBIP_PATH_SIZE			256
#define USBIP_BUSID_SIZE		32

/* Most interfaces one configuration can have (USB 2.0 spec, 9.6.3). */
#define USBIP_MAX_INTERFACES		32
/* Most devices accepted in one OP_REP_DEVLIST from a peer. */
#define USBIP_MAX_DEVLIST		4096

/**
 * struct usbip_ophdr - management op header in host byte order
 * @version: protocol version, USBIP_VERSION when we send
 * @code: USBIP_OP_REQ_* or USBIP_OP_REP_*
 * @status: USBIP_OP_ST_* (0 in requests)
 */
struct usbip_ophdr {
	uint16_t version;
	uint16_t code;
	uint32_t status;
};

/**
 * struct usbip_ifinfo - one interface of the active configuration
 * @bInterfaceClass: interface class code
 * @bInterfaceSubClass: interface subclass code
 * @bInterfaceProtocol: interface protocol code
 *
 * On the wire it is followed by one padding byte, sent as 0 and ignored.
 */
struct usbip_ifinfo {
	uint8_t bInterfaceClass;
	uint8_t bInterfaceSubClass;
	uint8_t bInterfaceProtocol;
};

/**
 * struct usbip_devinfo - an exportable USB device in host byte order
 * @path: sysfs path of the device on the exporting host, NUL-terminated
 * @busid: bus id (sysfs name, e.g. "1-1"), NUL-terminated
 * @busnum: bus number
 * @devnum: device address on that bus
 * @speed: enum usb_device_speed value
 * @idVendor: vendor id
 * @idProduct: product id
 * @bcdDevice: device release number (BCD)
 * @bDeviceClass: device class code
 * @bDeviceSubClass: device subclass code
 * @bDeviceProtocol: device protocol code
 * @bConfigurationValue: active configuration, 0 if unconfigured
 * @bNumConfigurations: number of configurations
 * @bNumInterfaces: interfaces of the active configuration, <= 32
 * @intf: the first @bNumInterfaces entries describe those interfaces
 *
 * Only the fields up to @bNumInterfaces form the 312-byte device record;
 * @intf travels as separate interface records where the protocol has them.
 */
struct usbip_devinfo {
	char path[USBIP_PATH_SIZE];
	char busid[USBIP_BUSID_SIZE];
	uint32_t busnum;
	uint32_t devnum;
	uint32_t speed;
	uint16_t idVendor;
	uint16_t idProduct;
	uint16_t bcdDevice;
	uint8_t bDeviceClass;
	uint8_t bDeviceSubClass;
	uint8_t bDeviceProtocol;
	uint8_t bConfigurationValue;
	uint8_t bNumConfigurations;
	uint8_t bNumInterfaces;
	struct usbip_ifinfo intf[USBIP_MAX_INTERFACES];
};

/* Records. */
void usbip_pack_ophdr(uint8_t *out, const struct usbip_ophdr *hdr);
void usbip_unpack_ophdr(const uint8_t *in, struct usbip_ophdr *hdr);
int usbip_check_ophdr(const struct usbip_ophdr *hdr, uint16_t expected_code,
		      struct usbip_error *err);
const char *usbip_op_status_str(uint32_t status);

int usbip_pack_device(uint8_t *out, const struct usbip_devinfo *dev, struct usbip_error *err);
int usbip_unpack_device(const uint8_t *in, struct usbip_devinfo *dev, struct usbip_error *err);
void usbip_pack_interface(uint8_t *out, const struct usbip_ifinfo *intf);
void usbip_unpack_interface(const uint8_t *in, struct usbip_ifinfo *intf);

int usbip_check_busid(const char *field, size_t size, struct usbip_error *err);

/* Whole messages. */
void usbip_pack_req_devlist(uint8_t *out);
size_t usbip_rep_devlist_size(const struct usbip_devinfo *devs, uint32_t ndev);
ssize_t usbip_pack_rep_devlist(uint8_t *buf, size_t len, const struct usbip_devinfo *devs,
			       uint32_t ndev, struct usbip_error *err);
int usbip_unpack_devlist_count(const uint8_t *in, uint32_t *ndev, struct usbip_error *err);
int usbip_unpack_rep_devlist(const uint8_t *buf, size_t len, struct usbip_devinfo **devs,
			     uint32_t *ndev, struct usbip_error *err);

int usbip_pack_req_import(uint8_t *out, const char *busid, struct usbip_error *err);
int usbip_unpack_req_import(const uint8_t *buf, size_t len, char *busid,
			    struct usbip_error *err);
ssize_t usbip_pack_rep_import(uint8_t *buf, size_t len, uint32_t status,
			      const struct usbip_devinfo *dev, struct usbip_error *err);
int usbip_unpack_rep_import(const uint8_t *buf, size_t len, uint32_t *status,
			    struct usbip_devinfo *dev, struct usbip_error *err);

/*
 * Framing and checking of whole messages as they arrive on a stream.  Each
 * *_need() function looks at the first @len bytes received of a message and
 * returns the size the whole message has at least: more than @len while
 * bytes are missing (read exactly the difference, then call again; a read
 * never goes past the message's end), @len once the message is complete, or
 * a negative errno as soon as the bytes so far cannot start a valid message.
 * A complete message is then decoded and checked by the matching unpack
 * function.  They allocate nothing and bound every size by the protocol's
 * limits, so a peer's numbers cannot make the reader wait or allocate
 * beyond them.
 */

/* Largest OP_REP_DEVLIST accepted from a peer, in bytes. */
#define USBIP_REP_DEVLIST_MAX_WIRE_SIZE						\
	(USBIP_OP_HDR_WIRE_SIZE + USBIP_DEVLIST_COUNT_WIRE_SIZE +		\
	 (size_t)USBIP_MAX_DEVLIST *						\
	 (USBIP_DEVICE_WIRE_SIZE + USBIP_MAX_INTERFACES * USBIP_INTERFACE_WIRE_SIZE))

/*
 * Protocol extensions (Documentation/usb/usbip_ext.rst): a hello in the
 * tail of OP_REQ_IMPORT's bus id field, an answer in the tail of the
 * reply's, then an extension block after the reply.  Plain peers never
 * send the one and never get the others.
 */
#define USBIP_EXT_VERSION		1
/* Offset of the hello and the answer in a bus id field, and their size. */
#define USBIP_EXT_HELLO_OFF		20
#define USBIP_EXT_HELLO_SIZE		12
/* Longest bus id that leaves room for a hello. */
#define USBIP_EXT_BUSID_MAX		(USBIP_EXT_HELLO_OFF - 1)
/* Extension block: what version 1 sends, and the bounds a reader accepts. */
#define USBIP_EXT_BLOCK_V1_SIZE		48
#define USBIP_EXT_BLOCK_MIN		48
#define USBIP_EXT_BLOCK_MAX		1024
#define USBIP_EXT_TOKEN_SIZE		16
/* Longest resume window a session can have (the drivers' bound), in ms. */
#define USBIP_EXT_WINDOW_MAX_MS		(3600U * 1000)
/* OP_REQ_RESUME: op header + bus id field (with a hello) + token. */
#define USBIP_REQ_RESUME_WIRE_SIZE						\
	(USBIP_OP_HDR_WIRE_SIZE + USBIP_BUSID_SIZE + USBIP_EXT_TOKEN_SIZE)
/* OP_REP_RESUME with status 0: op header + device record; a block follows. */
#define USBIP_REP_RESUME_WIRE_SIZE	(USBIP_OP_HDR_WIRE_SIZE + USBIP_DEVICE_WIRE_SIZE)
/* The longest request a server reads. */
#define USBIP_REQ_MAX_WIRE_SIZE		USBIP_REQ_RESUME_WIRE_SIZE
/*
 * struct usbip_ext_hello.flags: set in an answer, clear in a hello, so
 * that a server which echoes the request's bus id field is not taken for
 * one that answered.
 */
#define USBIP_EXT_FLAG_ANSWER		(1U << 0)
/* Capability bits. */
#define USBIP_EXT_CAP_SESSION		(1U << 0)

/**
 * struct usbip_ext_hello - a client's hello or a server's answer
 * @version: extension version (hello: the highest the client speaks;
 *	answer: the one both speak)
 * @flags: USBIP_EXT_FLAG_ANSWER in an answer, 0 in a hello
 * @window_s: resume window asked for (hello) or granted (answer), seconds
 * @caps: USBIP_EXT_CAP_* offered (hello) or agreed (answer)
 */
struct usbip_ext_hello {
	uint8_t version;
	uint8_t flags;
	uint16_t window_s;
	uint32_t caps;
};

/**
 * struct usbip_ext_block - the extension block that follows an answered
 * OP_REP_IMPORT, in host byte order
 * @version: as in the answer; 0 in a client's result means "plain peer"
 * @caps: as in the answer
 * @token: session token, zeros without USBIP_EXT_CAP_SESSION
 * @window_ms: resume window
 * @heartbeat_ms: idle interval of heartbeats
 * @journal_max: bytes of answers the server keeps for a resume
 */
struct usbip_ext_block {
	uint8_t version;
	uint32_t caps;
	uint8_t token[USBIP_EXT_TOKEN_SIZE];
	uint32_t window_ms;
	uint32_t heartbeat_ms;
	uint32_t journal_max;
};

int usbip_ext_hello_put(uint8_t *field, const struct usbip_ext_hello *hello,
			struct usbip_error *err);
int usbip_ext_hello_get(const uint8_t *field, struct usbip_ext_hello *hello);
ssize_t usbip_pack_ext_block(uint8_t *buf, size_t len, const struct usbip_ext_block *blk,
			     struct usbip_error *err);
ssize_t usbip_ext_block_need(const uint8_t *buf, size_t len, struct usbip_error *err);
int usbip_unpack_ext_block(const uint8_t *buf, size_t len, const struct usbip_ext_hello *answer,
			   uint32_t offered, struct usbip_ext_block *blk, struct usbip_error *err);

int usbip_pack_req_resume(uint8_t *out, const char *busid, const struct usbip_ext_hello *hello,
			  const uint8_t *token, struct usbip_error *err);
int usbip_unpack_req_resume(const uint8_t *buf, size_t len, char *busid, uint8_t *token,
			    struct usbip_error *err);
ssize_t usbip_pack_rep_resume(uint8_t *buf, size_t len, uint32_t status,
			      const struct usbip_devinfo *dev, const struct usbip_ext_hello *answer,
			      const struct usbip_ext_block *blk, struct usbip_error *err);
ssize_t usbip_rep_resume_need(const uint8_t *buf, size_t len, struct usbip_error *err);
int usbip_unpack_rep_resume_for(const uint8_t *buf, size_t len, const char *busid,
				uint32_t *status, struct usbip_devinfo *dev,
				struct usbip_ext_hello *answer, struct usbip_error *err);

/**
 * struct usbip_request - a management request as a server receives it
 * @code: USBIP_OP_REQ_DEVLIST, USBIP_OP_REQ_IMPORT or USBIP_OP_REQ_RESUME
 * @busid: for OP_REQ_IMPORT and OP_REQ_RESUME the checked bus id field as
 *	received (NUL-terminated, a hello may follow the NUL), else zeros
 * @token: for OP_REQ_RESUME the session's token, else zeros
 */
struct usbip_request {
	uint16_t code;
	char busid[USBIP_BUSID_SIZE];
	uint8_t token[USBIP_EXT_TOKEN_SIZE];
};

ssize_t usbip_req_need(const uint8_t *buf, size_t len, struct usbip_error *err);
int usbip_unpack_request(const uint8_t *buf, size_t len, struct usbip_request *req,
			 struct usbip_error *err);
ssize_t usbip_rep_devlist_need(const uint8_t *buf, size_t len, struct usbip_error *err);
ssize_t usbip_rep_import_need(const uint8_t *buf, size_t len, struct usbip_error *err);
int usbip_unpack_rep_import_for(const uint8_t *buf, size_t len, const char *busid,
				uint32_t *status, struct usbip_devinfo *dev,
				struct usbip_error *err);

#endif /* USBIP_PROTO_H */
