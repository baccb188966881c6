/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * USB/IP wire format: encoding, decoding and validation of URB messages.
 *
 * This file and usbip_proto.c are plain C without kernel dependencies:
 * they are built into usbip-core and, unchanged, into the userspace unit
 * tests (tests/unit) and the fuzz target (tests/fuzz).  Nothing here
 * allocates memory, sleeps or takes locks.
 *
 * A message is a 48-byte header, then the payload (OUT data of a
 * CMD_SUBMIT, IN data of a RET_SUBMIT), then the isochronous packet
 * descriptors when the URB is isochronous.  The header is decoded into a
 * host-order struct usbip_pdu; validation functions return a negative
 * errno and set *reason to a short constant string that the drivers print
 * in their single dmesg line about a broken connection.
 */
#ifndef USBIP_PROTO_H
#define USBIP_PROTO_H

#ifdef __KERNEL__
#include <linux/types.h>
#include <linux/errno.h>
#include <linux/string.h>
#else
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>
typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef int32_t s32;
typedef uint64_t u64;
#endif

/*
 * The one place where kernel code pulls in the shared constants.  The
 * relative path is the same in this repository and in a kernel tree, and
 * avoids the unrelated usbip.h of installed kernel headers.
 */
#include "../../../include/uapi/linux/usbip.h"

/*
 * Limits of this implementation.  A transfer buffer larger than
 * USBIP_MAX_TRANSFER (64 MiB, far above what any USB driver submits in
 * one URB) or a URB with more than USBIP_MAX_ISO_PACKETS packets is
 * rejected as a protocol error, so that a peer cannot make us allocate
 * or loop without bound.
 */
#define USBIP_MAX_TRANSFER		(64U << 20)
#define USBIP_MAX_ISO_PACKETS		1024

/* Status values are 0 or a negative errno no lower than this. */
#define USBIP_MIN_STATUS		(-4095)

/**
 * struct usbip_submit - CMD_SUBMIT specific fields, host order
 * @transfer_flags: USBIP_URB_* bits
 * @transfer_buffer_length: size of the transfer buffer; for OUT also the
 *	size of the payload that follows the header
 * @start_frame: first frame of an isochronous URB
 * @number_of_packets: iso packets; 0 for non-iso (a -1 on the wire is
 *	turned into 0 by usbip_pdu_decode())
 * @interval: polling interval
 * @setup: raw control setup packet, copied as-is
 */
struct usbip_submit {
	u32 transfer_flags;
	s32 transfer_buffer_length;
	s32 start_frame;
	s32 number_of_packets;
	s32 interval;
	u8 setup[USBIP_SETUP_SIZE];
};

/**
 * struct usbip_ret_submit - RET_SUBMIT specific fields, host order
 * @status: 0 or a negative Linux errno
 * @actual_length: bytes transferred; for IN also the payload size
 * @start_frame: first frame used by an isochronous URB
 * @number_of_packets: iso packets; 0 for non-iso (-1 on the wire → 0)
 * @error_count: iso packets that completed with an error
 */
struct usbip_ret_submit {
	s32 status;
	s32 actual_length;
	s32 start_frame;
	s32 number_of_packets;
	s32 error_count;
};

/**
 * struct usbip_unlink - CMD_UNLINK specific fields, host order
 * @seqnum: sequence number of the CMD_SUBMIT to cancel
 */
struct usbip_unlink {
	u32 seqnum;
};

/**
 * struct usbip_ret_unlink - RET_UNLINK specific fields, host order
 * @status: -ECONNRESET if the unlink took effect, 0 if the URB had already
 *	completed (its RET_SUBMIT was or will be sent)
 */
struct usbip_ret_unlink {
	s32 status;
};

/**
 * struct usbip_ext - fields of the session messages USBIP_EXT_*, host order
 * @arg: the u32 at offset 20: EXT_ACK flags (USBIP_EXT_ACK_PING),
 *	EXT_RESUME the number of seqnums that follow, EXT_RESUME_REP the
 *	number of answers the server sends again; 0 in EXT_ACK_REP
 *
 * Their @seqnum field is a stream counter (usbip_ext.rst), their devid,
 * direction and ep are 0.
 */
struct usbip_ext {
	u32 arg;
};

/**
 * struct usbip_pdu - a decoded 48-byte URB message header, host order
 * @command: USBIP_CMD_SUBMIT, USBIP_CMD_UNLINK, USBIP_RET_SUBMIT or
 *	USBIP_RET_UNLINK
 * @seqnum: sequence number chosen by the client; a RET_* repeats the
 *	seqnum of the CMD_* it answers
 * @devid: (busnum << 16) | devnum of the device on the server
 * @direction: USBIP_DIR_OUT or USBIP_DIR_IN
 * @ep: endpoint number, 0..15
 * @submit: fields of USBIP_CMD_SUBMIT
 * @ret_submit: fields of USBIP_RET_SUBMIT
 * @unlink: fields of USBIP_CMD_UNLINK
 * @ret_unlink: fields of USBIP_RET_UNLINK
 * @ext: fields of the USBIP_EXT_* session messages
 *
 * In RET_* messages peers usually send 0 in @devid, @direction and @ep;
 * receivers take these from the request they kept instead.
 */
struct usbip_pdu {
	u32 command;
	u32 seqnum;
	u32 devid;
	u32 direction;
	u32 ep;
	union {
		struct usbip_submit submit;
		struct usbip_ret_submit ret_submit;
		struct usbip_unlink unlink;
		struct usbip_ret_unlink ret_unlink;
		struct usbip_ext ext;
	};
};

/**
 * struct usbip_iso_desc - an isochronous packet descriptor, host order
 * @offset: offset of the packet in the transfer buffer
 * @length: size of the packet slot
 * @actual_length: bytes transferred in the packet
 * @status: 0 or a negative errno
 *
 * Four 32-bit fields with no padding, so an array of these has exactly
 * the size of the descriptors on the wire (the kernel receives the wire
 * bytes into the array and converts it in place).
 */
struct usbip_iso_desc {
	u32 offset;
	u32 length;
	u32 actual_length;
	s32 status;
};

/*
 * Transfer types of an endpoint, as in its descriptor's bmAttributes (the
 * values of USB_ENDPOINT_XFER_*), and "not known" for a server that cannot
 * tell yet (a gadget endpoint that may still be enabled with any type).
 */
#define USBIP_XFER_CONTROL		0
#define USBIP_XFER_ISOC			1
#define USBIP_XFER_BULK			2
#define USBIP_XFER_INT			3
#define USBIP_XFER_ANY			(-1)

/* Flags of usbip_iso_check(). */
/* Check actual_length and status of each frame and their sum. */
#define USBIP_ISO_CHECK_ACTUAL		0x1
/* Require frames in ascending order without overlap (in-place pack). */
#define USBIP_ISO_CHECK_ORDER		0x2

const char *usbip_cmd_name(u32 command);

int usbip_pdu_encode(const struct usbip_pdu *pdu, u8 *buf);
int usbip_pdu_decode(struct usbip_pdu *pdu, const u8 *buf, const char **reason);
int usbip_pdu_check(const struct usbip_pdu *pdu, const char **reason);
int usbip_check_ret_submit(const struct usbip_pdu *ret, u32 buffer_length,
			   int submitted_packets, const char **reason);
s32 usbip_ret_status(s32 status);
u32 usbip_cmd_payload_len(const struct usbip_pdu *cmd);
u32 usbip_ret_payload_len(const struct usbip_pdu *ret, bool dir_in);
int usbip_pdu_packets(const struct usbip_pdu *pdu);
int usbip_ctrl_check(u32 wire_dir, const u8 *setup, u32 length, bool *dir_in, u32 *stage,
		     const char **reason);
int usbip_setup_std_check(const u8 *setup, const char **reason);
int usbip_iso_xfer_check(int n_iso, int xfer, const char **reason);
int usbip_cmd_submit_check(const struct usbip_pdu *cmd, int xfer, bool *dir_in, u32 *stage,
			   const char **reason);
int usbip_xfer_len_check(int xfer, u32 length, u32 max_linear, const char **reason);
u64 usbip_submit_charge(u32 len, int n_iso);
bool usbip_pdu_is_ext(u32 command);

/* Size of a session token. */
#define USBIP_EXT_TOKEN_SIZE		16

/* Words of struct usbip_ext_words (its @have bits). */
#define USBIP_EXT_W_CAPS		0x01	/* caps=HEX */
#define USBIP_EXT_W_TOKEN		0x02	/* token=HEX32 */
#define USBIP_EXT_W_NEW			0x04	/* new=HEX32 */
#define USBIP_EXT_W_WINDOW		0x08	/* window=MS */
#define USBIP_EXT_W_HEARTBEAT		0x10	/* heartbeat=MS */
#define USBIP_EXT_W_JOURNAL		0x20	/* journal=BYTES */

/**
 * struct usbip_ext_words - the "key=value" words of the extension that the
 *	tools write to the drivers' attach and usbip_sockfd files
 * @have: USBIP_EXT_W_* of the words given
 * @caps: caps=, hexadecimal
 * @window: window=, ms
 * @heartbeat: heartbeat=, ms
 * @journal: journal=, bytes
 * @token: token=, 32 hex digits
 * @new_token: new=, 32 hex digits
 */
struct usbip_ext_words {
	unsigned int have;
	u32 caps;
	u32 window;
	u32 heartbeat;
	u32 journal;
	u8 token[USBIP_EXT_TOKEN_SIZE];
	u8 new_token[USBIP_EXT_TOKEN_SIZE];
};

int usbip_ext_words_parse(char *text, unsigned int allowed, struct usbip_ext_words *w,
			  const char **reason);
int usbip_ext_count_check(u32 floor, u32 count, u32 ceil, const char **reason);
bool usbip_budget_admits(u32 used_urbs, u64 used_bytes, u32 max_urbs, u64 max_bytes,
			 u32 urbs, u64 bytes);

void usbip_iso_desc_encode(const struct usbip_iso_desc *desc, u8 *buf);
void usbip_iso_desc_decode(struct usbip_iso_desc *desc, const u8 *buf);
void usbip_iso_descs_encode(const struct usbip_iso_desc *descs, int n, u8 *buf);
void usbip_iso_descs_decode(struct usbip_iso_desc *descs, int n, const u8 *buf);
void usbip_iso_descs_from_wire(struct usbip_iso_desc *descs, int n);
int usbip_iso_check(const struct usbip_iso_desc *descs, int n, u32 buffer_length,
		    u32 actual_length, unsigned int flags, const char **reason);
int usbip_iso_pack(u8 *buf, u32 buffer_length, const struct usbip_iso_desc *descs,
		   int n, u32 actual_length, const char **reason);
int usbip_iso_unpack(u8 *buf, u32 buffer_length, const struct usbip_iso_desc *descs,
		     int n, u32 actual_length, const char **reason);

#endif /* USBIP_PROTO_H */
