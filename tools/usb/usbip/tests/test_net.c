// SPDX-License-Identifier: GPL-2.0
/*
 * Tests of the --peer-timeout parser and of the dead-peer timers that
 * usbip_net_set_peer_timeout() puts on a TCP socket (read back with
 * getsockopt).
 */
#include <config.h>

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tap.h"
#include "usbip_net.h"

static void test_parse(void)
{
	static const char *const bad[] = { "", "-1", "+3", " 3", "3 ", "3s", "0x10", "3601",
					   "99999999999999999999" };
	unsigned int v = 77;
	size_t i;

	CHECK(usbip_net_parse_peer_timeout("0", &v) == 0 && v == 0, "\"0\" is 0");
	CHECK(usbip_net_parse_peer_timeout("10", &v) == 0 && v == 10, "\"10\" is 10");
	CHECK(usbip_net_parse_peer_timeout("3600", &v) == 0 && v == 3600, "\"3600\" is the most");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 77;
		CHECK(usbip_net_parse_peer_timeout(bad[i], &v) == -EINVAL && v == 77,
		      "\"%s\" is refused and leaves the value", bad[i]);
	}
	CHECK(usbip_net_parse_peer_timeout(NULL, &v) == -EINVAL, "NULL is refused");
}

static int tcp_opt(int fd, int level, int name)
{
	int v = -1;
	socklen_t len = sizeof(v);

	if (getsockopt(fd, level, name, &v, &len))
		return -errno;
	return v;
}

/* Sets @secs on a fresh TCP socket and checks the five options. */
static void check_timers(unsigned int secs, int idle, int intvl, int cnt)
{
	struct usbip_error err;
	int fd = socket(AF_INET6, SOCK_STREAM, 0);

	if (fd < 0)
		fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(fd >= 0, "TCP socket for %u s", secs);
	if (fd < 0)
		return;
	CHECK(usbip_net_set_peer_timeout(fd, secs, &err) == 0, "%u s: set", secs);
	CHECK(tcp_opt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT) == (int)secs * 1000,
	      "%u s: TCP_USER_TIMEOUT %d ms", secs, tcp_opt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT));
	CHECK(tcp_opt(fd, IPPROTO_TCP, TCP_KEEPIDLE) == idle, "%u s: first probe after %d s (got %d)",
	      secs, idle, tcp_opt(fd, IPPROTO_TCP, TCP_KEEPIDLE));
	CHECK(tcp_opt(fd, IPPROTO_TCP, TCP_KEEPINTVL) == intvl, "%u s: probes every %d s (got %d)",
	      secs, intvl, tcp_opt(fd, IPPROTO_TCP, TCP_KEEPINTVL));
	CHECK(tcp_opt(fd, IPPROTO_TCP, TCP_KEEPCNT) == cnt, "%u s: %d probes (got %d)", secs, cnt,
	      tcp_opt(fd, IPPROTO_TCP, TCP_KEEPCNT));
	CHECK(tcp_opt(fd, SOL_SOCKET, SO_KEEPALIVE) == 1, "%u s: keepalive on", secs);
	/* The first probe and the probes after it reach the timeout. */
	CHECK(idle + intvl * (cnt - 1) >= (int)secs && idle < (int)secs + (secs == 1),
	      "%u s: probes span the timeout", secs);
	close(fd);
}

static void test_timers(void)
{
	struct usbip_error err;
	int fd;

	check_timers(10, 4, 1, 7);
	check_timers(3, 1, 1, 3);
	check_timers(1, 1, 1, 1);
	check_timers(60, 24, 6, 7);
	check_timers(3600, 1440, 360, 7);

	fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(fd >= 0, "TCP socket for 0 s");
	if (fd < 0)
		return;
	CHECK(usbip_net_set_peer_timeout(fd, 0, &err) == 0, "0 s: nothing to do");
	CHECK(tcp_opt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT) == 0, "0 s: no TCP_USER_TIMEOUT");
	CHECK(tcp_opt(fd, SOL_SOCKET, SO_KEEPALIVE) == 0, "0 s: keepalive left off");
	CHECK(usbip_net_set_peer_timeout(fd, 3601, &err) == -EINVAL, "3601 s is refused");
	CHECK(tcp_opt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT) == 0, "3601 s: nothing set");
	close(fd);
	CHECK(usbip_net_set_peer_timeout(-1, 3, &err) < 0, "a bad fd is an error");
}

int main(void)
{
	test_parse();
	test_timers();
	return tap_done();
}
