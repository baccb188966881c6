// SPDX-License-Identifier: GPL-2.0
/*
 * LD_PRELOAD helper of test_vhci.py: makes write() to a file named
 * "attach" fail with EBUSY when the port number it starts with is listed in
 * $USBIP_TEST_EBUSY_PORTS (space-separated), the way vhci-hcd refuses a
 * port that another attach took between reading the status and writing.
 * Every refused port is appended to $USBIP_TEST_EBUSY_LOG when set.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef ssize_t (*write_fn)(int fd, const void *buf, size_t count);

/* Length of the first word of @buf (not NUL-terminated). */
static size_t first_word(const void *buf, size_t count)
{
	const char *space = memchr(buf, ' ', count);

	return space ? (size_t)(space - (const char *)buf) : count;
}

static bool refused(int fd, const void *buf, size_t count)
{
	char link[64], target[4096], port[16], list[1024], *tok, *save = NULL;
	const char *ports = getenv("USBIP_TEST_EBUSY_PORTS");
	ssize_t n;
	size_t len;

	if (!ports)
		return false;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 7)
		return false;
	target[n] = '\0';
	if (strcmp(target + n - 7, "/attach"))
		return false;
	len = first_word(buf, count);
	if (len >= sizeof(port) || len == count)
		return false;
	memcpy(port, buf, len);
	port[len] = '\0';
	snprintf(list, sizeof(list), "%s", ports);
	for (tok = strtok_r(list, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
		if (!strcmp(tok, port))
			return true;
	return false;
}

ssize_t write(int fd, const void *buf, size_t count)
{
	static write_fn real_write;
	const char *log = getenv("USBIP_TEST_EBUSY_LOG");

	if (!real_write)
		real_write = (write_fn)dlsym(RTLD_NEXT, "write");
	if (refused(fd, buf, count)) {
		if (log) {
			int lfd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);

			if (lfd >= 0) {
				real_write(lfd, buf, first_word(buf, count));
				real_write(lfd, "\n", 1);
				close(lfd);
			}
		}
		errno = EBUSY;
		return -1;
	}
	return real_write(fd, buf, count);
}
