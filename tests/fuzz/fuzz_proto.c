// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target over the USB/IP wire layer (usbip_proto.c): header
 * decoding and validation, the RET_SUBMIT checks against a request, iso
 * descriptor decoding and validation, in-place iso unpacking, and the
 * checks a server makes of a CMD_SUBMIT against its endpoint (control
 * direction against the raw setup packet, iso packets against the
 * endpoint type, buffer length, standard requests).
 *
 * Input: 8 bytes of context, then a stream of messages.
 *   bytes 0-3  transfer buffer length of the "submitted URB" (mod 256 KiB+1)
 *   bytes 4-5  number_of_packets it was submitted with (mod 1025)
 *   byte  6    bit 0: the URB is IN
 *   byte  7    transfer type of the endpoint a CMD_SUBMIT names, mod 5:
 *              0 not known (USBIP_XFER_ANY), 1-4 USBIP_XFER_CONTROL..INT
 * Each message is a 48-byte header plus its payload and iso descriptors,
 * consumed the way a receiver would.  Besides memory errors (ASan) and UB
 * (UBSan), invariants are checked with __builtin_trap(): encode/decode
 * round trips, payloads within the validated bounds, and unpacked frames
 * equal to the packed data (and packing them again gives it back).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sanitizer/asan_interface.h>
#include "usbip_proto.h"

#define MAX_BUF (256U * 1024)

static void check(int cond)
{
	if (!cond)
		__builtin_trap();
}

static u32 rd32(const u8 *p)
{
	return (u32)p[0] << 24 | (u32)p[1] << 16 | (u32)p[2] << 8 | p[3];
}

static struct usbip_iso_desc descs[USBIP_MAX_ISO_PACKETS];

/*
 * The transfer buffers of ret_submit() live in static arenas, not malloc():
 * ASan serves blocks over 128 KiB with mmap()/munmap(), which made half of
 * each execution system time and put 10^7 executions out of reach.  All of
 * an arena but the bytes in use is poisoned, so an access before or past
 * them is caught as it would be on a malloc()ed block.
 */
#define REDZONE 64
struct arena {
	u8 bytes[REDZONE + MAX_BUF + REDZONE];
} __attribute__((aligned(64)));
static struct arena arena_buf, arena_packed;

static u8 *arena_take(struct arena *a, size_t len)
{
	ASAN_POISON_MEMORY_REGION(a->bytes, sizeof(a->bytes));
	ASAN_UNPOISON_MEMORY_REGION(a->bytes + REDZONE, len);
	return a->bytes + REDZONE;
}

static void arena_drop(struct arena *a)
{
	ASAN_POISON_MEMORY_REGION(a->bytes, sizeof(a->bytes));
}

static void ret_submit(const struct usbip_pdu *pdu, const u8 *data, size_t size,
		       u32 buflen, int submitted, int dir_in)
{
	const char *reason = NULL;
	u32 len = usbip_ret_payload_len(pdu, dir_in);
	int n = usbip_pdu_packets(pdu), ret, i;
	u8 *buf, *packed;
	u32 pos;

	check(len <= buflen);
	check(n <= submitted);
	if (len > size || (size_t)n * USBIP_ISO_DESC_SIZE > size - len)
		return;
	usbip_iso_descs_decode(descs, n, data + len);
	if (!n || !dir_in)
		return;

	buf = arena_take(&arena_buf, buflen);
	packed = arena_take(&arena_packed, len);
	memcpy(buf, data, len);
	memcpy(packed, data, len);
	/* the rest of the buffer: something recognizable */
	memset(buf + len, 0xa5, buflen - len);

	ret = usbip_iso_unpack(buf, buflen, descs, n, len, &reason);
	if (ret) {
		check(ret == -EPROTO && reason && *reason);
		check(memcmp(buf, packed, len) == 0);	/* untouched on error */
	} else {
		pos = 0;
		for (i = 0; i < n; i++) {
			check(descs[i].offset + descs[i].actual_length <= buflen);
			check(memcmp(buf + descs[i].offset, packed + pos,
				     descs[i].actual_length) == 0);
			pos += descs[i].actual_length;
		}
		check(pos == len);
		check(usbip_iso_pack(buf, buflen, descs, n, len, &reason) == 0);
		check(memcmp(buf, packed, len) == 0);
	}
	arena_drop(&arena_buf);
	arena_drop(&arena_packed);
}

/* The server's checks of a CMD_SUBMIT to an endpoint of type @xfer. */
static void cmd_submit_server(const struct usbip_pdu *pdu, int xfer)
{
	u32 length = (u32)pdu->submit.transfer_buffer_length;
	u32 wlength = pdu->submit.setup[6] | (u32)pdu->submit.setup[7] << 8;
	const char *reason = NULL;
	bool dir_in;
	u32 stage;
	int ret;

	ret = usbip_cmd_submit_check(pdu, xfer, &dir_in, &stage, &reason);
	if (ret) {
		check(ret == -EPROTO && reason && *reason);
	} else {
		check(stage <= length);
		if (usbip_pdu_packets(pdu))
			check(xfer == USBIP_XFER_ISOC || xfer == USBIP_XFER_ANY);
		if (xfer == USBIP_XFER_CONTROL) {
			check(stage <= wlength);
			/* an IN stage only where the setup and the wire say IN */
			check(!dir_in || (pdu->direction == USBIP_DIR_IN &&
					  (pdu->submit.setup[0] & 0x80) && wlength));
			/* the device gets no OUT byte that was not received */
			check(dir_in || usbip_cmd_payload_len(pdu) >= stage);
		} else {
			check(dir_in == (pdu->direction == USBIP_DIR_IN));
			check(stage == length);
		}
	}
	reason = NULL;
	ret = usbip_xfer_len_check(xfer, length, 4U << 20, &reason);
	check(ret == 0 || (ret == -EPROTO && reason && xfer != USBIP_XFER_BULK));
	if (xfer == USBIP_XFER_CONTROL && pdu->ep == 0) {
		reason = NULL;
		ret = usbip_setup_std_check(pdu->submit.setup, &reason);
		check(ret == 0 || (ret == -EPIPE && reason));
	}
}

static size_t cmd_submit(const struct usbip_pdu *pdu, const u8 *data, size_t size, int xfer)
{
	const char *reason = NULL;
	u32 len = usbip_cmd_payload_len(pdu);
	int n = usbip_pdu_packets(pdu), ret;

	cmd_submit_server(pdu, xfer);

	check(len <= USBIP_MAX_TRANSFER);
	check(n >= 0 && n <= USBIP_MAX_ISO_PACKETS);
	if (len > size || (size_t)n * USBIP_ISO_DESC_SIZE > size - len)
		return size;
	usbip_iso_descs_decode(descs, n, data + len);
	ret = usbip_iso_check(descs, n, (u32)pdu->submit.transfer_buffer_length, 0, 0,
			      &reason);
	check(ret == 0 || (ret == -EPROTO && reason));
	ret = usbip_iso_check(descs, n, (u32)pdu->submit.transfer_buffer_length, 0,
			      USBIP_ISO_CHECK_ORDER, &reason);
	check(ret == 0 || (ret == -EPROTO && reason));
	return len + (size_t)n * USBIP_ISO_DESC_SIZE;
}

/* The extension words a driver parses (usbip_ext_words_parse()). */
static void ext_words(const uint8_t *data, size_t size)
{
	const unsigned int all = USBIP_EXT_W_CAPS | USBIP_EXT_W_TOKEN | USBIP_EXT_W_NEW |
				 USBIP_EXT_W_WINDOW | USBIP_EXT_W_HEARTBEAT | USBIP_EXT_W_JOURNAL;
	struct usbip_ext_words w;
	unsigned int allowed = data[0] & all;
	char text[257];
	size_t n = size - 1 < 256 ? size - 1 : 256;
	int ret;

	memcpy(text, data + 1, n);
	text[n] = '\0';
	ret = usbip_ext_words_parse(text, allowed, &w, NULL);
	check(ret == 0 || ret == -EINVAL || ret == -ERANGE);
	check(!(w.have & ~allowed));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct usbip_pdu pdu, again;
	u8 enc[USBIP_HEADER_SIZE];
	const char *reason;
	u32 buflen;
	int submitted, dir_in, xfer, ret;
	size_t used;

	if (size < 8)
		return 0;
	ext_words(data, size);
	if (size >= 12) {
		u32 lo = rd32(data), cnt = rd32(data + 4), hi = rd32(data + 8);

		ret = usbip_ext_count_check(lo, cnt, hi, NULL);
		check(ret == 0 || ret == -EPROTO);
		check(!ret == ((s32)(hi - lo) >= 0 && (s32)(cnt - lo) >= 0 &&
			       cnt - lo <= hi - lo));
	}
	buflen = rd32(data) % (MAX_BUF + 1);
	submitted = ((data[4] << 8) | data[5]) % (USBIP_MAX_ISO_PACKETS + 1);
	dir_in = data[6] & 1;
	xfer = data[7] % 5 - 1;
	data += 8;
	size -= 8;

	while (size >= USBIP_HEADER_SIZE) {
		reason = NULL;
		ret = usbip_pdu_decode(&pdu, data, &reason);
		data += USBIP_HEADER_SIZE;
		size -= USBIP_HEADER_SIZE;
		if (ret) {
			check(ret == -EPROTO && reason && *reason);
			return 0;	/* a receiver drops the connection */
		}
		check(usbip_pdu_check(&pdu, NULL) == 0);
		check(usbip_pdu_encode(&pdu, enc) == 0);
		check(usbip_pdu_decode(&again, enc, NULL) == 0);
		check(memcmp(&pdu, &again, sizeof(pdu)) == 0);

		switch (pdu.command) {
		case USBIP_CMD_SUBMIT:
			used = cmd_submit(&pdu, data, size, xfer);
			break;
		case USBIP_RET_SUBMIT:
			reason = NULL;
			ret = usbip_check_ret_submit(&pdu, buflen, submitted, &reason);
			if (ret) {
				check(ret == -EPROTO && reason);
				return 0;
			}
			ret_submit(&pdu, data, size, buflen, submitted, dir_in);
			used = usbip_ret_payload_len(&pdu, dir_in) +
			       (size_t)usbip_pdu_packets(&pdu) * USBIP_ISO_DESC_SIZE;
			break;
		default:
			used = 0;
			break;
		}
		if (used > size)
			return 0;
		data += used;
		size -= used;
	}
	return 0;
}
