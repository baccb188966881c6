// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests of the USB/IP wire layer (drivers/usb/usbip/usbip_proto.c),
 * built in userspace from the very same source file as usbip-core.
 *
 * Prints one "PASS <name>" or "FAIL <name>" line per test case; a failed
 * check also prints where and what.  Exit status 1 if any case failed.
 * An optional first argument is a tag appended to the case names.
 */
#include <stdio.h>
#include <stdlib.h>
#include "usbip_proto.h"

static int case_failures;
static const char *tag = "";

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		printf("  %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
		case_failures++;					\
	}								\
} while (0)

#define CHECK_REASON(ret, reason, expect_reason) do {			\
	CHECK((ret) == -EPROTO);					\
	CHECK((reason) != NULL && strcmp((reason), (expect_reason)) == 0); \
	if ((reason) && strcmp((reason), (expect_reason)))		\
		printf("  reason was \"%s\"\n", (reason));		\
} while (0)

/* A small deterministic PRNG (xorshift32) for the randomized cases. */
static u32 rng_state = 0x12345678;

static u32 rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

/* Decodes @buf, expecting failure with @expect. */
static void expect_decode_error(const u8 *buf, const char *expect)
{
	struct usbip_pdu pdu;
	const char *reason = NULL;
	int ret;

	ret = usbip_pdu_decode(&pdu, buf, &reason);
	CHECK_REASON(ret, reason, expect);
}

static void put32(u8 *p, u32 v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

/* ---- byte-exact encodings, written out by hand from the layout ---- */

/* GET_DESCRIPTOR(device) on ep0, IN, 64 bytes, number_of_packets -1 */
static const u8 cmd_submit_bytes[USBIP_HEADER_SIZE] = {
	0x00, 0x00, 0x00, 0x01,		/* command CMD_SUBMIT */
	0x00, 0x00, 0x01, 0x02,		/* seqnum 258 */
	0x00, 0x01, 0x00, 0x02,		/* devid bus 1 dev 2 */
	0x00, 0x00, 0x00, 0x01,		/* direction IN */
	0x00, 0x00, 0x00, 0x00,		/* ep 0 */
	0x00, 0x00, 0x02, 0x01,		/* flags DIR_IN | SHORT_NOT_OK */
	0x00, 0x00, 0x00, 0x40,		/* transfer_buffer_length 64 */
	0x00, 0x00, 0x00, 0x00,		/* start_frame 0 */
	0xff, 0xff, 0xff, 0xff,		/* number_of_packets -1 */
	0x00, 0x00, 0x00, 0x00,		/* interval 0 */
	0x80, 0x06, 0x00, 0x01, 0x00, 0x00, 0x40, 0x00, /* setup */
};

/* answer to it: 18 bytes, status 0 */
static const u8 ret_submit_bytes[USBIP_HEADER_SIZE] = {
	0x00, 0x00, 0x00, 0x03,		/* command RET_SUBMIT */
	0x00, 0x00, 0x01, 0x02,		/* seqnum 258 */
	0x00, 0x00, 0x00, 0x00,		/* devid */
	0x00, 0x00, 0x00, 0x00,		/* direction */
	0x00, 0x00, 0x00, 0x00,		/* ep */
	0x00, 0x00, 0x00, 0x00,		/* status 0 */
	0x00, 0x00, 0x00, 0x12,		/* actual_length 18 */
	0x00, 0x00, 0x00, 0x00,		/* start_frame */
	0x00, 0x00, 0x00, 0x00,		/* number_of_packets 0 */
	0x00, 0x00, 0x00, 0x00,		/* error_count */
	0, 0, 0, 0, 0, 0, 0, 0,		/* padding */
};

/* unlink seqnum 0x0a0b0c0d, sent as seqnum 0x11223344 on ep 3 OUT */
static const u8 cmd_unlink_bytes[USBIP_HEADER_SIZE] = {
	0x00, 0x00, 0x00, 0x02,		/* command CMD_UNLINK */
	0x11, 0x22, 0x33, 0x44,		/* seqnum */
	0x00, 0x02, 0x00, 0x05,		/* devid bus 2 dev 5 */
	0x00, 0x00, 0x00, 0x00,		/* direction OUT */
	0x00, 0x00, 0x00, 0x03,		/* ep 3 */
	0x0a, 0x0b, 0x0c, 0x0d,		/* unlink seqnum */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,	/* padding */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/* unlink took effect: -ECONNRESET (-104) */
static const u8 ret_unlink_bytes[USBIP_HEADER_SIZE] = {
	0x00, 0x00, 0x00, 0x04,		/* command RET_UNLINK */
	0x11, 0x22, 0x33, 0x44,		/* seqnum */
	0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,
	0xff, 0xff, 0xff, 0x98,		/* status -104 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/* iso RET_SUBMIT: 3 packets, 1 error, start_frame 0x1234, status -18 */
static const u8 ret_submit_iso_bytes[USBIP_HEADER_SIZE] = {
	0x00, 0x00, 0x00, 0x03,
	0x00, 0x00, 0x00, 0x07,
	0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,
	0xff, 0xff, 0xff, 0xee,		/* status -18 (EXDEV) */
	0x00, 0x00, 0x01, 0x00,		/* actual_length 256 */
	0x00, 0x00, 0x12, 0x34,		/* start_frame */
	0x00, 0x00, 0x00, 0x03,		/* number_of_packets 3 */
	0x00, 0x00, 0x00, 0x01,		/* error_count 1 */
	0, 0, 0, 0, 0, 0, 0, 0,
};

static struct usbip_pdu cmd_submit_pdu(void)
{
	struct usbip_pdu p;
	static const u8 setup[8] = { 0x80, 0x06, 0x00, 0x01, 0x00, 0x00, 0x40, 0x00 };

	memset(&p, 0, sizeof(p));
	p.command = USBIP_CMD_SUBMIT;
	p.seqnum = 258;
	p.devid = 0x00010002;
	p.direction = USBIP_DIR_IN;
	p.ep = 0;
	p.submit.transfer_flags = USBIP_URB_DIR_IN | USBIP_URB_SHORT_NOT_OK;
	p.submit.transfer_buffer_length = 64;
	p.submit.number_of_packets = -1;
	memcpy(p.submit.setup, setup, 8);
	return p;
}

static void test_encode_cmd_submit(void)
{
	struct usbip_pdu p = cmd_submit_pdu();
	u8 buf[USBIP_HEADER_SIZE];

	memset(buf, 0xaa, sizeof(buf));
	CHECK(usbip_pdu_encode(&p, buf) == 0);
	CHECK(memcmp(buf, cmd_submit_bytes, USBIP_HEADER_SIZE) == 0);
}

static void test_decode_cmd_submit(void)
{
	struct usbip_pdu p;
	const char *reason = NULL;

	CHECK(usbip_pdu_decode(&p, cmd_submit_bytes, &reason) == 0);
	CHECK(reason == NULL);
	CHECK(p.command == USBIP_CMD_SUBMIT);
	CHECK(p.seqnum == 258);
	CHECK(p.devid == 0x00010002);
	CHECK(p.direction == USBIP_DIR_IN);
	CHECK(p.ep == 0);
	CHECK(p.submit.transfer_flags == 0x201);
	CHECK(p.submit.transfer_buffer_length == 64);
	CHECK(p.submit.start_frame == 0);
	CHECK(p.submit.number_of_packets == 0);	/* -1 normalized */
	CHECK(p.submit.interval == 0);
	CHECK(p.submit.setup[0] == 0x80 && p.submit.setup[1] == 0x06 &&
	      p.submit.setup[3] == 0x01 && p.submit.setup[6] == 0x40);
	CHECK(usbip_pdu_packets(&p) == 0);
	CHECK(usbip_cmd_payload_len(&p) == 0);	/* IN: no data follows */
}

static void test_encode_ret_submit(void)
{
	struct usbip_pdu p;
	u8 buf[USBIP_HEADER_SIZE];

	memset(&p, 0, sizeof(p));
	p.command = USBIP_RET_SUBMIT;
	p.seqnum = 258;
	p.ret_submit.actual_length = 18;
	memset(buf, 0x55, sizeof(buf));
	CHECK(usbip_pdu_encode(&p, buf) == 0);
	CHECK(memcmp(buf, ret_submit_bytes, USBIP_HEADER_SIZE) == 0);

	memset(&p, 0, sizeof(p));
	p.command = USBIP_RET_SUBMIT;
	p.seqnum = 7;
	p.ret_submit.status = -EXDEV;
	p.ret_submit.actual_length = 256;
	p.ret_submit.start_frame = 0x1234;
	p.ret_submit.number_of_packets = 3;
	p.ret_submit.error_count = 1;
	CHECK(usbip_pdu_encode(&p, buf) == 0);
	CHECK(memcmp(buf, ret_submit_iso_bytes, USBIP_HEADER_SIZE) == 0);
}

static void test_decode_ret_submit(void)
{
	struct usbip_pdu p;
	const char *reason = NULL;

	CHECK(usbip_pdu_decode(&p, ret_submit_bytes, &reason) == 0);
	CHECK(p.command == USBIP_RET_SUBMIT);
	CHECK(p.seqnum == 258);
	CHECK(p.ret_submit.status == 0);
	CHECK(p.ret_submit.actual_length == 18);
	CHECK(p.ret_submit.number_of_packets == 0);
	CHECK(usbip_ret_payload_len(&p, true) == 18);
	CHECK(usbip_ret_payload_len(&p, false) == 0);

	CHECK(usbip_pdu_decode(&p, ret_submit_iso_bytes, &reason) == 0);
	CHECK(p.seqnum == 7);
	CHECK(p.ret_submit.status == -18);
	CHECK(p.ret_submit.actual_length == 256);
	CHECK(p.ret_submit.start_frame == 0x1234);
	CHECK(p.ret_submit.number_of_packets == 3);
	CHECK(p.ret_submit.error_count == 1);
	CHECK(usbip_pdu_packets(&p) == 3);
}

static void test_encode_cmd_unlink(void)
{
	struct usbip_pdu p;
	u8 buf[USBIP_HEADER_SIZE];

	memset(&p, 0, sizeof(p));
	p.command = USBIP_CMD_UNLINK;
	p.seqnum = 0x11223344;
	p.devid = 0x00020005;
	p.direction = USBIP_DIR_OUT;
	p.ep = 3;
	p.unlink.seqnum = 0x0a0b0c0d;
	memset(buf, 0xff, sizeof(buf));
	CHECK(usbip_pdu_encode(&p, buf) == 0);
	CHECK(memcmp(buf, cmd_unlink_bytes, USBIP_HEADER_SIZE) == 0);
}

static void test_decode_cmd_unlink(void)
{
	struct usbip_pdu p;

	CHECK(usbip_pdu_decode(&p, cmd_unlink_bytes, NULL) == 0);
	CHECK(p.command == USBIP_CMD_UNLINK);
	CHECK(p.seqnum == 0x11223344);
	CHECK(p.devid == 0x00020005);
	CHECK(p.ep == 3);
	CHECK(p.unlink.seqnum == 0x0a0b0c0d);
	CHECK(usbip_cmd_payload_len(&p) == 0);
}

static void test_encode_ret_unlink(void)
{
	struct usbip_pdu p;
	u8 buf[USBIP_HEADER_SIZE];

	memset(&p, 0, sizeof(p));
	p.command = USBIP_RET_UNLINK;
	p.seqnum = 0x11223344;
	p.ret_unlink.status = -ECONNRESET;
	CHECK(usbip_pdu_encode(&p, buf) == 0);
	CHECK(memcmp(buf, ret_unlink_bytes, USBIP_HEADER_SIZE) == 0);
}

static void test_decode_ret_unlink(void)
{
	struct usbip_pdu p;
	u8 buf[USBIP_HEADER_SIZE];

	CHECK(usbip_pdu_decode(&p, ret_unlink_bytes, NULL) == 0);
	CHECK(p.command == USBIP_RET_UNLINK);
	CHECK(p.seqnum == 0x11223344);
	CHECK(p.ret_unlink.status == -104);

	/* 0: the URB had completed before the unlink */
	memcpy(buf, ret_unlink_bytes, sizeof(buf));
	put32(buf + 20, 0);
	CHECK(usbip_pdu_decode(&p, buf, NULL) == 0);
	CHECK(p.ret_unlink.status == 0);
}

static void test_encode_unknown_command(void)
{
	struct usbip_pdu p;
	u8 buf[USBIP_HEADER_SIZE];
	int i, nonzero = 0;

	memset(&p, 0, sizeof(p));
	p.command = 5;
	p.seqnum = 1;
	memset(buf, 0xaa, sizeof(buf));
	CHECK(usbip_pdu_encode(&p, buf) == -EINVAL);
	for (i = 0; i < USBIP_HEADER_SIZE; i++)
		nonzero |= buf[i];
	CHECK(nonzero == 0);
}

static void test_round_trip_random(void)
{
	int iter;

	for (iter = 0; iter < 20000; iter++) {
		struct usbip_pdu a, b;
		u8 buf[USBIP_HEADER_SIZE], buf2[USBIP_HEADER_SIZE];
		const char *reason = NULL;
		int i, ret;

		memset(&a, 0, sizeof(a));
		a.command = 1 + rnd() % 4;
		a.seqnum = rnd();
		a.devid = rnd();
		a.direction = rnd() & 1;
		a.ep = rnd() % 16;
		switch (a.command) {
		case USBIP_CMD_SUBMIT:
			a.submit.transfer_flags = rnd();
			a.submit.transfer_buffer_length = rnd() % (USBIP_MAX_TRANSFER + 1);
			a.submit.start_frame = (s32)rnd();
			a.submit.number_of_packets = rnd() % (USBIP_MAX_ISO_PACKETS + 1);
			a.submit.interval = (s32)rnd();
			for (i = 0; i < 8; i++)
				a.submit.setup[i] = rnd();
			break;
		case USBIP_RET_SUBMIT:
			a.ret_submit.status = -(s32)(rnd() % 4096);
			a.ret_submit.actual_length = rnd() % (USBIP_MAX_TRANSFER + 1);
			a.ret_submit.start_frame = (s32)rnd();
			a.ret_submit.number_of_packets = rnd() % (USBIP_MAX_ISO_PACKETS + 1);
			a.ret_submit.error_count = a.ret_submit.number_of_packets ?
				rnd() % (a.ret_submit.number_of_packets + 1) : 0;
			break;
		case USBIP_CMD_UNLINK:
			a.unlink.seqnum = rnd();
			break;
		case USBIP_RET_UNLINK:
			a.ret_unlink.status = (rnd() & 1) ? -ECONNRESET : 0;
			break;
		}
		CHECK(usbip_pdu_encode(&a, buf) == 0);
		ret = usbip_pdu_decode(&b, buf, &reason);
		CHECK(ret == 0);
		if (ret) {
			printf("  iteration %d: %s\n", iter, reason);
			return;
		}
		CHECK(memcmp(&a, &b, sizeof(a)) == 0);
		CHECK(usbip_pdu_encode(&b, buf2) == 0);
		CHECK(memcmp(buf, buf2, sizeof(buf)) == 0);
		if (case_failures)
			return;
	}
}

/* ---- header validation ---- */

static void test_unknown_command(void)
{
	u8 buf[USBIP_HEADER_SIZE];
	static const u32 bad[] = { 0, 5, 0x100, 0x80000001, 0xffffffff };
	unsigned int i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(buf, cmd_submit_bytes, sizeof(buf));
		put32(buf, bad[i]);
		expect_decode_error(buf, "unknown command");
	}
}

static void test_endpoint_above_15(void)
{
	u8 buf[USBIP_HEADER_SIZE];
	struct usbip_pdu p;

	memcpy(buf, cmd_submit_bytes, sizeof(buf));
	put32(buf + 16, 16);
	expect_decode_error(buf, "endpoint above 15");
	put32(buf + 16, 0x80000000);
	expect_decode_error(buf, "endpoint above 15");
	put32(buf + 16, 15);
	CHECK(usbip_pdu_decode(&p, buf, NULL) == 0);
	CHECK(p.ep == 15);
}

static void test_bad_direction(void)
{
	u8 buf[USBIP_HEADER_SIZE];

	memcpy(buf, cmd_submit_bytes, sizeof(buf));
	put32(buf + 12, 2);
	expect_decode_error(buf, "bad direction");
	put32(buf + 12, 0xffffffff);
	expect_decode_error(buf, "bad direction");
}

static void test_transfer_length_limits(void)
{
	u8 buf[USBIP_HEADER_SIZE];
	struct usbip_pdu p;

	memcpy(buf, cmd_submit_bytes, sizeof(buf));
	put32(buf + 24, 0xffffffff);
	expect_decode_error(buf, "negative transfer_buffer_length");
	put32(buf + 24, 0x80000000);
	expect_decode_error(buf, "negative transfer_buffer_length");
	put32(buf + 24, USBIP_MAX_TRANSFER + 1);
	expect_decode_error(buf, "transfer_buffer_length above limit");
	put32(buf + 24, USBIP_MAX_TRANSFER);
	CHECK(usbip_pdu_decode(&p, buf, NULL) == 0);
	put32(buf + 24, 0);
	CHECK(usbip_pdu_decode(&p, buf, NULL) == 0);

	/* OUT: that many bytes follow */
	put32(buf + 12, USBIP_DIR_OUT);
	put32(buf + 24, 4096);
	CHECK(usbip_pdu_decode(&p, buf, NULL) == 0);
	CHECK(usbip_cmd_payload_len(&p) == 4096);
}

static void test_packets_range(void)
{
	u8 buf[USBIP_HEADER_SIZE];
	struct usbip_pdu p;

	memcpy(buf, cmd_submit_bytes, sizeof(buf));
	put32(buf + 32, USBIP_MAX_ISO_PACKETS + 1);
	expect_decode_error(buf, "number_of_packets out of range");
	put32(buf + 32, 0xfffffffe);	/* -2 */
	expect_decode_error(buf, "number_of_packets out of range");
	put32(buf + 32, 0x80000000);
	expect_decode_error(buf, "number_of_packets out of range");
	put32(buf + 32, USBIP_MAX_ISO_PACKETS);
	CHECK(usbip_pdu_decode(&p, buf, NULL) == 0);
	CHECK(usbip_pdu_packets(&p) == USBIP_MAX_ISO_PACKETS);

	memcpy(buf, ret_submit_bytes, sizeof(buf));
	put32(buf + 32, USBIP_MAX_ISO_PACKETS + 1);
	expect_decode_error(buf, "number_of_packets out of range");
	put32(buf + 32, 0xfffffff0);
	expect_decode_error(buf, "number_of_packets out of range");
}

static void test_non_iso_packets_tolerated(void)
{
	u8 buf[USBIP_HEADER_SIZE];
	struct usbip_pdu p;

	memcpy(buf, cmd_submit_bytes, sizeof(buf));
	put32(buf + 32, 0);
	CHECK(usbip_pdu_decode(&p, buf, NULL) == 0);
	CHECK(p.submit.number_of_packets == 0);
	put32(buf + 32, 0xffffffff);
	CHECK(usbip_pdu_decode(&p, buf, NULL) == 0);
	CHECK(p.submit.number_of_packets == 0);
	CHECK(usbip_pdu_packets(&p) == 0);

	memcpy(buf, ret_submit_bytes, sizeof(buf));
	put32(buf + 32, 0xffffffff);
	CHECK(usbip_pdu_decode(&p, buf, NULL) == 0);
	CHECK(p.ret_submit.number_of_packets == 0);
	CHECK(usbip_check_ret_submit(&p, 64, 0, NULL) == 0);

	/* -1 set by hand (not via decode) passes the check too */
	p.ret_submit.number_of_packets = -1;
	CHECK(usbip_pdu_check(&p, NULL) == 0);
	CHECK(usbip_pdu_packets(&p) == 0);
}

static void test_ret_submit_fields(void)
{
	u8 buf[USBIP_HEADER_SIZE];

	memcpy(buf, ret_submit_bytes, sizeof(buf));
	put32(buf + 24, 0xffffffff);
	expect_decode_error(buf, "negative actual_length");
	put32(buf + 24, USBIP_MAX_TRANSFER + 1);
	expect_decode_error(buf, "actual_length above limit");

	memcpy(buf, ret_submit_bytes, sizeof(buf));
	put32(buf + 20, 1);
	expect_decode_error(buf, "bad status");
	put32(buf + 20, (u32)-4096);
	expect_decode_error(buf, "bad status");

	memcpy(buf, ret_submit_bytes, sizeof(buf));
	put32(buf + 36, 1);	/* error_count 1 with 0 packets */
	expect_decode_error(buf, "error_count out of range");
	put32(buf + 32, 1);
	{
		struct usbip_pdu p;

		CHECK(usbip_pdu_decode(&p, buf, NULL) == 0);
	}
	put32(buf + 36, 0xffffffff);
	expect_decode_error(buf, "error_count out of range");
}

static void test_ret_unlink_status(void)
{
	u8 buf[USBIP_HEADER_SIZE];

	memcpy(buf, ret_unlink_bytes, sizeof(buf));
	put32(buf + 20, 104);
	expect_decode_error(buf, "bad status");
}

static void test_ret_ignores_devid_dir_ep(void)
{
	u8 buf[USBIP_HEADER_SIZE];
	struct usbip_pdu p;

	/* RET_*: garbage in devid/direction/ep and padding is accepted */
	memcpy(buf, ret_submit_bytes, sizeof(buf));
	put32(buf + 8, 0xdeadbeef);
	put32(buf + 12, 7);
	put32(buf + 16, 99);
	memset(buf + 40, 0xee, 8);
	CHECK(usbip_pdu_decode(&p, buf, NULL) == 0);
	CHECK(p.ret_submit.actual_length == 18);

	memcpy(buf, ret_unlink_bytes, sizeof(buf));
	put32(buf + 12, 5);
	put32(buf + 16, 0xffffffff);
	memset(buf + 24, 0x77, 24);
	CHECK(usbip_pdu_decode(&p, buf, NULL) == 0);
	CHECK(p.ret_unlink.status == -ECONNRESET);

	/* and padding of CMD_UNLINK is ignored */
	memcpy(buf, cmd_unlink_bytes, sizeof(buf));
	memset(buf + 24, 0x12, 24);
	CHECK(usbip_pdu_decode(&p, buf, NULL) == 0);
	CHECK(p.unlink.seqnum == 0x0a0b0c0d);
}

static void test_check_ret_submit(void)
{
	struct usbip_pdu p;
	const char *reason = NULL;
	int ret;

	CHECK(usbip_pdu_decode(&p, ret_submit_bytes, NULL) == 0);
	CHECK(usbip_check_ret_submit(&p, 18, 0, NULL) == 0);
	CHECK(usbip_check_ret_submit(&p, 64, 0, NULL) == 0);
	ret = usbip_check_ret_submit(&p, 17, 0, &reason);
	CHECK_REASON(ret, reason, "actual_length above the buffer");

	CHECK(usbip_pdu_decode(&p, ret_submit_iso_bytes, NULL) == 0);
	CHECK(usbip_check_ret_submit(&p, 256, 3, NULL) == 0);
	CHECK(usbip_check_ret_submit(&p, 256, 8, NULL) == 0);
	reason = NULL;
	ret = usbip_check_ret_submit(&p, 256, 2, &reason);
	CHECK_REASON(ret, reason, "more iso packets than submitted");
	reason = NULL;
	ret = usbip_check_ret_submit(&p, 256, 0, &reason);
	CHECK_REASON(ret, reason, "more iso packets than submitted");

	reason = NULL;
	CHECK(usbip_pdu_decode(&p, cmd_unlink_bytes, NULL) == 0);
	ret = usbip_check_ret_submit(&p, 256, 0, &reason);
	CHECK_REASON(ret, reason, "not a RET_SUBMIT");
}

/*
 * A RET_SUBMIT's status is the result of a finished URB: -EINPROGRESS
 * ("still pending" to a client driver) becomes -EPROTO; the rest as sent.
 */
static void test_ret_status(void)
{
	CHECK(usbip_ret_status(-EINPROGRESS) == -EPROTO);
	CHECK(usbip_ret_status(0) == 0);
	CHECK(usbip_ret_status(-EPIPE) == -EPIPE);
	CHECK(usbip_ret_status(-ECONNRESET) == -ECONNRESET);
	CHECK(usbip_ret_status(-ENOENT) == -ENOENT);
	CHECK(usbip_ret_status(-EPROTO) == -EPROTO);
}

/*
 * The result of a check that decides the data stage (case @i): the return
 * value and reason expected, else the direction and stage length.
 */
static void check_data_stage(unsigned int i, int ret, const char *reason, bool dir_in,
			     u32 stage, int want_ret, const char *want_reason, bool want_dir_in,
			     u32 want_stage)
{
	CHECK(ret == want_ret);
	if (ret != want_ret)
		printf("  case %u: ret %d (%s)\n", i, ret, reason ? reason : "-");
	if (want_ret) {
		CHECK_REASON(ret, reason, want_reason);
		return;
	}
	CHECK(dir_in == want_dir_in);
	CHECK(stage == want_stage);
	if (dir_in != want_dir_in || stage != want_stage)
		printf("  case %u: dir_in %d stage %u\n", i, dir_in, stage);
}

/* Control transfers: the setup packet and the wire direction must agree. */
static void test_ctrl_check(void)
{
	static const struct {
		u32 wire;
		u8 rtype;
		u16 wlength;
		u32 length;
		int ret;
		bool dir_in;
		u32 stage;
		const char *reason;
	} c[] = {
		/* the usual three: IN data, OUT data, no data */
		{ USBIP_DIR_IN, 0x80, 18, 18, 0, true, 18, NULL },
		{ USBIP_DIR_OUT, 0x21, 7, 7, 0, false, 7, NULL },
		{ USBIP_DIR_OUT, 0x00, 0, 0, 0, false, 0, NULL },
		/* no data stage, no buffer: either wire direction */
		{ USBIP_DIR_IN, 0x00, 0, 0, 0, false, 0, NULL },
		{ USBIP_DIR_IN, 0x80, 0, 0, 0, false, 0, NULL },
		{ USBIP_DIR_OUT, 0x80, 0, 0, 0, false, 0, NULL },
		/* a buffer larger than wLength: the stage is wLength */
		{ USBIP_DIR_IN, 0x80, 18, 64, 0, true, 18, NULL },
		{ USBIP_DIR_OUT, 0x21, 7, 64, 0, false, 7, NULL },
		{ USBIP_DIR_IN, 0x80, 0, 64, 0, false, 0, NULL },
		{ USBIP_DIR_OUT, 0x00, 0, 64, 0, false, 0, NULL },
		/* IN into a smaller buffer: cut to the buffer */
		{ USBIP_DIR_IN, 0x80, 255, 9, 0, true, 9, NULL },
		/* wire IN, OUT setup: nothing of the buffer was received */
		{ USBIP_DIR_IN, 0x00, 0, 64, -EPROTO, false, 0,
		  "direction does not match the setup packet" },
		{ USBIP_DIR_IN, 0x21, 7, 7, -EPROTO, false, 0,
		  "direction does not match the setup packet" },
		{ USBIP_DIR_IN, 0x21, 7, 0, -EPROTO, false, 0,
		  "direction does not match the setup packet" },
		/* wire OUT with a payload, IN setup */
		{ USBIP_DIR_OUT, 0x80, 18, 18, -EPROTO, false, 0,
		  "direction does not match the setup packet" },
		{ USBIP_DIR_OUT, 0x80, 0, 18, -EPROTO, false, 0,
		  "direction does not match the setup packet" },
		/* OUT data shorter than the data stage */
		{ USBIP_DIR_OUT, 0x21, 64, 4, -EPROTO, false, 0, "OUT data shorter than wLength" },
		{ USBIP_DIR_OUT, 0x40, 0xffff, 0, -EPROTO, false, 0,
		  "OUT data shorter than wLength" },
	};
	unsigned int i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		u8 setup[USBIP_SETUP_SIZE] = { c[i].rtype, 6, 0, 1, 0, 0,
					       c[i].wlength & 0xff, c[i].wlength >> 8 };
		const char *reason = NULL;
		bool dir_in = !c[i].dir_in;
		u32 stage = 12345;
		int ret;

		ret = usbip_ctrl_check(c[i].wire, setup, c[i].length, &dir_in, &stage, &reason);
		check_data_stage(i, ret, reason, dir_in, stage, c[i].ret, c[i].reason, c[i].dir_in,
				 c[i].stage);
	}
}

/* Iso packets only for an isochronous endpoint (or one not known yet). */
static void test_iso_xfer_check(void)
{
	const char *reason;
	int xfer;

	for (xfer = USBIP_XFER_ANY; xfer <= USBIP_XFER_INT; xfer++) {
		reason = NULL;
		CHECK(usbip_iso_xfer_check(0, xfer, &reason) == 0 && !reason);
	}
	CHECK(usbip_iso_xfer_check(1, USBIP_XFER_ISOC, NULL) == 0);
	CHECK(usbip_iso_xfer_check(USBIP_MAX_ISO_PACKETS, USBIP_XFER_ISOC, NULL) == 0);
	CHECK(usbip_iso_xfer_check(8, USBIP_XFER_ANY, NULL) == 0);
	reason = NULL;
	CHECK_REASON(usbip_iso_xfer_check(1, USBIP_XFER_CONTROL, &reason), reason,
		     "iso packets for a control endpoint");
	reason = NULL;
	CHECK_REASON(usbip_iso_xfer_check(3, USBIP_XFER_BULK, &reason), reason,
		     "iso packets for a non-iso endpoint");
	reason = NULL;
	CHECK_REASON(usbip_iso_xfer_check(1, USBIP_XFER_INT, &reason), reason,
		     "iso packets for a non-iso endpoint");
	CHECK(usbip_iso_xfer_check(1, USBIP_XFER_BULK, NULL) == -EPROTO);
}

/* A CMD_SUBMIT against its endpoint type: the server's checks in one. */
static void test_cmd_submit_check(void)
{
	static const struct {
		int xfer;
		u32 wire;
		u8 rtype;
		u16 wlength;
		s32 length;
		s32 npk;
		int ret;
		bool dir_in;
		u32 stage;
		const char *reason;
	} c[] = {
		/* control: the setup packet decides (usbip_ctrl_check) */
		{ USBIP_XFER_CONTROL, USBIP_DIR_IN, 0x80, 18, 64, 0, 0, true, 18, NULL },
		{ USBIP_XFER_CONTROL, USBIP_DIR_OUT, 0x21, 7, 7, 0, 0, false, 7, NULL },
		{ USBIP_XFER_CONTROL, USBIP_DIR_IN, 0x00, 0, 0, 0, 0, false, 0, NULL },
		{ USBIP_XFER_CONTROL, USBIP_DIR_OUT, 0x80, 18, 18, 0, -EPROTO, false, 0,
		  "direction does not match the setup packet" },
		{ USBIP_XFER_CONTROL, USBIP_DIR_IN, 0x00, 0, 64, 0, -EPROTO, false, 0,
		  "direction does not match the setup packet" },
		{ USBIP_XFER_CONTROL, USBIP_DIR_OUT, 0x21, 64, 4, 0, -EPROTO, false, 0,
		  "OUT data shorter than wLength" },
		{ USBIP_XFER_CONTROL, USBIP_DIR_IN, 0x80, 18, 18, 1, -EPROTO, false, 0,
		  "iso packets for a control endpoint" },
		/* other endpoints: the wire direction is the direction; setup ignored */
		{ USBIP_XFER_BULK, USBIP_DIR_IN, 0x00, 0, 512, 0, 0, true, 512, NULL },
		{ USBIP_XFER_BULK, USBIP_DIR_OUT, 0x80, 18, 31, 0, 0, false, 31, NULL },
		{ USBIP_XFER_INT, USBIP_DIR_IN, 0x21, 64, 8, -1, 0, true, 8, NULL },
		{ USBIP_XFER_BULK, USBIP_DIR_IN, 0, 0, 512, 1, -EPROTO, false, 0,
		  "iso packets for a non-iso endpoint" },
		{ USBIP_XFER_INT, USBIP_DIR_OUT, 0, 0, 8, 2, -EPROTO, false, 0,
		  "iso packets for a non-iso endpoint" },
		{ USBIP_XFER_ISOC, USBIP_DIR_OUT, 0, 0, 192, 3, 0, false, 192, NULL },
		{ USBIP_XFER_ISOC, USBIP_DIR_IN, 0, 0, 0, 0, 0, true, 0, NULL },
		/* a gadget endpoint not enabled yet: any form passes here */
		{ USBIP_XFER_ANY, USBIP_DIR_IN, 0x00, 0, 4096, 8, 0, true, 4096, NULL },
		{ USBIP_XFER_ANY, USBIP_DIR_OUT, 0x80, 18, 31, 0, 0, false, 31, NULL },
	};
	struct usbip_pdu pdu;
	unsigned int i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		const char *reason = NULL;
		bool dir_in = !c[i].dir_in;
		u32 stage = 12345;
		int ret;

		memset(&pdu, 0, sizeof(pdu));
		pdu.command = USBIP_CMD_SUBMIT;
		pdu.seqnum = i + 1;
		pdu.direction = c[i].wire;
		pdu.ep = c[i].xfer == USBIP_XFER_CONTROL ? 0 : 1;
		pdu.submit.transfer_buffer_length = c[i].length;
		pdu.submit.number_of_packets = c[i].npk;
		pdu.submit.setup[0] = c[i].rtype;
		pdu.submit.setup[1] = 6;
		pdu.submit.setup[6] = c[i].wlength & 0xff;
		pdu.submit.setup[7] = c[i].wlength >> 8;
		CHECK(usbip_pdu_check(&pdu, NULL) == 0);

		ret = usbip_cmd_submit_check(&pdu, c[i].xfer, &dir_in, &stage, &reason);
		check_data_stage(i, ret, reason, dir_in, stage, c[i].ret, c[i].reason, c[i].dir_in,
				 c[i].stage);
	}

	/* not a CMD_SUBMIT */
	memset(&pdu, 0, sizeof(pdu));
	pdu.command = USBIP_CMD_UNLINK;
	{
		const char *reason = NULL;
		bool dir_in;
		u32 stage;

		CHECK_REASON(usbip_cmd_submit_check(&pdu, USBIP_XFER_BULK, &dir_in, &stage,
						    &reason), reason, "not a CMD_SUBMIT");
	}
}

/* Only bulk transfers may be larger than what a server holds in one piece. */
static void test_xfer_len_check(void)
{
	const u32 max = 4U << 20;
	const char *reason;
	int xfer;

	for (xfer = USBIP_XFER_CONTROL; xfer <= USBIP_XFER_INT; xfer++) {
		CHECK(usbip_xfer_len_check(xfer, 0, max, NULL) == 0);
		CHECK(usbip_xfer_len_check(xfer, max, max, NULL) == 0);
	}
	CHECK(usbip_xfer_len_check(USBIP_XFER_BULK, max + 1, max, NULL) == 0);
	CHECK(usbip_xfer_len_check(USBIP_XFER_BULK, USBIP_MAX_TRANSFER, max, NULL) == 0);
	for (xfer = USBIP_XFER_CONTROL; xfer <= USBIP_XFER_INT; xfer++) {
		if (xfer == USBIP_XFER_BULK)
			continue;
		reason = NULL;
		CHECK_REASON(usbip_xfer_len_check(xfer, max + 1, max, &reason), reason,
			     "transfer length above the limit for this endpoint");
		CHECK(usbip_xfer_len_check(xfer, USBIP_MAX_TRANSFER, max, NULL) == -EPROTO);
	}
}

static void test_cmd_names(void)
{
	CHECK(strcmp(usbip_cmd_name(1), "CMD_SUBMIT") == 0);
	CHECK(strcmp(usbip_cmd_name(2), "CMD_UNLINK") == 0);
	CHECK(strcmp(usbip_cmd_name(3), "RET_SUBMIT") == 0);
	CHECK(strcmp(usbip_cmd_name(4), "RET_UNLINK") == 0);
	CHECK(strcmp(usbip_cmd_name(0), "UNKNOWN") == 0);
}

static void test_uapi_constants(void)
{
	CHECK(USBIP_VERSION == 0x0111);
	CHECK(USBIP_PORT == 3240);
	CHECK(SDEV_ST_AVAILABLE == 1 && SDEV_ST_USED == 2 && SDEV_ST_ERROR == 3);
	CHECK(VDEV_ST_NULL == 4 && VDEV_ST_NOTASSIGNED == 5 &&
	      VDEV_ST_USED == 6 && VDEV_ST_ERROR == 7);
	CHECK(USBIP_OP_REQ_DEVINFO == 0x8002 && USBIP_OP_REP_DEVINFO == 0x0002);
	CHECK(USBIP_OP_REQ_IMPORT == 0x8003 && USBIP_OP_REP_IMPORT == 0x0003);
	CHECK(USBIP_OP_REQ_DEVLIST == 0x8005 && USBIP_OP_REP_DEVLIST == 0x0005);
	CHECK(USBIP_OP_ST_OK == 0 && USBIP_OP_ST_NA == 1 && USBIP_OP_ST_DEV_BUSY == 2 &&
	      USBIP_OP_ST_DEV_ERR == 3 && USBIP_OP_ST_NODEV == 4 && USBIP_OP_ST_ERROR == 5);
	CHECK(USBIP_OP_HEADER_SIZE == 8);
	CHECK(USBIP_URB_SHORT_NOT_OK == 0x1 && USBIP_URB_ISO_ASAP == 0x2 &&
	      USBIP_URB_NO_TRANSFER_DMA_MAP == 0x4 && USBIP_URB_ZERO_PACKET == 0x40 &&
	      USBIP_URB_NO_INTERRUPT == 0x80 && USBIP_URB_FREE_BUFFER == 0x100 &&
	      USBIP_URB_DIR_IN == 0x200 && USBIP_URB_DIR_MASK == 0x200 &&
	      USBIP_URB_DMA_MAP_SINGLE == 0x10000 && USBIP_URB_DMA_MAP_PAGE == 0x20000 &&
	      USBIP_URB_DMA_MAP_SG == 0x40000 && USBIP_URB_MAP_LOCAL == 0x80000 &&
	      USBIP_URB_SETUP_MAP_SINGLE == 0x100000 &&
	      USBIP_URB_SETUP_MAP_LOCAL == 0x200000 &&
	      USBIP_URB_DMA_SG_COMBINED == 0x400000 &&
	      USBIP_URB_ALIGNED_TEMP_BUFFER == 0x800000);
	CHECK(sizeof(struct usbip_iso_desc) == USBIP_ISO_DESC_SIZE);
}

/* ---- session messages (usbip_ext.rst) ---- */

/* EXT_RESUME: 7 answers received, 2 seqnums follow. */
static const u8 ext_resume_bytes[USBIP_HEADER_SIZE] = {
	0x00, 0x01, 0x00, 0x03,		/* command EXT_RESUME */
	0x00, 0x00, 0x00, 0x07,		/* seqnum: answers received */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,	/* devid, direction, ep */
	0x00, 0x00, 0x00, 0x02,		/* n */
};

static void test_ext_codec(void)
{
	static const u32 cmds[] = { USBIP_EXT_ACK, USBIP_EXT_ACK_REP, USBIP_EXT_RESUME,
				    USBIP_EXT_RESUME_REP };
	const char *reason = NULL;
	u8 buf[USBIP_HEADER_SIZE];
	struct usbip_pdu p, q;
	unsigned int i;

	CHECK(USBIP_EXT_ACK == 0x00010001 && USBIP_EXT_ACK_REP == 0x00010002 &&
	      USBIP_EXT_RESUME == 0x00010003 && USBIP_EXT_RESUME_REP == 0x00010004);
	CHECK(usbip_pdu_decode(&p, ext_resume_bytes, &reason) == 0);
	CHECK(p.command == USBIP_EXT_RESUME && p.seqnum == 7 && p.ext.arg == 2);
	CHECK(usbip_pdu_encode(&p, buf) == 0);
	CHECK(memcmp(buf, ext_resume_bytes, sizeof(buf)) == 0);
	CHECK(strcmp(usbip_cmd_name(USBIP_EXT_RESUME), "EXT_RESUME") == 0);
	CHECK(strcmp(usbip_cmd_name(USBIP_EXT_ACK_REP), "EXT_ACK_REP") == 0);

	for (i = 0; i < 4; i++) {
		memset(&p, 0, sizeof(p));
		p.command = cmds[i];
		p.seqnum = 0xfffffff0 + i;
		p.ext.arg = cmds[i] == USBIP_EXT_ACK ? USBIP_EXT_ACK_PING :
			    cmds[i] == USBIP_EXT_ACK_REP ? 0 : 5;
		CHECK(usbip_pdu_is_ext(p.command));
		CHECK(usbip_pdu_encode(&p, buf) == 0);
		CHECK(usbip_pdu_decode(&q, buf, &reason) == 0);
		CHECK(q.command == p.command && q.seqnum == p.seqnum && q.ext.arg == p.ext.arg);
		/* devid, direction and ep must be 0 */
		put32(buf + 8, 1);
		expect_decode_error(buf, "session message with devid, direction or ep");
		put32(buf + 8, 0);
		put32(buf + 16, 2);
		expect_decode_error(buf, "session message with devid, direction or ep");
	}
	CHECK(!usbip_pdu_is_ext(USBIP_RET_UNLINK) && !usbip_pdu_is_ext(0x00010000) &&
	      !usbip_pdu_is_ext(0x00010005));
	/* codes next to them stay unknown */
	memcpy(buf, ext_resume_bytes, sizeof(buf));
	put32(buf, 0x00010005);
	expect_decode_error(buf, "unknown command");
	put32(buf, 0x00010000);
	expect_decode_error(buf, "unknown command");

	memset(&p, 0, sizeof(p));
	p.command = USBIP_EXT_ACK;
	p.ext.arg = 2;
	CHECK(usbip_pdu_encode(&p, buf) == 0);
	expect_decode_error(buf, "unknown EXT_ACK flags");
	p.command = USBIP_EXT_ACK_REP;
	p.ext.arg = 1;
	CHECK(usbip_pdu_encode(&p, buf) == 0);
	expect_decode_error(buf, "EXT_ACK_REP with an argument");
	p.command = USBIP_EXT_RESUME;
	p.ext.arg = USBIP_EXT_RESUME_MAX;
	CHECK(usbip_pdu_encode(&p, buf) == 0);
	CHECK(usbip_pdu_decode(&q, buf, NULL) == 0);
	p.ext.arg = USBIP_EXT_RESUME_MAX + 1;
	CHECK(usbip_pdu_encode(&p, buf) == 0);
	expect_decode_error(buf, "EXT_RESUME lists too many seqnums");
	p.ext.arg = 0xffffffff;
	CHECK(usbip_pdu_encode(&p, buf) == 0);
	expect_decode_error(buf, "EXT_RESUME lists too many seqnums");
}

static void test_ext_count_check(void)
{
	const char *reason = NULL;
	int ret;

	CHECK(usbip_ext_count_check(0, 0, 0, NULL) == 0);
	CHECK(usbip_ext_count_check(10, 10, 20, NULL) == 0);
	CHECK(usbip_ext_count_check(10, 15, 20, NULL) == 0);
	CHECK(usbip_ext_count_check(10, 20, 20, NULL) == 0);
	ret = usbip_ext_count_check(10, 21, 20, &reason);
	CHECK_REASON(ret, reason, "count ahead of what was sent");
	ret = usbip_ext_count_check(10, 9, 20, &reason);
	CHECK_REASON(ret, reason, "count behind an earlier one");
	/* across the wrap of 2^32 */
	CHECK(usbip_ext_count_check(0xfffffff0, 0xfffffffe, 5, NULL) == 0);
	CHECK(usbip_ext_count_check(0xfffffff0, 3, 5, NULL) == 0);
	CHECK(usbip_ext_count_check(0xfffffff0, 5, 5, NULL) == 0);
	ret = usbip_ext_count_check(0xfffffff0, 6, 5, &reason);
	CHECK_REASON(ret, reason, "count ahead of what was sent");
	ret = usbip_ext_count_check(0xfffffff0, 0xffffffef, 5, &reason);
	CHECK_REASON(ret, reason, "count behind an earlier one");
	/* far ahead looks like behind; either way refused */
	CHECK(usbip_ext_count_check(10, 10 + 0x80000000u, 20, NULL) == -EPROTO);
	ret = usbip_ext_count_check(20, 20, 10, &reason);
	CHECK_REASON(ret, reason, "counter range inverted");
}

static int words(const char *text, unsigned int allowed, struct usbip_ext_words *w,
		 const char **reason)
{
	char buf[256];

	snprintf(buf, sizeof(buf), "%s", text);
	return usbip_ext_words_parse(buf, allowed, w, reason);
}

static void test_ext_words(void)
{
	const unsigned int all = USBIP_EXT_W_CAPS | USBIP_EXT_W_TOKEN | USBIP_EXT_W_NEW |
				 USBIP_EXT_W_WINDOW | USBIP_EXT_W_HEARTBEAT | USBIP_EXT_W_JOURNAL;
	static const u8 tok[16] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
				    0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff };
	struct usbip_ext_words w;
	const char *reason = NULL;
	int ret;

	CHECK(words("", all, &w, NULL) == 0 && w.have == 0);
	CHECK(words("  \n", all, &w, NULL) == 0 && w.have == 0);
	CHECK(words("caps=1 token=00112233445566778899aabbccddeeff window=30000 "
		    "heartbeat=5000 journal=16777216\n", all, &w, NULL) == 0);
	CHECK(w.have == (all & ~USBIP_EXT_W_NEW) && w.caps == 1 && w.window == 30000 &&
	      w.heartbeat == 5000 && w.journal == 16777216 && !memcmp(w.token, tok, 16));
	CHECK(words("new=00112233445566778899AABBCCDDEEFF\ttoken=ffeeddccbbaa99887766554433221100",
		    all, &w, NULL) == 0);
	CHECK(!memcmp(w.new_token, tok, 16) && w.token[0] == 0xff && w.token[15] == 0x00);
	CHECK(words("caps=ffffffff", all, &w, NULL) == 0 && w.caps == 0xffffffff);
	CHECK(words("window=4294967295", all, &w, NULL) == 0 && w.window == 0xffffffff);
	CHECK(words("window=4294967296", all, &w, NULL) == -ERANGE);
	ret = words("window", all, &w, &reason);
	CHECK(ret == -EINVAL && !strcmp(reason, "word without a value"));
	ret = words("windows=1", all, &w, &reason);
	CHECK(ret == -EINVAL && !strcmp(reason, "unknown word"));
	ret = words("journal=1", USBIP_EXT_W_CAPS, &w, &reason);
	CHECK(ret == -EINVAL && !strcmp(reason, "unknown word"));
	ret = words("caps=1 caps=1", all, &w, &reason);
	CHECK(ret == -EINVAL && !strcmp(reason, "word given twice"));
	ret = words("window=-1", all, &w, &reason);
	CHECK(ret == -EINVAL && !strcmp(reason, "malformed value"));
	CHECK(words("window=0x10", all, &w, NULL) == -EINVAL);
	CHECK(words("window=", all, &w, NULL) == -EINVAL);
	CHECK(words("caps=1g", all, &w, NULL) == -EINVAL);
	CHECK(words("token=00112233445566778899aabbccddeef", all, &w, NULL) == -EINVAL);
	CHECK(words("token=00112233445566778899aabbccddeeff0", all, &w, NULL) == -EINVAL);
	CHECK(words("token=00112233445566778899aabbccddeefg", all, &w, NULL) == -EINVAL);
	CHECK(words("token=", all, &w, NULL) == -EINVAL);
}

/* ---- iso descriptors ---- */

static void test_iso_desc_bytes(void)
{
	static const u8 expect[2 * USBIP_ISO_DESC_SIZE] = {
		0x00, 0x00, 0x00, 0x00,	/* offset 0 */
		0x00, 0x00, 0x00, 0xc0,	/* length 192 */
		0x00, 0x00, 0x00, 0xb4,	/* actual_length 180 */
		0x00, 0x00, 0x00, 0x00,	/* status 0 */
		0x00, 0x00, 0x00, 0xc0,	/* offset 192 */
		0x00, 0x00, 0x00, 0xc0,
		0x00, 0x00, 0x00, 0x00,
		0xff, 0xff, 0xff, 0xb9,	/* status -71 (EPROTO) */
	};
	struct usbip_iso_desc d[2] = {
		{ .offset = 0, .length = 192, .actual_length = 180, .status = 0 },
		{ .offset = 192, .length = 192, .actual_length = 0, .status = -71 },
	};
	struct usbip_iso_desc back[2];
	u8 buf[sizeof(expect)];

	usbip_iso_descs_encode(d, 2, buf);
	CHECK(memcmp(buf, expect, sizeof(expect)) == 0);
	usbip_iso_descs_decode(back, 2, buf);
	CHECK(memcmp(back, d, sizeof(d)) == 0);

	/* in-place conversion of wire bytes received into the array */
	memcpy(back, expect, sizeof(expect));
	usbip_iso_descs_from_wire(back, 2);
	CHECK(memcmp(back, d, sizeof(d)) == 0);
	CHECK(back[1].status == -EPROTO);
}

static void test_iso_check(void)
{
	struct usbip_iso_desc d[3] = {
		{ 0, 100, 100, 0 },
		{ 100, 100, 50, 0 },
		{ 200, 100, 0, -EXDEV },
	};
	const char *reason = NULL;
	int ret;

	CHECK(usbip_iso_check(d, 3, 300, 150, USBIP_ISO_CHECK_ACTUAL |
			      USBIP_ISO_CHECK_ORDER, &reason) == 0);
	CHECK(usbip_iso_check(d, 0, 0, 0, USBIP_ISO_CHECK_ACTUAL, &reason) == 0);

	ret = usbip_iso_check(d, 3, 299, 150, 0, &reason);
	CHECK_REASON(ret, reason, "iso frame beyond the buffer");

	ret = usbip_iso_check(d, 3, 300, 151, USBIP_ISO_CHECK_ACTUAL, &reason);
	CHECK_REASON(ret, reason, "iso actual_length sum mismatch");
	ret = usbip_iso_check(d, 3, 300, 149, USBIP_ISO_CHECK_ACTUAL, &reason);
	CHECK_REASON(ret, reason, "iso actual_length sum mismatch");
	/* without ACTUAL the sum is not looked at */
	CHECK(usbip_iso_check(d, 3, 300, 7, 0, NULL) == 0);

	d[1].actual_length = 101;
	ret = usbip_iso_check(d, 3, 300, 201, USBIP_ISO_CHECK_ACTUAL, &reason);
	CHECK_REASON(ret, reason, "iso frame actual_length above its length");
	d[1].actual_length = 50;

	d[2].status = 5;
	ret = usbip_iso_check(d, 3, 300, 150, USBIP_ISO_CHECK_ACTUAL, &reason);
	CHECK_REASON(ret, reason, "bad iso frame status");
	d[2].status = 0;

	d[2].offset = 0xfffffff0;
	d[2].length = 0x20;
	ret = usbip_iso_check(d, 3, 0xffffffff, 150, 0, &reason);
	CHECK_REASON(ret, reason, "iso frame offset+length overflows");
	d[2].offset = 0xffffffff;
	d[2].length = 1;
	ret = usbip_iso_check(d, 3, 0xffffffff, 150, 0, &reason);
	CHECK_REASON(ret, reason, "iso frame offset+length overflows");
	d[2].offset = 0x7fffffff;
	d[2].length = 0x80000001;
	ret = usbip_iso_check(d, 3, 300, 150, 0, &reason);
	CHECK_REASON(ret, reason, "iso frame offset+length overflows");
	d[2].offset = 200;
	d[2].length = 100;

	d[1].offset = 50;	/* overlaps frame 0 */
	CHECK(usbip_iso_check(d, 3, 300, 150, USBIP_ISO_CHECK_ACTUAL, NULL) == 0);
	ret = usbip_iso_check(d, 3, 300, 150, USBIP_ISO_CHECK_ORDER, &reason);
	CHECK_REASON(ret, reason, "iso frames overlap or not ascending");
	d[1].offset = 200;
	d[2].offset = 100;	/* descending */
	ret = usbip_iso_check(d, 3, 300, 150, USBIP_ISO_CHECK_ORDER, &reason);
	CHECK_REASON(ret, reason, "iso frames overlap or not ascending");

	ret = usbip_iso_check(d, -1, 300, 0, 0, &reason);
	CHECK_REASON(ret, reason, "number_of_packets out of range");
	ret = usbip_iso_check(d, USBIP_MAX_ISO_PACKETS + 1, 300, 0, 0, &reason);
	CHECK_REASON(ret, reason, "number_of_packets out of range");
}

/* Fills frame i of @buf with bytes (i * 37 + j) & 0xff, the rest with 0xee. */
static void fill_frames(u8 *buf, u32 len, const struct usbip_iso_desc *d, int n)
{
	int i;
	u32 j;

	memset(buf, 0xee, len);
	for (i = 0; i < n; i++)
		for (j = 0; j < d[i].actual_length; j++)
			buf[d[i].offset + j] = (u8)(i * 37 + j);
}

static void test_iso_pack_known(void)
{
	/* frames of 8 bytes at 0, 8, 16, 24 with actual 3, 0, 8, 5 */
	struct usbip_iso_desc d[4] = {
		{ 0, 8, 3, 0 }, { 8, 8, 0, -EXDEV }, { 16, 8, 8, 0 }, { 24, 8, 5, 0 },
	};
	static const u8 expect[16] = {
		0, 1, 2,				/* frame 0 */
		74, 75, 76, 77, 78, 79, 80, 81,		/* frame 2: 2*37 + j */
		111, 112, 113, 114, 115,		/* frame 3: 3*37 + j */
	};
	u8 buf[32];
	const char *reason = NULL;

	fill_frames(buf, sizeof(buf), d, 4);
	CHECK(usbip_iso_pack(buf, sizeof(buf), d, 4, 16, &reason) == 0);
	CHECK(memcmp(buf, expect, sizeof(expect)) == 0);

	/* and back */
	CHECK(usbip_iso_unpack(buf, sizeof(buf), d, 4, 16, &reason) == 0);
	CHECK(buf[0] == 0 && buf[1] == 1 && buf[2] == 2);
	CHECK(buf[16] == 74 && buf[23] == 81);
	CHECK(buf[24] == 111 && buf[28] == 115);
}

static void test_iso_unpack_known(void)
{
	/* 3 frames of 4 bytes at 0, 4, 8 (actual 2, 4, 1) in a 12-byte buffer */
	struct usbip_iso_desc d[3] = { { 0, 4, 2, 0 }, { 4, 4, 4, 0 }, { 8, 4, 1, 0 } };
	u8 buf[12] = { 'a', 'b', 'C', 'D', 'E', 'F', 'g',
		       'x', 'x', 'x', 'x', 'x' };
	const char *reason = NULL;

	CHECK(usbip_iso_unpack(buf, sizeof(buf), d, 3, 7, &reason) == 0);
	CHECK(buf[0] == 'a' && buf[1] == 'b');
	CHECK(buf[4] == 'C' && buf[5] == 'D' && buf[6] == 'E' && buf[7] == 'F');
	CHECK(buf[8] == 'g');
}

static void test_iso_unpack_rejects(void)
{
	struct usbip_iso_desc d[2] = { { 0, 4, 4, 0 }, { 4, 4, 4, 0 } };
	u8 buf[8], copy[8];
	const char *reason = NULL;
	int ret, i;

	for (i = 0; i < 8; i++)
		buf[i] = i;
	memcpy(copy, buf, 8);

	ret = usbip_iso_unpack(buf, 8, d, 2, 7, &reason);
	CHECK_REASON(ret, reason, "iso actual_length sum mismatch");
	ret = usbip_iso_unpack(buf, 7, d, 2, 8, &reason);
	CHECK_REASON(ret, reason, "iso frame beyond the buffer");
	d[1].actual_length = 5;
	ret = usbip_iso_unpack(buf, 8, d, 2, 9, &reason);
	CHECK_REASON(ret, reason, "iso frame actual_length above its length");
	d[1].actual_length = 4;
	d[1].offset = 2;
	ret = usbip_iso_unpack(buf, 8, d, 2, 8, &reason);
	CHECK_REASON(ret, reason, "iso frames overlap or not ascending");
	CHECK(memcmp(buf, copy, 8) == 0);
}

/* Reference unpack into a separate buffer. */
static void ref_unpack(u8 *dst, const u8 *packed, const struct usbip_iso_desc *d, int n)
{
	u32 pos = 0;
	int i;

	for (i = 0; i < n; i++) {
		memcpy(dst + d[i].offset, packed + pos, d[i].actual_length);
		pos += d[i].actual_length;
	}
}

static void test_iso_pack_unpack_random(void)
{
	static struct usbip_iso_desc d[USBIP_MAX_ISO_PACKETS];
	static u8 buf[65536], orig[65536], ref[65536];
	int iter;

	for (iter = 0; iter < 2000; iter++) {
		int n = rnd() % 64 + (iter % 50 == 0 ? 900 : 0), i;
		u32 pos = 0, total = 0, len, j;
		const char *reason = NULL;

		for (i = 0; i < n; i++) {
			pos += rnd() % 4;		/* gap */
			d[i].offset = pos;
			d[i].length = rnd() % 48;
			d[i].actual_length = d[i].length ? rnd() % (d[i].length + 1) : 0;
			d[i].status = 0;
			pos += d[i].length;
			total += d[i].actual_length;
		}
		len = pos + rnd() % 8;
		for (j = 0; j < len; j++)
			orig[j] = rnd();
		memcpy(buf, orig, len);

		CHECK(usbip_iso_pack(buf, len, d, n, total, &reason) == 0);
		/* packed bytes are the frames in order */
		pos = 0;
		for (i = 0; i < n && !case_failures; i++) {
			CHECK(memcmp(buf + pos, orig + d[i].offset, d[i].actual_length) == 0);
			pos += d[i].actual_length;
		}

		memcpy(ref, buf, len);
		ref_unpack(ref, buf, d, n);	/* ref started as a copy of buf */
		CHECK(usbip_iso_unpack(buf, len, d, n, total, &reason) == 0);
		for (i = 0; i < n && !case_failures; i++)
			CHECK(memcmp(buf + d[i].offset, orig + d[i].offset,
				     d[i].actual_length) == 0);
		for (i = 0; i < n && !case_failures; i++)
			CHECK(memcmp(buf + d[i].offset, ref + d[i].offset,
				     d[i].actual_length) == 0);
		if (case_failures) {
			printf("  iteration %d, %d frames\n", iter, n);
			return;
		}
	}
}

/* A whole RET_SUBMIT of an IN iso URB parsed the way a receiver does it. */
/* The admission rule of struct usbip_budget (usbip_budget.c). */
static void test_budget_admits(void)
{
	const u64 mib = 1 << 20;

	/* an empty connection admits anything, even above both limits */
	CHECK(usbip_budget_admits(0, 0, 1024, 64 * mib, 1, 64 * mib));
	CHECK(usbip_budget_admits(0, 0, 0, 0, 1, 64 * mib));
	CHECK(usbip_budget_admits(0, 0, 1024, mib, 1, 64 * mib));
	/* up to and including each limit */
	CHECK(usbip_budget_admits(1023, 0, 1024, 64 * mib, 1, 0));
	CHECK(!usbip_budget_admits(1024, 0, 1024, 64 * mib, 1, 0));
	CHECK(usbip_budget_admits(1, 63 * mib, 1024, 64 * mib, 1, mib));
	CHECK(!usbip_budget_admits(1, 63 * mib, 1024, 64 * mib, 1, mib + 1));
	CHECK(!usbip_budget_admits(1, 0, 1024, 64 * mib, 1, 64 * mib + 1));
	/* 32 requests of 1 MiB (a USB 3 disk's queue) fit the defaults */
	CHECK(usbip_budget_admits(31, 31 * mib, 1024, 64 * mib, 1, mib));
	/* no wrap-around with huge counts or limits */
	CHECK(!usbip_budget_admits(0xffffffff, 0, 0xffffffff, 64 * mib, 1, 0));
	CHECK(!usbip_budget_admits(1, ~0ULL - 1, 1024, ~0ULL, 1, 2));
	CHECK(usbip_budget_admits(1, 1, 1024, ~0ULL, 1, ~0ULL - 1));
	/* bytes alone (a RET_UNLINK of our own counts as a request) */
	CHECK(!usbip_budget_admits(5, 0, 5, 64 * mib, 1, 24));
}

static void test_submit_charge(void)
{
	/* not iso: the buffer alone */
	CHECK(usbip_submit_charge(0, 0) == 0);
	CHECK(usbip_submit_charge(65536, 0) == 65536);
	CHECK(usbip_submit_charge(0xffffffff, 0) == 0xffffffffULL);
	/* a negative count (never valid) charges no descriptors */
	CHECK(usbip_submit_charge(100, -1) == 100);
	/* iso: two 16-byte descriptors per packet, even with no buffer */
	CHECK(usbip_submit_charge(0, 1) == 32);
	CHECK(usbip_submit_charge(0, USBIP_MAX_ISO_PACKETS) ==
	      (u64)USBIP_MAX_ISO_PACKETS * 32);
	CHECK(usbip_submit_charge(3072, 3) == 3072 + 96);
	/* no wrap-around at the largest values */
	CHECK(usbip_submit_charge(0xffffffff, USBIP_MAX_ISO_PACKETS) ==
	      0xffffffffULL + (u64)USBIP_MAX_ISO_PACKETS * 32);
}

static void test_full_iso_message(void)
{
	struct usbip_iso_desc sent[3] = {
		{ 0, 1024, 1000, 0 }, { 1024, 1024, 0, -EXDEV }, { 2048, 1024, 24, 0 },
	};
	struct usbip_iso_desc got[3];
	struct usbip_pdu ret, p;
	u8 urb_buf[3072], rx_buf[3072];
	u8 msg[USBIP_HEADER_SIZE + 1024 + 3 * USBIP_ISO_DESC_SIZE];
	const u8 *cur = msg;
	const char *reason = NULL;
	u32 len, i;

	/* server: completed URB, packed, header, descriptors */
	for (i = 0; i < sizeof(urb_buf); i++)
		urb_buf[i] = (u8)(i * 7 + 3);
	memset(&ret, 0, sizeof(ret));
	ret.command = USBIP_RET_SUBMIT;
	ret.seqnum = 99;
	ret.ret_submit.status = 0;
	ret.ret_submit.actual_length = 1024;
	ret.ret_submit.number_of_packets = 3;
	ret.ret_submit.error_count = 1;
	CHECK(usbip_pdu_encode(&ret, msg) == 0);
	memcpy(rx_buf, urb_buf, sizeof(urb_buf));
	CHECK(usbip_iso_pack(rx_buf, sizeof(rx_buf), sent, 3, 1024, &reason) == 0);
	memcpy(msg + USBIP_HEADER_SIZE, rx_buf, 1024);
	usbip_iso_descs_encode(sent, 3, msg + USBIP_HEADER_SIZE + 1024);

	/* client */
	memset(rx_buf, 0, sizeof(rx_buf));
	CHECK(usbip_pdu_decode(&p, cur, &reason) == 0);
	cur += USBIP_HEADER_SIZE;
	CHECK(usbip_check_ret_submit(&p, sizeof(rx_buf), 3, &reason) == 0);
	len = usbip_ret_payload_len(&p, true);
	CHECK(len == 1024);
	memcpy(rx_buf, cur, len);
	cur += len;
	usbip_iso_descs_decode(got, usbip_pdu_packets(&p), cur);
	cur += usbip_pdu_packets(&p) * USBIP_ISO_DESC_SIZE;
	CHECK(cur == msg + sizeof(msg));
	CHECK(usbip_iso_unpack(rx_buf, sizeof(rx_buf), got, 3, len, &reason) == 0);
	CHECK(memcmp(rx_buf, urb_buf, 1000) == 0);
	CHECK(memcmp(rx_buf + 2048, urb_buf + 2048, 24) == 0);
	CHECK(got[1].status == -EXDEV);
}

/* Inconsistent forms of the standard requests a server carries out. */
static void test_setup_std_check(void)
{
	/* bmRequestType, bRequest, wValue, wIndex, wLength, expected */
	static const struct {
		u8 rt, req;
		u16 value, index, length;
		int ret;
	} c[] = {
		{ 0x00, 9, 1, 0, 0, 0 },		/* SET_CONFIGURATION */
		{ 0x80, 9, 1, 0, 0, -EPIPE },		/* ... direction IN */
		{ 0x01, 9, 1, 0, 0, -EPIPE },		/* ... to an interface */
		{ 0x00, 9, 1, 0, 2, -EPIPE },		/* ... with a data stage */
		{ 0x01, 11, 1, 0, 0, 0 },		/* SET_INTERFACE */
		{ 0x81, 11, 1, 0, 0, -EPIPE },
		{ 0x00, 11, 1, 0, 0, -EPIPE },
		{ 0x02, 11, 1, 0, 0, -EPIPE },
		{ 0x02, 1, 0, 0x81, 0, 0 },		/* CLEAR_FEATURE(HALT) */
		{ 0x02, 1, 0, 0x0f, 0, 0 },
		{ 0x82, 1, 0, 0x81, 0, -EPIPE },
		{ 0x03, 1, 0, 0x81, 0, -EPIPE },	/* recipient "other" */
		{ 0x1f, 1, 0, 0x81, 0, -EPIPE },
		{ 0x02, 1, 0, 0x0181, 0, -EPIPE },	/* reserved wIndex bits */
		{ 0x02, 1, 0, 0x10, 0, -EPIPE },
		{ 0x00, 1, 1, 0, 0, 0 },		/* CLEAR_FEATURE(device) */
		{ 0x01, 1, 0, 0, 0, 0 },		/* CLEAR_FEATURE(interface) */
		{ 0x00, 5, 9, 0, 0, 0 },		/* SET_ADDRESS */
		{ 0x80, 5, 9, 0, 0, -EPIPE },
		{ 0x02, 5, 9, 0, 0, -EPIPE },
		{ 0x80, 6, 0x100, 0, 18, 0 },		/* GET_DESCRIPTOR passes */
		{ 0x00, 3, 1, 0, 0, 0 },		/* SET_FEATURE passes */
		{ 0x21, 9, 1, 0, 0, 0 },		/* class request 9 passes */
		{ 0x41, 11, 1, 0, 0, 0 },		/* vendor request 11 passes */
		{ 0x23, 3, 4, 1, 0, 0 },		/* port reset (class) passes */
		{ 0xc0, 1, 0, 0, 4, 0 },		/* vendor IN request 1 passes */
	};
	unsigned int i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		const char *reason = NULL;
		u8 setup[8] = { c[i].rt, c[i].req, c[i].value & 0xff, c[i].value >> 8,
				c[i].index & 0xff, c[i].index >> 8,
				c[i].length & 0xff, c[i].length >> 8 };
		int ret = usbip_setup_std_check(setup, &reason);

		CHECK(ret == c[i].ret);
		if (ret != c[i].ret)
			printf("  case %u: %02x %02x gave %d\n", i, c[i].rt, c[i].req, ret);
		CHECK(!ret == !reason);
	}
	CHECK(usbip_setup_std_check((const u8 *)"\x80\x09\0\0\0\0\0\0", NULL) == -EPIPE);
}

struct test_case {
	const char *name;
	void (*fn)(void);
};

#define T(fn) { #fn, fn }
static const struct test_case cases[] = {
	T(test_encode_cmd_submit),
	T(test_decode_cmd_submit),
	T(test_encode_ret_submit),
	T(test_decode_ret_submit),
	T(test_encode_cmd_unlink),
	T(test_decode_cmd_unlink),
	T(test_encode_ret_unlink),
	T(test_decode_ret_unlink),
	T(test_encode_unknown_command),
	T(test_round_trip_random),
	T(test_unknown_command),
	T(test_endpoint_above_15),
	T(test_bad_direction),
	T(test_transfer_length_limits),
	T(test_packets_range),
	T(test_non_iso_packets_tolerated),
	T(test_ret_submit_fields),
	T(test_ret_unlink_status),
	T(test_ret_ignores_devid_dir_ep),
	T(test_check_ret_submit),
	T(test_ret_status),
	T(test_cmd_names),
	T(test_uapi_constants),
	T(test_iso_desc_bytes),
	T(test_iso_check),
	T(test_iso_pack_known),
	T(test_iso_unpack_known),
	T(test_iso_unpack_rejects),
	T(test_iso_pack_unpack_random),
	T(test_full_iso_message),
	T(test_ctrl_check),
	T(test_iso_xfer_check),
	T(test_cmd_submit_check),
	T(test_xfer_len_check),
	T(test_setup_std_check),
	T(test_ext_codec),
	T(test_ext_count_check),
	T(test_ext_words),
	T(test_budget_admits),
	T(test_submit_charge),
};

int main(int argc, char **argv)
{
	unsigned int i, failed = 0;

	if (argc > 1)
		tag = argv[1];
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		case_failures = 0;
		cases[i].fn();
		printf("%s %s%s%s\n", case_failures ? "FAIL" : "PASS", cases[i].name,
		       *tag ? " " : "", tag);
		fflush(stdout);
		if (case_failures)
			failed++;
	}
	return failed ? 1 : 0;
}
