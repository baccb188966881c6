/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * USB/IP constants shared by the kernel drivers and the userspace tools.
 *
 * Everything that travels on the wire is big-endian.  This header only
 * names numbers; the kernel encodes and decodes messages field by field
 * (drivers/usb/usbip/usbip_proto.c) and never casts structures over
 * network buffers.
 *
 * Kernel code includes this file through drivers/usb/usbip/usbip_proto.h
 * by a relative path, because kernel header packages carry a different
 * file of the same name.
 */
#ifndef USBIP_PROJECT_UAPI_LINUX_USBIP_H
#define USBIP_PROJECT_UAPI_LINUX_USBIP_H

#include <linux/types.h>

/* Protocol version carried in the management op header. */
#define USBIP_VERSION			0x0111
/* Well-known TCP port of usbipd. */
#define USBIP_PORT			3240

/*
 * URB messages (after import, handled by the kernel).
 */

/* Size of every URB message header on the wire. */
#define USBIP_HEADER_SIZE		48
/* Size of the part common to every URB message header. */
#define USBIP_HEADER_BASIC_SIZE		20
/* Size of one isochronous packet descriptor on the wire. */
#define USBIP_ISO_DESC_SIZE		16
/* Size of the raw control setup packet in CMD_SUBMIT. */
#define USBIP_SETUP_SIZE		8
/* Highest endpoint number. */
#define USBIP_MAX_EP			15

/* Command codes (first field of every URB message header). */
#define USBIP_CMD_SUBMIT		0x0001
#define USBIP_CMD_UNLINK		0x0002
#define USBIP_RET_SUBMIT		0x0003
#define USBIP_RET_UNLINK		0x0004

/*
 * URB-phase messages of a session (Documentation/usb/usbip_ext.rst), only
 * on a connection whose peers agreed the SESSION capability.  seqnum
 * carries a stream counter; the u32 at offset 20 is their argument.
 */
#define USBIP_EXT_ACK			0x00010001	/* answers received; flags */
#define USBIP_EXT_ACK_REP		0x00010002	/* commands received */
#define USBIP_EXT_RESUME		0x00010003	/* answers received; n seqnums */
#define USBIP_EXT_RESUME_REP		0x00010004	/* commands received; n resent */
/* EXT_ACK flags: an EXT_ACK_REP is wanted (heartbeat). */
#define USBIP_EXT_ACK_PING		0x00000001
/* Most seqnums an EXT_RESUME may list. */
#define USBIP_EXT_RESUME_MAX		4096

/* Direction field of the common header. */
#define USBIP_DIR_OUT			0
#define USBIP_DIR_IN			1

/*
 * transfer_flags bits on the wire.  They are fixed by the protocol and do
 * not follow the URB_* values of whichever kernel runs at either end.
 */
#define USBIP_URB_SHORT_NOT_OK		0x00000001
#define USBIP_URB_ISO_ASAP		0x00000002
#define USBIP_URB_NO_TRANSFER_DMA_MAP	0x00000004
#define USBIP_URB_ZERO_PACKET		0x00000040
#define USBIP_URB_NO_INTERRUPT		0x00000080
#define USBIP_URB_FREE_BUFFER		0x00000100
#define USBIP_URB_DIR_IN		0x00000200
#define USBIP_URB_DIR_OUT		0x00000000
#define USBIP_URB_DIR_MASK		USBIP_URB_DIR_IN
#define USBIP_URB_DMA_MAP_SINGLE	0x00010000
#define USBIP_URB_DMA_MAP_PAGE		0x00020000
#define USBIP_URB_DMA_MAP_SG		0x00040000
#define USBIP_URB_MAP_LOCAL		0x00080000
#define USBIP_URB_SETUP_MAP_SINGLE	0x00100000
#define USBIP_URB_SETUP_MAP_LOCAL	0x00200000
#define USBIP_URB_DMA_SG_COMBINED	0x00400000
#define USBIP_URB_ALIGNED_TEMP_BUFFER	0x00800000

/*
 * Device status numbers, as shown by the usbip_status attribute of
 * usbip-host / usbip-vudc and in the status files of vhci-hcd.
 * Userspace parses these numbers.
 */
enum usbip_device_status {
	/* server side (usbip-host, usbip-vudc) */
	SDEV_ST_AVAILABLE = 1,		/* exportable, no client */
	SDEV_ST_USED = 2,		/* imported by a client */
	SDEV_ST_ERROR = 3,		/* unusable after a fatal error */

	/* client side (vhci-hcd ports) */
	VDEV_ST_NULL = 4,		/* port free */
	VDEV_ST_NOTASSIGNED = 5,	/* reserved, not used by our drivers */
	VDEV_ST_USED = 6,		/* a remote device is attached */
	VDEV_ST_ERROR = 7,		/* unusable after a fatal error */
};

/*
 * Management protocol (before import, handled by userspace).
 */

/*
 * Size of the op header that starts every management message: version
 * (be16, USBIP_VERSION), code (be16, one of the USBIP_OP_* codes), status
 * (be32, one of the USBIP_OP_ST_* values, 0 in requests).  Like the URB
 * headers, it is encoded field by field (tools/usb/usbip/libsrc), never by
 * laying a structure over the bytes.
 */
#define USBIP_OP_HEADER_SIZE		8

/* Op codes: a request has the 0x8000 bit set, its reply has not. */
#define USBIP_OP_REQUEST		0x8000
#define USBIP_OP_REPLY			0x0000
#define USBIP_OP_DEVINFO		0x0002
#define USBIP_OP_IMPORT			0x0003
#define USBIP_OP_DEVLIST		0x0005
/* Protocol extension (usbip_ext.rst): resume a session on a new connection. */
#define USBIP_OP_RESUME			0x0010

#define USBIP_OP_REQ_DEVINFO		(USBIP_OP_REQUEST | USBIP_OP_DEVINFO)
#define USBIP_OP_REP_DEVINFO		(USBIP_OP_REPLY | USBIP_OP_DEVINFO)
#define USBIP_OP_REQ_IMPORT		(USBIP_OP_REQUEST | USBIP_OP_IMPORT)
#define USBIP_OP_REP_IMPORT		(USBIP_OP_REPLY | USBIP_OP_IMPORT)
#define USBIP_OP_REQ_DEVLIST		(USBIP_OP_REQUEST | USBIP_OP_DEVLIST)
#define USBIP_OP_REP_DEVLIST		(USBIP_OP_REPLY | USBIP_OP_DEVLIST)
#define USBIP_OP_REQ_RESUME		(USBIP_OP_REQUEST | USBIP_OP_RESUME)
#define USBIP_OP_REP_RESUME		(USBIP_OP_REPLY | USBIP_OP_RESUME)

/* Op status values. */
#define USBIP_OP_ST_OK			0	/* request completed */
#define USBIP_OP_ST_NA			1	/* request failed */
#define USBIP_OP_ST_DEV_BUSY		2	/* device already imported */
#define USBIP_OP_ST_DEV_ERR		3	/* device in error state */
#define USBIP_OP_ST_NODEV		4	/* no such device */
#define USBIP_OP_ST_ERROR		5	/* unexpected error */

#endif /* USBIP_PROJECT_UAPI_LINUX_USBIP_H */
