// SPDX-License-Identifier: GPL-2.0
/*
 * Helper of test_usbipd.py: usbip_net_resume() against a server, the way
 * the client tools will call it.
 *
 *   resume_client PORT BUSID TOKEN [WINDOW_S]
 *
 * connects to 127.0.0.1:PORT, resumes the session of BUSID with TOKEN (32
 * hex digits), offering SESSION and the window WINDOW_S (default 0), and
 * prints one line: "ret=N status=N", then for an accepted resume
 * " busid=B version=N caps=HEX window_s=N token=HEX32 window_ms=N
 * heartbeat_ms=N journal_max=N", or " error=TEXT" when ret is not 0.
 * Exit status 0 when the exchange completed (accepted or refused), 1
 * otherwise, 2 for a usage error.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "usbip_net.h"

static int parse_token(const char *hex, uint8_t *token)
{
	unsigned int v;
	int i;

	if (strlen(hex) != 2 * USBIP_EXT_TOKEN_SIZE)
		return -1;
	for (i = 0; i < USBIP_EXT_TOKEN_SIZE; i++) {
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -1;
		token[i] = v;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct usbip_ext_hello offer = { .version = USBIP_EXT_VERSION,
					 .caps = USBIP_EXT_CAP_SESSION }, answer;
	uint8_t token[USBIP_EXT_TOKEN_SIZE];
	struct usbip_ext_block ext;
	struct usbip_devinfo dev;
	struct usbip_error err = { "" };
	unsigned int port;
	uint32_t status = 0;
	int fd, ret, i;

	if (argc < 4 || argc > 5 || usbip_net_parse_port(argv[1], &port) ||
	    parse_token(argv[3], token)) {
		fprintf(stderr, "usage: resume_client PORT BUSID TOKEN32HEX [WINDOW_S]\n");
		return 2;
	}
	if (argc == 5)
		offer.window_s = atoi(argv[4]);
	fd = usbip_net_connect("127.0.0.1", port, &err);
	if (fd < 0) {
		printf("ret=%d status=0 error=%s\n", fd, err.msg);
		return 1;
	}
	ret = usbip_net_resume(fd, argv[2], token, &offer, &status, &dev, &ext, &err);
	close(fd);
	printf("ret=%d status=%u", ret, status);
	if (ret) {
		printf(" error=%s\n", err.msg);
		return 1;
	}
	if (status == 0) {
		if (!usbip_ext_hello_get((const uint8_t *)dev.busid, &answer))
			answer.window_s = 0;
		printf(" busid=%s version=%u caps=%x window_s=%u token=", dev.busid, ext.version,
		       ext.caps, answer.window_s);
		for (i = 0; i < USBIP_EXT_TOKEN_SIZE; i++)
			printf("%02x", ext.token[i]);
		printf(" window_ms=%u heartbeat_ms=%u journal_max=%u", ext.window_ms,
		       ext.heartbeat_ms, ext.journal_max);
	}
	putchar('\n');
	return 0;
}
