// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target over the USB/IP management messages as libusbip frames
 * and decodes them (tools/usb/usbip/libsrc/usbip_proto.c, the same source
 * as usbipd and usbip): both directions, a hostile client's requests to
 * usbipd and a hostile server's replies to "usbip list -r" and "usbip
 * attach".
 *
 * Input: byte 0 chooses the side (mod 5), the rest is what the peer sends.
 *   0  usbipd: a stream of requests, each framed by usbip_req_need() the
 *      way usbipd reads it, then decoded by usbip_unpack_request()
 *   1  client: an OP_REP_DEVLIST framed by usbip_rep_devlist_need() the way
 *      usbip_net_devlist() reads it, then usbip_unpack_rep_devlist()
 *   2  client: byte 1 (mod 32) is the length of the bus id asked for, which
 *      follows; then an OP_REP_IMPORT framed by usbip_rep_import_need()
 *      the way usbip_net_import() reads it, then
 *      usbip_unpack_rep_import_for()
 *   3  the decoders on a buffer of any length (no framing), cross-checked
 *      against the framers
 *   4  client: byte 1 (mod 32) is the length of the bus id whose session is
 *      resumed, which follows; then an OP_REP_RESUME framed by
 *      usbip_rep_resume_need() the way usbip_net_resume() reads it, checked
 *      by usbip_unpack_rep_resume_for(), and the extension block after an
 *      accepted one
 * Stream input ends like a closed connection: the message is dropped.
 *
 * Besides ASan and UBSan, invariants trap: a framer never asks for less
 * than it has or more than the protocol's bound, grows monotonically and
 * agrees with the decoder (a framed message never fails as truncated or
 * overlong); an accepted message re-encodes to the bytes received, except
 * the bytes the protocol ignores (after a string's NUL, interface padding,
 * a request's status); an accepted import is of the bus id asked for, with
 * a speed a port can have; every refusal has a reason.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "usbip_proto.h"

#define DEV_OFF_BUSID	256
#define DEV_OFF_NUMINTF	311

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		__builtin_trap();
}

/* The peer's bytes, consumed as a socket would give them. */
struct stream {
	const uint8_t *p;
	size_t left;
};

static int take(struct stream *s, uint8_t *out, size_t n)
{
	if (n > s->left)
		return -1;	/* EOF before the message's end */
	memcpy(out, s->p, n);
	s->p += n;
	s->left -= n;
	return 0;
}

typedef ssize_t (*framer)(const uint8_t *, size_t, struct usbip_error *);

/*
 * Reads one message the way usbip_net.c's read_message() does: exactly the
 * bytes the framer says are missing, into a buffer of exactly that size (so
 * that ASan sees any read past what was received).  Returns the message
 * (malloc()ed) and its length, or NULL when the framer refused it or the
 * stream ended.
 */
static uint8_t *frame(struct stream *s, framer need, size_t max, size_t *lenp)
{
	struct usbip_error err;
	uint8_t *buf = NULL, *grown;
	size_t used = 0;
	ssize_t n;

	for (;;) {
		err.msg[0] = '\0';
		n = need(buf, used, &err);
		if (n < 0) {
			check(err.msg[0] != '\0');
			free(buf);
			return NULL;
		}
		check((size_t)n >= used && (size_t)n <= max);
		if ((size_t)n == used)
			break;
		grown = realloc(buf, n);
		check(grown != NULL);
		buf = grown;
		if (take(s, buf + used, n - used)) {
			free(buf);
			return NULL;
		}
		used = n;
	}
	*lenp = used;
	return buf;
}

/* @rec with the bytes a decoder ignores set to 0: after each string's NUL. */
static void normalize_record(uint8_t *rec)
{
	uint8_t *nul;

	nul = memchr(rec, 0, USBIP_PATH_SIZE);
	if (nul)
		memset(nul, 0, rec + USBIP_PATH_SIZE - nul);
	nul = memchr(rec + DEV_OFF_BUSID, 0, USBIP_BUSID_SIZE);
	if (nul)
		memset(nul, 0, rec + DEV_OFF_BUSID + USBIP_BUSID_SIZE - nul);
}

/* --- side 0: usbipd reading requests --- */

/* Bytes of a request's bus id field that a server ignores, set to 0. */
static void normalize_busid_field(uint8_t *field)
{
	uint8_t *nul = memchr(field, 0, USBIP_BUSID_SIZE);

	memset(nul, 0, field + USBIP_BUSID_SIZE - nul);
}

/*
 * A hello found in a request's bus id field is one that re-encodes to the
 * same tail in @again (packed without it); the tails are then cleared.
 */
static void check_hello_tail(const char *busid, uint8_t *again)
{
	struct usbip_ext_hello hello;

	if (!usbip_ext_hello_get((const uint8_t *)busid, &hello))
		return;
	check(hello.version != 0 && strlen(busid) <= USBIP_EXT_BUSID_MAX);
	check(usbip_ext_hello_put(again, &hello, NULL) == 0);
	check(memcmp(again + USBIP_EXT_HELLO_OFF, busid + USBIP_EXT_HELLO_OFF,
		     USBIP_EXT_HELLO_SIZE) == 0);
	memset(again + USBIP_EXT_HELLO_OFF, 0, USBIP_EXT_HELLO_SIZE);
}

static void server_side(struct stream *s)
{
	uint8_t msg[USBIP_REQ_MAX_WIRE_SIZE], again[USBIP_REQ_MAX_WIRE_SIZE];
	struct usbip_request req;
	struct usbip_error err;
	uint8_t *buf;
	size_t len;
	int ret;

	while (s->left) {
		buf = frame(s, usbip_req_need, USBIP_REQ_MAX_WIRE_SIZE, &len);
		if (!buf)
			return;	/* usbipd closes the connection */
		memcpy(msg, buf, len);
		free(buf);
		err.msg[0] = '\0';
		ret = usbip_unpack_request(msg, len, &req, &err);
		if (ret) {
			/* Framing already vetted the header: only a bad bus id is left. */
			check(ret == -EINVAL && err.msg[0] &&
			      (req.code == USBIP_OP_REQ_IMPORT || req.code == USBIP_OP_REQ_RESUME));
			continue;
		}
		if (req.code == USBIP_OP_REQ_DEVLIST) {
			check(len == USBIP_OP_HDR_WIRE_SIZE && req.busid[0] == '\0');
			usbip_pack_req_devlist(again);
		} else if (req.code == USBIP_OP_REQ_IMPORT) {
			check(len == USBIP_REQ_IMPORT_WIRE_SIZE);
			check(usbip_check_busid(req.busid, sizeof(req.busid), NULL) == 0);
			check(usbip_pack_req_import(again, req.busid, NULL) == 0);
			check_hello_tail(req.busid, again + USBIP_OP_HDR_WIRE_SIZE);
			/* Bytes after the bus id's NUL are ignored. */
			normalize_busid_field(msg + USBIP_OP_HDR_WIRE_SIZE);
		} else {
			/* The token travels as it came; the bus id field as an import's. */
			check(req.code == USBIP_OP_REQ_RESUME && len == USBIP_REQ_RESUME_WIRE_SIZE);
			check(usbip_check_busid(req.busid, sizeof(req.busid), NULL) == 0);
			check(!memcmp(req.token, msg + USBIP_OP_HDR_WIRE_SIZE + USBIP_BUSID_SIZE,
				      USBIP_EXT_TOKEN_SIZE));
			check(usbip_pack_req_resume(again, req.busid, NULL, req.token, NULL) == 0);
			check_hello_tail(req.busid, again + USBIP_OP_HDR_WIRE_SIZE);
			normalize_busid_field(msg + USBIP_OP_HDR_WIRE_SIZE);
		}
		/* The status of a request is ignored, so compare without it. */
		check(memcmp(msg, again, 4) == 0 &&
		      memcmp(msg + USBIP_OP_HDR_WIRE_SIZE, again + USBIP_OP_HDR_WIRE_SIZE,
			     len - USBIP_OP_HDR_WIRE_SIZE) == 0);
	}
}

/* --- side 1: the client reading OP_REP_DEVLIST --- */

/* @msg (a complete, accepted list) with the ignored bytes set to 0. */
static void normalize_devlist(uint8_t *msg, uint32_t ndev)
{
	size_t off = USBIP_OP_HDR_WIRE_SIZE + USBIP_DEVLIST_COUNT_WIRE_SIZE;
	uint32_t i, j, nintf;

	for (i = 0; i < ndev; i++) {
		normalize_record(msg + off);
		nintf = msg[off + DEV_OFF_NUMINTF];
		off += USBIP_DEVICE_WIRE_SIZE;
		for (j = 0; j < nintf; j++, off += USBIP_INTERFACE_WIRE_SIZE)
			msg[off + 3] = 0;
	}
}

static void check_devlist(uint8_t *msg, size_t len, int framed)
{
	struct usbip_devinfo *devs;
	struct usbip_error err;
	uint32_t ndev, i;
	uint8_t *again;
	ssize_t n;
	int ret;

	err.msg[0] = '\0';
	ret = usbip_unpack_rep_devlist(msg, len, &devs, &ndev, &err);
	if (ret) {
		check(err.msg[0] && !devs && !ndev);
		/* A framed message is never truncated or overlong. */
		check(!framed || ret == -EINVAL);
		return;
	}
	/* The framer agrees that exactly these bytes are the whole list. */
	check(usbip_rep_devlist_need(msg, len, NULL) == (ssize_t)len);
	check(len <= USBIP_REP_DEVLIST_MAX_WIRE_SIZE && ndev <= USBIP_MAX_DEVLIST);
	check(!ndev == !devs);
	for (i = 0; i < ndev; i++)
		check(devs[i].bNumInterfaces <= USBIP_MAX_INTERFACES &&
		      memchr(devs[i].path, 0, sizeof(devs[i].path)) &&
		      usbip_check_busid(devs[i].busid, sizeof(devs[i].busid), NULL) == 0);
	check(usbip_rep_devlist_size(devs, ndev) == len);
	again = malloc(len);
	check(again != NULL);
	n = usbip_pack_rep_devlist(again, len, devs, ndev, NULL);
	check(n == (ssize_t)len);
	normalize_devlist(msg, ndev);
	check(memcmp(msg, again, len) == 0);
	free(again);
	free(devs);
}

static void client_devlist(struct stream *s)
{
	size_t len;
	uint8_t *msg;

	msg = frame(s, usbip_rep_devlist_need, USBIP_REP_DEVLIST_MAX_WIRE_SIZE, &len);
	if (!msg)
		return;
	check_devlist(msg, len, 1);
	free(msg);
}

/* --- side 2: the client reading OP_REP_IMPORT --- */

static void check_import(uint8_t *msg, size_t len, const char *busid, int framed)
{
	uint8_t again[USBIP_REP_IMPORT_WIRE_SIZE];
	struct usbip_devinfo dev;
	struct usbip_error err;
	uint32_t status = 0xdeadbeef;
	ssize_t n;
	int ret;

	err.msg[0] = '\0';
	ret = usbip_unpack_rep_import_for(msg, len, busid, &status, &dev, &err);
	if (ret) {
		check(err.msg[0] != '\0');
		/* Framed: only the record's content can be wrong. */
		check(!framed || ((ret == -EINVAL || ret == -EPROTO) &&
				  len == USBIP_REP_IMPORT_WIRE_SIZE));
		return;
	}
	check(usbip_rep_import_need(msg, len, NULL) == (ssize_t)len);
	if (status != USBIP_OP_ST_OK) {
		check(len == USBIP_OP_HDR_WIRE_SIZE);
		return;
	}
	check(len == USBIP_REP_IMPORT_WIRE_SIZE && !strcmp(dev.busid, busid));
	check(dev.speed >= 1 && dev.speed <= 6 && dev.speed != 4);
	check(dev.bNumInterfaces <= USBIP_MAX_INTERFACES);
	n = usbip_pack_rep_import(again, sizeof(again), USBIP_OP_ST_OK, &dev, NULL);
	check(n == (ssize_t)len);
	normalize_record(msg + USBIP_OP_HDR_WIRE_SIZE);
	check(memcmp(msg, again, len) == 0);
}

/* The bus id asked for, from the input; 0 when the client would not ask it. */
static int asked_busid(struct stream *s, char *busid)
{
	uint8_t n;

	memset(busid, 0, USBIP_BUSID_SIZE);
	if (take(s, &n, 1))
		return 0;
	n %= USBIP_BUSID_SIZE;
	if (take(s, (uint8_t *)busid, n))
		return 0;
	busid[n] = '\0';
	return strlen(busid) == n && usbip_check_busid(busid, USBIP_BUSID_SIZE, NULL) == 0;
}

/*
 * The extension block after a reply whose bus id field carried an answer
 * to our hello (offering USBIP_EXT_CAP_SESSION), framed and checked the
 * way usbip_net_import() does.
 */
static void client_ext_block(struct stream *s, const struct usbip_ext_hello *answer)
{
	uint8_t again[USBIP_EXT_BLOCK_V1_SIZE];
	struct usbip_ext_block blk;
	struct usbip_error err;
	size_t len;
	uint8_t *msg;
	int ret;

	msg = frame(s, usbip_ext_block_need, USBIP_EXT_BLOCK_MAX, &len);
	if (!msg)
		return;
	check(len >= USBIP_EXT_BLOCK_MIN && len <= USBIP_EXT_BLOCK_MAX);
	err.msg[0] = '\0';
	ret = usbip_unpack_ext_block(msg, len, answer, USBIP_EXT_CAP_SESSION, &blk, &err);
	if (ret) {
		check(ret == -EPROTO && err.msg[0] && blk.version == 0);
		free(msg);
		return;
	}
	check(blk.version == answer->version && blk.version >= 1 &&
	      blk.version <= USBIP_EXT_VERSION);
	check(blk.caps == answer->caps && !(blk.caps & ~USBIP_EXT_CAP_SESSION));
	/* Re-encoded: the same fields; flags, length and reserved bytes aside. */
	check(usbip_pack_ext_block(again, sizeof(again), &blk, NULL) == USBIP_EXT_BLOCK_V1_SIZE);
	check(memcmp(again, msg, 5) == 0 && memcmp(again + 8, msg + 8, 32) == 0);
	free(msg);
}

static void client_import(struct stream *s)
{
	char busid[USBIP_BUSID_SIZE];
	uint8_t req[USBIP_REQ_IMPORT_WIRE_SIZE];
	struct usbip_ext_hello answer;
	struct usbip_devinfo dev;
	uint32_t status;
	size_t len;
	uint8_t *msg;

	if (!asked_busid(s, busid))
		return;
	check(usbip_pack_req_import(req, busid, NULL) == 0);
	msg = frame(s, usbip_rep_import_need, USBIP_REP_IMPORT_WIRE_SIZE, &len);
	if (!msg)
		return;
	if (usbip_unpack_rep_import_for(msg, len, busid, &status, &dev, NULL) ||
	    status != USBIP_OP_ST_OK ||
	    !usbip_ext_hello_get((const uint8_t *)dev.busid, &answer) ||
	    !(answer.flags & USBIP_EXT_FLAG_ANSWER))
		answer.version = 0;
	check_import(msg, len, busid, 1);
	free(msg);
	/* The client sent a hello when the bus id left room for it. */
	if (answer.version && strlen(busid) <= USBIP_EXT_BUSID_MAX)
		client_ext_block(s, &answer);
}

/* --- side 4: the client reading OP_REP_RESUME --- */

/* A resume reply's record with the ignored bytes set to 0, the answer kept. */
static void normalize_answered_record(uint8_t *rec)
{
	uint8_t *nul;

	nul = memchr(rec, 0, USBIP_PATH_SIZE);
	memset(nul, 0, rec + USBIP_PATH_SIZE - nul);
	nul = memchr(rec + DEV_OFF_BUSID, 0, USBIP_EXT_HELLO_OFF);
	memset(nul, 0, rec + DEV_OFF_BUSID + USBIP_EXT_HELLO_OFF - nul);
}

/*
 * Checks a resume reply; returns 1 when an accepted one announces the
 * extension block (*@answer set), 0 otherwise.
 */
static int check_resume(uint8_t *msg, size_t len, const char *busid, int framed,
			struct usbip_ext_hello *answer)
{
	uint8_t again[USBIP_REP_RESUME_WIRE_SIZE + USBIP_EXT_BLOCK_V1_SIZE];
	struct usbip_ext_block none = { .version = 1 };
	struct usbip_devinfo dev;
	struct usbip_error err;
	uint32_t status = 0xdeadbeef;
	int ret;

	err.msg[0] = '\0';
	ret = usbip_unpack_rep_resume_for(msg, len, busid, &status, &dev, answer, &err);
	if (ret) {
		check(err.msg[0] != '\0');
		check(!framed || ((ret == -EINVAL || ret == -EPROTO) &&
				  len == USBIP_REP_RESUME_WIRE_SIZE));
		return 0;
	}
	check(usbip_rep_resume_need(msg, len, NULL) == (ssize_t)len);
	if (status != USBIP_OP_ST_OK) {
		check(len == USBIP_OP_HDR_WIRE_SIZE);
		return 0;
	}
	check(len == USBIP_REP_RESUME_WIRE_SIZE && !strcmp(dev.busid, busid));
	check(dev.speed >= 1 && dev.speed <= 6 && dev.speed != 4);
	check((answer->flags & USBIP_EXT_FLAG_ANSWER) && answer->version >= 1 &&
	      answer->version <= USBIP_EXT_VERSION && (answer->caps & USBIP_EXT_CAP_SESSION));
	/* Re-encoded with the answer received: the same record. */
	check(usbip_pack_rep_resume(again, sizeof(again), USBIP_OP_ST_OK, &dev, answer, &none,
				    NULL) == (ssize_t)sizeof(again));
	normalize_answered_record(msg + USBIP_OP_HDR_WIRE_SIZE);
	check(memcmp(msg, again, len) == 0);
	return 1;
}

static void client_resume(struct stream *s)
{
	static const uint8_t token[USBIP_EXT_TOKEN_SIZE] = { 1 };
	struct usbip_ext_hello offer = { .version = 1, .caps = USBIP_EXT_CAP_SESSION }, answer;
	uint8_t req[USBIP_REQ_RESUME_WIRE_SIZE];
	char busid[USBIP_BUSID_SIZE];
	size_t len;
	uint8_t *msg;
	int more;

	/* Only a bus id with room for the hello can have had a session. */
	if (!asked_busid(s, busid) || usbip_pack_req_resume(req, busid, &offer, token, NULL))
		return;
	msg = frame(s, usbip_rep_resume_need, USBIP_REP_RESUME_WIRE_SIZE, &len);
	if (!msg)
		return;
	more = check_resume(msg, len, busid, 1, &answer);
	free(msg);
	if (more)
		client_ext_block(s, &answer);
}

/* --- side 3: the decoders on any length --- */

/* The extension block decoder on @len bytes, against an answer from them. */
static void check_ext_unframed(const uint8_t *buf, size_t len)
{
	struct usbip_ext_hello answer = { .version = len ? buf[0] % 3 : 1,
					  .caps = len > 1 ? buf[1] & 3 : 0 };
	struct usbip_ext_block blk;
	ssize_t need = usbip_ext_block_need(buf, len, NULL);
	int ret;

	ret = usbip_unpack_ext_block(buf, len, &answer, USBIP_EXT_CAP_SESSION, &blk, NULL);
	check(need < 0 || (need >= USBIP_EXT_BLOCK_MIN && need <= USBIP_EXT_BLOCK_MAX));
	if (!ret)
		check(need == (ssize_t)len && blk.version == answer.version &&
		      !(blk.caps & ~USBIP_EXT_CAP_SESSION));
	else
		check(ret == -EPROTO && blk.version == 0);
}

static void unframed(struct stream *s)
{
	struct usbip_ext_hello answer;
	struct usbip_request req;
	char busid[USBIP_BUSID_SIZE];
	uint8_t *copy;
	ssize_t need;

	/* An exact-size copy, so that ASan sees any read past @left. */
	copy = malloc(s->left ? s->left : 1);
	check(copy != NULL);
	memcpy(copy, s->p, s->left);
	need = usbip_req_need(copy, s->left, NULL);
	if (usbip_unpack_request(copy, s->left, &req, NULL) == 0)
		check(need == (ssize_t)s->left);
	check_devlist(copy, s->left, 0);
	memcpy(copy, s->p, s->left);
	/* The bus id asked for is the record's own, so that acceptance is reachable. */
	memset(busid, 0, sizeof(busid));
	if (s->left >= USBIP_REP_IMPORT_WIRE_SIZE)
		memcpy(busid, s->p + USBIP_OP_HDR_WIRE_SIZE + DEV_OFF_BUSID, sizeof(busid) - 1);
	check_import(copy, s->left, busid, 0);
	memcpy(copy, s->p, s->left);
	check_resume(copy, s->left, busid, 0, &answer);
	memcpy(copy, s->p, s->left);
	check_ext_unframed(copy, s->left);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stream s = { data + 1, size ? size - 1 : 0 };

	if (!size)
		return 0;
	switch (data[0] % 5) {
	case 0:
		server_side(&s);
		break;
	case 1:
		client_devlist(&s);
		break;
	case 2:
		client_import(&s);
		break;
	case 4:
		client_resume(&s);
		break;
	default:
		unframed(&s);
		break;
	}
	return 0;
}
