// SPDX-License-Identifier: GPL-2.0
/*
 * Server side of libusbip: binding devices to usbip-host, reading their
 * export status and handing connected sockets to the driver.
 *
 * The driver's interface is a handful of sysfs files:
 *
 *   bus/usb/drivers/usbip-host/match_busid   "add BUSID" / "del BUSID"
 *   bus/usb/drivers/usbip-host/bind          BUSID: probe it with usbip-host
 *   bus/usb/drivers/usbip-host/unbind        BUSID: release it
 *   bus/usb/drivers/usbip-host/rebind        BUSID: give it back to its driver
 *   bus/usb/devices/BUSID/usbip_status       1 available, 2 in use, 3 error
 *   bus/usb/devices/BUSID/usbip_sockfd       fd number of a connected socket,
 *                                            with a session's parameters, or
 *                                            "resume FD token=... new=..."
 *   bus/usb/devices/BUSID/usbip_ext_caps     extension capabilities (hex; our
 *                                            driver only)
 *   bus/usb/devices/BUSID/usbip_session      "none", "active journal=BYTES",
 *                                            "resumable left_ms=MS" (ours)
 *
 * Devices are read straight from their sysfs attributes (not through
 * libudev) so that the whole server side works on a fake tree selected with
 * USBIP_SYSFS_ROOT.
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "usbip_devices.h"
#include "usbip_host.h"
#include "usbip_internal.h"

/**
 * usbip_sysfs_root() - directory that stands for /sys
 *
 * Return: $USBIP_SYSFS_ROOT when set and non-empty, else "/sys".
 */
const char *usbip_sysfs_root(void)
{
	const char *root = getenv(USBIP_SYSFS_ROOT_ENV);

	return root && *root ? root : "/sys";
}

/**
 * usbip_sysfs_path() - build a path under the sysfs root
 * @buf: PATH_MAX bytes for ROOT/<formatted text>
 * @err: reason on failure, may be NULL
 * @fmt: printf format of the path relative to the root
 *
 * Return: 0, or -ENAMETOOLONG.
 */
int usbip_sysfs_path(char *buf, struct usbip_error *err, const char *fmt, ...)
{
	char rel[PATH_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(rel))
		goto err_long;
	n = snprintf(buf, PATH_MAX, "%s/%s", usbip_sysfs_root(), rel);
	if (n < 0 || n >= PATH_MAX)
		goto err_long;
	return 0;

err_long:
	usbip_set_error(err, "sysfs path too long");
	return -ENAMETOOLONG;
}

/**
 * usbip_sysfs_read_text() - read a small text attribute
 * @path: the file
 * @buf: its text, without trailing newlines and blanks
 * @size: size of @buf
 *
 * Return: 0 or a negative errno.
 */
int usbip_sysfs_read_text(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	if (n < 0) {
		n = -errno;
		close(fd);
		return n;
	}
	close(fd);
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return 0;
}

/**
 * usbip_sysfs_write_text() - write an attribute in one write()
 * @path: the file, which must exist
 * @text: what to write, which is how sysfs store functions want it
 * @err: reason on failure, may be NULL
 *
 * Return: 0 or a negative errno.
 */
int usbip_sysfs_write_text(const char *path, const char *text, struct usbip_error *err)
{
	return usbip_sysfs_write_shown(path, text, text, err);
}

/**
 * usbip_sysfs_write_shown() - write an attribute, showing other text in messages
 * @path: the file, which must exist
 * @text: what to write, in one write()
 * @shown: what error and debug messages say was written (@text with its
 *	secrets left out)
 * @err: reason on failure, may be NULL
 *
 * Return: 0 or a negative errno.
 */
int usbip_sysfs_write_shown(const char *path, const char *text, const char *shown,
			    struct usbip_error *err)
{
	size_t len = strlen(text);
	ssize_t n;
	int fd, ret;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		usbip_set_error(err, "cannot open %s: %s%s", path, strerror(-ret),
				ret == -EACCES || ret == -EPERM ? " (are you root?)" : "");
		return ret;
	}
	n = write(fd, text, len);
	ret = n < 0 ? -errno : (size_t)n == len ? 0 : -EIO;
	if (close(fd) && !ret)
		ret = -errno;
	if (ret)
		usbip_set_error(err, "writing \"%s\" to %s: %s", shown, path, strerror(-ret));
	else
		usbip_dbg("wrote \"%s\" to %s", shown, path);
	return ret;
}

/**
 * usbip_sysfs_read_status() - read and check a device's usbip_status
 * @dir: the device's sysfs directory (usbip-host device or usbip-vudc.N)
 * @busid: its name, for the error message
 * @status: SDEV_ST_AVAILABLE, SDEV_ST_USED or SDEV_ST_ERROR
 * @err: reason on failure, may be NULL
 *
 * Return: 0, -ENODEV (no usbip_status file) or -EINVAL (unknown value).
 */
int usbip_sysfs_read_status(const char *dir, const char *busid, int *status,
			    struct usbip_error *err)
{
	unsigned long v;
	int ret;

	ret = usbip_sysfs_read_num(dir, "usbip_status", 10, 0xff, false, &v, err);
	if (ret)
		return ret == -ENOENT ? -ENODEV : ret;
	if (v != SDEV_ST_AVAILABLE && v != SDEV_ST_USED && v != SDEV_ST_ERROR) {
		usbip_set_error(err, "%s: unknown usbip_status %lu", busid, v);
		return -EINVAL;
	}
	*status = v;
	return 0;
}

/**
 * usbip_sysfs_write_sockfd() - hand a connected socket to a server driver
 * @dir: the device's sysfs directory, which has a usbip_sockfd file
 * @sockfd: the socket; the driver holds its own reference afterwards
 * @err: reason on failure, may be NULL
 *
 * Return: 0, or the negative errno of the write.
 */
int usbip_sysfs_write_sockfd(const char *dir, int sockfd, struct usbip_error *err)
{
	char path[PATH_MAX + 16], num[16];

	snprintf(path, sizeof(path), "%s/usbip_sockfd", dir);
	snprintf(num, sizeof(num), "%d", sockfd);
	return usbip_sysfs_write_text(path, num, err);
}

/**
 * usbip_sysfs_write_sockfd_line() - hand a socket to a server driver with parameters
 * @dir: the device's sysfs directory, which has a usbip_sockfd file
 * @line: the whole line, e.g. from usbip_sockfd_line_session()
 * @shown: @line without its tokens, for messages
 * @err: reason on failure, may be NULL
 *
 * Return: 0, or the negative errno of the write (for a resume: -EACCES
 * wrong token, -ESTALE no session to resume, -EBUSY the old connection
 * does not let go).
 */
int usbip_sysfs_write_sockfd_line(const char *dir, const char *line, const char *shown,
				  struct usbip_error *err)
{
	char path[PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s/usbip_sockfd", dir);
	return usbip_sysfs_write_shown(path, line, shown, err);
}

/**
 * usbip_sysfs_read_ext_caps() - the extension capabilities of a server driver
 * @dir: the device's sysfs directory
 * @caps: USBIP_EXT_CAP_* the driver supports; 0 when it has no
 *	usbip_ext_caps file (the in-tree drivers)
 * @err: reason on failure, may be NULL
 *
 * Return: 0, or a negative errno when the file is there but unreadable.
 */
int usbip_sysfs_read_ext_caps(const char *dir, uint32_t *caps, struct usbip_error *err)
{
	unsigned long v;
	int ret;

	ret = usbip_sysfs_read_num(dir, "usbip_ext_caps", 16, UINT32_MAX, true, &v, err);
	*caps = ret ? 0 : v;
	return ret;
}

static void hex_token(char *out, const uint8_t *token, bool redact)
{
	int i;

	if (redact) {
		strcpy(out, "(hidden)");
		return;
	}
	for (i = 0; i < USBIP_EXT_TOKEN_SIZE; i++)
		sprintf(out + 2 * i, "%02x", token[i]);
}

/**
 * usbip_sockfd_line_session() - the usbip_sockfd line of an import with a session
 * @buf: output, USBIP_SOCKFD_LINE_SIZE bytes
 * @sockfd: the socket
 * @blk: the session's parameters, as sent to the client
 * @redact: "(hidden)" instead of the token, for messages
 *
 * "FD caps=HEX token=HEX32 window=MS heartbeat=MS journal=BYTES".
 */
void usbip_sockfd_line_session(char *buf, int sockfd, const struct usbip_ext_block *blk,
			       bool redact)
{
	char token[2 * USBIP_EXT_TOKEN_SIZE + 1];

	hex_token(token, blk->token, redact);
	snprintf(buf, USBIP_SOCKFD_LINE_SIZE, "%d caps=%x token=%s window=%u heartbeat=%u "
		 "journal=%u", sockfd, blk->caps, token, blk->window_ms, blk->heartbeat_ms,
		 blk->journal_max);
}

/**
 * usbip_sockfd_line_resume() - the usbip_sockfd line of a resume
 * @buf: output, USBIP_SOCKFD_LINE_SIZE bytes
 * @sockfd: the new socket
 * @old: the token the client proved
 * @new: the session's token from now on
 * @redact: "(hidden)" instead of the tokens, for messages
 *
 * "resume FD token=HEX32 new=HEX32".
 */
void usbip_sockfd_line_resume(char *buf, int sockfd, const uint8_t *old, const uint8_t *new,
			      bool redact)
{
	char a[2 * USBIP_EXT_TOKEN_SIZE + 1], b[2 * USBIP_EXT_TOKEN_SIZE + 1];

	hex_token(a, old, redact);
	hex_token(b, new, redact);
	snprintf(buf, USBIP_SOCKFD_LINE_SIZE, "resume %d token=%s new=%s", sockfd, a, b);
}

/**
 * usbip_parse_session() - parse a server driver's usbip_session attribute
 * @text: "none", "active journal=BYTES" or "resumable left_ms=MS"; words
 *	of the form KEY=VALUE that are not known are ignored
 * @s: the state
 *
 * Return: 0, or -EINVAL for another state or a malformed number.
 */
int usbip_parse_session(const char *text, struct usbip_session *s)
{
	char copy[128], *word, *save = NULL, *val, *end;
	unsigned long long v;
	bool first = true;

	memset(s, 0, sizeof(*s));
	if (strlen(text) >= sizeof(copy))
		return -EINVAL;
	strcpy(copy, text);
	for (word = strtok_r(copy, " \t\n", &save); word; word = strtok_r(NULL, " \t\n", &save)) {
		if (first) {
			first = false;
			if (!strcmp(word, "none"))
				s->state = USBIP_SESSION_NONE;
			else if (!strcmp(word, "active"))
				s->state = USBIP_SESSION_ACTIVE;
			else if (!strcmp(word, "resumable"))
				s->state = USBIP_SESSION_RESUMABLE;
			else
				return -EINVAL;
			continue;
		}
		val = strchr(word, '=');
		if (!val || val == word)
			return -EINVAL;
		*val++ = '\0';
		if (strcmp(word, "journal") && strcmp(word, "left_ms"))
			continue;
		if (*val < '0' || *val > '9')
			return -EINVAL;
		errno = 0;
		v = strtoull(val, &end, 10);
		if (errno || *end)
			return -EINVAL;
		if (!strcmp(word, "journal"))
			s->journal = v;
		else if (v > UINT32_MAX)
			return -EINVAL;
		else
			s->left_ms = v;
	}
	return first ? -EINVAL : 0;
}

/**
 * usbip_session_left_s() - what is left of a suspended session's window
 * @s: the state
 *
 * Return: seconds, rounded up (a session with 1 ms left is still
 * resumable), 0 for a state other than USBIP_SESSION_RESUMABLE.
 */
unsigned int usbip_session_left_s(const struct usbip_session *s)
{
	if (s->state != USBIP_SESSION_RESUMABLE)
		return 0;
	return s->left_ms / 1000 + (s->left_ms % 1000 != 0);
}

/**
 * usbip_sysfs_read_session() - the session state of an exported device
 * @dir: the device's sysfs directory
 * @s: the state
 * @err: reason on failure, may be NULL
 *
 * Return: 0, -ENOENT when the driver has no usbip_session file (no
 * sessions: the in-tree drivers, or a device not bound to ours), -EINVAL
 * for text usbip_parse_session() does not know, or another negative errno.
 */
int usbip_sysfs_read_session(const char *dir, struct usbip_session *s, struct usbip_error *err)
{
	char path[PATH_MAX + 16], text[128];
	int ret;

	memset(s, 0, sizeof(*s));
	snprintf(path, sizeof(path), "%s/usbip_session", dir);
	ret = usbip_sysfs_read_text(path, text, sizeof(text));
	if (ret) {
		usbip_set_error(err, "cannot read %s: %s", path, strerror(-ret));
		return ret;
	}
	if (usbip_parse_session(text, s)) {
		usbip_set_error(err, "%s is \"%s\", not a session state", path, text);
		return -EINVAL;
	}
	return 0;
}

static int check_busid_arg(const char *busid, struct usbip_error *err)
{
	if (strlen(busid) >= USBIP_BUSID_SIZE) {
		usbip_set_error(err, "bus id \"%.40s\" is longer than %d characters", busid,
				USBIP_BUSID_SIZE - 1);
		return -EINVAL;
	}
	return usbip_check_busid(busid, strlen(busid) + 1, err);
}

/**
 * usbip_sysfs_read_num() - read a numeric attribute of a device directory
 * @dir: the directory
 * @attr: the attribute's name
 * @base: 10 or 16
 * @max: largest acceptable value
 * @optional: a missing or empty attribute reads as 0
 * @val: the value
 * @err: reason on failure, may be NULL
 *
 * Return: 0 or a negative errno.
 */
int usbip_sysfs_read_num(const char *dir, const char *attr, int base, unsigned long max,
		    bool optional, unsigned long *val, struct usbip_error *err)
{
	char path[PATH_MAX], text[64];
	int ret;

	if (snprintf(path, sizeof(path), "%s/%s", dir, attr) >= (int)sizeof(path)) {
		usbip_set_error(err, "sysfs path too long");
		return -ENAMETOOLONG;
	}
	ret = usbip_sysfs_read_text(path, text, sizeof(text));
	if (optional && (ret == -ENOENT || (!ret && !text[strspn(text, " \t")]))) {
		*val = 0;
		return 0;
	}
	if (ret) {
		usbip_set_error(err, "cannot read %s: %s", path, strerror(-ret));
		return ret;
	}
	if (usbip_parse_sysfs_uint(text, base, max, val)) {
		usbip_set_error(err, "%s is \"%s\", not a number", path, text);
		return -EINVAL;
	}
	return 0;
}

/* usbip_attr_reader over plain files: @ctx is the device directory. */
static int dir_attr_reader(void *ctx, const char *attr, int base, unsigned long max,
			   bool optional, unsigned long *val, struct usbip_error *err)
{
	return usbip_sysfs_read_num(ctx, attr, base, max, optional, val, err);
}

/* The directory of a USB device (not an interface, which has a ':'). */
static int device_dir(const char *busid, char *dir, struct usbip_error *err)
{
	char attr[PATH_MAX];
	struct stat st;
	int ret;

	ret = check_busid_arg(busid, err);
	if (ret)
		return ret;
	ret = usbip_sysfs_path(dir, err, "bus/usb/devices/%s", busid);
	if (ret)
		return ret;
	if (stat(dir, &st) || !S_ISDIR(st.st_mode)) {
		usbip_set_error(err, "no USB device with bus id %s", busid);
		return -ENODEV;
	}
	if (snprintf(attr, sizeof(attr), "%s/idVendor", dir) >= (int)sizeof(attr) ||
	    strchr(busid, ':') || access(attr, F_OK)) {
		usbip_set_error(err, "%s is not a USB device (an interface or a bus?)", busid);
		return -ENODEV;
	}
	return 0;
}

/* Fills the interfaces from the BUSID:C.I subdirectories of @dir. */
static int read_interfaces(const char *dir, struct usbip_devinfo *dev, struct usbip_error *err)
{
	struct usbip_intf_slot slots[USBIP_MAX_INTERFACES];
	size_t blen = strlen(dev->busid), n = 0;
	char sub_dir[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int ret = 0;

	d = opendir(dir);
	if (!d) {
		ret = -errno;
		usbip_set_error(err, "cannot read %s: %s", dir, strerror(-ret));
		return ret;
	}
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, dev->busid, blen) || de->d_name[blen] != ':')
			continue;
		if (snprintf(sub_dir, sizeof(sub_dir), "%s/%s", dir, de->d_name) >=
		    (int)sizeof(sub_dir))
			continue;
		if (n == USBIP_MAX_INTERFACES) {
			usbip_set_error(err, "%s: more than %d interfaces", dev->busid,
					USBIP_MAX_INTERFACES);
			ret = -E2BIG;
			break;
		}
		ret = usbip_read_interface(dir_attr_reader, sub_dir, &slots[n], err);
		if (ret)
			break;
		n++;
	}
	closedir(d);
	if (ret)
		return ret;
	usbip_set_interfaces(dev, slots, n);
	return 0;
}

/**
 * usbip_sysfs_device_path() - fill the path field of a device record
 * @dir: the device's directory under the sysfs root
 * @dev: the record; @dev->busid names it in messages
 * @err: reason on failure, may be NULL
 *
 * The path is the device's real sysfs path, spelt under /sys even when a
 * fake root is in use, so that a fake tree yields the records a real one
 * would.
 *
 * Return: 0 or a negative errno.
 */
int usbip_sysfs_device_path(const char *dir, struct usbip_devinfo *dev, struct usbip_error *err)
{
	char real[PATH_MAX], root[PATH_MAX];
	const char *rest = real;
	size_t rlen;

	if (!realpath(dir, real) || !realpath(usbip_sysfs_root(), root)) {
		usbip_set_error(err, "%s: cannot resolve %s: %s", dev->busid, dir, strerror(errno));
		return -errno;
	}
	rlen = strlen(root);
	if (!strncmp(real, root, rlen) && real[rlen] == '/')
		rest = real + rlen;
	if (snprintf(dev->path, sizeof(dev->path), "%s%s", rest == real ? "" : "/sys", rest) >=
	    (int)sizeof(dev->path)) {
		usbip_set_error(err, "%s: sysfs path longer than %zu characters", dev->busid,
				sizeof(dev->path) - 1);
		return -ENAMETOOLONG;
	}
	return 0;
}

/**
 * usbip_host_read_device() - read one USB device from sysfs
 * @busid: its bus id
 * @dev: the device record, interfaces included
 * @err: reason on failure, may be NULL
 *
 * Return: 0, -EINVAL for a malformed bus id, -ENODEV when there is no such
 * device, or another negative errno when its attributes cannot be read.
 */
int usbip_host_read_device(const char *busid, struct usbip_devinfo *dev,
			   struct usbip_error *err)
{
	char dir[PATH_MAX], speed[32];
	char attr[PATH_MAX + 8];
	int ret;

	ret = device_dir(busid, dir, err);
	if (ret)
		return ret;
	memset(dev, 0, sizeof(*dev));
	strcpy(dev->busid, busid);
	ret = usbip_sysfs_device_path(dir, dev, err);
	if (!ret)
		ret = usbip_read_device_numbers(dir_attr_reader, dir, dev, err);
	if (ret)
		return ret;
	snprintf(attr, sizeof(attr), "%s/speed", dir);
	dev->speed = usbip_speed_from_sysfs(usbip_sysfs_read_text(attr, speed, sizeof(speed)) ?
					    NULL : speed);
	return read_interfaces(dir, dev, err);
}

/**
 * usbip_host_driver_loaded() - is the usbip-host driver registered?
 * @err: reason when it is not, may be NULL
 *
 * Return: 0, or -ENOENT with a message telling to load the module.
 */
int usbip_host_driver_loaded(struct usbip_error *err)
{
	char path[PATH_MAX];
	struct stat st;
	int ret;

	ret = usbip_sysfs_path(path, err, "bus/usb/drivers/%s", USBIP_HOST_DRIVER);
	if (ret)
		return ret;
	if (stat(path, &st) || !S_ISDIR(st.st_mode)) {
		usbip_set_error(err, "the %s driver is not loaded (no %s); "
				"load it with 'modprobe %s'", USBIP_HOST_DRIVER, path,
				USBIP_HOST_DRIVER);
		return -ENOENT;
	}
	return 0;
}

/**
 * usbip_host_driver_of() - name of the driver bound to a USB device
 * @busid: bus id of the device
 * @name: the driver's name, "" when no driver is bound
 * @size: size of @name
 * @err: reason on failure, may be NULL
 *
 * Return: 0, or a negative errno (-ENODEV: no such device).
 */
int usbip_host_driver_of(const char *busid, char *name, size_t size, struct usbip_error *err)
{
	char dir[PATH_MAX], link[PATH_MAX + 8], target[PATH_MAX];
	const char *base;
	ssize_t n;
	int ret;

	ret = device_dir(busid, dir, err);
	if (ret)
		return ret;
	snprintf(link, sizeof(link), "%s/driver", dir);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0) {
		if (errno == ENOENT) {
			name[0] = '\0';
			return 0;
		}
		ret = -errno;
		usbip_set_error(err, "cannot read %s: %s", link, strerror(errno));
		return ret;
	}
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (strlen(base) >= size) {
		usbip_set_error(err, "%s: driver name too long", busid);
		return -ENAMETOOLONG;
	}
	strcpy(name, base);
	return 0;
}

/**
 * usbip_host_is_bound() - is a device bound to usbip-host?
 * @busid: bus id
 *
 * Return: 1 when it is, 0 when it is not or does not exist.
 */
int usbip_host_is_bound(const char *busid)
{
	char name[64];

	if (usbip_host_driver_of(busid, name, sizeof(name), NULL))
		return 0;
	return !strcmp(name, USBIP_HOST_DRIVER);
}

/* Tells the driver core to probe @busid again (generic fallback of rebind). */
static int reprobe(const char *busid, struct usbip_error *err)
{
	char path[PATH_MAX];
	int ret;

	ret = usbip_sysfs_path(path, err, "bus/usb/drivers_probe");
	if (!ret)
		ret = usbip_sysfs_write_text(path, busid, err);
	return ret;
}

/* For bind and unbind: usbip-host must be loaded; @name is @busid's driver now. */
static int current_driver(const char *busid, char *name, size_t size, struct usbip_error *err)
{
	int ret;

	ret = usbip_host_driver_loaded(err);
	if (ret)
		return ret;
	return usbip_host_driver_of(busid, name, size, err);
}

/**
 * usbip_host_bind() - make a device exportable: bind it to usbip-host
 * @busid: bus id of the device
 * @err: reason on failure, may be NULL
 *
 * Adds @busid to usbip-host's match list, releases the device from its
 * current driver and binds it to usbip-host.  When a step fails the earlier
 * ones are undone as far as possible.
 *
 * Return: 0, -EINVAL (bad bus id or a hub), -ENODEV (no such device),
 * -ENOENT (usbip-host not loaded), -EBUSY (already bound), -EACCES/-EPERM
 * (not root) or another negative errno from sysfs.
 */
int usbip_host_bind(const char *busid, struct usbip_error *err)
{
	char match[PATH_MAX], bind[PATH_MAX], unbind[PATH_MAX], dir[PATH_MAX];
	char driver[64], cmd[USBIP_BUSID_SIZE + 8];
	unsigned long cls;
	int ret;

	ret = device_dir(busid, dir, err);
	if (ret)
		return ret;
	ret = usbip_sysfs_read_num(dir, "bDeviceClass", 16, 0xff, true, &cls, err);
	if (ret)
		return ret;
	if (cls == USBIP_CLASS_HUB) {
		usbip_set_error(err, "%s is a USB hub; hubs cannot be exported", busid);
		return -EINVAL;
	}
	ret = current_driver(busid, driver, sizeof(driver), err);
	if (ret)
		return ret;
	if (!strcmp(driver, USBIP_HOST_DRIVER)) {
		usbip_set_error(err, "%s is already bound to %s", busid, USBIP_HOST_DRIVER);
		return -EBUSY;
	}
	ret = usbip_sysfs_path(match, err, "bus/usb/drivers/%s/match_busid", USBIP_HOST_DRIVER);
	if (!ret)
		ret = usbip_sysfs_path(bind, err, "bus/usb/drivers/%s/bind", USBIP_HOST_DRIVER);
	if (!ret)
		ret = usbip_sysfs_path(unbind, err, "bus/usb/devices/%s/driver/unbind", busid);
	if (ret)
		return ret;
	if (access(match, W_OK)) {
		ret = -errno;
		usbip_set_error(err, "cannot write %s: %s%s", match, strerror(errno),
				errno == EACCES || errno == EPERM || errno == EROFS ?
				" (binding needs root)" : "");
		return ret;
	}

	snprintf(cmd, sizeof(cmd), "add %s", busid);
	ret = usbip_sysfs_write_text(match, cmd, err);
	if (ret)
		return ret;
	if (driver[0]) {
		ret = usbip_sysfs_write_text(unbind, busid, err);
		if (ret)
			goto err_match;
	}
	ret = usbip_sysfs_write_text(bind, busid, err);
	if (ret)
		goto err_driver;
	return 0;

err_driver:
	if (driver[0])
		reprobe(busid, NULL);
err_match:
	snprintf(cmd, sizeof(cmd), "del %s", busid);
	usbip_sysfs_write_text(match, cmd, NULL);
	return ret;
}

/**
 * usbip_host_unbind() - stop exporting a device and give it back to its driver
 * @busid: bus id of the device
 * @err: reason on failure, may be NULL
 *
 * Releases the device from usbip-host, removes it from the match list and
 * asks usbip-host to "rebind" it, which lets the driver core probe it with
 * its usual driver; if that attribute is missing or refuses, the bus's
 * generic drivers_probe is used instead.
 *
 * Return: 0, -EINVAL (bad bus id or not bound to usbip-host), -ENODEV (no
 * such device), -ENOENT (usbip-host not loaded) or a negative errno.
 */
int usbip_host_unbind(const char *busid, struct usbip_error *err)
{
	char match[PATH_MAX], unbind[PATH_MAX], rebind[PATH_MAX], dir[PATH_MAX];
	char driver[64], cmd[USBIP_BUSID_SIZE + 8];
	struct usbip_error why;
	int ret;

	ret = device_dir(busid, dir, err);
	if (ret)
		return ret;
	ret = current_driver(busid, driver, sizeof(driver), err);
	if (ret)
		return ret;
	if (strcmp(driver, USBIP_HOST_DRIVER)) {
		usbip_set_error(err, "%s is not bound to %s (its driver is %s)", busid,
				USBIP_HOST_DRIVER, driver[0] ? driver : "none");
		return -EINVAL;
	}
	ret = usbip_sysfs_path(match, err, "bus/usb/drivers/%s/match_busid", USBIP_HOST_DRIVER);
	if (!ret)
		ret = usbip_sysfs_path(unbind, err, "bus/usb/drivers/%s/unbind", USBIP_HOST_DRIVER);
	if (!ret)
		ret = usbip_sysfs_path(rebind, err, "bus/usb/drivers/%s/rebind", USBIP_HOST_DRIVER);
	if (ret)
		return ret;

	ret = usbip_sysfs_write_text(unbind, busid, err);
	if (ret)
		return ret;
	snprintf(cmd, sizeof(cmd), "del %s", busid);
	ret = usbip_sysfs_write_text(match, cmd, &why);
	if (ret)
		usbip_dbg("%s (continuing)", why.msg);
	ret = usbip_sysfs_write_text(rebind, busid, &why);
	if (ret) {
		usbip_dbg("%s; asking the bus to probe %s instead", why.msg, busid);
		ret = reprobe(busid, err);
	}
	return ret;
}

/**
 * usbip_host_status() - export status of a device bound to usbip-host
 * @busid: bus id
 * @status: SDEV_ST_AVAILABLE, SDEV_ST_USED or SDEV_ST_ERROR
 * @err: reason on failure, may be NULL
 *
 * Return: 0, -ENODEV (no such device, or not bound to usbip-host) or
 * -EINVAL (unreadable value).
 */
int usbip_host_status(const char *busid, int *status, struct usbip_error *err)
{
	char dir[PATH_MAX];
	int ret;

	ret = device_dir(busid, dir, err);
	if (ret)
		return ret;
	if (usbip_host_driver_loaded(err))
		return -ENODEV;
	if (!usbip_host_is_bound(busid)) {
		usbip_set_error(err, "%s is not bound to %s", busid, USBIP_HOST_DRIVER);
		return -ENODEV;
	}
	return usbip_sysfs_read_status(dir, busid, status, err);
}

/**
 * usbip_host_export_fd() - hand a connected socket to usbip-host
 * @busid: bus id of a device bound to usbip-host and available
 * @sockfd: the socket; the caller may close its descriptor afterwards, the
 *          driver holds its own reference
 * @err: reason on failure, may be NULL
 *
 * Return: 0, or the negative errno of the write (the driver refuses a
 * device that is not available, or a descriptor that is not a TCP socket).
 */
int usbip_host_export_fd(const char *busid, int sockfd, struct usbip_error *err)
{
	char dir[PATH_MAX];
	int ret;

	ret = device_dir(busid, dir, err);
	if (ret)
		return ret;
	return usbip_sysfs_write_sockfd(dir, sockfd, err);
}

/**
 * usbip_host_ext_caps() - extension capabilities usbip-host has for a device
 * @busid: bus id
 * @caps: USBIP_EXT_CAP_*, 0 for a driver without usbip_ext_caps
 * @err: reason on failure, may be NULL
 *
 * Return: 0 or a negative errno (-ENODEV: no such device).
 */
int usbip_host_ext_caps(const char *busid, uint32_t *caps, struct usbip_error *err)
{
	char dir[PATH_MAX];
	int ret;

	*caps = 0;
	ret = device_dir(busid, dir, err);
	if (ret)
		return ret;
	return usbip_sysfs_read_ext_caps(dir, caps, err);
}

/**
 * usbip_host_write_sockfd() - write a line to a device's usbip_sockfd
 * @busid: bus id of a device bound to usbip-host
 * @line: "FD ..." or "resume FD ..." (usbip_sockfd_line_*())
 * @shown: @line without its tokens, for messages
 * @err: reason on failure, may be NULL
 *
 * Return: 0, or the negative errno of the write.
 */
int usbip_host_write_sockfd(const char *busid, const char *line, const char *shown,
			    struct usbip_error *err)
{
	char dir[PATH_MAX];
	int ret;

	ret = device_dir(busid, dir, err);
	if (ret)
		return ret;
	return usbip_sysfs_write_sockfd_line(dir, line, shown, err);
}

/**
 * usbip_host_session() - the session state of a local USB device
 * @busid: bus id
 * @s: the state
 * @err: reason on failure, may be NULL
 *
 * Return: as usbip_sysfs_read_session(); -ENOENT also when there is no
 * such device.
 */
int usbip_host_session(const char *busid, struct usbip_session *s, struct usbip_error *err)
{
	char dir[PATH_MAX];
	int ret;

	memset(s, 0, sizeof(*s));
	ret = device_dir(busid, dir, err);
	if (ret)
		return ret == -ENODEV ? -ENOENT : ret;
	return usbip_sysfs_read_session(dir, s, err);
}

/* usbip-host's directory holds links named after the bus ids of its devices. */
static bool host_entry(const char *dir, const char *name)
{
	char entry[PATH_MAX + NAME_MAX + 2];
	struct stat st;

	if (name[0] == '.' || !strcmp(name, "module") || strlen(name) >= USBIP_BUSID_SIZE ||
	    strchr(name, ':'))
		return false;
	snprintf(entry, sizeof(entry), "%s/%s", dir, name);
	return !lstat(entry, &st) && S_ISLNK(st.st_mode);
}

/**
 * usbip_host_devices() - the devices bound to usbip-host
 * @devs: on success a malloc()ed array sorted by bus id, NULL when empty
 * @ndev: on success the number of devices
 * @err: reason on failure, may be NULL
 *
 * Devices whose attributes cannot be read (they may be disappearing) are
 * left out with a debug message.
 *
 * Return: 0, -ENOENT when usbip-host is not loaded, or a negative errno.
 */
int usbip_host_devices(struct usbip_devinfo **devs, size_t *ndev, struct usbip_error *err)
{
	char path[PATH_MAX];
	int ret;

	*devs = NULL;
	*ndev = 0;
	ret = usbip_host_driver_loaded(err);
	if (!ret)
		ret = usbip_sysfs_path(path, err, "bus/usb/drivers/%s", USBIP_HOST_DRIVER);
	if (ret)
		return ret;
	return usbip_driver_devices(path, host_entry, usbip_host_read_device,
				    "exported devices", devs, ndev, err);
}

/**
 * usbip_driver_devices() - read the devices listed in a driver's directory
 * @dir: the driver's sysfs directory
 * @want: picks the entries of @dir that name devices
 * @read: reads one device, given the entry's name as bus id
 * @what: the devices in the out-of-memory message ("listing @what")
 * @devs: on success a malloc()ed array sorted by bus id, NULL when empty
 * @ndev: on success the number of devices
 * @err: reason on failure, may be NULL
 *
 * Devices that @read refuses (they may be disappearing) are left out with
 * a debug message.
 *
 * Return: 0, or a negative errno when @dir cannot be read or memory runs out.
 */
int usbip_driver_devices(const char *dir, usbip_driver_entry_filter want,
			 usbip_device_reader read, const char *what,
			 struct usbip_devinfo **devs, size_t *ndev, struct usbip_error *err)
{
	struct usbip_devinfo *list = NULL, *grown;
	size_t count = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int ret;

	d = opendir(dir);
	if (!d) {
		ret = -errno;
		usbip_set_error(err, "cannot read %s: %s", dir, strerror(errno));
		return ret;
	}
	while ((de = readdir(d))) {
		struct usbip_error why;

		if (!want(dir, de->d_name))
			continue;
		if (count == cap) {
			cap = cap ? cap * 2 : 8;
			grown = realloc(list, cap * sizeof(*list));
			if (!grown) {
				usbip_set_error(err, "out of memory listing %s", what);
				ret = -ENOMEM;
				goto err_free;
			}
			list = grown;
		}
		if (read(de->d_name, &list[count], &why)) {
			usbip_dbg("skipping %s: %s", de->d_name, why.msg);
			continue;
		}
		count++;
	}
	closedir(d);
	usbip_sort_devices(list, count);
	if (!count) {
		free(list);
		list = NULL;
	}
	*devs = list;
	*ndev = count;
	return 0;

err_free:
	closedir(d);
	free(list);
	return ret;
}
