// SPDX-License-Identifier: GPL-2.0
/*
 * usbipd: the USB/IP server daemon.
 *
 * It answers the two management requests of USB/IP on TCP port 3240:
 * OP_REQ_DEVLIST (which devices bound to usbip-host are available) and
 * OP_REQ_IMPORT (hand one of them to the client).  After a successful
 * import the connection belongs to the usbip-host driver, which carries the
 * URB traffic; usbipd closes its own descriptor and forgets it.
 *
 * Clients of this project say hello in the import's bus id field
 * (Documentation/usb/usbip_ext.rst); when they offer sessions and the
 * driver has them, usbipd draws the session's token and hands it to the
 * driver with the socket.  A client whose connection failed comes back
 * with OP_REQ_RESUME and the token; the driver checks it and takes the new
 * socket.  usbipd itself keeps no token: it only passes them on.
 *
 * In device mode (--device) the exported devices are instead the gadgets
 * bound to usbip-vudc controllers, and usbip-vudc takes the connection.
 *
 * All connections are served by one poll() loop on non-blocking sockets.
 * Each connection has a deadline, so a client that sends its request slowly
 * or never reads the reply is dropped without delaying anyone else.  When
 * every slot is taken, the oldest connection is dropped to make room for a
 * new one, so that a flood of idle connections cannot lock clients out.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_LIBWRAP
#include <tcpd.h>
int allow_severity = LOG_INFO;
int deny_severity = LOG_WARNING;
#endif

#include "usbip_common.h"
#include "usbip_host.h"
#include "usbip_kmod.h"
#include "usbip_net.h"
#include "usbip_proto.h"
#include "usbip_vudc.h"

#define DEFAULT_PIDFILE		"/var/run/usbipd.pid"
/* Time a client has to send its request and take the reply. */
#define DEFAULT_TIMEOUT_MS	10000
/* Test hook: replaces DEFAULT_TIMEOUT_MS. */
#define TIMEOUT_ENV		"USBIPD_TIMEOUT_MS"
#define MAX_LISTENERS		2
/* getopt values of the long-only options */
#define OPT_PEER_TIMEOUT	256
#define OPT_MAX_RESUME_WINDOW	257
/*
 * Sessions (usbip_ext.rst): the resume window when the client asks for
 * none, the default and largest --max-resume-window (the drivers' bound),
 * all in seconds; the heartbeat interval and the journal's bound.
 */
#define RESUME_WINDOW_DEFAULT	30
#define RESUME_WINDOW_MAX_DEFAULT 300
#define RESUME_WINDOW_MAX	(USBIP_EXT_WINDOW_MAX_MS / 1000)
#define SESSION_HEARTBEAT_MS	5000
#define SESSION_JOURNAL_MAX	(16U << 20)
/* Sessions whose parameters are remembered for their resumes. */
#define MAX_SESSIONS		64
#define MAX_CONNS		256
/* Connection log lines allowed per window; see conn_log(). */
#define LOG_BURST		50
#define LOG_WINDOW_MS		10000

/**
 * enum conn_state - where a connection is in its short life
 * @CONN_READ: reading the request (op header, then the rest of an import or
 *             a resume)
 * @CONN_WRITE: sending the reply
 * @CONN_DRAIN: reply sent and our side shut down; waiting for the client to
 *              close so that unread input never turns our close into a reset
 *              that could destroy the reply in flight
 */
enum conn_state {
	CONN_READ,
	CONN_WRITE,
	CONN_DRAIN,
};

/**
 * struct conn - one client connection
 * @fd: the socket, -1 for a free slot
 * @serial: number of the connection in accept order (the oldest has the lowest)
 * @state: see enum conn_state
 * @peer: "addr:port" of the client, for log lines
 * @deadline: CLOCK_MONOTONIC ms at which the connection is dropped
 * @in: request bytes received so far
 * @inlen: number of bytes in @in
 * @need: size of the complete request as far as usbip_req_need() knows it
 * @out: reply being sent (malloc()ed)
 * @outlen: size of the reply
 * @outpos: bytes of it already sent
 */
struct conn {
	int fd;
	unsigned long long serial;
	enum conn_state state;
	char peer[80];
	long long deadline;
	uint8_t in[USBIP_REQ_MAX_WIRE_SIZE];
	size_t inlen;
	size_t need;
	uint8_t *out;
	size_t outlen;
	size_t outpos;
};

/**
 * struct backend - the driver whose devices are exported
 * @driver: its name, for messages
 * @loaded: 0 when the driver is registered
 * @devices: the devices it could export, in any state
 * @read_device: the record of one device
 * @status: SDEV_ST_* of one device
 * @export_fd: hands a connected socket to the driver
 * @ext_caps: the extension capabilities the driver has for a device
 * @write_sockfd: writes a line to the device's usbip_sockfd (a socket
 *	with a session's parameters, or a resume)
 */
struct backend {
	const char *driver;
	int (*loaded)(struct usbip_error *err);
	int (*devices)(struct usbip_devinfo **devs, size_t *ndev, struct usbip_error *err);
	int (*read_device)(const char *busid, struct usbip_devinfo *dev,
			   struct usbip_error *err);
	int (*status)(const char *busid, int *status, struct usbip_error *err);
	int (*export_fd)(const char *busid, int sockfd, struct usbip_error *err);
	int (*ext_caps)(const char *busid, uint32_t *caps, struct usbip_error *err);
	int (*write_sockfd)(const char *busid, const char *line, const char *shown,
			    struct usbip_error *err);
};

static const struct backend host_backend = {
	.driver = USBIP_HOST_DRIVER,
	.loaded = usbip_host_driver_loaded,
	.devices = usbip_host_devices,
	.read_device = usbip_host_read_device,
	.status = usbip_host_status,
	.export_fd = usbip_host_export_fd,
	.ext_caps = usbip_host_ext_caps,
	.write_sockfd = usbip_host_write_sockfd,
};

static const struct backend vudc_backend = {
	.driver = USBIP_VUDC_DRIVER,
	.loaded = usbip_vudc_driver_loaded,
	.devices = usbip_vudc_devices,
	.read_device = usbip_vudc_read_device,
	.status = usbip_vudc_status,
	.export_fd = usbip_vudc_export_fd,
	.ext_caps = usbip_vudc_ext_caps,
	.write_sockfd = usbip_vudc_write_sockfd,
};

/* usbip-host, or usbip-vudc with --device. */
static const struct backend *backend = &host_backend;
static struct conn conns[MAX_CONNS];
/* MAX_CONNS, or fewer when the descriptor limit is lower. */
static int max_conns = MAX_CONNS;
static int listeners[MAX_LISTENERS];
static int nlisteners;
static int timeout_ms = DEFAULT_TIMEOUT_MS;
/* --peer-timeout: set on every connection, kept by the kernel after import */
static unsigned int peer_timeout = USBIP_PEER_TIMEOUT_DEFAULT;
/* --max-resume-window: the longest window granted, seconds; 0: no sessions */
static unsigned int max_resume_window = RESUME_WINDOW_MAX_DEFAULT;

/**
 * struct session_memo - the parameters of a session usbipd agreed to
 * @busid: its device, "" for a free entry
 * @window_s: resume window
 * @heartbeat_ms: heartbeat interval
 * @journal_max: the journal's bound
 *
 * A resume is answered with the parameters of the import (the driver keeps
 * them); after a restart of usbipd they are worked out again from the
 * resume's hello.  No token is kept: the driver has it.
 */
struct session_memo {
	char busid[USBIP_BUSID_SIZE];
	uint32_t window_s;
	uint32_t heartbeat_ms;
	uint32_t journal_max;
};

static struct session_memo memos[MAX_SESSIONS];
static unsigned int next_memo;
/* Serial number of the next accepted connection. */
static unsigned long long next_serial = 1;
/* The log limiter of conn_log(): current window, lines in it, lines left out. */
static long long log_window_start = -LOG_WINDOW_MS;
static unsigned int log_count, log_suppressed;
static volatile sig_atomic_t stop_signal;

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void syslog_sink(int priority, const char *line)
{
	syslog(priority, "%s", line);
}

static void on_signal(int sig)
{
	stop_signal = sig;
}

static void usage(void)
{
	printf("usage: usbipd [options]\n"
	       "\n"
	       "USB/IP server: exports the devices bound to usbip-host ('usbip bind'),\n"
	       "or with --device the USB gadgets bound to usbip-vudc controllers.\n"
	       "\n"
	       "  -4, --ipv4           listen on IPv4 (default: IPv4 and IPv6)\n"
	       "  -6, --ipv6           listen on IPv6 (default: IPv4 and IPv6)\n"
	       "  -e, --device         device mode: export the gadgets bound to usbip-vudc.N\n"
	       "                       (bus id usbip-vudc.N) instead of usbip-host devices\n"
	       "  -D, --daemon         run in the background, log to syslog\n"
	       "  -d, --debug          print debugging information\n"
	       "  -P, --pid [FILE]     write the process id to FILE (default %s)\n"
	       "  -t, --tcp-port PORT  listen on TCP port PORT (default %u)\n"
	       "      --peer-timeout SECS\n"
	       "                       end a connection whose client has not answered for\n"
	       "                       SECS seconds, busy or idle, and make its device\n"
	       "                       available again (default %d, at most %d; 0: leave\n"
	       "                       it to the driver, ours use usbip_core's peer_timeout)\n"
	       "      --max-resume-window SECS\n"
	       "                       longest time a session's device waits for its client\n"
	       "                       to come back after a failed connection (default %d,\n"
	       "                       at most %d; 0: agree to no session)\n"
	       "  -h, --help           this text\n"
	       "  -v, --version        show the version\n",
	       DEFAULT_PIDFILE, USBIP_PORT, USBIP_PEER_TIMEOUT_DEFAULT, USBIP_PEER_TIMEOUT_MAX,
	       RESUME_WINDOW_MAX_DEFAULT, RESUME_WINDOW_MAX);
}

/*
 * Lines about connections (one per incident at most) are limited to
 * LOG_BURST per LOG_WINDOW_MS, so that a flood of connections cannot flood
 * the log; the lines left out are counted in one summary line.
 */
static void log_window_roll(long long now)
{
	if (now - log_window_start < LOG_WINDOW_MS)
		return;
	if (log_suppressed)
		usbip_warn("%u more connection messages suppressed in %d s", log_suppressed,
			   LOG_WINDOW_MS / 1000);
	log_window_start = now;
	log_count = 0;
	log_suppressed = 0;
}

static void conn_log(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void conn_log(int priority, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	log_window_roll(now_ms());
	if (log_count >= LOG_BURST) {
		log_suppressed++;
		return;
	}
	log_count++;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (priority == LOG_ERR)
		usbip_err("%s", line);
	else
		usbip_info("%s", line);
}

static void conn_close(struct conn *c)
{
	close(c->fd);
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

static void conn_writable(struct conn *c);

/* Queues @len bytes of @buf as the reply of @c and starts sending it. */
static void conn_reply(struct conn *c, const uint8_t *buf, size_t len)
{
	c->out = malloc(len);
	if (!c->out) {
		conn_log(LOG_ERR, "%s: out of memory for a %zu-byte reply; closing", c->peer, len);
		conn_close(c);
		return;
	}
	memcpy(c->out, buf, len);
	c->outlen = len;
	c->outpos = 0;
	c->state = CONN_WRITE;
	c->deadline = now_ms() + timeout_ms;
	/*
	 * Send at once: a reply nearly always fits in the socket buffer, and a
	 * poll round that serves many requests on a slow host could otherwise
	 * outlast the deadline before this connection is polled for output.
	 */
	conn_writable(c);
}

/* Replies with a bare op header carrying @status (an error). */
static void conn_reply_status(struct conn *c, uint16_t code, uint32_t status)
{
	struct usbip_ophdr hdr = { .version = USBIP_VERSION, .code = code, .status = status };
	uint8_t buf[USBIP_OP_HDR_WIRE_SIZE];

	usbip_pack_ophdr(buf, &hdr);
	conn_reply(c, buf, sizeof(buf));
}

static void handle_devlist(struct conn *c)
{
	struct usbip_devinfo *devs;
	struct usbip_error err;
	size_t ndev, navail = 0, i;
	uint8_t *buf;
	ssize_t len;
	int ret, status;

	ret = backend->devices(&devs, &ndev, &err);
	if (ret == -ENOENT) {
		usbip_dbg("%s", err.msg);
		ndev = 0;
		devs = NULL;
	} else if (ret) {
		conn_log(LOG_ERR, "%s: device list: %s", c->peer, err.msg);
		conn_reply_status(c, USBIP_OP_REP_DEVLIST, USBIP_OP_ST_ERROR);
		return;
	}
	/* Only available devices are listed: one in use cannot be imported. */
	for (i = 0; i < ndev; i++) {
		if (backend->status(devs[i].busid, &status, NULL) ||
		    status != SDEV_ST_AVAILABLE) {
			usbip_dbg("%s: not available, not listed", devs[i].busid);
			continue;
		}
		devs[navail++] = devs[i];
	}
	len = usbip_rep_devlist_size(devs, navail);
	buf = malloc(len);
	if (!buf) {
		conn_log(LOG_ERR, "%s: out of memory for the device list", c->peer);
		free(devs);
		conn_close(c);
		return;
	}
	len = usbip_pack_rep_devlist(buf, len, devs, navail, &err);
	free(devs);
	if (len < 0) {
		conn_log(LOG_ERR, "%s: device list: %s", c->peer, err.msg);
		free(buf);
		conn_reply_status(c, USBIP_OP_REP_DEVLIST, USBIP_OP_ST_ERROR);
		return;
	}
	usbip_dbg("%s: sending %zu devices", c->peer, navail);
	conn_reply(c, buf, len);
	free(buf);
}

/* Draws a session token: USBIP_EXT_TOKEN_SIZE random bytes, never all zeros. */
static int draw_token(uint8_t *token)
{
	static const uint8_t zeros[USBIP_EXT_TOKEN_SIZE];
	size_t done;
	ssize_t n;

	do {
		for (done = 0; done < USBIP_EXT_TOKEN_SIZE; done += n) {
			/* Never wait for the entropy pool: the daemon serves everyone. */
			n = getrandom(token + done, USBIP_EXT_TOKEN_SIZE - done, GRND_NONBLOCK);
			if (n < 0 && errno == EINTR)
				n = 0;
			else if (n < 0)
				return -errno;
		}
	} while (!memcmp(token, zeros, sizeof(zeros)));
	return 0;
}

/*
 * The parameters of a new session: the window the client asked for (the
 * default when it asked for none), at most --max-resume-window; the
 * heartbeat and the journal's bound.  Returns the window in seconds.
 */
static unsigned int session_params(const struct usbip_ext_hello *hello,
				   struct usbip_ext_block *blk)
{
	unsigned int window = hello->window_s ? hello->window_s : RESUME_WINDOW_DEFAULT;

	if (window > max_resume_window)
		window = max_resume_window;
	blk->window_ms = window * 1000;
	blk->heartbeat_ms = SESSION_HEARTBEAT_MS;
	blk->journal_max = SESSION_JOURNAL_MAX;
	return window;
}

static struct session_memo *memo_find(const char *busid)
{
	unsigned int i;

	for (i = 0; i < MAX_SESSIONS; i++)
		if (!strcmp(memos[i].busid, busid))
			return &memos[i];
	return NULL;
}

/* Remembers the parameters of the session just agreed for @busid. */
static void memo_store(const char *busid, unsigned int window_s,
		       const struct usbip_ext_block *blk)
{
	struct session_memo *m = memo_find(busid);

	if (!m) {
		m = &memos[next_memo];
		next_memo = (next_memo + 1) % MAX_SESSIONS;
	}
	snprintf(m->busid, sizeof(m->busid), "%s", busid);
	m->window_s = window_s;
	m->heartbeat_ms = blk->heartbeat_ms;
	m->journal_max = blk->journal_max;
}

/*
 * The capabilities agreed for an import of @busid by a client that offered
 * @offered: USBIP_EXT_CAP_SESSION when it offered it, sessions are not
 * switched off and the driver lists it.  A driver without usbip_ext_caps
 * (the in-tree ones) has none.
 */
static uint32_t agree_caps(struct conn *c, const char *busid, uint32_t offered)
{
	struct usbip_error err;
	uint32_t caps;

	if (!(offered & USBIP_EXT_CAP_SESSION) || !max_resume_window)
		return 0;
	if (backend->ext_caps(busid, &caps, &err)) {
		conn_log(LOG_ERR, "%s: import of %s: %s; no session", c->peer, busid, err.msg);
		return 0;
	}
	return caps & USBIP_EXT_CAP_SESSION;
}

/*
 * Import: the socket is handed to the driver first and the reply sent
 * afterwards, on the socket the driver now holds.  That order is safe
 * because the driver only ever sends in answer to a CMD_* message, and the
 * client sends none before it has our reply; so nothing but the reply can
 * reach the client first.  It also means that a refused hand-off (the
 * device went away or became busy in between) still gets a proper error
 * status instead of an OK followed by EOF.
 */
static void handle_import(struct conn *c, const char *busid)
{
	uint8_t buf[USBIP_REP_IMPORT_WIRE_SIZE + USBIP_EXT_BLOCK_V1_SIZE];
	char line[USBIP_SOCKFD_LINE_SIZE], shown[USBIP_SOCKFD_LINE_SIZE];
	struct usbip_ext_block blk = { 0 };
	struct usbip_ext_hello hello;
	struct usbip_devinfo dev;
	struct usbip_error err;
	unsigned int window = 0;
	uint32_t st;
	int ret, status, flags;
	ssize_t len, n;

	ret = backend->read_device(busid, &dev, &err);
	if (!ret)
		ret = backend->status(busid, &status, &err);
	if (ret) {
		st = ret == -ENODEV ? USBIP_OP_ST_NODEV : USBIP_OP_ST_ERROR;
		conn_log(LOG_INFO, "%s: import of %s refused: %s", c->peer, busid, err.msg);
		conn_reply_status(c, USBIP_OP_REP_IMPORT, st);
		return;
	}
	if (status != SDEV_ST_AVAILABLE) {
		st = status == SDEV_ST_USED ? USBIP_OP_ST_DEV_BUSY : USBIP_OP_ST_DEV_ERR;
		conn_log(LOG_INFO, "%s: import of %s refused: %s", c->peer, busid,
			 status == SDEV_ST_USED ? "in use" : "device in error state");
		conn_reply_status(c, USBIP_OP_REP_IMPORT, st);
		return;
	}
	len = usbip_pack_rep_import(buf, sizeof(buf), USBIP_OP_ST_OK, &dev, &err);
	if (len < 0) {
		conn_log(LOG_ERR, "%s: import of %s: %s", c->peer, busid, err.msg);
		conn_reply_status(c, USBIP_OP_REP_IMPORT, USBIP_OP_ST_ERROR);
		return;
	}
	/*
	 * A client of ours said hello: answer in the record's bus id field and
	 * append the extension block, with a session when both sides have
	 * them.  The answer fits: the record's bus id is the one the hello
	 * came with.
	 */
	if (usbip_ext_hello_get((const uint8_t *)busid, &hello) &&
	    !(hello.flags & USBIP_EXT_FLAG_ANSWER)) {
		hello.version = hello.version < USBIP_EXT_VERSION ? hello.version :
								    USBIP_EXT_VERSION;
		hello.flags = USBIP_EXT_FLAG_ANSWER;
		hello.caps = agree_caps(c, busid, hello.caps);
		if (hello.caps & USBIP_EXT_CAP_SESSION) {
			ret = draw_token(blk.token);
			if (ret) {
				conn_log(LOG_ERR, "%s: import of %s: no random bytes for a session "
					 "token (%s); no session", c->peer, busid, strerror(-ret));
				hello.caps &= ~USBIP_EXT_CAP_SESSION;
			}
		}
		if (hello.caps & USBIP_EXT_CAP_SESSION)
			window = session_params(&hello, &blk);
		hello.window_s = window;
		blk.version = hello.version;
		blk.caps = hello.caps;
		if (!usbip_ext_hello_put(buf + USBIP_OP_HDR_WIRE_SIZE + USBIP_DEVICE_BUSID_OFF,
					 &hello, &err)) {
			len += usbip_pack_ext_block(buf + len, sizeof(buf) - len, &blk, NULL);
		} else {
			conn_log(LOG_ERR, "%s: import of %s: %s; answering as a plain server",
				 c->peer, busid, err.msg);
			blk.caps = 0;
		}
	}

	/* The driver gets a blocking socket, as any kernel user expects. */
	flags = fcntl(c->fd, F_GETFL);
	if (flags >= 0)
		fcntl(c->fd, F_SETFL, flags & ~O_NONBLOCK);
	if (blk.caps & USBIP_EXT_CAP_SESSION) {
		/*
		 * The driver takes the session's parameters with the socket, or
		 * the import fails: the client must never be told of a session
		 * the driver does not hold.
		 */
		usbip_sockfd_line_session(line, c->fd, &blk, false);
		usbip_sockfd_line_session(shown, c->fd, &blk, true);
		ret = backend->write_sockfd(busid, line, shown, &err);
	} else {
		ret = backend->export_fd(busid, c->fd, &err);
	}
	explicit_bzero(line, sizeof(line));
	if (ret) {
		if (flags >= 0)
			fcntl(c->fd, F_SETFL, flags);
		conn_log(LOG_ERR, "%s: import of %s: handing the connection to %s failed: %s",
			 c->peer, busid, backend->driver, err.msg);
		conn_reply_status(c, USBIP_OP_REP_IMPORT, USBIP_OP_ST_NA);
		return;
	}
	if (blk.caps & USBIP_EXT_CAP_SESSION)
		memo_store(busid, window, &blk);
	/*
	 * 368 bytes at most on a connection that has carried nothing else always
	 * fit in the send buffer, so one non-waiting send suffices.
	 */
	n = send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	explicit_bzero(buf, sizeof(buf));
	if (n != len)
		conn_log(LOG_ERR, "%s: import of %s: sending the reply failed (%s); the client "
			 "will see the connection close", c->peer, busid,
			 n < 0 ? strerror(errno) : "short write");
	else if (blk.caps & USBIP_EXT_CAP_SESSION)
		conn_log(LOG_INFO, "%s: %s exported with a session (resume window %u s)",
			 c->peer, busid, window);
	else
		conn_log(LOG_INFO, "%s: %s exported", c->peer, busid);
	conn_close(c);
}

/* Why a driver refused "resume FD token=... new=...", from the write's errno. */
static const char *resume_refusal(int ret)
{
	switch (ret) {
	case -EACCES:
		return "wrong token (EACCES)";
	case -ESTALE:
		return "no session to resume, or its window is over (ESTALE)";
	case -EBUSY:
		return "the session's old connection does not let go (EBUSY)";
	case -EINVAL:
		return "the driver does not understand the resume (EINVAL)";
	default:
		return strerror(-ret);
	}
}

/* One log line and OP_REP_RESUME with status 1; the connection closes after it. */
static void resume_refuse(struct conn *c, const char *busid, const char *why)
{
	conn_log(LOG_INFO, "%s: resume of %s refused: %s", c->peer, busid, why);
	conn_reply_status(c, USBIP_OP_REP_RESUME, USBIP_OP_ST_NA);
}

/*
 * Resume (usbip_ext.rst): the driver checks the token and takes the new
 * socket in place of the failed one, with a new token that only this
 * reply carries.  As for an import, the socket goes to the driver before
 * the reply is sent: the driver sends nothing until the client's
 * EXT_RESUME, which follows the reply.
 */
static void handle_resume(struct conn *c, const char *field, const uint8_t *token)
{
	uint8_t buf[USBIP_REP_RESUME_WIRE_SIZE + USBIP_EXT_BLOCK_V1_SIZE];
	char line[USBIP_SOCKFD_LINE_SIZE], shown[USBIP_SOCKFD_LINE_SIZE];
	struct usbip_ext_hello hello = { .version = USBIP_EXT_VERSION };
	struct usbip_ext_block blk = { 0 };
	const char *busid = field;
	struct session_memo *memo;
	struct usbip_devinfo dev;
	struct usbip_error err;
	unsigned int window;
	uint32_t caps;
	int ret, flags;
	ssize_t len, n;

	/* The hello is optional; an answer (flag set) is not one. */
	if (!usbip_ext_hello_get((const uint8_t *)field, &hello) ||
	    (hello.flags & USBIP_EXT_FLAG_ANSWER))
		hello = (struct usbip_ext_hello){ .version = USBIP_EXT_VERSION };
	ret = backend->read_device(busid, &dev, &err);
	if (ret) {
		resume_refuse(c, busid, err.msg);
		return;
	}
	ret = backend->ext_caps(busid, &caps, &err);
	if (ret) {
		resume_refuse(c, busid, err.msg);
		return;
	}
	if (!(caps & USBIP_EXT_CAP_SESSION)) {
		resume_refuse(c, busid, "its driver has no sessions");
		return;
	}
	ret = draw_token(blk.token);
	if (ret) {
		resume_refuse(c, busid, "no random bytes for a new token");
		return;
	}
	memo = memo_find(busid);
	if (memo) {
		window = memo->window_s;
		blk.window_ms = window * 1000;
		blk.heartbeat_ms = memo->heartbeat_ms;
		blk.journal_max = memo->journal_max;
	} else {
		window = session_params(&hello, &blk);
	}
	hello.version = hello.version < USBIP_EXT_VERSION ? hello.version : USBIP_EXT_VERSION;
	hello.flags = USBIP_EXT_FLAG_ANSWER;
	hello.window_s = window;
	hello.caps = USBIP_EXT_CAP_SESSION;
	blk.version = hello.version;
	blk.caps = hello.caps;
	len = usbip_pack_rep_resume(buf, sizeof(buf), USBIP_OP_ST_OK, &dev, &hello, &blk, &err);
	if (len < 0) {
		explicit_bzero(&blk, sizeof(blk));
		resume_refuse(c, busid, err.msg);
		return;
	}

	flags = fcntl(c->fd, F_GETFL);
	if (flags >= 0)
		fcntl(c->fd, F_SETFL, flags & ~O_NONBLOCK);
	usbip_sockfd_line_resume(line, c->fd, token, blk.token, false);
	usbip_sockfd_line_resume(shown, c->fd, token, blk.token, true);
	ret = backend->write_sockfd(busid, line, shown, &err);
	explicit_bzero(line, sizeof(line));
	explicit_bzero(&blk, sizeof(blk));
	if (ret) {
		if (flags >= 0)
			fcntl(c->fd, F_SETFL, flags);
		explicit_bzero(buf, sizeof(buf));
		resume_refuse(c, busid, resume_refusal(ret));
		return;
	}
	n = send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	explicit_bzero(buf, sizeof(buf));
	if (n != len)
		conn_log(LOG_ERR, "%s: session of %s resumed, but sending the reply failed (%s); "
			 "the client will see the connection close", c->peer, busid,
			 n < 0 ? strerror(errno) : "short write");
	else
		conn_log(LOG_INFO, "%s: session of %s resumed on a new connection", c->peer,
			 busid);
	conn_close(c);
}

/* A whole request, framed by usbip_req_need(), is in c->in: check it is alone, answer it. */
static void handle_request(struct conn *c)
{
	struct usbip_request req;
	struct usbip_error err;
	uint8_t extra;
	ssize_t n;
	int ret;

	ret = usbip_unpack_request(c->in, c->inlen, &req, &err);
	if (ret && req.code != USBIP_OP_REQ_IMPORT && req.code != USBIP_OP_REQ_RESUME) {
		conn_log(LOG_ERR, "%s: %s; closing", c->peer, err.msg);
		conn_close(c);
		return;
	}
	n = recv(c->fd, &extra, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n > 0) {
		conn_log(LOG_ERR, "%s: request 0x%04x followed by unexpected data; refused",
			 c->peer, req.code);
		conn_reply_status(c, req.code & ~USBIP_OP_REQUEST, USBIP_OP_ST_NA);
		return;
	}
	if (ret) {
		conn_log(LOG_ERR, "%s: malformed %s request: %s", c->peer,
			 req.code == USBIP_OP_REQ_IMPORT ? "import" : "resume", err.msg);
		conn_reply_status(c, req.code & ~USBIP_OP_REQUEST, USBIP_OP_ST_NA);
		return;
	}
	if (req.code == USBIP_OP_REQ_DEVLIST)
		handle_devlist(c);
	else if (req.code == USBIP_OP_REQ_RESUME)
		handle_resume(c, req.busid, req.token);
	else
		handle_import(c, req.busid);
	explicit_bzero(&req, sizeof(req));
}

static void conn_readable(struct conn *c)
{
	struct usbip_error err;
	uint8_t junk[512];
	ssize_t n, need;

	if (c->state == CONN_DRAIN) {
		n = recv(c->fd, junk, sizeof(junk), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			conn_close(c);
		return;
	}
	n = recv(c->fd, c->in + c->inlen, c->need - c->inlen, MSG_DONTWAIT);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		conn_log(LOG_ERR, "%s: receiving the request: %s", c->peer, strerror(errno));
		conn_close(c);
		return;
	}
	if (n == 0) {
		if (c->inlen)
			conn_log(LOG_ERR, "%s: connection closed after %zu of %zu request bytes",
				 c->peer, c->inlen, c->need);
		else
			usbip_dbg("%s: connection closed without a request", c->peer);
		conn_close(c);
		return;
	}
	c->inlen += n;
	if (c->inlen < c->need)
		return;
	need = usbip_req_need(c->in, c->inlen, &err);
	if (need < 0) {
		conn_log(LOG_ERR, "%s: %s; closing", c->peer, err.msg);
		conn_close(c);
		return;
	}
	if ((size_t)need > sizeof(c->in)) {
		conn_log(LOG_ERR, "%s: a %zd-byte request does not fit; closing", c->peer, need);
		conn_close(c);
		return;
	}
	c->need = need;
	if (c->inlen == c->need)
		handle_request(c);
}

static void conn_writable(struct conn *c)
{
	ssize_t n;

	n = send(c->fd, c->out + c->outpos, c->outlen - c->outpos, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		usbip_dbg("%s: sending the reply: %s", c->peer, strerror(errno));
		conn_close(c);
		return;
	}
	c->outpos += n;
	if (c->outpos < c->outlen)
		return;
	free(c->out);
	c->out = NULL;
	shutdown(c->fd, SHUT_WR);
	c->state = CONN_DRAIN;
	c->deadline = now_ms() + timeout_ms;
}

static void conn_expired(struct conn *c)
{
	switch (c->state) {
	case CONN_READ:
		conn_log(LOG_ERR, "%s: no complete request within %d ms (%zu of %zu bytes); "
			 "closing", c->peer, timeout_ms, c->inlen, c->need);
		break;
	case CONN_WRITE:
		conn_log(LOG_ERR, "%s: reply not taken within %d ms; closing", c->peer, timeout_ms);
		break;
	case CONN_DRAIN:
		usbip_dbg("%s: client did not close; closing", c->peer);
		break;
	}
	conn_close(c);
}

#ifdef HAVE_LIBWRAP
static bool peer_allowed(int fd)
{
	struct request_info req;

	request_init(&req, RQ_DAEMON, "usbipd", RQ_FILE, fd, 0);
	fromhost(&req);
	return hosts_access(&req);
}
#endif

/*
 * A free slot for a connection from @peer: when none is free, the oldest
 * connection is dropped (one log line).  Only a client that keeps 256
 * connections younger than the new one loses it, and a well-behaved client
 * is done within a round trip; idle or slow connections go first.
 */
static int free_slot(const char *peer)
{
	int i, oldest = -1;

	for (i = 0; i < max_conns; i++) {
		if (conns[i].fd < 0)
			return i;
		if (oldest < 0 || conns[i].serial < conns[oldest].serial)
			oldest = i;
	}
	if (oldest < 0) {
		conn_log(LOG_ERR, "%s: no connection slot; refused", peer);
		return -1;
	}
	conn_log(LOG_ERR, "%s: dropped after %zu of %zu request bytes: %d connections open, "
		 "making room for %s", conns[oldest].peer, conns[oldest].inlen, conns[oldest].need,
		 max_conns, peer);
	conn_close(&conns[oldest]);
	return oldest;
}

static void accept_all(int lfd)
{
	struct usbip_error err;
	struct sockaddr_storage ss;
	socklen_t len;
	char peer[80];
	int fd, i;

	for (;;) {
		len = sizeof(ss);
		fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				conn_log(LOG_ERR, "accept: %s", strerror(errno));
			return;
		}
		usbip_net_addr_str(&ss, len, peer, sizeof(peer));
#ifdef HAVE_LIBWRAP
		if (!peer_allowed(fd)) {
			conn_log(LOG_INFO, "%s: refused by tcp wrappers (hosts.allow/hosts.deny)", peer);
			close(fd);
			continue;
		}
#endif
		i = free_slot(peer);
		if (i < 0) {
			close(fd);
			continue;
		}
		usbip_net_set_options(fd, NULL);
		if (usbip_net_set_peer_timeout(fd, peer_timeout, &err))
			conn_log(LOG_WARNING, "%s: %s", peer, err.msg);
		conns[i].fd = fd;
		conns[i].serial = next_serial++;
		conns[i].state = CONN_READ;
		conns[i].inlen = 0;
		conns[i].need = USBIP_OP_HDR_WIRE_SIZE;
		conns[i].deadline = now_ms() + timeout_ms;
		strcpy(conns[i].peer, peer);
		usbip_dbg("%s: connected", peer);
	}
}

/* Opens the listening socket of one address family; -1 when it is unavailable. */
static int open_listener(int family, unsigned int port)
{
	struct addrinfo hints = {
		.ai_family = family,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_PASSIVE,
	};
	struct addrinfo *res;
	char serv[16], addr[80];
	int fd, one = 1, ret;

	snprintf(serv, sizeof(serv), "%u", port);
	ret = getaddrinfo(NULL, serv, &hints, &res);
	if (ret) {
		usbip_warn("no %s address to listen on: %s", family == AF_INET ? "IPv4" : "IPv6",
			   gai_strerror(ret));
		return -1;
	}
	usbip_net_addr_str(res->ai_addr, res->ai_addrlen, addr, sizeof(addr));
	fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    res->ai_protocol);
	if (fd < 0) {
		usbip_warn("socket for %s: %s", addr, strerror(errno));
		goto err_free;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one))) {
		usbip_warn("IPV6_V6ONLY on %s: %s", addr, strerror(errno));
		goto err_close;
	}
	if (bind(fd, res->ai_addr, res->ai_addrlen)) {
		usbip_err("cannot listen on %s: %s", addr, strerror(errno));
		goto err_close;
	}
	if (listen(fd, SOMAXCONN)) {
		usbip_err("listen on %s: %s", addr, strerror(errno));
		goto err_close;
	}
	usbip_dbg("listening on %s", addr);
	freeaddrinfo(res);
	return fd;

err_close:
	close(fd);
err_free:
	freeaddrinfo(res);
	return -1;
}

static int write_pidfile(const char *path)
{
	char text[32];
	int fd, len, ok;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		usbip_err("pid file %s: %s", path, strerror(errno));
		return -1;
	}
	len = snprintf(text, sizeof(text), "%d\n", (int)getpid());
	ok = write(fd, text, len) == len;
	if (close(fd) || !ok) {
		usbip_err("writing pid file %s: %s", path, strerror(errno));
		unlink(path);
		return -1;
	}
	return 0;
}

/* The poll loop; returns when a stop signal arrives. */
static void serve(const sigset_t *waitmask)
{
	struct pollfd pfds[MAX_LISTENERS + MAX_CONNS];
	/* Slot of each polled connection, -1 for a listener, and its serial. */
	int map[MAX_LISTENERS + MAX_CONNS];
	unsigned long long serial[MAX_LISTENERS + MAX_CONNS];
	struct timespec ts;
	long long now, next;
	int i, n, np;

	while (!stop_signal) {
		np = 0;
		now = now_ms();
		next = now + 60000;
		log_window_roll(now);
		if (log_suppressed && log_window_start + LOG_WINDOW_MS < next)
			next = log_window_start + LOG_WINDOW_MS;
		for (i = 0; i < nlisteners; i++) {
			pfds[np].fd = listeners[i];
			pfds[np].events = POLLIN;
			map[np++] = -1;
		}
		for (i = 0; i < MAX_CONNS; i++) {
			if (conns[i].fd < 0)
				continue;
			if (conns[i].deadline <= now) {
				conn_expired(&conns[i]);
				continue;
			}
			if (conns[i].deadline < next)
				next = conns[i].deadline;
			pfds[np].fd = conns[i].fd;
			pfds[np].events = conns[i].state == CONN_WRITE ? POLLOUT : POLLIN;
			serial[np] = conns[i].serial;
			map[np++] = i;
		}
		ts.tv_sec = (next - now) / 1000;
		ts.tv_nsec = (next - now) % 1000 * 1000000;
		n = ppoll(pfds, np, &ts, waitmask);
		if (n < 0) {
			if (errno != EINTR)
				usbip_err("poll: %s", strerror(errno));
			continue;
		}
		for (i = 0; i < np && n > 0; i++) {
			struct conn *c;

			if (!pfds[i].revents)
				continue;
			n--;
			if (map[i] < 0) {
				accept_all(pfds[i].fd);
				continue;
			}
			c = &conns[map[i]];
			/* Closed, or closed and reused, since the poll. */
			if (c->fd < 0 || c->serial != serial[i])
				continue;
			if (c->state == CONN_WRITE) {
				if (pfds[i].revents & (POLLOUT | POLLERR | POLLHUP))
					conn_writable(c);
			} else {
				conn_readable(c);
			}
		}
	}
}

/* Parses SECS of an option: decimal digits only, at most @max. */
static int parse_seconds(const char *text, unsigned int max, unsigned int *secs)
{
	unsigned long v;
	char *end;

	if (*text < '0' || *text > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(text, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*secs = v;
	return 0;
}

int main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "ipv4", no_argument, NULL, '4' },
		{ "ipv6", no_argument, NULL, '6' },
		{ "daemon", no_argument, NULL, 'D' },
		{ "debug", no_argument, NULL, 'd' },
		{ "pid", optional_argument, NULL, 'P' },
		{ "tcp-port", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'v' },
		{ "device", no_argument, NULL, 'e' },
		{ "peer-timeout", required_argument, NULL, OPT_PEER_TIMEOUT },
		{ "max-resume-window", required_argument, NULL, OPT_MAX_RESUME_WINDOW },
		{ NULL, 0, NULL, 0 },
	};
	bool ipv4 = false, ipv6 = false, daemonize = false;
	const char *pidfile = NULL, *env;
	char pidpath[PATH_MAX];
	unsigned int port = USBIP_PORT;
	struct sigaction sa;
	struct rlimit rl;
	sigset_t block, waitmask;
	struct usbip_error err;
	int c, i, fd;

	usbip_progname = "usbipd";
	opterr = 0;
	while ((c = getopt_long(argc, argv, "46DdP::t:hve", opts, NULL)) != -1) {
		switch (c) {
		case '4':
			ipv4 = true;
			break;
		case '6':
			ipv6 = true;
			break;
		case 'D':
			daemonize = true;
			break;
		case 'd':
			usbip_debug_enabled = true;
			break;
		case 'P':
			/* "-P FILE" and "--pid FILE" too, since usbipd has no operands. */
			if (optarg)
				pidfile = optarg;
			else if (optind < argc && argv[optind][0] != '-')
				pidfile = argv[optind++];
			else
				pidfile = DEFAULT_PIDFILE;
			break;
		case 't':
			if (usbip_net_parse_port(optarg, &port)) {
				usbip_err("--tcp-port: '%s' is not a port number (1-65535)", optarg);
				return 2;
			}
			break;
		case 'h':
			usage();
			return 0;
		case 'v':
			printf("usbipd (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
			return 0;
		case 'e':
			backend = &vudc_backend;
			break;
		case OPT_PEER_TIMEOUT:
			if (usbip_net_parse_peer_timeout(optarg, &peer_timeout)) {
				usbip_err("--peer-timeout: '%s' is not 0 to %d seconds", optarg,
					  USBIP_PEER_TIMEOUT_MAX);
				return 2;
			}
			break;
		case OPT_MAX_RESUME_WINDOW:
			if (parse_seconds(optarg, RESUME_WINDOW_MAX, &max_resume_window)) {
				usbip_err("--max-resume-window: '%s' is not 0 to %d seconds",
					  optarg, RESUME_WINDOW_MAX);
				return 2;
			}
			break;
		default:
			if (optopt)
				usbip_err("invalid option '-%c' or missing argument; see 'usbipd -h'",
					  optopt);
			else
				usbip_err("invalid option '%s'; see 'usbipd -h'", argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		usbip_err("unexpected argument '%s'; see 'usbipd -h'", argv[optind]);
		return 2;
	}
	if (!ipv4 && !ipv6)
		ipv4 = ipv6 = true;
	env = getenv(TIMEOUT_ENV);
	if (env && *env) {
		timeout_ms = atoi(env);
		if (timeout_ms < 100 || timeout_ms > 3600000) {
			usbip_err("%s=%s: want 100 to 3600000", TIMEOUT_ENV, env);
			return 2;
		}
	}
	/* The pid file is written after daemon() changed to "/". */
	if (pidfile && pidfile[0] != '/') {
		char cwd[PATH_MAX];

		if (!getcwd(cwd, sizeof(cwd)) ||
		    snprintf(pidpath, sizeof(pidpath), "%s/%s", cwd, pidfile) >=
		    (int)sizeof(pidpath)) {
			usbip_err("pid file %s: cannot make the path absolute", pidfile);
			return 1;
		}
		pidfile = pidpath;
	}

	for (i = 0; i < MAX_CONNS; i++)
		conns[i].fd = -1;
	/*
	 * Keep accept() from ever failing for lack of descriptors, which would
	 * leave the listener readable and the loop spinning.
	 */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < MAX_CONNS + 32)
		max_conns = rl.rlim_cur > 48 ? (int)rl.rlim_cur - 32 : 16;
	if (ipv6) {
		fd = open_listener(AF_INET6, port);
		if (fd >= 0)
			listeners[nlisteners++] = fd;
	}
	if (ipv4) {
		fd = open_listener(AF_INET, port);
		if (fd >= 0)
			listeners[nlisteners++] = fd;
	}
	if (!nlisteners) {
		usbip_err("no socket to listen on (TCP port %u); exiting", port);
		return 1;
	}
	if (backend->loaded(NULL) && usbip_kmod_need(backend->driver, &err))
		usbip_warn("%s", err.msg);
	else if (backend->loaded(NULL))
		usbip_warn("the %s driver is not loaded: no device can be exported until "
			   "'modprobe %s'", backend->driver, backend->driver);

	if (daemonize) {
		if (daemon(0, 0)) {
			usbip_err("daemon: %s", strerror(errno));
			return 1;
		}
		openlog("usbipd", LOG_PID, LOG_DAEMON);
		usbip_log_sink = syslog_sink;
	}
	if (pidfile && write_pidfile(pidfile))
		return 1;

	/* The stop signals are only delivered inside ppoll(). */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &waitmask);
	sigdelset(&waitmask, SIGTERM);
	sigdelset(&waitmask, SIGINT);

	usbip_info("listening on TCP port %u (%s%s%s), exporting %s devices", port,
		   ipv6 ? "IPv6" : "", ipv4 && ipv6 ? " and " : "", ipv4 ? "IPv4" : "",
		   backend->driver);
	serve(&waitmask);

	log_window_roll(log_window_start + LOG_WINDOW_MS);
	usbip_info("signal %d received, exiting", (int)stop_signal);
	for (i = 0; i < nlisteners; i++)
		close(listeners[i]);
	for (i = 0; i < MAX_CONNS; i++)
		if (conns[i].fd >= 0)
			conn_close(&conns[i]);
	if (pidfile)
		unlink(pidfile);
	return 0;
}
