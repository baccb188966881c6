/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Minimal TAP producer for the unit tests: one "ok N - what" or
 * "not ok N - what" line per check, the plan at the end.  automake's
 * tap-driver.sh turns each line into a PASS: or FAIL: line.
 */
#ifndef USBIP_TEST_TAP_H
#define USBIP_TEST_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_count;
static int tap_failures;

static inline void __attribute__((format(printf, 4, 5)))
tap_check(int pass, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	tap_count++;
	if (!pass)
		tap_failures++;
	printf("%sok %d - ", pass ? "" : "not ", tap_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (!pass)
		printf(" (%s:%d)", file, line);
	putchar('\n');
	fflush(stdout);
}

static inline void __attribute__((format(printf, 1, 2))) tap_skip(const char *fmt, ...)
{
	va_list ap;

	tap_count++;
	printf("ok %d - # SKIP ", tap_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* Prints a diagnostic line, shown in the test's .log file. */
static inline void __attribute__((format(printf, 1, 2))) tap_diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static inline int tap_done(void)
{
	printf("1..%d\n", tap_count);
	return tap_failures ? 1 : 0;
}

#define CHECK(cond, ...) tap_check(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

/* Compares strings and shows both in the log when they differ. */
#define CHECK_STR(got, want, ...) do {						\
	const char *g_ = (got), *w_ = (want);					\
	int same_ = g_ && w_ ? !strcmp(g_, w_) : g_ == w_;			\
	if (!same_)								\
		tap_diag("got \"%s\", want \"%s\"", g_ ? g_ : "(null)",	\
			 w_ ? w_ : "(null)");					\
	tap_check(same_, __FILE__, __LINE__, __VA_ARGS__);			\
} while (0)

#endif /* USBIP_TEST_TAP_H */
