// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * usbip-core: socket I/O.
 *
 * Everything is sent and received with sock_sendmsg()/sock_recvmsg() over
 * iov_iters: kvecs for linear memory, bio_vecs built straight from the
 * scatterlist for sg buffers, so payloads are never copied into a bounce
 * buffer.  Vectors are gathered in small on-stack batches; each batch is
 * one sendmsg (with MSG_MORE while more follows) or one recvmsg.
 */
#define pr_fmt(fmt) "usbip-core: " fmt

#include <linux/bvec.h>
#include <linux/file.h>
#include <linux/kernel.h>
#include <linux/moduleparam.h>
#include <linux/net.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/socket.h>
#include <linux/tcp.h>
#include <linux/uio.h>
#include <linux/version.h>
#include <net/inet_connection_sock.h>
#include <net/sock.h>
#include <net/tcp.h>

#include "usbip_common.h"

/* Vectors per sendmsg/recvmsg call. */
#define USBIP_IOV_BATCH		16
/* Iso descriptors encoded per send. */
#define USBIP_ISO_BATCH		8

/*
 * Dead-peer detection, /sys/module/usbip_core/parameters/peer_timeout: a
 * connection whose peer has not answered for this many seconds, idle
 * (keepalive probes unanswered) or busy (data unacknowledged), is ended;
 * so is one whose peer keeps its receive window closed that long (TCP
 * counts a zero window from its first probe, answered or not).
 * Applied to every socket handed to a driver that userspace did not give a
 * TCP_USER_TIMEOUT of its own; 0 leaves such sockets as they are.
 */
unsigned int usbip_peer_timeout = USBIP_PEER_TIMEOUT_DEFAULT;

static int usbip_peer_timeout_set(const char *val, const struct kernel_param *kp)
{
	return param_set_uint_minmax(val, kp, 0, USBIP_PEER_TIMEOUT_MAX);
}

static const struct kernel_param_ops usbip_peer_timeout_ops = {
	.set = usbip_peer_timeout_set,
	.get = param_get_uint,
};
module_param_cb(peer_timeout, &usbip_peer_timeout_ops, &usbip_peer_timeout, 0644);
MODULE_PARM_DESC(peer_timeout,
		 "seconds without an answer from the peer, or with its receive window closed, before a connection is ended (default 10, at most 3600, 0: leave the socket's own timers; read when a connection starts; sockets with a TCP_USER_TIMEOUT from userspace keep theirs)");

/*
 * Position in the scatterlist of a struct usbip_buf: entry @sg starts at
 * byte @base of the buffer, and @left entries remain including @sg.
 */
struct usbip_sg_cursor {
	struct scatterlist *sg;
	unsigned int left;
	u64 base;
};

struct usbip_iov_batch {
	struct socket *sock;
	unsigned int dir;	/* ITER_SOURCE: send, ITER_DEST: receive */
	bool sg;
	unsigned int n;
	size_t bytes;
	union {
		struct kvec kv[USBIP_IOV_BATCH];
		struct bio_vec bv[USBIP_IOV_BATCH];
	};
};

/**
 * usbip_sock_eof_err() - the error for a receive that found end of stream
 * @sock: the socket
 *
 * Only a FIN from the peer is an orderly close (-ECONNRESET, as protocol
 * 1.1.1 peers close).  A TCP socket that ended otherwise (the peer reset
 * it, TCP gave up on it and another caller took the error, or it was shut
 * down locally) reads as end of stream too; that is -ENETRESET, a failed
 * link, so that a session is suspended rather than ended.
 *
 * Return: -ECONNRESET or -ENETRESET.
 */
int usbip_sock_eof_err(struct socket *sock)
{
	struct sock *sk = sock->sk;

	if (sk->sk_protocol != IPPROTO_TCP || sock_flag(sk, SOCK_DONE))
		return -ECONNRESET;
	return -ENETRESET;
}
EXPORT_SYMBOL_GPL(usbip_sock_eof_err);

/**
 * usbip_sock_peer_closed() - did the peer close the connection in order
 * @sock: the socket
 *
 * A send that fails after the peer's FIN (a reset answering what was sent
 * after it) is the end the peer chose, not a failed link.
 *
 * Return: true if the peer's FIN arrived.
 */
bool usbip_sock_peer_closed(struct socket *sock)
{
	return sock->sk->sk_protocol == IPPROTO_TCP && sock_flag(sock->sk, SOCK_DONE);
}
EXPORT_SYMBOL_GPL(usbip_sock_peer_closed);

/**
 * usbip_sock_abort() - end a connection with a reset, not a close
 * @sock: the socket; its threads may be blocked in it
 *
 * For a session being suspended: an orderly close (FIN) would tell the
 * peer that the session is over, and the peer would end it when the FIN
 * gets through, even after the link is back.  A reset is a failed link
 * for the peer too.  Wakes whoever waits on the socket, as a shutdown
 * does.  Process context.
 */
void usbip_sock_abort(struct socket *sock)
{
	if (sock->sk->sk_protocol == IPPROTO_TCP)
		tcp_abort(sock->sk, ECONNABORTED);
	else
		kernel_sock_shutdown(sock, SHUT_RDWR);
}
EXPORT_SYMBOL_GPL(usbip_sock_abort);

/**
 * usbip_sock_rcvtimeo_set() - bound how long a receive waits
 * @sock: a socket from usbip_sockfd_get()
 * @timeo: jiffies; 0 for no bound (what usbip_sockfd_get() sets)
 *
 * A receive that waits longer fails with -EAGAIN.  Process context.
 */
void usbip_sock_rcvtimeo_set(struct socket *sock, long timeo)
{
	lock_sock(sock->sk);
	sock->sk->sk_rcvtimeo = timeo > 0 ? timeo : MAX_SCHEDULE_TIMEOUT;
	release_sock(sock->sk);
}
EXPORT_SYMBOL_GPL(usbip_sock_rcvtimeo_set);

/* Loops until @msg's iterator is consumed. */
static int usbip_xfer_msg(struct socket *sock, struct msghdr *msg, bool send)
{
	int ret;

	while (msg_data_left(msg)) {
		if (send)
			ret = sock_sendmsg(sock, msg);
		else
			ret = sock_recvmsg(sock, msg, msg->msg_flags);
		if (ret == -ERESTARTSYS)
			return -EINTR;
		/* a reset by the peer is a failed link, unlike an orderly close */
		if (ret == -ECONNRESET && !send)
			return -ENETRESET;
		if (ret < 0)
			return ret;
		if (ret == 0)	/* EOF, or a shutdown socket */
			return send ? -EPIPE : usbip_sock_eof_err(sock);
	}
	return 0;
}

static int usbip_batch_flush(struct usbip_iov_batch *b, bool more)
{
	struct msghdr msg = { .msg_flags = MSG_NOSIGNAL };
	bool send = b->dir == ITER_SOURCE;
	int ret;

	if (!b->n)
		return 0;
	if (send && more)
		msg.msg_flags |= MSG_MORE;
	if (!send)
		msg.msg_flags |= MSG_WAITALL;
	if (b->sg)
		iov_iter_bvec(&msg.msg_iter, b->dir, b->bv, b->n, b->bytes);
	else
		iov_iter_kvec(&msg.msg_iter, b->dir, b->kv, b->n, b->bytes);

	ret = usbip_xfer_msg(b->sock, &msg, send);
	b->n = 0;
	b->bytes = 0;
	return ret;
}

static void usbip_batch_init(struct usbip_iov_batch *b, struct socket *sock,
			     unsigned int dir, const struct usbip_buf *buf)
{
	b->sock = sock;
	b->dir = dir;
	b->sg = !buf->data;
	b->n = 0;
	b->bytes = 0;
}

/* Makes cur->sg the entry holding byte @off of @buf, or NULL. */
static void usbip_sg_seek(struct usbip_sg_cursor *cur, const struct usbip_buf *buf, u64 off)
{
	if (!cur->sg || off < cur->base) {
		cur->sg = buf->nents ? buf->sg : NULL;
		cur->left = buf->nents;
		cur->base = 0;
	}
	while (cur->sg && off >= cur->base + cur->sg->length) {
		cur->base += cur->sg->length;
		cur->sg = --cur->left ? sg_next(cur->sg) : NULL;
	}
}

/* Queues bytes [@off, @off + @len) of @buf, flushing full batches. */
static int usbip_batch_add(struct usbip_iov_batch *b, const struct usbip_buf *buf,
			   u32 off, u32 len, struct usbip_sg_cursor *cur)
{
	u64 pos = off;
	int ret;

	if (!len)
		return 0;
	if (off > buf->len || len > buf->len - off)
		return -EINVAL;

	if (!b->sg) {
		if (b->n == USBIP_IOV_BATCH) {
			ret = usbip_batch_flush(b, true);
			if (ret)
				return ret;
		}
		b->kv[b->n].iov_base = (u8 *)buf->data + off;
		b->kv[b->n].iov_len = len;
		b->n++;
		b->bytes += len;
		return 0;
	}

	while (len) {
		struct scatterlist *sg;
		u32 in, chunk;

		usbip_sg_seek(cur, buf, pos);
		sg = cur->sg;
		if (!sg)
			return -EINVAL;	/* scatterlist shorter than buf->len */
		in = pos - cur->base;
		chunk = min(sg->length - in, len);
		if (b->n == USBIP_IOV_BATCH) {
			ret = usbip_batch_flush(b, true);
			if (ret)
				return ret;
		}
		bvec_set_page(&b->bv[b->n], sg_page(sg), chunk, sg->offset + in);
		b->n++;
		b->bytes += chunk;
		pos += chunk;
		len -= chunk;
	}
	return 0;
}

/**
 * usbip_send_data() - send a linear buffer completely
 * @sock: connected socket
 * @data: bytes to send
 * @len: their number
 * @more: more of the same message follows (sets MSG_MORE)
 *
 * Callers serialize sends on a socket (see usbip_common.h).
 *
 * Return: 0, -EPIPE if the connection is closed, -EINTR on a signal, or
 * another negative errno from the socket.
 */
int usbip_send_data(struct socket *sock, const void *data, size_t len, bool more)
{
	struct msghdr msg = { .msg_flags = MSG_NOSIGNAL | (more ? MSG_MORE : 0) };
	struct kvec kv = { .iov_base = (void *)data, .iov_len = len };

	if (!len)
		return 0;
	iov_iter_kvec(&msg.msg_iter, ITER_SOURCE, &kv, 1, len);
	return usbip_xfer_msg(sock, &msg, true);
}
EXPORT_SYMBOL_GPL(usbip_send_data);

/**
 * usbip_send_buf() - send part of a linear or scatter-gather buffer
 * @sock: connected socket
 * @buf: the buffer
 * @off: first byte to send
 * @len: number of bytes
 * @more: more of the same message follows
 *
 * Return: 0, -EINVAL if the range is outside @buf, or a socket error as
 * for usbip_send_data().
 */
int usbip_send_buf(struct socket *sock, const struct usbip_buf *buf, u32 off, u32 len,
		   bool more)
{
	struct usbip_sg_cursor cur = {};
	struct usbip_iov_batch b;
	int ret;

	usbip_batch_init(&b, sock, ITER_SOURCE, buf);
	ret = usbip_batch_add(&b, buf, off, len, &cur);
	if (ret)
		return ret;
	return usbip_batch_flush(&b, more);
}
EXPORT_SYMBOL_GPL(usbip_send_buf);

static int usbip_send_iso_descs(struct socket *sock, const struct usbip_iso_desc *iso,
				int n)
{
	u8 tmp[USBIP_ISO_BATCH * USBIP_ISO_DESC_SIZE];
	int i, k, ret;

	for (i = 0; i < n; i += k) {
		k = min(n - i, USBIP_ISO_BATCH);
		usbip_iso_descs_encode(iso + i, k, tmp);
		ret = usbip_send_data(sock, tmp, k * USBIP_ISO_DESC_SIZE, i + k < n);
		if (ret)
			return ret;
	}
	return 0;
}

/**
 * usbip_send_msg() - send one URB message
 * @sock: connected socket
 * @pdu: the header
 * @buf: transfer buffer the payload comes from; may be NULL if @len is 0
 * @len: payload size: transfer_buffer_length for an OUT CMD_SUBMIT,
 *	actual_length for the RET_SUBMIT of an IN URB, otherwise 0
 * @iso: @n_iso iso packet descriptors to append, or NULL
 * @n_iso: number of descriptors (0 for non-iso URBs)
 * @flags: USBIP_SEND_ISO_PACKED to send, instead of the first @len bytes
 *	of @buf, the actual_length bytes of each frame taken from its offset,
 *	back to back (the RET_SUBMIT of an IN iso URB).  @len must then be
 *	the sum of the frames' actual_length.
 *
 * Header, payload and descriptors go out as one stream of sendmsg calls
 * with MSG_MORE between them.  The payload is gathered directly from the
 * buffer's pages.  Callers serialize sends on a socket.
 *
 * Return: 0, -EINVAL for an inconsistent message (nothing sent), or a
 * socket error as for usbip_send_data() (the stream is then broken).
 */
int usbip_send_msg(struct socket *sock, const struct usbip_pdu *pdu,
		   const struct usbip_buf *buf, u32 len,
		   const struct usbip_iso_desc *iso, int n_iso, unsigned int flags)
{
	struct usbip_sg_cursor cur = {};
	struct usbip_iov_batch b;
	u8 hdr[USBIP_HEADER_SIZE];
	const char *reason;
	int i, ret;

	ret = usbip_pdu_encode(pdu, hdr);
	if (ret)
		return ret;
	if (n_iso < 0 || n_iso > USBIP_MAX_ISO_PACKETS || (n_iso && !iso))
		return -EINVAL;
	if (len && (!buf || len > buf->len))
		return -EINVAL;
	if (flags & USBIP_SEND_ISO_PACKED) {
		ret = usbip_iso_check(iso, n_iso, buf ? buf->len : 0, len,
				      USBIP_ISO_CHECK_ACTUAL, &reason);
		if (ret) {
			pr_warn_ratelimited("%s seqnum %u not sent: %s\n",
					    usbip_cmd_name(pdu->command), pdu->seqnum, reason);
			return -EINVAL;
		}
	}

	usbip_dbg(USBIP_DBG_TX, "tx %s seqnum %u devid %#x dir %u ep %u len %u iso %d\n",
		  usbip_cmd_name(pdu->command), pdu->seqnum, pdu->devid, pdu->direction,
		  pdu->ep, len, n_iso);

	ret = usbip_send_data(sock, hdr, sizeof(hdr), len || n_iso);
	if (ret)
		return ret;

	if (len) {
		usbip_batch_init(&b, sock, ITER_SOURCE, buf);
		if (flags & USBIP_SEND_ISO_PACKED) {
			for (i = 0; i < n_iso; i++) {
				ret = usbip_batch_add(&b, buf, iso[i].offset,
						      iso[i].actual_length, &cur);
				if (ret)
					return ret;
			}
		} else {
			ret = usbip_batch_add(&b, buf, 0, len, &cur);
			if (ret)
				return ret;
		}
		ret = usbip_batch_flush(&b, n_iso > 0);
		if (ret)
			return ret;
	}

	return usbip_send_iso_descs(sock, iso, n_iso);
}
EXPORT_SYMBOL_GPL(usbip_send_msg);

/**
 * usbip_sock_err_is_link() - does a socket error mean only the link failed
 * @err: a negative errno from the send or receive functions
 * @send: @err comes from a send (else from a receive)
 *
 * A timeout, a reset by the peer, an unreachable network or host: the
 * peer may come back on a new connection.  End of stream (-ECONNRESET
 * from a receive: the peer closed in order), a malformed stream and
 * local errors are not link failures.
 *
 * Return: true for a link failure.
 */
bool usbip_sock_err_is_link(int err, bool send)
{
	switch (err) {
	case -ECONNRESET:	/* a reset from a send, end of stream from a receive */
		return send;
	case -ETIMEDOUT:
	case -ENETRESET:
	case -EPIPE:
	case -ECONNABORTED:
	case -EHOSTUNREACH:
	case -ENETUNREACH:
	case -ENETDOWN:
	case -EHOSTDOWN:
	case -ENOTCONN:
		return true;
	default:
		return false;
	}
}
EXPORT_SYMBOL_GPL(usbip_sock_err_is_link);

/**
 * usbip_recv_data() - receive exactly @len bytes into a linear buffer
 * @sock: connected socket
 * @data: destination
 * @len: number of bytes
 *
 * Loops over short reads.  Callers serialize receives on a socket.
 *
 * Return: 0, -ECONNRESET on end of stream after the peer's FIN,
 * -ENETRESET if the connection ended otherwise (reset by the peer, timed
 * out, shut down locally; see usbip_sock_eof_err()), -EINTR on a signal,
 * or another negative errno.
 */
int usbip_recv_data(struct socket *sock, void *data, size_t len)
{
	struct msghdr msg = { .msg_flags = MSG_NOSIGNAL | MSG_WAITALL };
	struct kvec kv = { .iov_base = data, .iov_len = len };

	if (!len)
		return 0;
	iov_iter_kvec(&msg.msg_iter, ITER_DEST, &kv, 1, len);
	return usbip_xfer_msg(sock, &msg, false);
}
EXPORT_SYMBOL_GPL(usbip_recv_data);

/**
 * usbip_recv_buf() - receive exactly @len bytes into part of a buffer
 * @sock: connected socket
 * @buf: linear or scatter-gather destination
 * @off: where in @buf the bytes go
 * @len: number of bytes
 *
 * Return: 0, -EINVAL if the range is outside @buf (checked before
 * anything is read), or a socket error as for usbip_recv_data().
 */
int usbip_recv_buf(struct socket *sock, const struct usbip_buf *buf, u32 off, u32 len)
{
	struct usbip_sg_cursor cur = {};
	struct usbip_iov_batch b;
	int ret;

	if (!len)
		return 0;
	if (off > buf->len || len > buf->len - off)
		return -EINVAL;

	usbip_batch_init(&b, sock, ITER_DEST, buf);
	ret = usbip_batch_add(&b, buf, off, len, &cur);
	if (ret)
		return ret;
	return usbip_batch_flush(&b, false);
}
EXPORT_SYMBOL_GPL(usbip_recv_buf);

/**
 * usbip_recv_pdu() - receive and validate one 48-byte header
 * @sock: connected socket
 * @pdu: output
 * @reason: set to a short explanation on failure; may be NULL
 *
 * Return: 0; -EPROTO for a malformed header (the stream cannot be resynced,
 * so the caller ends the connection); or a socket error as for
 * usbip_recv_data().
 */
int usbip_recv_pdu(struct socket *sock, struct usbip_pdu *pdu, const char **reason)
{
	u8 hdr[USBIP_HEADER_SIZE];
	int ret;

	ret = usbip_recv_data(sock, hdr, sizeof(hdr));
	if (ret) {
		if (reason)
			*reason = ret == -ECONNRESET ? "connection closed" :
				  ret == -ENETRESET ? "connection reset" : "receive error";
		return ret;
	}
	ret = usbip_pdu_decode(pdu, hdr, reason);
	usbip_dbg(USBIP_DBG_RX, "rx %s seqnum %u devid %#x dir %u ep %u: %s\n",
		  usbip_cmd_name(pdu->command), pdu->seqnum, pdu->devid, pdu->direction,
		  pdu->ep, ret ? (reason ? *reason : "invalid") : "ok");
	return ret;
}
EXPORT_SYMBOL_GPL(usbip_recv_pdu);

/**
 * usbip_recv_iso_descs() - receive @n iso packet descriptors
 * @sock: connected socket
 * @descs: output array of @n entries, host order on return
 * @n: number of descriptors, 0..USBIP_MAX_ISO_PACKETS
 *
 * The values are not validated; use usbip_iso_check() or
 * usbip_iso_unpack_buf().
 *
 * Return: 0, -EINVAL for a bad @n, or a socket error.
 */
int usbip_recv_iso_descs(struct socket *sock, struct usbip_iso_desc *descs, int n)
{
	int ret;

	BUILD_BUG_ON(sizeof(*descs) != USBIP_ISO_DESC_SIZE);
	if (n < 0 || n > USBIP_MAX_ISO_PACKETS)
		return -EINVAL;
	ret = usbip_recv_data(sock, descs, (size_t)n * USBIP_ISO_DESC_SIZE);
	if (ret)
		return ret;
	usbip_iso_descs_from_wire(descs, n);
	return 0;
}
EXPORT_SYMBOL_GPL(usbip_recv_iso_descs);

/**
 * usbip_iso_unpack_buf() - spread packed iso data to the frame offsets
 * @buf: linear or scatter-gather buffer whose first @actual_length bytes
 *	hold the packed frames of a RET_SUBMIT
 * @descs: @n descriptors: offsets/lengths of the URB, actual_length and
 *	status as received
 * @n: number of descriptors
 * @actual_length: actual_length of the RET_SUBMIT
 * @reason: set to a short explanation on failure; may be NULL
 *
 * Same contract as usbip_iso_unpack() in usbip_proto.c.  For scatterlists
 * frames are moved last first, each from its end, through a one-page
 * bounce buffer, so packed data is never overwritten before it is moved.
 *
 * Return: 0, -EPROTO for bad descriptors, -ENOMEM, or -EINVAL if the
 * scatterlist is shorter than @buf->len.
 */
int usbip_iso_unpack_buf(const struct usbip_buf *buf, const struct usbip_iso_desc *descs,
			 int n, u32 actual_length, const char **reason)
{
	u32 pos = actual_length;
	void *bounce;
	int ret, i;

	if (buf->data)
		return usbip_iso_unpack(buf->data, buf->len, descs, n, actual_length, reason);

	ret = usbip_iso_check(descs, n, buf->len, actual_length,
			      USBIP_ISO_CHECK_ACTUAL | USBIP_ISO_CHECK_ORDER, reason);
	if (ret)
		return ret;

	bounce = kmalloc(PAGE_SIZE, GFP_NOIO);
	if (!bounce) {
		if (reason)
			*reason = "out of memory";
		return -ENOMEM;
	}

	for (i = n - 1; i >= 0; i--) {
		u32 left = descs[i].actual_length;

		pos -= left;
		if (pos == descs[i].offset)
			continue;
		/* pos < offset: copy from the end of the frame downwards */
		while (left) {
			u32 chunk = min_t(u32, left, PAGE_SIZE);

			left -= chunk;
			if (sg_pcopy_to_buffer(buf->sg, buf->nents, bounce, chunk,
					       pos + left) != chunk ||
			    sg_pcopy_from_buffer(buf->sg, buf->nents, bounce, chunk,
						 descs[i].offset + left) != chunk) {
				if (reason)
					*reason = "scatterlist shorter than the buffer";
				ret = -EINVAL;
				goto out_free;
			}
		}
	}
out_free:
	kfree(bounce);
	return ret;
}
EXPORT_SYMBOL_GPL(usbip_iso_unpack_buf);

/**
 * usbip_sock_peer_timeout_set() - detect a dead peer within @secs seconds
 * @sk: a TCP socket
 * @secs: 1 to USBIP_PEER_TIMEOUT_MAX
 *
 * TCP_USER_TIMEOUT ends the connection when sent data stays unacknowledged
 * for @secs; keepalive probes after 2/5 of it without traffic, then every
 * tenth, make an idle connection end at the same point (with a user timeout
 * set, TCP ends it once @secs have passed since the last thing received
 * and a probe went unanswered, whatever the probe count).  Userspace
 * computes the same timers (usbip_net_set_peer_timeout()).
 */
static void usbip_sock_peer_timeout_set(struct sock *sk, unsigned int secs)
{
	unsigned int idle = max(1U, secs * 2 / 5);
	unsigned int intvl = max(1U, secs / 10);
	unsigned int cnt = min(127U, DIV_ROUND_UP(secs - min(secs, idle), intvl) + 1);

	tcp_sock_set_user_timeout(sk, secs * 1000);
	tcp_sock_set_keepidle(sk, idle);
	tcp_sock_set_keepintvl(sk, intvl);
	tcp_sock_set_keepcnt(sk, cnt);
	sock_set_keepalive(sk);
}

/**
 * usbip_sockfd_get() - get the connected TCP socket behind a user fd
 * @fd: file descriptor in the calling process (written by userspace to a
 *	sysfs attach file)
 *
 * Accepts only connected SOCK_STREAM TCP sockets (IPv4 or IPv6), turns on
 * TCP_NODELAY, clears send/receive timeouts and makes the socket allocate
 * with GFP_NOIO (the devices behind it may be block devices in the reclaim
 * path).  A socket without a TCP_USER_TIMEOUT gets the peer_timeout
 * parameter's dead-peer timers.  The returned
 * socket holds a reference to its file, dropped by usbip_sock_release()
 * (or by the connection it is handed to with usbip_conn_start()).
 *
 * Return: the socket, or ERR_PTR(-EBADF / -ENOTSOCK / -EPROTONOSUPPORT /
 * -ENOTCONN).
 */
struct socket *usbip_sockfd_get(int fd)
{
	unsigned int timeout;
	struct socket *sock;
	struct sock *sk;
	int err = 0;

	sock = sockfd_lookup(fd, &err);
	if (!sock)
		return ERR_PTR(err ? err : -EBADF);

	sk = sock->sk;
	if (sock->type != SOCK_STREAM || !sk || sk->sk_protocol != IPPROTO_TCP ||
	    (sk->sk_family != AF_INET && sk->sk_family != AF_INET6)) {
		err = -EPROTONOSUPPORT;
		goto err_put;
	}
	if (READ_ONCE(sk->sk_state) != TCP_ESTABLISHED) {
		err = -ENOTCONN;
		goto err_put;
	}

	tcp_sock_set_nodelay(sk);
	timeout = READ_ONCE(usbip_peer_timeout);
	if (timeout && !READ_ONCE(inet_csk(sk)->icsk_user_timeout))
		usbip_sock_peer_timeout_set(sk, timeout);
	lock_sock(sk);
	sk->sk_allocation = GFP_NOIO;
	/* the threads block until data or shutdown, whatever userspace set */
	sk->sk_rcvtimeo = MAX_SCHEDULE_TIMEOUT;
	sk->sk_sndtimeo = MAX_SCHEDULE_TIMEOUT;
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 2, 0)
	sk->sk_use_task_frag = false;
#endif
	release_sock(sk);
	return sock;

err_put:
	sockfd_put(sock);
	return ERR_PTR(err);
}
EXPORT_SYMBOL_GPL(usbip_sockfd_get);

/**
 * usbip_sock_release() - drop a socket obtained by usbip_sockfd_get()
 * @sock: the socket; a kernel socket without a file is released
 */
void usbip_sock_release(struct socket *sock)
{
	if (!sock)
		return;
	if (sock->file)
		sockfd_put(sock);
	else
		sock_release(sock);
}
EXPORT_SYMBOL_GPL(usbip_sock_release);
