// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * USB/IP wire format: encoding, decoding and validation of URB messages.
 *
 * Plain C shared by usbip-core and the userspace tests; see usbip_proto.h.
 * Every multi-byte field is read and written byte by byte in big-endian
 * order, so buffers need no alignment and no structure is ever laid over
 * network data.
 */
#include "usbip_proto.h"

#ifdef __KERNEL__
#include <linux/export.h>
#define USBIP_PROTO_EXPORT(sym) EXPORT_SYMBOL_GPL(sym)
#else
#define USBIP_PROTO_EXPORT(sym)
#endif

/* Byte offsets of the header fields. */
#define OFF_COMMAND		0
#define OFF_SEQNUM		4
#define OFF_DEVID		8
#define OFF_DIRECTION		12
#define OFF_EP			16
/* CMD_SUBMIT */
#define OFF_FLAGS		20
#define OFF_BUFLEN		24
#define OFF_START_FRAME		28
#define OFF_NPACKETS		32
#define OFF_INTERVAL		36
#define OFF_SETUP		40
/* RET_SUBMIT */
#define OFF_STATUS		20
#define OFF_ACTUAL		24
#define OFF_ERROR_COUNT		36
/* CMD_UNLINK */
#define OFF_UNLINK_SEQNUM	20
/* EXT_* */
#define OFF_EXT_ARG		20

/* Byte offsets inside an iso packet descriptor. */
#define ISO_OFF_OFFSET		0
#define ISO_OFF_LENGTH		4
#define ISO_OFF_ACTUAL		8
#define ISO_OFF_STATUS		12

static u32 get32(const u8 *p)
{
	return (u32)p[0] << 24 | (u32)p[1] << 16 | (u32)p[2] << 8 | (u32)p[3];
}

static void put32(u8 *p, u32 v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static bool status_ok(s32 status)
{
	return status <= 0 && status >= USBIP_MIN_STATUS;
}

/* -1 is how some peers say "not isochronous"; it means 0 packets. */
static s32 normalize_packets(s32 n)
{
	return n == -1 ? 0 : n;
}

static bool packets_ok(s32 n)
{
	return n >= -1 && n <= USBIP_MAX_ISO_PACKETS;
}

static int fail(const char **reason, const char *why)
{
	if (reason)
		*reason = why;
	return -EPROTO;
}

/**
 * usbip_cmd_name() - printable name of a command code
 * @command: a USBIP_CMD_* or USBIP_RET_* value
 *
 * Return: a constant string, "UNKNOWN" for other values.
 */
const char *usbip_cmd_name(u32 command)
{
	switch (command) {
	case USBIP_CMD_SUBMIT:
		return "CMD_SUBMIT";
	case USBIP_CMD_UNLINK:
		return "CMD_UNLINK";
	case USBIP_RET_SUBMIT:
		return "RET_SUBMIT";
	case USBIP_RET_UNLINK:
		return "RET_UNLINK";
	case USBIP_EXT_ACK:
		return "EXT_ACK";
	case USBIP_EXT_ACK_REP:
		return "EXT_ACK_REP";
	case USBIP_EXT_RESUME:
		return "EXT_RESUME";
	case USBIP_EXT_RESUME_REP:
		return "EXT_RESUME_REP";
	default:
		return "UNKNOWN";
	}
}
USBIP_PROTO_EXPORT(usbip_cmd_name);

/**
 * usbip_pdu_encode() - write a URB message header in wire format
 * @pdu: the header, host order
 * @buf: USBIP_HEADER_SIZE bytes of output
 *
 * Fields that do not belong to @pdu->command and the padding are written
 * as zero.  Values are written as they are, without validation, so tests
 * can produce broken messages.
 *
 * Return: 0, or -EINVAL if the command is unknown (@buf is then zeroed).
 */
int usbip_pdu_encode(const struct usbip_pdu *pdu, u8 *buf)
{
	memset(buf, 0, USBIP_HEADER_SIZE);

	switch (pdu->command) {
	case USBIP_CMD_SUBMIT:
		put32(buf + OFF_FLAGS, pdu->submit.transfer_flags);
		put32(buf + OFF_BUFLEN, (u32)pdu->submit.transfer_buffer_length);
		put32(buf + OFF_START_FRAME, (u32)pdu->submit.start_frame);
		put32(buf + OFF_NPACKETS, (u32)pdu->submit.number_of_packets);
		put32(buf + OFF_INTERVAL, (u32)pdu->submit.interval);
		memcpy(buf + OFF_SETUP, pdu->submit.setup, USBIP_SETUP_SIZE);
		break;
	case USBIP_RET_SUBMIT:
		put32(buf + OFF_STATUS, (u32)pdu->ret_submit.status);
		put32(buf + OFF_ACTUAL, (u32)pdu->ret_submit.actual_length);
		put32(buf + OFF_START_FRAME, (u32)pdu->ret_submit.start_frame);
		put32(buf + OFF_NPACKETS, (u32)pdu->ret_submit.number_of_packets);
		put32(buf + OFF_ERROR_COUNT, (u32)pdu->ret_submit.error_count);
		break;
	case USBIP_CMD_UNLINK:
		put32(buf + OFF_UNLINK_SEQNUM, pdu->unlink.seqnum);
		break;
	case USBIP_RET_UNLINK:
		put32(buf + OFF_STATUS, (u32)pdu->ret_unlink.status);
		break;
	case USBIP_EXT_ACK:
	case USBIP_EXT_ACK_REP:
	case USBIP_EXT_RESUME:
	case USBIP_EXT_RESUME_REP:
		put32(buf + OFF_EXT_ARG, pdu->ext.arg);
		break;
	default:
		return -EINVAL;
	}

	put32(buf + OFF_COMMAND, pdu->command);
	put32(buf + OFF_SEQNUM, pdu->seqnum);
	put32(buf + OFF_DEVID, pdu->devid);
	put32(buf + OFF_DIRECTION, pdu->direction);
	put32(buf + OFF_EP, pdu->ep);
	return 0;
}
USBIP_PROTO_EXPORT(usbip_pdu_encode);

/**
 * usbip_pdu_check() - validate a header on its own
 * @pdu: the decoded header
 * @reason: set to a short explanation on failure; may be NULL
 *
 * Checks what can be checked without knowing the URB a RET_* answers:
 * the command code; for CMD_SUBMIT the endpoint (0..15), the direction
 * (0 or 1), transfer_buffer_length (0..USBIP_MAX_TRANSFER) and
 * number_of_packets (-1..USBIP_MAX_ISO_PACKETS); for RET_SUBMIT
 * actual_length, number_of_packets, error_count and status; for
 * RET_UNLINK the status; for the session messages (EXT_*) that devid,
 * direction and ep are 0, that EXT_ACK has no flag but PING, that
 * EXT_RESUME lists at most USBIP_EXT_RESUME_MAX seqnums and that
 * EXT_ACK_REP has no argument.  The endpoint and direction of RET_*
 * messages are not checked: peers put 0 there and receivers ignore them.
 * Whether an EXT_* message may come at all (only on a connection with a
 * session) is for the receiver to check.
 *
 * Return: 0, or -EPROTO with *@reason set.
 */
int usbip_pdu_check(const struct usbip_pdu *pdu, const char **reason)
{
	const struct usbip_submit *s = &pdu->submit;
	const struct usbip_ret_submit *r = &pdu->ret_submit;

	switch (pdu->command) {
	case USBIP_CMD_SUBMIT:
		if (pdu->ep > USBIP_MAX_EP)
			return fail(reason, "endpoint above 15");
		if (pdu->direction != USBIP_DIR_OUT && pdu->direction != USBIP_DIR_IN)
			return fail(reason, "bad direction");
		if (s->transfer_buffer_length < 0)
			return fail(reason, "negative transfer_buffer_length");
		if ((u32)s->transfer_buffer_length > USBIP_MAX_TRANSFER)
			return fail(reason, "transfer_buffer_length above limit");
		if (!packets_ok(s->number_of_packets))
			return fail(reason, "number_of_packets out of range");
		return 0;
	case USBIP_RET_SUBMIT:
		if (r->actual_length < 0)
			return fail(reason, "negative actual_length");
		if ((u32)r->actual_length > USBIP_MAX_TRANSFER)
			return fail(reason, "actual_length above limit");
		if (!packets_ok(r->number_of_packets))
			return fail(reason, "number_of_packets out of range");
		if (r->error_count < 0 ||
		    r->error_count > normalize_packets(r->number_of_packets))
			return fail(reason, "error_count out of range");
		if (!status_ok(r->status))
			return fail(reason, "bad status");
		return 0;
	case USBIP_CMD_UNLINK:
		return 0;
	case USBIP_RET_UNLINK:
		if (!status_ok(pdu->ret_unlink.status))
			return fail(reason, "bad status");
		return 0;
	case USBIP_EXT_ACK:
	case USBIP_EXT_ACK_REP:
	case USBIP_EXT_RESUME:
	case USBIP_EXT_RESUME_REP:
		if (pdu->devid || pdu->direction || pdu->ep)
			return fail(reason, "session message with devid, direction or ep");
		if (pdu->command == USBIP_EXT_ACK && (pdu->ext.arg & ~USBIP_EXT_ACK_PING))
			return fail(reason, "unknown EXT_ACK flags");
		if (pdu->command == USBIP_EXT_ACK_REP && pdu->ext.arg)
			return fail(reason, "EXT_ACK_REP with an argument");
		if (pdu->command == USBIP_EXT_RESUME && pdu->ext.arg > USBIP_EXT_RESUME_MAX)
			return fail(reason, "EXT_RESUME lists too many seqnums");
		return 0;
	default:
		return fail(reason, "unknown command");
	}
}
USBIP_PROTO_EXPORT(usbip_pdu_check);

/**
 * usbip_pdu_decode() - read and validate a URB message header
 * @pdu: output, host order
 * @buf: USBIP_HEADER_SIZE bytes of input
 * @reason: set to a short explanation on failure; may be NULL
 *
 * Padding is ignored.  A number_of_packets of -1 (0xffffffff), which some
 * peers send for non-isochronous URBs, is stored as 0.  The result is then
 * validated with usbip_pdu_check().  @pdu is filled even when validation
 * fails, so the caller can log the seqnum.
 *
 * Return: 0, or -EPROTO with *@reason set.
 */
int usbip_pdu_decode(struct usbip_pdu *pdu, const u8 *buf, const char **reason)
{
	memset(pdu, 0, sizeof(*pdu));
	pdu->command = get32(buf + OFF_COMMAND);
	pdu->seqnum = get32(buf + OFF_SEQNUM);
	pdu->devid = get32(buf + OFF_DEVID);
	pdu->direction = get32(buf + OFF_DIRECTION);
	pdu->ep = get32(buf + OFF_EP);

	switch (pdu->command) {
	case USBIP_CMD_SUBMIT:
		pdu->submit.transfer_flags = get32(buf + OFF_FLAGS);
		pdu->submit.transfer_buffer_length = (s32)get32(buf + OFF_BUFLEN);
		pdu->submit.start_frame = (s32)get32(buf + OFF_START_FRAME);
		pdu->submit.number_of_packets =
			normalize_packets((s32)get32(buf + OFF_NPACKETS));
		pdu->submit.interval = (s32)get32(buf + OFF_INTERVAL);
		memcpy(pdu->submit.setup, buf + OFF_SETUP, USBIP_SETUP_SIZE);
		break;
	case USBIP_RET_SUBMIT:
		pdu->ret_submit.status = (s32)get32(buf + OFF_STATUS);
		pdu->ret_submit.actual_length = (s32)get32(buf + OFF_ACTUAL);
		pdu->ret_submit.start_frame = (s32)get32(buf + OFF_START_FRAME);
		pdu->ret_submit.number_of_packets =
			normalize_packets((s32)get32(buf + OFF_NPACKETS));
		pdu->ret_submit.error_count = (s32)get32(buf + OFF_ERROR_COUNT);
		break;
	case USBIP_CMD_UNLINK:
		pdu->unlink.seqnum = get32(buf + OFF_UNLINK_SEQNUM);
		break;
	case USBIP_RET_UNLINK:
		pdu->ret_unlink.status = (s32)get32(buf + OFF_STATUS);
		break;
	case USBIP_EXT_ACK:
	case USBIP_EXT_ACK_REP:
	case USBIP_EXT_RESUME:
	case USBIP_EXT_RESUME_REP:
		pdu->ext.arg = get32(buf + OFF_EXT_ARG);
		break;
	default:
		break;
	}

	return usbip_pdu_check(pdu, reason);
}
USBIP_PROTO_EXPORT(usbip_pdu_decode);

/**
 * usbip_pdu_is_ext() - is a command code one of the session messages
 * @command: the command field of a header
 *
 * Return: true for USBIP_EXT_ACK, _ACK_REP, _RESUME and _RESUME_REP.
 */
bool usbip_pdu_is_ext(u32 command)
{
	return command >= USBIP_EXT_ACK && command <= USBIP_EXT_RESUME_REP;
}
USBIP_PROTO_EXPORT(usbip_pdu_is_ext);

/* A u32 in @base 10 or 16, digits only (no sign, prefix or spaces). */
static int parse_u32(const char *s, unsigned int base, u32 *out)
{
	u64 v = 0;
	unsigned int d;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			return -EINVAL;
		v = v * base + d;
		if (v > 0xffffffffULL)
			return -ERANGE;
	}
	*out = (u32)v;
	return 0;
}

/* A token: exactly 2 * USBIP_EXT_TOKEN_SIZE hex digits. */
static int parse_token(const char *s, u8 *out)
{
	u32 nibble;
	char c[2] = "";
	int i;

	if (strlen(s) != 2 * USBIP_EXT_TOKEN_SIZE)
		return -EINVAL;
	for (i = 0; i < 2 * USBIP_EXT_TOKEN_SIZE; i++) {
		c[0] = s[i];
		if (parse_u32(c, 16, &nibble))
			return -EINVAL;
		if (i % 2)
			out[i / 2] |= nibble;
		else
			out[i / 2] = nibble << 4;
	}
	return 0;
}

/**
 * usbip_ext_words_parse() - parse the extension words written to a driver
 * @text: words separated by blanks or newlines, each "key=value"; cut up
 * @allowed: USBIP_EXT_W_* the caller takes
 * @w: output, zeroed first; @w->have tells which words were given
 * @reason: set to a short explanation on failure; may be NULL
 *
 * The keys are caps (hexadecimal), window, heartbeat and journal (decimal)
 * and token, new (32 hex digits).  Ranges are the caller's to check.
 *
 * Return: 0, or -EINVAL for a word without "=", an unknown or unexpected
 * key, a key given twice or a malformed value (-ERANGE: above 2^32 - 1).
 */
int usbip_ext_words_parse(char *text, unsigned int allowed, struct usbip_ext_words *w,
			  const char **reason)
{
	static const struct {
		const char *key;
		unsigned int bit;
	} keys[] = {
		{ "caps", USBIP_EXT_W_CAPS },
		{ "token", USBIP_EXT_W_TOKEN },
		{ "new", USBIP_EXT_W_NEW },
		{ "window", USBIP_EXT_W_WINDOW },
		{ "heartbeat", USBIP_EXT_W_HEARTBEAT },
		{ "journal", USBIP_EXT_W_JOURNAL },
	};
	unsigned int i, bit;
	char *word, *val;
	int ret;

	memset(w, 0, sizeof(*w));
	while ((word = strsep(&text, " \t\n"))) {
		if (!*word)
			continue;
		val = strchr(word, '=');
		if (!val) {
			if (reason)
				*reason = "word without a value";
			return -EINVAL;
		}
		*val++ = '\0';
		bit = 0;
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (!strcmp(word, keys[i].key))
				bit = keys[i].bit;
		if (!(bit & allowed) || (w->have & bit)) {
			if (reason)
				*reason = bit & allowed ? "word given twice" : "unknown word";
			return -EINVAL;
		}
		switch (bit) {
		case USBIP_EXT_W_CAPS:
			ret = parse_u32(val, 16, &w->caps);
			break;
		case USBIP_EXT_W_WINDOW:
			ret = parse_u32(val, 10, &w->window);
			break;
		case USBIP_EXT_W_HEARTBEAT:
			ret = parse_u32(val, 10, &w->heartbeat);
			break;
		case USBIP_EXT_W_JOURNAL:
			ret = parse_u32(val, 10, &w->journal);
			break;
		case USBIP_EXT_W_TOKEN:
			ret = parse_token(val, w->token);
			break;
		default:
			ret = parse_token(val, w->new_token);
			break;
		}
		if (ret) {
			if (reason)
				*reason = "malformed value";
			return ret;
		}
		w->have |= bit;
	}
	return 0;
}
USBIP_PROTO_EXPORT(usbip_ext_words_parse);

/**
 * usbip_ext_count_check() - is a peer's stream counter within its bounds
 * @floor: the lowest value it may have (what the peer counted before)
 * @count: the value the peer sent
 * @ceil: the highest value it may have (what was sent to the peer)
 * @reason: set to a short explanation on failure; may be NULL
 *
 * Stream counters (answers, commands) run modulo 2^32; @floor to @ceil is
 * taken as the range going up from @floor, which must be shorter than
 * 2^31.  An acknowledgement behind an earlier one or ahead of what was
 * sent means the peer's state cannot be trusted.
 *
 * Return: 0 if @count is in [@floor, @ceil], else -EPROTO.
 */
int usbip_ext_count_check(u32 floor, u32 count, u32 ceil, const char **reason)
{
	if ((s32)(ceil - floor) < 0)
		return fail(reason, "counter range inverted");
	if ((s32)(count - floor) < 0)
		return fail(reason, "count behind an earlier one");
	if ((u32)(count - floor) > (u32)(ceil - floor))
		return fail(reason, "count ahead of what was sent");
	return 0;
}
USBIP_PROTO_EXPORT(usbip_ext_count_check);

/**
 * usbip_pdu_packets() - number of iso packets announced by a header
 * @pdu: a CMD_SUBMIT or RET_SUBMIT that passed usbip_pdu_check()
 *
 * Return: 0..USBIP_MAX_ISO_PACKETS (-1 counts as 0); 0 for other commands.
 */
int usbip_pdu_packets(const struct usbip_pdu *pdu)
{
	s32 n;

	if (pdu->command == USBIP_CMD_SUBMIT)
		n = pdu->submit.number_of_packets;
	else if (pdu->command == USBIP_RET_SUBMIT)
		n = pdu->ret_submit.number_of_packets;
	else
		return 0;
	n = normalize_packets(n);
	if (n < 0 || n > USBIP_MAX_ISO_PACKETS)
		return 0;
	return n;
}
USBIP_PROTO_EXPORT(usbip_pdu_packets);

/**
 * usbip_budget_admits() - may a connection take on one more request
 * @used_urbs: requests (URBs, pending answers) the connection holds
 * @used_bytes: bytes the connection holds
 * @max_urbs: the connection's limit of requests
 * @max_bytes: the connection's limit of bytes
 * @urbs: requests the new one adds
 * @bytes: bytes the new one adds
 *
 * A connection that holds nothing always admits the next request, however
 * large (each request is bounded by USBIP_MAX_TRANSFER on its own), so a
 * limit below one request slows a peer down but never stalls it for good.
 *
 * Return: true if the request fits within both limits.
 */
bool usbip_budget_admits(u32 used_urbs, u64 used_bytes, u32 max_urbs, u64 max_bytes,
			 u32 urbs, u64 bytes)
{
	if (!used_urbs && !used_bytes)
		return true;
	return urbs <= max_urbs && used_urbs <= max_urbs - urbs &&
	       bytes <= max_bytes && used_bytes <= max_bytes - bytes;
}
USBIP_PROTO_EXPORT(usbip_budget_admits);

/**
 * usbip_submit_charge() - bytes a CMD_SUBMIT holds in a server's budget
 * @len: its transfer_buffer_length
 * @n_iso: its number of iso packets (0 if not iso, at most
 *	USBIP_MAX_ISO_PACKETS)
 *
 * The buffer, plus two descriptors per iso packet: the server's copy of
 * the peer's, and the device side's (an URB's frame descriptor is as
 * large).  Without them, requests with no buffer and many packets would
 * hold memory the byte limit does not see.
 *
 * Return: the bytes to charge.
 */
u64 usbip_submit_charge(u32 len, int n_iso)
{
	if (n_iso <= 0)
		return len;
	return (u64)len + (u64)n_iso * 2 * sizeof(struct usbip_iso_desc);
}
USBIP_PROTO_EXPORT(usbip_submit_charge);

/**
 * usbip_check_ret_submit() - validate a RET_SUBMIT against its request
 * @ret: a RET_SUBMIT that passed usbip_pdu_check()
 * @buffer_length: size of the transfer buffer of the URB it answers
 * @submitted_packets: number_of_packets of that URB (0 if not iso)
 * @reason: set to a short explanation on failure; may be NULL
 *
 * Return: 0, or -EPROTO if actual_length exceeds the buffer or more iso
 * packets come back than were submitted.
 */
int usbip_check_ret_submit(const struct usbip_pdu *ret, u32 buffer_length,
			   int submitted_packets, const char **reason)
{
	if (ret->command != USBIP_RET_SUBMIT)
		return fail(reason, "not a RET_SUBMIT");
	if (ret->ret_submit.actual_length < 0 ||
	    (u32)ret->ret_submit.actual_length > buffer_length)
		return fail(reason, "actual_length above the buffer");
	if (usbip_pdu_packets(ret) > submitted_packets)
		return fail(reason, "more iso packets than submitted");
	return 0;
}
USBIP_PROTO_EXPORT(usbip_check_ret_submit);

/**
 * usbip_ret_status() - the status to give an URB back with, from a RET_SUBMIT
 * @status: ret_submit.status of a RET_SUBMIT that passed usbip_pdu_check()
 *
 * A RET_SUBMIT reports a finished URB, but a server may send -EINPROGRESS,
 * which a client driver reads as "still pending" (and may then wait for a
 * completion that never comes, or reuse the URB too early): it is given
 * back as a protocol error instead.
 *
 * Return: -EPROTO for -EINPROGRESS, else @status.
 */
s32 usbip_ret_status(s32 status)
{
	return status == -EINPROGRESS ? -EPROTO : status;
}
USBIP_PROTO_EXPORT(usbip_ret_status);

/**
 * usbip_cmd_payload_len() - bytes of data following a CMD_* header
 * @cmd: a header that passed usbip_pdu_check()
 *
 * Return: transfer_buffer_length for an OUT CMD_SUBMIT, else 0.  Iso
 * descriptors are not included.
 */
u32 usbip_cmd_payload_len(const struct usbip_pdu *cmd)
{
	if (cmd->command != USBIP_CMD_SUBMIT || cmd->direction != USBIP_DIR_OUT)
		return 0;
	if (cmd->submit.transfer_buffer_length < 0)
		return 0;
	return (u32)cmd->submit.transfer_buffer_length;
}
USBIP_PROTO_EXPORT(usbip_cmd_payload_len);

/**
 * usbip_ret_payload_len() - bytes of data following a RET_* header
 * @ret: a header that passed usbip_pdu_check()
 * @dir_in: direction of the URB it answers (the header's own direction
 *	field is not trusted)
 *
 * Return: actual_length for a RET_SUBMIT of an IN URB, else 0.  Iso
 * descriptors are not included.
 */
u32 usbip_ret_payload_len(const struct usbip_pdu *ret, bool dir_in)
{
	if (ret->command != USBIP_RET_SUBMIT || !dir_in)
		return 0;
	if (ret->ret_submit.actual_length < 0)
		return 0;
	return (u32)ret->ret_submit.actual_length;
}
USBIP_PROTO_EXPORT(usbip_ret_payload_len);

/**
 * usbip_ctrl_check() - the data stage of a control CMD_SUBMIT
 * @wire_dir: direction field of the CMD_SUBMIT (USBIP_DIR_*)
 * @setup: its USBIP_SETUP_SIZE-byte setup packet, as on the bus
 * @length: its transfer_buffer_length
 * @dir_in: output: the data stage is IN (device to host); false for OUT
 *	and for a request without a data stage
 * @stage: output: bytes the data stage may move, min(wLength, @length)
 * @reason: set to a short explanation on failure; may be NULL
 *
 * The setup packet decides the direction; the wire direction, which also
 * says whether an OUT payload follows the header, must agree with it
 * whenever there is a data stage (wLength > 0) or a transfer buffer
 * (@length > 0).  A request with neither may come with either wire
 * direction.  An OUT data stage must be sent whole: @length is at least
 * wLength, so the device never gets bytes that were not received.
 *
 * Return: 0, or -EPROTO with *@reason set.
 */
int usbip_ctrl_check(u32 wire_dir, const u8 *setup, u32 length, bool *dir_in, u32 *stage,
		     const char **reason)
{
	bool setup_in = setup[0] & 0x80;	/* bRequestType: USB_DIR_IN */
	u32 wlength = setup[6] | (u32)setup[7] << 8;

	*dir_in = false;
	*stage = 0;
	if ((wlength || length) && setup_in != (wire_dir == USBIP_DIR_IN))
		return fail(reason, "direction does not match the setup packet");
	if (!setup_in && length < wlength)
		return fail(reason, "OUT data shorter than wLength");
	*dir_in = setup_in && wlength;
	*stage = wlength < length ? wlength : length;
	return 0;
}
USBIP_PROTO_EXPORT(usbip_ctrl_check);

/**
 * usbip_iso_xfer_check() - iso packets only for an isochronous endpoint
 * @n_iso: number of iso packets a CMD_SUBMIT announces (after
 *	usbip_pdu_packets())
 * @xfer: USBIP_XFER_* of its endpoint, USBIP_XFER_ANY if not known
 * @reason: set to a short explanation on failure; may be NULL
 *
 * An endpoint whose type is not known yet passes; the server then answers
 * a mismatch when the URB reaches the endpoint.
 *
 * Return: 0, or -EPROTO with *@reason set.
 */
int usbip_iso_xfer_check(int n_iso, int xfer, const char **reason)
{
	if (!n_iso || xfer == USBIP_XFER_ISOC || xfer == USBIP_XFER_ANY)
		return 0;
	if (xfer == USBIP_XFER_CONTROL)
		return fail(reason, "iso packets for a control endpoint");
	return fail(reason, "iso packets for a non-iso endpoint");
}
USBIP_PROTO_EXPORT(usbip_iso_xfer_check);

/**
 * usbip_cmd_submit_check() - a CMD_SUBMIT against the endpoint it names
 * @cmd: a CMD_SUBMIT that passed usbip_pdu_check()
 * @xfer: USBIP_XFER_* of the endpoint, USBIP_XFER_ANY if the server cannot
 *	know it yet
 * @dir_in: output: the data stage is IN (its data goes into the answer)
 * @stage: output: bytes the data stage may move: for a control endpoint
 *	min(wLength, transfer_buffer_length), else transfer_buffer_length
 * @reason: set to a short explanation on failure; may be NULL
 *
 * What a server checks before it allocates anything for a command whose
 * endpoint it found: on a control endpoint the setup packet and the wire
 * direction (usbip_ctrl_check()), on any other the wire direction is the
 * direction; iso packets only for an isochronous endpoint
 * (usbip_iso_xfer_check()).
 *
 * Return: 0, or -EPROTO with *@reason set.
 */
int usbip_cmd_submit_check(const struct usbip_pdu *cmd, int xfer, bool *dir_in, u32 *stage,
			   const char **reason)
{
	s32 length = cmd->submit.transfer_buffer_length;
	u32 len = length > 0 ? (u32)length : 0;
	int ret;

	*dir_in = false;
	*stage = 0;
	if (cmd->command != USBIP_CMD_SUBMIT)
		return fail(reason, "not a CMD_SUBMIT");
	if (xfer == USBIP_XFER_CONTROL) {
		ret = usbip_ctrl_check(cmd->direction, cmd->submit.setup, len, dir_in, stage,
				       reason);
		if (ret)
			return ret;
	} else {
		*dir_in = cmd->direction == USBIP_DIR_IN;
		*stage = len;
	}
	return usbip_iso_xfer_check(usbip_pdu_packets(cmd), xfer, reason);
}
USBIP_PROTO_EXPORT(usbip_cmd_submit_check);

/**
 * usbip_xfer_len_check() - may a server hold this transfer buffer
 * @xfer: USBIP_XFER_* of the endpoint
 * @length: transfer_buffer_length of the CMD_SUBMIT
 * @max_linear: the largest buffer the server allocates in one piece
 * @reason: set to a short explanation on failure; may be NULL
 *
 * A bulk transfer may be held in pages (scatter-gather or pieces), up to
 * USBIP_MAX_TRANSFER (usbip_pdu_check()); a control, interrupt or
 * isochronous transfer needs its buffer in one piece.
 *
 * Return: 0, or -EPROTO with *@reason set.
 */
int usbip_xfer_len_check(int xfer, u32 length, u32 max_linear, const char **reason)
{
	if (xfer != USBIP_XFER_BULK && length > max_linear)
		return fail(reason, "transfer length above the limit for this endpoint");
	return 0;
}
USBIP_PROTO_EXPORT(usbip_xfer_len_check);

/**
 * usbip_iso_desc_encode() - write one iso packet descriptor
 * @desc: the descriptor, host order
 * @buf: USBIP_ISO_DESC_SIZE bytes of output
 */
void usbip_iso_desc_encode(const struct usbip_iso_desc *desc, u8 *buf)
{
	put32(buf + ISO_OFF_OFFSET, desc->offset);
	put32(buf + ISO_OFF_LENGTH, desc->length);
	put32(buf + ISO_OFF_ACTUAL, desc->actual_length);
	put32(buf + ISO_OFF_STATUS, (u32)desc->status);
}
USBIP_PROTO_EXPORT(usbip_iso_desc_encode);

/**
 * usbip_iso_desc_decode() - read one iso packet descriptor
 * @desc: output, host order
 * @buf: USBIP_ISO_DESC_SIZE bytes of input
 *
 * No validation; see usbip_iso_check().
 */
void usbip_iso_desc_decode(struct usbip_iso_desc *desc, const u8 *buf)
{
	desc->offset = get32(buf + ISO_OFF_OFFSET);
	desc->length = get32(buf + ISO_OFF_LENGTH);
	desc->actual_length = get32(buf + ISO_OFF_ACTUAL);
	desc->status = (s32)get32(buf + ISO_OFF_STATUS);
}
USBIP_PROTO_EXPORT(usbip_iso_desc_decode);

/**
 * usbip_iso_descs_encode() - write an array of iso packet descriptors
 * @descs: @n descriptors, host order
 * @n: number of descriptors
 * @buf: @n * USBIP_ISO_DESC_SIZE bytes of output
 */
void usbip_iso_descs_encode(const struct usbip_iso_desc *descs, int n, u8 *buf)
{
	int i;

	for (i = 0; i < n; i++)
		usbip_iso_desc_encode(&descs[i], buf + i * USBIP_ISO_DESC_SIZE);
}
USBIP_PROTO_EXPORT(usbip_iso_descs_encode);

/**
 * usbip_iso_descs_decode() - read an array of iso packet descriptors
 * @descs: output, @n descriptors
 * @n: number of descriptors
 * @buf: @n * USBIP_ISO_DESC_SIZE bytes of input
 */
void usbip_iso_descs_decode(struct usbip_iso_desc *descs, int n, const u8 *buf)
{
	int i;

	for (i = 0; i < n; i++)
		usbip_iso_desc_decode(&descs[i], buf + i * USBIP_ISO_DESC_SIZE);
}
USBIP_PROTO_EXPORT(usbip_iso_descs_decode);

/**
 * usbip_iso_descs_from_wire() - convert received descriptors in place
 * @descs: array whose bytes are @n descriptors exactly as received
 * @n: number of descriptors
 *
 * Lets a receiver read the wire bytes straight into the array it keeps.
 */
void usbip_iso_descs_from_wire(struct usbip_iso_desc *descs, int n)
{
	struct usbip_iso_desc d;
	int i;

	for (i = 0; i < n; i++) {
		usbip_iso_desc_decode(&d, (const u8 *)&descs[i]);
		descs[i] = d;
	}
}
USBIP_PROTO_EXPORT(usbip_iso_descs_from_wire);

/**
 * usbip_iso_check() - validate iso packet descriptors
 * @descs: @n descriptors, host order
 * @n: number of descriptors, 0..USBIP_MAX_ISO_PACKETS
 * @buffer_length: size of the transfer buffer
 * @actual_length: actual_length of the URB (with USBIP_ISO_CHECK_ACTUAL)
 * @flags: USBIP_ISO_CHECK_* bits
 * @reason: set to a short explanation on failure; may be NULL
 *
 * Always checks that each frame lies inside the buffer without its
 * offset + length overflowing.  USBIP_ISO_CHECK_ACTUAL adds: no frame's
 * actual_length above its length, statuses 0 or negative errnos, and the
 * sum of actual_lengths equal to @actual_length.  USBIP_ISO_CHECK_ORDER
 * adds: frames in ascending order without overlap, which in-place
 * packing and unpacking need.
 *
 * Return: 0, or -EPROTO with *@reason set.
 */
int usbip_iso_check(const struct usbip_iso_desc *descs, int n, u32 buffer_length,
		    u32 actual_length, unsigned int flags, const char **reason)
{
	u64 sum = 0, prev_end = 0;
	int i;

	if (n < 0 || n > USBIP_MAX_ISO_PACKETS)
		return fail(reason, "number_of_packets out of range");

	for (i = 0; i < n; i++) {
		const struct usbip_iso_desc *d = &descs[i];
		u64 end = (u64)d->offset + d->length;

		if (end > 0xffffffffULL)
			return fail(reason, "iso frame offset+length overflows");
		if (end > buffer_length)
			return fail(reason, "iso frame beyond the buffer");
		if (flags & USBIP_ISO_CHECK_ACTUAL) {
			if (d->actual_length > d->length)
				return fail(reason, "iso frame actual_length above its length");
			if (!status_ok(d->status))
				return fail(reason, "bad iso frame status");
			sum += d->actual_length;
		}
		if (flags & USBIP_ISO_CHECK_ORDER) {
			if (d->offset < prev_end)
				return fail(reason, "iso frames overlap or not ascending");
			prev_end = end;
		}
	}

	if ((flags & USBIP_ISO_CHECK_ACTUAL) && sum != actual_length)
		return fail(reason, "iso actual_length sum mismatch");
	return 0;
}
USBIP_PROTO_EXPORT(usbip_iso_check);

/**
 * usbip_iso_pack() - compact iso frames for sending (server side)
 * @buf: transfer buffer; frame i holds descs[i].actual_length bytes at
 *	descs[i].offset
 * @buffer_length: size of @buf
 * @descs: @n descriptors of the completed URB
 * @n: number of descriptors
 * @actual_length: actual_length of the URB
 * @reason: set to a short explanation on failure; may be NULL
 *
 * Moves the frames' data to the start of @buf, in frame order and without
 * gaps, which is how a RET_SUBMIT carries IN iso data.  Works in place,
 * so the frames must be ascending (USBIP_ISO_CHECK_ORDER); the kernel
 * sender instead gathers frames straight from the buffer.
 *
 * Return: 0 with @actual_length packed bytes at @buf, or -EPROTO.
 */
int usbip_iso_pack(u8 *buf, u32 buffer_length, const struct usbip_iso_desc *descs,
		   int n, u32 actual_length, const char **reason)
{
	u32 pos = 0;
	int ret, i;

	ret = usbip_iso_check(descs, n, buffer_length, actual_length,
			      USBIP_ISO_CHECK_ACTUAL | USBIP_ISO_CHECK_ORDER, reason);
	if (ret)
		return ret;

	/* pos never passes descs[i].offset, and earlier frames are done */
	for (i = 0; i < n; i++) {
		if (pos != descs[i].offset)
			memmove(buf + pos, buf + descs[i].offset, descs[i].actual_length);
		pos += descs[i].actual_length;
	}
	return 0;
}
USBIP_PROTO_EXPORT(usbip_iso_pack);

/**
 * usbip_iso_unpack() - spread received iso frames to their offsets
 * @buf: transfer buffer whose first @actual_length bytes are the packed
 *	data of a RET_SUBMIT
 * @buffer_length: size of @buf
 * @descs: @n descriptors: offsets and lengths of the URB, actual_lengths
 *	as received
 * @n: number of descriptors
 * @actual_length: actual_length of the RET_SUBMIT
 * @reason: set to a short explanation on failure; may be NULL
 *
 * Validates @descs (USBIP_ISO_CHECK_ACTUAL | USBIP_ISO_CHECK_ORDER), then
 * moves frames to their offsets starting with the last one, so that no
 * frame overwrites packed data not yet moved.  Bytes between frames keep
 * whatever they held.
 *
 * Return: 0, or -EPROTO with *@reason set and @buf untouched.
 */
int usbip_iso_unpack(u8 *buf, u32 buffer_length, const struct usbip_iso_desc *descs,
		     int n, u32 actual_length, const char **reason)
{
	u32 pos = actual_length;
	int ret, i;

	ret = usbip_iso_check(descs, n, buffer_length, actual_length,
			      USBIP_ISO_CHECK_ACTUAL | USBIP_ISO_CHECK_ORDER, reason);
	if (ret)
		return ret;

	for (i = n - 1; i >= 0; i--) {
		pos -= descs[i].actual_length;
		if (pos != descs[i].offset)
			memmove(buf + descs[i].offset, buf + pos, descs[i].actual_length);
	}
	return 0;
}
USBIP_PROTO_EXPORT(usbip_iso_unpack);

/* Standard requests a server carries out itself (USB 2.0 9.4). */
#define SETUP_TYPE_MASK		0x60
#define SETUP_DIR_IN		0x80
#define SETUP_RECIP_MASK	0x1f
#define SETUP_RECIP_DEVICE	0
#define SETUP_RECIP_INTERFACE	1
#define SETUP_RECIP_ENDPOINT	2
#define SETUP_REQ_CLEAR_FEATURE	1
#define SETUP_REQ_SET_ADDRESS	5
#define SETUP_REQ_SET_CONFIG	9
#define SETUP_REQ_SET_INTERFACE	11
/* wIndex of an endpoint recipient: direction bit and number only */
#define SETUP_EP_INDEX_MASK	0x8f

/**
 * usbip_setup_std_check() - reject inconsistent forms of the standard
 *	requests that change the host's view of a device
 * @setup: the 8-byte setup packet of a CMD_SUBMIT to endpoint 0
 * @reason: set to a short explanation on failure; may be NULL
 *
 * SET_ADDRESS, SET_CONFIGURATION, SET_INTERFACE and CLEAR_FEATURE are
 * carried out by the server (or answered by it), matched by their exact
 * bmRequestType.  The same bRequest with the direction bit set, another
 * recipient, a data stage or (for an endpoint) reserved wIndex bits is not
 * a request a device must accept, and must not reach the device behind the
 * host's back either: the server stalls it.  Other requests pass.
 *
 * Return: 0, or -EPIPE for a request to answer with a stall.
 */
int usbip_setup_std_check(const u8 *setup, const char **reason)
{
	u8 rtype = setup[0], recip = setup[0] & SETUP_RECIP_MASK;
	u16 index = setup[4] | setup[5] << 8;
	u16 length = setup[6] | setup[7] << 8;
	bool recip_ok;

	if (rtype & SETUP_TYPE_MASK)
		return 0;
	switch (setup[1]) {
	case SETUP_REQ_SET_ADDRESS:
	case SETUP_REQ_SET_CONFIG:
		recip_ok = recip == SETUP_RECIP_DEVICE;
		break;
	case SETUP_REQ_SET_INTERFACE:
		recip_ok = recip == SETUP_RECIP_INTERFACE;
		break;
	case SETUP_REQ_CLEAR_FEATURE:
		recip_ok = recip == SETUP_RECIP_DEVICE || recip == SETUP_RECIP_INTERFACE ||
			   (recip == SETUP_RECIP_ENDPOINT && !(index & ~SETUP_EP_INDEX_MASK));
		break;
	default:
		return 0;
	}
	if (!recip_ok || (rtype & SETUP_DIR_IN) || length) {
		if (reason)
			*reason = "inconsistent form of a standard request";
		return -EPIPE;
	}
	return 0;
}
USBIP_PROTO_EXPORT(usbip_setup_std_check);
