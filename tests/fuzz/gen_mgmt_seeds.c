// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Writes the seed corpus of fuzz_mgmt into the directory given as argv[1],
 * using libusbip's encoders: for each side of fuzz_mgmt.c (the first byte),
 * valid messages and a few hostile ones (huge counts, too many interfaces,
 * unterminated strings, another device, a bad speed, resumes without an
 * answer or a token).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "usbip_proto.h"

enum { SIDE_SERVER, SIDE_DEVLIST, SIDE_IMPORT, SIDE_UNFRAMED, SIDE_RESUME };

static uint8_t seed[64 * 1024];
static size_t seed_len;

static void start(int side)
{
	seed[0] = side;
	seed_len = 1;
}

static void add(const void *p, size_t n)
{
	if (seed_len + n > sizeof(seed))
		abort();
	memcpy(seed + seed_len, p, n);
	seed_len += n;
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

static void device(struct usbip_devinfo *d, const char *busid, unsigned int nintf)
{
	unsigned int i;

	memset(d, 0, sizeof(*d));
	snprintf(d->path, sizeof(d->path), "/sys/devices/pci0000:00/0000:00:14.0/usb1/%s", busid);
	snprintf(d->busid, sizeof(d->busid), "%s", busid);
	d->busnum = 1;
	d->devnum = 4;
	d->speed = 3;
	d->idVendor = 0x0525;
	d->idProduct = 0xa4a5;
	d->bcdDevice = 0x0401;
	d->bConfigurationValue = 1;
	d->bNumConfigurations = 1;
	d->bNumInterfaces = nintf;
	for (i = 0; i < nintf; i++)
		d->intf[i] = (struct usbip_ifinfo){ 0x08 + i, 0x06, 0x50 };
}

static void add_devlist(const struct usbip_devinfo *devs, uint32_t n)
{
	uint8_t buf[16 * 1024];
	ssize_t len = usbip_pack_rep_devlist(buf, sizeof(buf), devs, n, NULL);

	if (len < 0)
		abort();
	add(buf, len);
}

static void add_import_reply(uint32_t status, const struct usbip_devinfo *dev)
{
	uint8_t buf[USBIP_REP_IMPORT_WIRE_SIZE];
	ssize_t len = usbip_pack_rep_import(buf, sizeof(buf), status, dev, NULL);

	if (len < 0)
		abort();
	add(buf, len);
}

/* An import reply answering a hello with @caps, and its extension block. */
static void add_import_ext(const struct usbip_devinfo *dev, uint32_t caps)
{
	struct usbip_ext_hello answer = { .version = 1, .flags = USBIP_EXT_FLAG_ANSWER,
					  .window_s = 30, .caps = caps };
	struct usbip_ext_block blk = { .version = 1, .caps = caps, .window_ms = 30000,
				       .heartbeat_ms = 1000, .journal_max = 1 << 20,
				       .token = { 0x5e, 0x55, 0x10, 0x4e } };
	uint8_t buf[USBIP_REP_IMPORT_WIRE_SIZE + USBIP_EXT_BLOCK_V1_SIZE];
	ssize_t len = usbip_pack_rep_import(buf, sizeof(buf), USBIP_OP_ST_OK, dev, NULL);

	if (len < 0 ||
	    usbip_ext_hello_put(buf + USBIP_OP_HDR_WIRE_SIZE + USBIP_DEVICE_BUSID_OFF, &answer,
				NULL) ||
	    usbip_pack_ext_block(buf + len, sizeof(buf) - len, &blk, NULL) < 0)
		abort();
	add(buf, len + USBIP_EXT_BLOCK_V1_SIZE);
}

/* An accepted resume: the record with an answer, and a block with @token. */
static void add_resume_ok(const struct usbip_devinfo *dev, uint8_t token0)
{
	struct usbip_ext_hello answer = { .version = 1, .window_s = 30,
					  .caps = USBIP_EXT_CAP_SESSION };
	struct usbip_ext_block blk = { .version = 1, .caps = USBIP_EXT_CAP_SESSION,
				       .window_ms = 30000, .heartbeat_ms = 5000,
				       .journal_max = 4 << 20, .token = { token0, 0xee } };
	uint8_t buf[USBIP_REP_RESUME_WIRE_SIZE + USBIP_EXT_BLOCK_V1_SIZE];
	ssize_t len = usbip_pack_rep_resume(buf, sizeof(buf), USBIP_OP_ST_OK, dev, &answer, &blk,
					    NULL);

	if (len < 0)
		abort();
	add(buf, len);
}

static void asked(const char *busid)
{
	uint8_t n = strlen(busid);

	add(&n, 1);
	add(busid, n);
}

int main(int argc, char **argv)
{
	struct usbip_devinfo devs[3];
	uint8_t buf[USBIP_REP_IMPORT_WIRE_SIZE];
	const char *dir;

	if (argc != 2) {
		fprintf(stderr, "usage: gen_mgmt_seeds DIR\n");
		return 2;
	}
	dir = argv[1];

	/* usbipd's side */
	start(SIDE_SERVER);
	usbip_pack_req_devlist(buf);
	add(buf, USBIP_OP_HDR_WIRE_SIZE);
	emit(dir, "req-devlist");
	start(SIDE_SERVER);
	usbip_pack_req_import(buf, "1-1.2", NULL);
	add(buf, USBIP_REQ_IMPORT_WIRE_SIZE);
	usbip_pack_req_devlist(buf);
	add(buf, USBIP_OP_HDR_WIRE_SIZE);
	emit(dir, "req-import-then-devlist");
	start(SIDE_SERVER);
	usbip_pack_req_import(buf, "usbip-vudc.0", NULL);
	memset(buf + USBIP_OP_HDR_WIRE_SIZE + 12, 'x', USBIP_BUSID_SIZE - 12);
	add(buf, USBIP_REQ_IMPORT_WIRE_SIZE);
	emit(dir, "req-import-unterminated");
	start(SIDE_SERVER);
	usbip_pack_req_import(buf, "1-1", NULL);
	add(buf, USBIP_REQ_IMPORT_WIRE_SIZE / 2);
	emit(dir, "req-import-half");
	start(SIDE_SERVER);
	usbip_pack_req_import(buf, "1-1.2", NULL);
	usbip_ext_hello_put(buf + USBIP_OP_HDR_WIRE_SIZE,
			    &(struct usbip_ext_hello){ .version = 1, .window_s = 30,
						       .caps = USBIP_EXT_CAP_SESSION }, NULL);
	add(buf, USBIP_REQ_IMPORT_WIRE_SIZE);
	emit(dir, "req-import-hello");

	start(SIDE_SERVER);
	usbip_pack_req_resume(buf, "1-1.2",
			      &(struct usbip_ext_hello){ .version = 1, .window_s = 30,
							 .caps = USBIP_EXT_CAP_SESSION },
			      (const uint8_t *)"0123456789abcdef", NULL);
	add(buf, USBIP_REQ_RESUME_WIRE_SIZE);
	emit(dir, "req-resume-hello");
	start(SIDE_SERVER);
	usbip_pack_req_resume(buf, "usbip-vudc.0", NULL, (const uint8_t *)"fedcba9876543210",
			      NULL);
	add(buf, USBIP_REQ_RESUME_WIRE_SIZE);
	usbip_pack_req_devlist(buf);
	add(buf, USBIP_OP_HDR_WIRE_SIZE);
	emit(dir, "req-resume-then-devlist");
	start(SIDE_SERVER);
	usbip_pack_req_resume(buf, "1-1", NULL, (const uint8_t *)"0123456789abcdef", NULL);
	memset(buf + USBIP_OP_HDR_WIRE_SIZE, 'r', USBIP_BUSID_SIZE);
	add(buf, USBIP_REQ_RESUME_WIRE_SIZE);
	emit(dir, "req-resume-unterminated");

	/* the client's side: device lists */
	device(&devs[0], "1-1", 1);
	device(&devs[1], "1-10", 3);
	device(&devs[2], "2-1.4", 0);
	devs[2].speed = 5;
	start(SIDE_DEVLIST);
	add_devlist(devs, 3);
	emit(dir, "devlist-3");
	start(SIDE_DEVLIST);
	add_devlist(devs, 0);
	emit(dir, "devlist-empty");
	start(SIDE_DEVLIST);
	add_devlist(devs, 1);
	seed[1 + 11] = 0xff;		/* count 255 */
	seed[1 + 10] = 0xff;
	emit(dir, "devlist-huge-count");
	start(SIDE_DEVLIST);
	add_devlist(devs, 1);
	seed[1 + 12 + 311] = 255;	/* bNumInterfaces */
	emit(dir, "devlist-255-interfaces");
	start(SIDE_DEVLIST);
	add_devlist(devs, 2);
	memset(seed + 1 + 12 + 256, 'y', USBIP_BUSID_SIZE);
	emit(dir, "devlist-unterminated-busid");

	/* the client's side: import replies */
	device(&devs[0], "1-1", 2);
	start(SIDE_IMPORT);
	asked("1-1");
	add_import_reply(USBIP_OP_ST_OK, &devs[0]);
	emit(dir, "import-ok");
	start(SIDE_IMPORT);
	asked("1-2");
	add_import_reply(USBIP_OP_ST_OK, &devs[0]);
	emit(dir, "import-other-device");
	start(SIDE_IMPORT);
	asked("1-1");
	devs[0].speed = 99;
	add_import_reply(USBIP_OP_ST_OK, &devs[0]);
	emit(dir, "import-bad-speed");
	start(SIDE_IMPORT);
	asked("1-1");
	add_import_reply(USBIP_OP_ST_DEV_BUSY, NULL);
	emit(dir, "import-busy");
	start(SIDE_IMPORT);
	asked("1-1");
	add_import_ext(&devs[0], USBIP_EXT_CAP_SESSION);
	emit(dir, "import-ext-session");
	start(SIDE_IMPORT);
	asked("1-1");
	add_import_ext(&devs[0], 0x80);
	emit(dir, "import-ext-not-offered");

	/* the client's side: resume replies */
	devs[0].speed = 3;
	start(SIDE_RESUME);
	asked("1-1");
	add_resume_ok(&devs[0], 0x42);
	emit(dir, "resume-ok");
	start(SIDE_RESUME);
	asked("1-1");
	add_resume_ok(&devs[0], 0);
	memset(seed + seed_len - USBIP_EXT_BLOCK_V1_SIZE + 12, 0, USBIP_EXT_TOKEN_SIZE);
	emit(dir, "resume-zero-token");
	start(SIDE_RESUME);
	asked("1-1");
	add_import_reply(USBIP_OP_ST_OK, &devs[0]);
	seed[1 + 1 + 3 + 3] = 0x10;	/* the import reply's code as OP_REP_RESUME */
	emit(dir, "resume-no-answer");
	start(SIDE_RESUME);
	asked("1-1");
	usbip_pack_rep_resume(buf, sizeof(buf), USBIP_OP_ST_NA, NULL, NULL, NULL, NULL);
	add(buf, USBIP_OP_HDR_WIRE_SIZE);
	emit(dir, "resume-refused");
	start(SIDE_RESUME);
	asked("2-1");
	add_resume_ok(&devs[0], 0x42);
	emit(dir, "resume-other-device");

	/* the decoders on any length */
	devs[0].speed = 3;
	start(SIDE_UNFRAMED);
	add_devlist(devs, 2);
	emit(dir, "unframed-devlist");
	start(SIDE_UNFRAMED);
	add_import_reply(USBIP_OP_ST_OK, &devs[0]);
	emit(dir, "unframed-import");
	start(SIDE_UNFRAMED);
	add_resume_ok(&devs[0], 0x42);
	seed_len -= USBIP_EXT_BLOCK_V1_SIZE;
	emit(dir, "unframed-resume");
	return 0;
}
