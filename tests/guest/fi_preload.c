// SPDX-License-Identifier: GPL-2.0
/*
 * fi_preload.so - LD_PRELOAD'ed into a command of the fault-injection
 * scenario (tests/scenarios/fault-injection.sh): the command's writes to
 * sysfs files run with /proc/self/make-it-fail set, and nothing else it
 * does.  Those writes are where usbip attach/detach and a usbip_sockfd
 * write enter our modules; everything around them (execve, loading
 * libraries, reading files over the VM's 9p root) stays out of the
 * injection: a failed allocation there kills the process (an execve past
 * its point of no return gives SIGSEGV) or, as seen here, leaves the 9p
 * root returning EINVAL to every process, which says nothing about our
 * code.  Children of the command are not marked (LD_PRELOAD is removed).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <sys/vfs.h>
#include <unistd.h>

static ssize_t (*fi_real_write)(int fd, const void *buf, size_t n);
static int fi_mark_fd = -1;

__attribute__((constructor)) static void fi_preload_init(void)
{
	unsetenv("LD_PRELOAD");
	fi_real_write = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
	fi_mark_fd = open("/proc/self/make-it-fail", O_WRONLY | O_CLOEXEC);
	if (!fi_real_write || fi_mark_fd < 0)
		_exit(125);
}

static void fi_mark(const char *on)
{
	if (fi_real_write(fi_mark_fd, on, 1) != 1)
		_exit(125);
}

ssize_t write(int fd, const void *buf, size_t n)
{
	struct statfs st;
	ssize_t ret;
	int err;

	if (fstatfs(fd, &st) || st.f_type != SYSFS_MAGIC)
		return fi_real_write(fd, buf, n);
	fi_mark("1");
	ret = fi_real_write(fd, buf, n);
	err = errno;
	fi_mark("0");
	errno = err;
	return ret;
}
