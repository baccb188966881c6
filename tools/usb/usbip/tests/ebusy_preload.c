// SPDX-License-Identifier: GPL-2.0
/*
 * LD_PRELOAD helper of the tests that need a driver's refusal:
 *
 * - test_vhci.py: makes write() to a file named "attach" fail with EBUSY
 *   when the port number it starts with is listed in
 *   $USBIP_TEST_EBUSY_PORTS (space-separated), the way vhci-hcd refuses a
 *   port that another attach took between reading the status and writing.
 *   Every refused port is appended to $USBIP_TEST_EBUSY_LOG when set.
 * - test_usbipd.py: makes write() to a file named "usbip_sockfd" fail the
 *   way usbip-host refuses a line, when a file "usbip_sockfd.fail" lies
 *   next to it: its first word names the errno (EACCES, ESTALE, EBUSY,
 *   EINVAL), its second word, when there is one, a prefix the text written
 *   must start with for the write to fail (e.g. "resume").  The file is
 *   read at each write, so a test switches the refusal without restarting
 *   the daemon.
 * - test_vhci.py: the same for vhci-hcd's "resume" file, with a file
 *   "resume.fail" next to it.  And the driver's answer to a resume: after
 *   a write to "resume" that went through, the text of "resume.session"
 *   next to it, when there is one, becomes that of "session" (the port's
 *   state is "active" again as soon as the write returns).
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

/* True when @path ends with "/" @name. */
static bool named(const char *path, size_t len, const char *name)
{
	size_t n = strlen(name);

	return len > n && path[len - n - 1] == '/' && !strcmp(path + len - n, name);
}

/*
 * The errno a "usbip_sockfd.fail" (or "resume.fail") next to @fd's file
 * asks for, else 0.
 */
static int sockfd_refusal(int fd, const void *buf, size_t count)
{
	static const struct {
		const char *name;
		int err;
	} names[] = {
		{ "EACCES", EACCES }, { "ESTALE", ESTALE }, { "EBUSY", EBUSY },
		{ "EINVAL", EINVAL },
	};
	char link[64], target[4096], rule[128], name[32], prefix[64];
	ssize_t n;
	size_t i;
	FILE *f;
	int words;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 8);
	if (n < 0)
		return 0;
	target[n] = '\0';
	if (!named(target, n, "usbip_sockfd") && !named(target, n, "resume"))
		return 0;
	strcat(target, ".fail");
	f = fopen(target, "re");
	if (!f)
		return 0;
	if (!fgets(rule, sizeof(rule), f))
		rule[0] = '\0';
	fclose(f);
	words = sscanf(rule, "%31s %63s", name, prefix);
	if (words < 1)
		return 0;
	if (words == 2 && (count < strlen(prefix) || memcmp(buf, prefix, strlen(prefix))))
		return 0;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(name, names[i].name))
			return names[i].err;
	return 0;
}

/* After a write to vhci's "resume": "resume.session" becomes "session". */
static void resume_done(int fd, write_fn real_write)
{
	char link[64], path[4096], text[4096];
	ssize_t n, len;
	int in, out;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 16);
	if (n < 0)
		return;
	path[n] = '\0';
	if (!named(path, n, "resume"))
		return;
	strcat(path, ".session");
	in = open(path, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return;
	len = read(in, text, sizeof(text));
	close(in);
	if (len < 0)
		return;
	strcpy(path + n - strlen("resume"), "session");
	out = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (out < 0)
		return;
	real_write(out, text, len);
	close(out);
}

ssize_t write(int fd, const void *buf, size_t count)
{
	ssize_t ret;
	int e;

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
	e = sockfd_refusal(fd, buf, count);
	if (e) {
		errno = e;
		return -1;
	}
	ret = real_write(fd, buf, count);
	if (ret > 0)
		resume_done(fd, real_write);
	return ret;
}
