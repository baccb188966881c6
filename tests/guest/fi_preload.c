// SPDX-License-Identifier: GPL-2.0
/*
 * fi_preload.so - LD_PRELOAD'ed into a command of the fault-injection
 * scenario: marks the process for fault injection (/proc/self/make-it-fail)
 * once the program is loaded, so that injected allocation failures meet
 * what the program asks of the kernel (our modules' sysfs files, sockets),
 * not its execve: an execve that fails past its point of no return kills
 * the process with SIGSEGV, which says nothing about our code.  Children
 * of the command are not marked (LD_PRELOAD is removed).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

__attribute__((constructor)) static void fi_preload_mark(void)
{
	int fd;

	unsetenv("LD_PRELOAD");
	fd = open("/proc/self/make-it-fail", O_WRONLY);
	if (fd < 0 || write(fd, "1", 1) != 1)
		_exit(125);
	close(fd);
}
