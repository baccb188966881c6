// SPDX-License-Identifier: GPL-2.0
/*
 * TCP helpers of libusbip.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "usbip_net.h"
#include "usbip_proto.h"

/* Timeout of one connection attempt to one address, in milliseconds. */
#define CONNECT_TIMEOUT_MS	10000
/* Test hook: replaces USBIP_NET_TIMEOUT_MS (100 to 3600000). */
#define TIMEOUT_ENV		"USBIP_NET_TIMEOUT_MS"

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* How long a server has for a whole reply, in milliseconds. */
static int timeout_ms(void)
{
	const char *env = getenv(TIMEOUT_ENV);
	long v;

	if (env && *env) {
		v = strtol(env, NULL, 10);
		if (v >= 100 && v <= 3600000)
			return v;
	}
	return USBIP_NET_TIMEOUT_MS;
}

/* Waits for @events on @fd until @deadline (ms); 0, -ETIMEDOUT or -errno. */
static int wait_fd(int fd, short events, long long deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	long long left;
	int n;

	for (;;) {
		left = deadline - now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

/**
 * usbip_net_set_options() - TCP_NODELAY and SO_KEEPALIVE on a connection
 * @fd: connected TCP socket
 * @err: reason on failure, may be NULL
 *
 * USB/IP messages are small and latency-bound, hence no Nagle delay; keepalive
 * lets a dead peer be noticed on an otherwise idle connection.
 *
 * Return: 0 or a negative errno.
 */
int usbip_net_set_options(int fd, struct usbip_error *err)
{
	int one = 1, e;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one))) {
		e = errno;
		usbip_set_error(err, "setting TCP_NODELAY/SO_KEEPALIVE: %s", strerror(e));
		return -e;
	}
	return 0;
}

/**
 * usbip_net_parse_peer_timeout() - parse a --peer-timeout value
 * @text: seconds, 0 to USBIP_PEER_TIMEOUT_MAX
 * @secs: the value
 *
 * Return: 0, or -EINVAL.
 */
int usbip_net_parse_peer_timeout(const char *text, unsigned int *secs)
{
	char *end;
	unsigned long v;

	if (!text || *text < '0' || *text > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(text, &end, 10);
	if (errno || *end || v > USBIP_PEER_TIMEOUT_MAX)
		return -EINVAL;
	*secs = v;
	return 0;
}

/**
 * usbip_net_set_peer_timeout() - end the connection when the peer is dead
 * @fd: connected TCP socket
 * @secs: seconds without an answer from the peer, 1 to
 *	USBIP_PEER_TIMEOUT_MAX; 0 changes nothing
 * @err: reason on failure, may be NULL
 *
 * The socket is handed to the kernel driver afterwards, which keeps these
 * timers (our drivers apply their own peer_timeout parameter only to
 * sockets without a TCP_USER_TIMEOUT).  TCP_USER_TIMEOUT ends a busy
 * connection whose data stays unacknowledged for @secs; keepalive probes
 * after 2/5 of @secs of silence, then every tenth, end an idle one at the
 * same point (TCP ends it once @secs passed since the last thing received
 * and a probe went unanswered).  Either way the peer is declared dead
 * within @secs, plus at most one probe interval (each timer is at least
 * 1 s).  A peer whose receive window stays closed for @secs is taken as
 * dead too (TCP counts a zero window from its first probe).
 *
 * Return: 0 or a negative errno.
 */
int usbip_net_set_peer_timeout(int fd, unsigned int secs, struct usbip_error *err)
{
	int ms = secs * 1000, one = 1, idle, intvl, cnt, e;
	const struct {
		int level, name;
		const char *what;
		const int *val;
	} opts[] = {
		{ IPPROTO_TCP, TCP_USER_TIMEOUT, "TCP_USER_TIMEOUT", &ms },
		{ IPPROTO_TCP, TCP_KEEPIDLE, "TCP_KEEPIDLE", &idle },
		{ IPPROTO_TCP, TCP_KEEPINTVL, "TCP_KEEPINTVL", &intvl },
		{ IPPROTO_TCP, TCP_KEEPCNT, "TCP_KEEPCNT", &cnt },
		{ SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE", &one },
	};
	size_t i;

	if (!secs)
		return 0;
	if (secs > USBIP_PEER_TIMEOUT_MAX) {
		usbip_set_error(err, "peer timeout %u s is over %d s", secs,
				USBIP_PEER_TIMEOUT_MAX);
		return -EINVAL;
	}
	idle = secs * 2 / 5 ? secs * 2 / 5 : 1;
	intvl = secs / 10 ? secs / 10 : 1;
	cnt = (secs > (unsigned int)idle ? (secs - idle + intvl - 1) / intvl : 0) + 1;
	if (cnt > 127)
		cnt = 127;
	for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		if (!setsockopt(fd, opts[i].level, opts[i].name, opts[i].val, sizeof(int)))
			continue;
		e = errno;
		usbip_set_error(err, "setting %s to %d for a %u s peer timeout: %s", opts[i].what,
				*opts[i].val, secs, strerror(e));
		return -e;
	}
	return 0;
}

/**
 * usbip_net_addr_str() - numeric "addr:port" or "[addr]:port" of a socket address
 * @sa: struct sockaddr of family AF_INET or AF_INET6
 * @salen: its length
 * @buf: output
 * @size: size of @buf (64 bytes is enough)
 */
void usbip_net_addr_str(const void *sa, unsigned int salen, char *buf, size_t size)
{
	char host[NI_MAXHOST], serv[NI_MAXSERV];
	const struct sockaddr *addr = sa;

	if (getnameinfo(addr, salen, host, sizeof(host), serv, sizeof(serv),
			NI_NUMERICHOST | NI_NUMERICSERV)) {
		snprintf(buf, size, "(unknown address)");
		return;
	}
	snprintf(buf, size, addr->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, serv);
}

/* One non-blocking connect with a timeout; the socket is blocking again on success. */
static int connect_one(const struct addrinfo *ai, int timeout_ms, int *fdp)
{
	socklen_t len = sizeof(int);
	int fd, flags, soerr = 0, ret;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return -errno;
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK)) {
		ret = -errno;
		goto err_close;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen)) {
		if (errno != EINPROGRESS) {
			ret = -errno;
			goto err_close;
		}
		ret = wait_fd(fd, POLLOUT, now_ms() + timeout_ms);
		if (ret)
			goto err_close;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len)) {
			ret = -errno;
			goto err_close;
		}
		if (soerr) {
			ret = -soerr;
			goto err_close;
		}
	}
	if (fcntl(fd, F_SETFL, flags)) {
		ret = -errno;
		goto err_close;
	}
	*fdp = fd;
	return 0;

err_close:
	close(fd);
	return ret;
}

/**
 * usbip_net_parse_port() - parse a TCP port number given on a command line
 * @text: the argument: decimal digits only, 1 to 65535
 * @port: the port on success
 *
 * Return: 0, or -EINVAL for anything else (signs, blanks, trailing text).
 */
int usbip_net_parse_port(const char *text, unsigned int *port)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(text, &end, 10);
	if (errno || end == text || *end || text[0] == '-' || v < 1 || v > 65535)
		return -EINVAL;
	*port = v;
	return 0;
}

/*
 * Connects to every address of @host in turn, each for at most
 * CONNECT_TIMEOUT_MS, until one answers; with a @deadline (CLOCK_MONOTONIC
 * ms, 0 for none) no attempt lasts past it.
 */
static int connect_host(const char *host, unsigned int port, long long deadline,
			struct usbip_error *err)
{
	long long left = CONNECT_TIMEOUT_MS;
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_protocol = IPPROTO_TCP,
	};
	struct addrinfo *res, *ai;
	char serv[16], addr[80];
	int fd = -1, ret, last = -EHOSTUNREACH;

	snprintf(serv, sizeof(serv), "%u", port);
	ret = getaddrinfo(host, serv, &hints, &res);
	if (ret) {
		usbip_set_error(err, "cannot resolve %s: %s", host,
				ret == EAI_SYSTEM ? strerror(errno) : gai_strerror(ret));
		return -EHOSTUNREACH;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		if (deadline)
			left = deadline - now_ms();
		if (left <= 0) {
			if (ai == res)
				last = -ETIMEDOUT;
			break;
		}
		usbip_net_addr_str(ai->ai_addr, ai->ai_addrlen, addr, sizeof(addr));
		last = connect_one(ai, left < CONNECT_TIMEOUT_MS ? (int)left : CONNECT_TIMEOUT_MS,
				   &fd);
		if (!last) {
			usbip_dbg("connected to %s", addr);
			break;
		}
		usbip_dbg("connecting to %s: %s", addr, strerror(-last));
	}
	freeaddrinfo(res);
	if (last) {
		usbip_set_error(err, "cannot connect to %s:%u: %s", host, port, strerror(-last));
		return last;
	}
	usbip_net_set_options(fd, NULL);
	return fd;
}

/**
 * usbip_net_connect() - open a TCP connection to a USB/IP server
 * @host: host name, IPv4 or IPv6 address
 * @port: TCP port
 * @err: reason on failure, may be NULL
 *
 * Every address the name resolves to is tried in turn, each for at most
 * 10 seconds.  The socket returned is blocking, with TCP_NODELAY and
 * SO_KEEPALIVE set.
 *
 * Return: the socket, or a negative errno.
 */
int usbip_net_connect(const char *host, unsigned int port, struct usbip_error *err)
{
	return connect_host(host, port, 0, err);
}

/**
 * usbip_net_connect_timeout() - usbip_net_connect() within a time limit
 * @host: host name, IPv4 or IPv6 address
 * @port: TCP port
 * @timeout_ms: at least 1; each address is tried for at most this long
 *	or 10 seconds, and no new one once it has passed since the call (the
 *	name lookup itself is not bounded)
 * @err: reason on failure, may be NULL
 *
 * For a caller that has a deadline of its own, such as a resume window.
 *
 * Return: the socket, or a negative errno (-ETIMEDOUT when the time ran out).
 */
int usbip_net_connect_timeout(const char *host, unsigned int port, int timeout_ms,
			      struct usbip_error *err)
{
	return connect_host(host, port, now_ms() + (timeout_ms > 0 ? timeout_ms : 1), err);
}

/**
 * usbip_net_read() - read exactly @len bytes
 * @fd: socket
 * @buf: destination
 * @len: bytes to read
 * @timeout_ms: deadline for the whole read
 * @err: reason on failure, may be NULL
 *
 * Return: 0, -ECONNRESET when the peer closed early, -ETIMEDOUT, or -errno.
 */
int usbip_net_read(int fd, void *buf, size_t len, int timeout_ms, struct usbip_error *err)
{
	long long deadline = now_ms() + timeout_ms;
	size_t done = 0;
	ssize_t n;
	int ret;

	while (done < len) {
		ret = wait_fd(fd, POLLIN, deadline);
		if (ret) {
			usbip_set_error(err, "no reply within %d s (%zu of %zu bytes received)",
					timeout_ms / 1000, done, len);
			return ret;
		}
		n = recv(fd, (char *)buf + done, len - done, MSG_DONTWAIT);
		if (n == 0) {
			usbip_set_error(err, "connection closed by the peer after %zu of %zu bytes",
					done, len);
			return -ECONNRESET;
		}
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			ret = -errno;
			usbip_set_error(err, "receiving: %s", strerror(errno));
			return ret;
		}
		done += n;
	}
	return 0;
}

/**
 * usbip_net_write() - write exactly @len bytes
 * @fd: socket
 * @buf: data
 * @len: bytes to write
 * @timeout_ms: deadline for the whole write
 * @err: reason on failure, may be NULL
 *
 * Return: 0, -ETIMEDOUT or -errno (never raises SIGPIPE).
 */
int usbip_net_write(int fd, const void *buf, size_t len, int timeout_ms,
		    struct usbip_error *err)
{
	long long deadline = now_ms() + timeout_ms;
	size_t done = 0;
	ssize_t n;
	int ret;

	while (done < len) {
		n = send(fd, (const char *)buf + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN) {
				ret = -errno;
				usbip_set_error(err, "sending: %s", strerror(errno));
				return ret;
			}
			ret = wait_fd(fd, POLLOUT, deadline);
			if (ret) {
				usbip_set_error(err, "peer accepts no data (%zu of %zu bytes sent)",
						done, len);
				return ret;
			}
			continue;
		}
		done += n;
	}
	return 0;
}

/*
 * Reads one message whose size @need() tells as it arrives, into *@buf
 * (malloc()ed, the caller frees it even on failure), all of it before
 * @deadline.  Each read asks for exactly the bytes still known to be
 * missing, so nothing past the message is consumed, and @need() bounds the
 * size before any of it is allocated.
 */
static int read_message(int fd, ssize_t (*need)(const uint8_t *, size_t, struct usbip_error *),
			uint8_t **buf, size_t *len, long long deadline, struct usbip_error *err)
{
	size_t used = 0, cap = 0, want;
	long long left;
	uint8_t *grown;
	ssize_t size;
	int ret;

	*buf = NULL;
	for (;;) {
		size = need(*buf, used, err);
		if (size < 0)
			return size;
		if ((size_t)size == used)
			break;
		if ((size_t)size > cap) {
			want = cap ? cap : 512;
			while (want < (size_t)size)
				want *= 2;
			grown = realloc(*buf, want);
			if (!grown) {
				usbip_set_error(err, "out of memory for a %zd-byte reply", size);
				return -ENOMEM;
			}
			*buf = grown;
			cap = want;
		}
		left = deadline - now_ms();
		ret = left > 0 ? usbip_net_read(fd, *buf + used, size - used, left, err) :
				 -ETIMEDOUT;
		if (ret == -ETIMEDOUT)
			usbip_set_error(err, "no complete reply within %d ms (%zu bytes received)",
					timeout_ms(), used);
		if (ret)
			return ret;
		used = size;
	}
	*len = used;
	return 0;
}

/**
 * usbip_net_devlist() - ask a server for its exportable devices
 * @fd: connected socket
 * @devs: on success a malloc()ed array (NULL when empty)
 * @ndev: on success the number of devices
 * @err: reason on failure, may be NULL
 *
 * Sends OP_REQ_DEVLIST and reads OP_REP_DEVLIST as usbip_rep_devlist_need()
 * frames it, so that the reply's size is known without waiting for the
 * server to close and is bounded before it is allocated; then every field
 * is checked by usbip_unpack_rep_devlist().  The whole reply must arrive
 * within the timeout.
 *
 * Return: 0 or a negative errno.
 */
int usbip_net_devlist(int fd, struct usbip_devinfo **devs, uint32_t *ndev,
		      struct usbip_error *err)
{
	long long deadline = now_ms() + timeout_ms();
	uint8_t req[USBIP_OP_HDR_WIRE_SIZE], *buf;
	size_t len;
	int ret;

	usbip_pack_req_devlist(req);
	ret = usbip_net_write(fd, req, sizeof(req), timeout_ms(), err);
	if (ret)
		return ret;
	ret = read_message(fd, usbip_rep_devlist_need, &buf, &len, deadline, err);
	if (!ret)
		ret = usbip_unpack_rep_devlist(buf, len, devs, ndev, err);
	free(buf);
	return ret;
}

/**
 * usbip_net_import() - ask a server for one of its devices
 * @fd: connected socket
 * @busid: bus id of the device on the server
 * @offer: the extension hello to send, or NULL for a plain import
 * @status: the reply's status (USBIP_OP_ST_*)
 * @dev: the device when *@status is USBIP_OP_ST_OK
 * @ext: when *@status is USBIP_OP_ST_OK: the extension block, or
 *	ext->version 0 for a server that did not answer the hello; may be
 *	NULL when @offer is
 * @err: reason on failure, may be NULL
 *
 * Sends OP_REQ_IMPORT (with the hello when @offer is given and the bus id
 * leaves room for it) and reads OP_REP_IMPORT as usbip_rep_import_need()
 * frames it: the op header, then the device record only when the status
 * is 0, all within the timeout.  An accepted reply is checked by
 * usbip_unpack_rep_import_for(): it must name the bus id that was asked
 * for.  When its bus id field carries an answer to our hello, the
 * extension block that follows is read and checked too; otherwise nothing
 * more is read (a plain server's driver owns the stream after the reply).
 * A refusal (non-zero status) is a successful exchange; the caller
 * explains it.
 *
 * Return: 0 or a negative errno.
 */
int usbip_net_import(int fd, const char *busid, const struct usbip_ext_hello *offer,
		     uint32_t *status, struct usbip_devinfo *dev, struct usbip_ext_block *ext,
		     struct usbip_error *err)
{
	long long deadline = now_ms() + timeout_ms();
	uint8_t req[USBIP_REQ_IMPORT_WIRE_SIZE], *buf;
	struct usbip_ext_hello answer;
	bool hello = false;
	size_t len;
	int ret;

	if (ext)
		memset(ext, 0, sizeof(*ext));
	ret = usbip_pack_req_import(req, busid, err);
	if (ret)
		return ret;
	if (offer && ext &&
	    !usbip_ext_hello_put(req + USBIP_OP_HDR_WIRE_SIZE, offer, NULL))
		hello = true;
	ret = usbip_net_write(fd, req, sizeof(req), timeout_ms(), err);
	if (ret)
		return ret;
	ret = read_message(fd, usbip_rep_import_need, &buf, &len, deadline, err);
	if (!ret)
		ret = usbip_unpack_rep_import_for(buf, len, busid, status, dev, err);
	free(buf);
	/* An echo of our own hello (no answer flag) is a plain reply. */
	if (ret || *status != USBIP_OP_ST_OK || !hello ||
	    !usbip_ext_hello_get((const uint8_t *)dev->busid, &answer) ||
	    !(answer.flags & USBIP_EXT_FLAG_ANSWER))
		return ret;

	ret = read_message(fd, usbip_ext_block_need, &buf, &len, deadline, err);
	if (!ret) {
		ret = usbip_unpack_ext_block(buf, len, &answer, offer->caps, ext, err);
		explicit_bzero(buf, len);	/* the session token */
	}
	free(buf);
	return ret;
}

/**
 * usbip_net_resume() - resume a session on a new connection
 * @fd: connected socket, to the server that agreed USBIP_EXT_CAP_SESSION
 * @busid: bus id of the device on the server (at most USBIP_EXT_BUSID_MAX
 *	characters, as any bus id a session was agreed for)
 * @token: USBIP_EXT_TOKEN_SIZE bytes, the session's current token
 * @offer: the hello sent in the bus id field's tail, or NULL for version
 *	USBIP_EXT_VERSION offering USBIP_EXT_CAP_SESSION; its caps must
 *	include USBIP_EXT_CAP_SESSION
 * @status: the reply's status: USBIP_OP_ST_OK, or the server's refusal
 *	(unknown device, wrong or expired token; it closes the connection)
 * @dev: the device when *@status is USBIP_OP_ST_OK
 * @ext: the extension block when *@status is USBIP_OP_ST_OK: the new token
 *	(the old one no longer works) and the session's parameters
 * @err: reason on failure, may be NULL
 *
 * Sends OP_REQ_RESUME and reads OP_REP_RESUME as usbip_rep_resume_need()
 * frames it, then, for an accepted resume, the extension block, all within
 * the timeout, nothing past them (the socket goes to the driver next).
 * The reply is checked by usbip_unpack_rep_resume_for() and the block by
 * usbip_unpack_ext_block() against the answer and the offer.  A refusal
 * is a successful exchange; the caller explains it.
 *
 * Return: 0 or a negative errno.
 */
int usbip_net_resume(int fd, const char *busid, const uint8_t *token,
		     const struct usbip_ext_hello *offer, uint32_t *status,
		     struct usbip_devinfo *dev, struct usbip_ext_block *ext,
		     struct usbip_error *err)
{
	static const struct usbip_ext_hello session = {
		.version = USBIP_EXT_VERSION,
		.caps = USBIP_EXT_CAP_SESSION,
	};
	long long deadline = now_ms() + timeout_ms();
	uint8_t req[USBIP_REQ_RESUME_WIRE_SIZE], *buf;
	struct usbip_ext_hello answer;
	size_t len;
	int ret;

	memset(ext, 0, sizeof(*ext));
	*status = UINT32_MAX;
	if (!offer)
		offer = &session;
	if (!(offer->caps & USBIP_EXT_CAP_SESSION) || offer->flags) {
		usbip_set_error(err, "a resume must offer sessions in a hello");
		return -EINVAL;
	}
	ret = usbip_pack_req_resume(req, busid, offer, token, err);
	if (ret)
		return ret;
	ret = usbip_net_write(fd, req, sizeof(req), timeout_ms(), err);
	explicit_bzero(req, sizeof(req));	/* the token */
	if (ret)
		return ret;
	ret = read_message(fd, usbip_rep_resume_need, &buf, &len, deadline, err);
	if (!ret)
		ret = usbip_unpack_rep_resume_for(buf, len, busid, status, dev, &answer, err);
	free(buf);
	if (ret || *status != USBIP_OP_ST_OK)
		return ret;

	ret = read_message(fd, usbip_ext_block_need, &buf, &len, deadline, err);
	if (!ret) {
		ret = usbip_unpack_ext_block(buf, len, &answer, offer->caps, ext, err);
		explicit_bzero(buf, len);	/* the new token */
	}
	free(buf);
	return ret;
}
