// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Writes the seed corpus of fuzz_proto into the directory given as argv[1],
 * using the encoder under test: valid exchanges of every message type, iso
 * transfers both ways, and a few malformed headers.
 */
#include <stdio.h>
#include <stdlib.h>
#include "usbip_proto.h"

static u8 seed[65536];
static size_t seed_len;

static void ctx(u32 buflen, u16 submitted, int dir_in)
{
	seed[0] = buflen >> 24;
	seed[1] = buflen >> 16;
	seed[2] = buflen >> 8;
	seed[3] = buflen;
	seed[4] = submitted >> 8;
	seed[5] = submitted;
	seed[6] = dir_in;
	seed[7] = 0;
	seed_len = 8;
}

/* The transfer type of the endpoint a CMD_SUBMIT names (fuzz_proto.c). */
static void ctx_xfer(int xfer)
{
	seed[7] = xfer + 1;
}

static void add_pdu(const struct usbip_pdu *p)
{
	if (usbip_pdu_encode(p, seed + seed_len))
		abort();
	seed_len += USBIP_HEADER_SIZE;
}

static void add_bytes(u32 n, u8 start)
{
	u32 i;

	for (i = 0; i < n; i++)
		seed[seed_len++] = (u8)(start + i * 7);
}

static void add_descs(const struct usbip_iso_desc *d, int n)
{
	usbip_iso_descs_encode(d, n, seed + seed_len);
	seed_len += (size_t)n * USBIP_ISO_DESC_SIZE;
}

static void emit(const char *dir, const char *name)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(seed, 1, seed_len, f) != seed_len || fclose(f)) {
		perror(path);
		exit(1);
	}
}

static struct usbip_pdu hdr(u32 command, u32 seqnum)
{
	struct usbip_pdu p;

	memset(&p, 0, sizeof(p));
	p.command = command;
	p.seqnum = seqnum;
	return p;
}

int main(int argc, char **argv)
{
	static const u8 get_desc[8] = { 0x80, 0x06, 0x00, 0x01, 0x00, 0x00, 0x40, 0x00 };
	struct usbip_iso_desc d[4] = {
		{ 0, 1024, 1000, 0 }, { 1024, 1024, 0, -18 },
		{ 2048, 1024, 24, 0 }, { 3072, 1024, 1024, 0 },
	};
	struct usbip_pdu p;
	const char *dir;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	dir = argv[1];

	/* control IN: GET_DESCRIPTOR and its answer */
	ctx(64, 0, 1);
	ctx_xfer(USBIP_XFER_CONTROL);
	p = hdr(USBIP_CMD_SUBMIT, 1);
	p.devid = 0x10002;
	p.direction = USBIP_DIR_IN;
	p.submit.transfer_flags = USBIP_URB_DIR_IN;
	p.submit.transfer_buffer_length = 64;
	p.submit.number_of_packets = -1;
	memcpy(p.submit.setup, get_desc, 8);
	add_pdu(&p);
	p = hdr(USBIP_RET_SUBMIT, 1);
	p.ret_submit.actual_length = 18;
	add_pdu(&p);
	add_bytes(18, 0x12);
	emit(dir, "control-in");

	/* bulk OUT 512 bytes and its answer */
	ctx(4096, 0, 0);
	ctx_xfer(USBIP_XFER_BULK);
	p = hdr(USBIP_CMD_SUBMIT, 2);
	p.direction = USBIP_DIR_OUT;
	p.ep = 2;
	p.submit.transfer_buffer_length = 512;
	add_pdu(&p);
	add_bytes(512, 1);
	p = hdr(USBIP_RET_SUBMIT, 2);
	p.ret_submit.actual_length = 512;
	add_pdu(&p);
	emit(dir, "bulk-out");

	/* unlink and its answer */
	ctx(4096, 0, 1);
	p = hdr(USBIP_CMD_UNLINK, 3);
	p.unlink.seqnum = 2;
	add_pdu(&p);
	p = hdr(USBIP_RET_UNLINK, 3);
	p.ret_unlink.status = -104;
	add_pdu(&p);
	emit(dir, "unlink");

	/* iso IN answer, packed */
	ctx(4096, 4, 1);
	p = hdr(USBIP_RET_SUBMIT, 4);
	p.ret_submit.actual_length = 2048;
	p.ret_submit.number_of_packets = 4;
	p.ret_submit.error_count = 1;
	add_pdu(&p);
	add_bytes(2048, 0x40);
	add_descs(d, 4);
	emit(dir, "iso-in");

	/* iso OUT request: whole buffer + descriptors */
	ctx(4096, 4, 0);
	ctx_xfer(USBIP_XFER_ISOC);
	p = hdr(USBIP_CMD_SUBMIT, 5);
	p.direction = USBIP_DIR_OUT;
	p.ep = 3;
	p.submit.transfer_flags = USBIP_URB_ISO_ASAP;
	p.submit.transfer_buffer_length = 4096;
	p.submit.number_of_packets = 4;
	p.submit.interval = 1;
	add_pdu(&p);
	add_bytes(4096, 0x80);
	d[0].actual_length = d[1].actual_length = d[2].actual_length = 0;
	d[3].actual_length = 0;
	add_descs(d, 4);
	emit(dir, "iso-out");

	/* malformed: unknown command, then endpoint 16 */
	ctx(64, 0, 1);
	p = hdr(USBIP_CMD_UNLINK, 6);
	add_pdu(&p);
	seed[8 + 3] = 9;
	emit(dir, "bad-command");
	ctx(64, 0, 1);
	p = hdr(USBIP_CMD_SUBMIT, 7);
	p.ep = 16;
	add_pdu(&p);
	emit(dir, "bad-ep");
	return 0;
}
