// SPDX-License-Identifier: GPL-2.0
/*
 * usbip attach --persistent: after the attach, stay in the foreground and
 * watch the port; when vhci-hcd reports the session's connection lost
 * ("PORT reconnecting LEFT_MS" in its session file), connect to the server
 * again and resume the session (OP_REQ_RESUME, then "PORT FD" to vhci's
 * resume file), within the resume window (Documentation/usb/usbip_ext.rst).
 *
 * The watch ends
 *   - with status 0 when the port was detached by "usbip detach" (which
 *     removes the port's record), also while reconnecting, or by a signal
 *     (SIGTERM, SIGINT, SIGHUP: this process detaches the port itself);
 *   - with status 1 when the import ended otherwise: the resume was refused
 *     or the window ran out, or the port was freed while its record stayed
 *     (the server ended the session, a protocol error, a plain import's
 *     connection lost, "echo N > detach" by hand).
 */
#include <config.h>

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include "usbip.h"
#include "usbip_net.h"
#include "usbip_vhci.h"

/* How often the port's state is read. */
#define POLL_MS			250
/* Reconnection: the first pause between attempts, doubled up to the last. */
#define BACKOFF_FIRST_MS	200
#define BACKOFF_MAX_MS		5000
/*
 * "usbip detach" frees the port, then removes its record: how long a port
 * found free may wait for its record to go before it counts as ended by
 * something else.
 */
#define RECORD_GRACE_MS		1000
/*
 * How long the port may take to show our device after the attach before
 * it counts as gone (vhci-hcd shows it at once; a port that fails at once
 * may be free before the first look).
 */
#define ATTACH_SETTLE_MS	5000

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps @ms, or less when a stop signal arrives. */
static void pause_ms(long long ms)
{
	long long end = now_ms() + ms, left;
	struct timespec ts;

	while (!stop_signal && (left = end - now_ms()) > 0) {
		ts.tv_sec = left / 1000;
		ts.tv_nsec = (left % 1000) * 1000000;
		nanosleep(&ts, NULL);
	}
}

/* Seconds of @ms, rounded up. */
static unsigned int secs_up(long long ms)
{
	return ms > 0 ? (unsigned int)((ms + 999) / 1000) : 0;
}

/* One event line on standard output, flushed (the unit's journal reads it). */
static void event(const struct usbip_watch *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void event(const struct usbip_watch *w, const char *fmt, ...)
{
	va_list ap;

	printf("usbip: port %u: ", w->port);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

enum port_state {
	PORT_OURS,		/* still holds our device */
	PORT_GONE,		/* free, or another device's */
	PORT_UNKNOWN,		/* vhci-hcd could not be read */
};

static enum port_state port_state(const struct usbip_watch *w, struct usbip_error *err)
{
	const struct usbip_vhci_port *vp;
	struct usbip_vhci vhci;
	enum port_state st;

	if (usbip_vhci_open(&vhci, err))
		return PORT_UNKNOWN;
	vp = usbip_vhci_find(&vhci, w->port);
	st = vp && vp->status != USBIP_VDEV_ST_NULL && vp->devid == w->devid ? PORT_OURS :
								 PORT_GONE;
	usbip_vhci_close(&vhci);
	return st;
}

/* The port's session; a missing or unreadable file reads as none. */
static void port_session(const struct usbip_watch *w, struct usbip_vhci_session *s)
{
	struct usbip_error err;
	int ret;

	ret = usbip_vhci_session(w->port, s, &err);
	if (ret && ret != -ENOENT)
		usbip_dbg("%s", err.msg);
}

/* True when the port's record went within RECORD_GRACE_MS. */
static bool record_removed(const struct usbip_watch *w)
{
	struct usbip_vhci_record rec;
	long long end = now_ms() + RECORD_GRACE_MS;

	for (;;) {
		if (usbip_vhci_record_read(w->port, &rec) == -ENOENT)
			return true;
		if (now_ms() >= end)
			return false;
		pause_ms(50);
	}
}

/* Detaches the port on a stop signal; the exit status. */
static int stop_detach(const struct usbip_watch *w)
{
	struct usbip_error err;
	int ret;

	if (port_state(w, NULL) != PORT_OURS) {
		event(w, "signal %d: the port is no longer ours; exiting", (int)stop_signal);
		return USBIP_EXIT_OK;
	}
	ret = usbip_vhci_detach(w->port, &err);
	if (ret) {
		usbip_err("port %u: signal %d: cannot detach: %s", w->port, (int)stop_signal,
			  err.msg);
		return USBIP_EXIT_FAILED;
	}
	usbip_vhci_record_remove(w->port, NULL);
	event(w, "detached (signal %d)", (int)stop_signal);
	return USBIP_EXIT_OK;
}

/*
 * The port no longer holds our device and we were not reconnecting: a
 * "usbip detach" (record removed: status 0), or an end of the import that
 * nobody asked for here (status 1; the stale record goes).
 */
static int port_ended(const struct usbip_watch *w)
{
	if (record_removed(w)) {
		event(w, "detached; exiting");
		return USBIP_EXIT_OK;
	}
	usbip_vhci_record_remove(w->port, NULL);
	if (w->session)
		usbip_err("port %u: the import of %s/%s ended: the server closed the session, or "
			  "the device went away on either side", w->port, w->host, w->busid);
	else
		usbip_err("port %u: the import of %s/%s ended (connection lost, or the device "
			  "went away; without a session it cannot be resumed)", w->port, w->host,
			  w->busid);
	return USBIP_EXIT_FAILED;
}

enum attempt {
	ATTEMPT_RESUMED,
	ATTEMPT_RETRY,		/* the server could not be reached; try again */
	ATTEMPT_REFUSED,	/* the server refused: the session is gone there */
	ATTEMPT_STALE,		/* vhci-hcd has no suspended session any more */
	ATTEMPT_FAILED,		/* vhci-hcd refused the socket otherwise */
};

/*
 * Closes a connection that was not handed to vhci-hcd with a reset, not a
 * FIN: the server may already have given it to its driver, which then
 * takes the reset for what it is, a failed attempt, and waits for the next.
 */
static void close_reset(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

/* One connection and OP_REQ_RESUME; on success the socket is vhci's. */
static enum attempt resume_once(struct usbip_watch *w, long long left_ms,
				struct usbip_error *err)
{
	struct usbip_ext_hello offer = {
		.version = USBIP_EXT_VERSION,
		.caps = USBIP_EXT_CAP_SESSION,
	};
	struct usbip_ext_block ext;
	struct usbip_devinfo dev;
	uint32_t status;
	int fd, ret;

	offer.window_s = secs_up(w->ext.window_ms) > UINT16_MAX ? UINT16_MAX :
			 secs_up(w->ext.window_ms);
	fd = usbip_net_connect_timeout(w->host, usbip_tcp_port,
				       left_ms > INT32_MAX ? INT32_MAX : (int)left_ms, err);
	if (fd < 0)
		return ATTEMPT_RETRY;
	if (usbip_net_set_peer_timeout(fd, w->peer_timeout, err)) {
		close_reset(fd);
		return ATTEMPT_FAILED;
	}
	ret = usbip_net_resume(fd, w->busid, w->ext.token, &offer, &status, &dev, &ext, err);
	if (ret) {
		close_reset(fd);
		return ATTEMPT_RETRY;
	}
	if (status != USBIP_OP_ST_OK) {
		close_reset(fd);
		usbip_set_error(err, "the server refused the resume (status %u: it holds no such "
				"session any more, its window is over, or the device is gone)",
				status);
		return ATTEMPT_REFUSED;
	}
	ret = usbip_vhci_resume(w->port, fd, err);
	/* vhci-hcd holds its own reference to the socket when it took it. */
	if (ret)
		close_reset(fd);
	else
		close(fd);
	if (ret == -ESTALE) {
		usbip_set_error(err, "the server took the resume, but vhci-hcd holds no suspended "
				"session on port %u any more (its window ended)", w->port);
		return ATTEMPT_STALE;
	}
	if (ret)
		return ATTEMPT_FAILED;
	memcpy(w->ext.token, ext.token, sizeof(w->ext.token));
	return ATTEMPT_RESUMED;
}

/*
 * The port's connection failed: reconnect with a growing pause between
 * attempts until the session is resumed, the server refuses, or the
 * window (as vhci-hcd counts it) runs out.  Returns -1 when resumed (watch
 * on), else the exit status.
 */
static int reconnect(struct usbip_watch *w, const struct usbip_vhci_session *first)
{
	long long t0 = now_ms(), deadline = t0 + first->left_ms, left, pause;
	long long lost_ms = w->ext.window_ms > first->left_ms ?
			    (long long)(w->ext.window_ms - first->left_ms) : 0;
	char last[sizeof(((struct usbip_error *)0)->msg)] = "";
	unsigned int attempts = 0, backoff = BACKOFF_FIRST_MS;
	bool told_over = false;
	struct usbip_vhci_session s;
	struct usbip_error err;
	enum attempt res;

	event(w, "connection lost, reconnecting (%u s left)", secs_up(first->left_ms));
	for (;;) {
		if (stop_signal)
			return stop_detach(w);
		if (port_state(w, NULL) == PORT_GONE) {
			if (record_removed(w)) {
				event(w, "detached while reconnecting; exiting");
				return USBIP_EXIT_OK;
			}
			usbip_vhci_record_remove(w->port, NULL);
			if (last[0])
				usbip_err("port %u: gave up: the resume window ended before the "
					  "session could be resumed (last attempt: %s); vhci-hcd "
					  "freed the port", w->port, last);
			else
				usbip_err("port %u: gave up: the resume window ended before the "
					  "session could be resumed; vhci-hcd freed the port",
					  w->port);
			return USBIP_EXIT_FAILED;
		}
		port_session(w, &s);
		if (s.state == USBIP_VHCI_SESSION_ACTIVE) {
			event(w, "resumed by someone else after %lld ms", lost_ms + now_ms() - t0);
			return -1;
		}
		/* vhci-hcd counts the window; the deadline only ever comes closer. */
		if (s.state == USBIP_VHCI_SESSION_RECONNECTING && now_ms() + s.left_ms < deadline)
			deadline = now_ms() + s.left_ms;
		left = deadline - now_ms();
		if (left <= 0) {
			/* vhci-hcd frees the port now; a next round sees it. */
			if (!told_over)
				event(w, "no time left to reconnect%s%s%s; waiting for vhci-hcd to "
				      "end the session", last[0] ? " (last attempt: " : "", last,
				      last[0] ? ")" : "");
			told_over = true;
			pause_ms(POLL_MS);
			continue;
		}
		attempts++;
		res = resume_once(w, left, &err);
		switch (res) {
		case ATTEMPT_RESUMED:
			event(w, "resumed after %lld ms (%u attempt%s)", lost_ms + now_ms() - t0,
			      attempts, attempts == 1 ? "" : "s");
			return -1;
		case ATTEMPT_REFUSED:
		case ATTEMPT_STALE:
			usbip_err("port %u: gave up: %s; vhci-hcd frees the port when the window "
				  "ends", w->port, err.msg);
			return USBIP_EXIT_FAILED;
		case ATTEMPT_FAILED:
			usbip_err("port %u: gave up: %s", w->port, err.msg);
			return USBIP_EXIT_FAILED;
		case ATTEMPT_RETRY:
			break;
		}
		left = deadline - now_ms();
		pause = backoff < left ? backoff : left > 0 ? left : 0;
		/*
		 * A new reason is worth a line (unless the window is over: the
		 * next round says so); the same one again only in --debug.
		 */
		if (strcmp(last, err.msg)) {
			snprintf(last, sizeof(last), "%s", err.msg);
			if (left > 0)
				event(w, "still reconnecting: %s; next attempt in %.1f s (%u s "
				      "left)", err.msg, pause / 1000.0, secs_up(left));
		} else {
			usbip_dbg("port %u: attempt %u: %s", w->port, attempts, err.msg);
		}
		pause_ms(pause);
		if (backoff < BACKOFF_MAX_MS)
			backoff = backoff * 2 < BACKOFF_MAX_MS ? backoff * 2 : BACKOFF_MAX_MS;
	}
}

/**
 * usbip_attach_watch() - stay with an attached port until it ends
 * @w: the port, where it came from, and the session (w->session, w->ext)
 *
 * Polls the port's status and session every POLL_MS.  A session whose
 * connection was lost is resumed (reconnect()); see the top of this file
 * for how the watch ends.
 *
 * Return: the exit status of "usbip attach --persistent".
 */
int usbip_attach_watch(struct usbip_watch *w)
{
	struct sigaction sa = { .sa_handler = on_signal };
	long long settle = now_ms() + ATTACH_SETTLE_MS;
	struct usbip_vhci_session s;
	struct usbip_error err;
	bool seen = false;
	enum port_state st;
	int ret, unreadable = 0;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	for (;;) {
		if (stop_signal)
			return stop_detach(w);
		st = port_state(w, &err);
		if (st == PORT_UNKNOWN) {
			/* vhci-hcd unloaded, for one: its ports are gone. */
			if (++unreadable * POLL_MS >= 5000) {
				usbip_err("port %u: cannot read vhci-hcd any more: %s", w->port,
					  err.msg);
				return USBIP_EXIT_FAILED;
			}
		} else {
			unreadable = 0;
		}
		if (st == PORT_OURS)
			seen = true;
		if (st == PORT_GONE && (seen || now_ms() >= settle))
			return port_ended(w);
		if (w->session && st == PORT_OURS) {
			port_session(w, &s);
			if (s.state == USBIP_VHCI_SESSION_RECONNECTING) {
				ret = reconnect(w, &s);
				if (ret >= 0)
					return ret;
			}
		}
		pause_ms(POLL_MS);
	}
}
