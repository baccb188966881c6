// SPDX-License-Identifier: GPL-2.0
/*
 * Client side of libusbip: reading the vhci-hcd port table, attaching and
 * detaching devices, and the per-port records of imported devices.
 *
 * The status files are parsed by splitting lines on white space, so that
 * the column widths of the driver do not matter; a line that does not have
 * the seven fields of a port is an error, not something to skip, because a
 * misread table could send a device to a port that is in use.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <linux/usb/ch9.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "usbip_host.h"
#include "usbip_vhci.h"

/* Biggest status file accepted; the driver's are at most one page. */
#define STATUS_MAX	(1 << 20)

/**
 * usbip_vhci_dir() - directory of vhci-hcd's first controller
 *
 * Return: a static buffer holding ROOT/devices/platform/vhci_hcd.0.
 */
const char *usbip_vhci_dir(void)
{
	static char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s/devices/platform/vhci_hcd.0", usbip_sysfs_root());
	return dir;
}

/* Reads a whole file into a malloc()ed NUL-terminated buffer. */
static int read_file(const char *path, char **out)
{
	size_t used = 0, cap = 4096;
	char *buf, *grown;
	ssize_t n;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	buf = malloc(cap);
	if (!buf) {
		ret = -ENOMEM;
		goto err_close;
	}
	for (;;) {
		if (cap - used < 2) {
			if (cap >= STATUS_MAX) {
				ret = -EFBIG;
				goto err_free;
			}
			grown = realloc(buf, cap * 2);
			if (!grown) {
				ret = -ENOMEM;
				goto err_free;
			}
			buf = grown;
			cap *= 2;
		}
		n = read(fd, buf + used, cap - used - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			goto err_free;
		}
		if (!n)
			break;
		used += n;
	}
	close(fd);
	buf[used] = '\0';
	*out = buf;
	return 0;

err_free:
	free(buf);
err_close:
	close(fd);
	return ret;
}

/* Writes @text to a sysfs attribute in one write(); 0 or -errno. */
static int write_attr(const char *path, const char *text)
{
	size_t len = strlen(text);
	ssize_t n;
	int fd, ret;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, text, len);
	ret = n < 0 ? -errno : (size_t)n == len ? 0 : -EIO;
	if (close(fd) && !ret)
		ret = -errno;
	return ret;
}

static int parse_uint(const char *text, int base, unsigned long max, unsigned long *val)
{
	unsigned long v;
	char *end;

	if (!*text || *text == '-' || *text == '+')
		return -EINVAL;
	errno = 0;
	v = strtoul(text, &end, base);
	if (errno || *end || v > max)
		return -EINVAL;
	*val = v;
	return 0;
}

/* Parses one port line; @lineno for the error text. */
static int parse_port_line(char *line, unsigned int lineno, struct usbip_vhci_port *p,
			   struct usbip_error *err)
{
	char *field[8], *save = NULL, *tok;
	unsigned long port, sta, spd, devid, sockfd;
	unsigned int n = 0;

	for (tok = strtok_r(line, " \t\r", &save); tok; tok = strtok_r(NULL, " \t\r", &save)) {
		if (n == 8)
			break;
		field[n++] = tok;
	}
	if (n != 7) {
		usbip_set_error(err, "status line %u has %u fields, expected 7", lineno, n);
		return -EINVAL;
	}
	if (strcmp(field[0], "hs") && strcmp(field[0], "ss")) {
		usbip_set_error(err, "status line %u: hub \"%.8s\" is neither hs nor ss", lineno,
				field[0]);
		return -EINVAL;
	}
	if (parse_uint(field[1], 10, USBIP_VHCI_MAX_PORTS - 1, &port) ||
	    parse_uint(field[2], 10, 255, &sta) || parse_uint(field[3], 10, 255, &spd) ||
	    parse_uint(field[4], 16, UINT32_MAX, &devid) ||
	    parse_uint(field[5], 10, INT_MAX, &sockfd)) {
		usbip_set_error(err, "status line %u: a number field is malformed", lineno);
		return -EINVAL;
	}
	if (strlen(field[6]) >= sizeof(p->local_busid)) {
		usbip_set_error(err, "status line %u: local bus id too long", lineno);
		return -EINVAL;
	}
	p->superspeed = field[0][0] == 's';
	p->port = port;
	p->status = sta;
	p->speed = spd;
	p->devid = devid;
	p->sockfd = sockfd;
	strcpy(p->local_busid, field[6]);
	return 0;
}

/**
 * usbip_vhci_parse_status() - parse the text of one status file
 * @text: the file, header line first
 * @ports: on success a malloc()ed array of the ports (NULL when none)
 * @count: on success the number of ports
 * @err: reason on failure, may be NULL
 *
 * The first line is a header ("hub port sta ...") and is only checked to
 * start with "hub"; blank lines are ignored.
 *
 * Return: 0, -EINVAL for malformed text, -ENOMEM.
 */
int usbip_vhci_parse_status(const char *text, struct usbip_vhci_port **ports, size_t *count,
			    struct usbip_error *err)
{
	struct usbip_vhci_port *arr = NULL, *grown;
	size_t n = 0, cap = 0;
	unsigned int lineno = 0;
	char *copy, *line, *next;
	int ret = 0;

	copy = strdup(text);
	if (!copy) {
		usbip_set_error(err, "out of memory");
		return -ENOMEM;
	}
	for (line = copy; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		if (lineno == 1) {
			if (strncmp(line + strspn(line, " \t"), "hub", 3)) {
				usbip_set_error(err, "status does not start with a \"hub ...\" header");
				ret = -EINVAL;
				break;
			}
			continue;
		}
		if (!line[strspn(line, " \t\r")])
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			grown = realloc(arr, cap * sizeof(*arr));
			if (!grown) {
				usbip_set_error(err, "out of memory");
				ret = -ENOMEM;
				break;
			}
			arr = grown;
		}
		ret = parse_port_line(line, lineno, &arr[n], err);
		if (ret)
			break;
		n++;
	}
	if (!ret && lineno == 0) {
		usbip_set_error(err, "status is empty");
		ret = -EINVAL;
	}
	free(copy);
	if (ret) {
		free(arr);
		return ret;
	}
	*ports = arr;
	*count = n;
	return 0;
}

/* Appends the ports of one status file to @vhci. */
static int add_status_file(struct usbip_vhci *vhci, const char *path, struct usbip_error *err)
{
	struct usbip_vhci_port *ports, *grown;
	struct usbip_error perr;
	size_t count;
	char *text;
	int ret;

	ret = read_file(path, &text);
	if (ret) {
		usbip_set_error(err, "cannot read %s: %s", path, strerror(-ret));
		return ret;
	}
	ret = usbip_vhci_parse_status(text, &ports, &count, &perr);
	free(text);
	if (ret) {
		usbip_set_error(err, "%s: %s", path, perr.msg);
		return ret;
	}
	if (!count) {
		free(ports);
		return 0;
	}
	grown = realloc(vhci->ports, (vhci->count + count) * sizeof(*grown));
	if (!grown) {
		free(ports);
		usbip_set_error(err, "out of memory");
		return -ENOMEM;
	}
	memcpy(grown + vhci->count, ports, count * sizeof(*ports));
	vhci->ports = grown;
	vhci->count += count;
	free(ports);
	return 0;
}

/**
 * usbip_vhci_open() - read the port table of vhci-hcd
 * @vhci: filled on success; release with usbip_vhci_close()
 * @err: reason on failure, may be NULL
 *
 * Reads nports, then status, status.1, status.2 ... until a file is
 * missing.  Every port number must be below nports and appear once.
 *
 * Return: 0, -ENODEV when vhci-hcd is not loaded, or another -errno.
 */
int usbip_vhci_open(struct usbip_vhci *vhci, struct usbip_error *err)
{
	char path[PATH_MAX + 32], *text;
	const char *dir = usbip_vhci_dir();
	unsigned long nports;
	unsigned char *seen;
	unsigned int i;
	struct stat st;
	int ret;

	memset(vhci, 0, sizeof(*vhci));
	if (stat(dir, &st) || !S_ISDIR(st.st_mode)) {
		usbip_set_error(err, "vhci-hcd is not loaded (modprobe vhci-hcd)");
		return -ENODEV;
	}
	snprintf(path, sizeof(path), "%s/nports", dir);
	ret = read_file(path, &text);
	if (ret) {
		usbip_set_error(err, "cannot read %s: %s", path, strerror(-ret));
		return ret;
	}
	text[strcspn(text, "\n")] = '\0';
	ret = parse_uint(text, 10, USBIP_VHCI_MAX_PORTS, &nports);
	free(text);
	if (ret || !nports) {
		usbip_set_error(err, "%s is not a port count", path);
		return -EINVAL;
	}
	vhci->nports = nports;

	for (i = 0; ; i++) {
		if (i)
			snprintf(path, sizeof(path), "%s/status.%u", dir, i);
		else
			snprintf(path, sizeof(path), "%s/status", dir);
		if (i && access(path, F_OK))
			break;
		ret = add_status_file(vhci, path, err);
		if (ret)
			goto err_close;
	}

	seen = calloc(nports, 1);
	if (!seen) {
		usbip_set_error(err, "out of memory");
		ret = -ENOMEM;
		goto err_close;
	}
	for (i = 0; i < vhci->count; i++) {
		unsigned int port = vhci->ports[i].port;

		if (port >= nports || seen[port]) {
			usbip_set_error(err, "vhci status lists port %u %s", port,
					port >= nports ? "beyond nports" : "twice");
			free(seen);
			ret = -EINVAL;
			goto err_close;
		}
		seen[port] = 1;
	}
	free(seen);
	usbip_dbg("vhci-hcd: %u ports, %zu in the status files", vhci->nports, vhci->count);
	return 0;

err_close:
	usbip_vhci_close(vhci);
	return ret;
}

/**
 * usbip_vhci_close() - release what usbip_vhci_open() allocated
 * @vhci: the table
 */
void usbip_vhci_close(struct usbip_vhci *vhci)
{
	free(vhci->ports);
	vhci->ports = NULL;
	vhci->count = 0;
}

/**
 * usbip_vhci_find() - the status of one port
 * @vhci: the table
 * @port: global port number
 *
 * Return: the port's entry, NULL when no status file lists it.
 */
const struct usbip_vhci_port *usbip_vhci_find(const struct usbip_vhci *vhci, unsigned int port)
{
	size_t i;

	for (i = 0; i < vhci->count; i++)
		if (vhci->ports[i].port == port)
			return &vhci->ports[i];
	return NULL;
}

/**
 * usbip_vhci_speed_is_super() - does a device of this speed need an ss port?
 * @speed: enum usb_device_speed
 *
 * Return: true for SuperSpeed and SuperSpeed Plus.
 */
bool usbip_vhci_speed_is_super(uint32_t speed)
{
	return speed == USB_SPEED_SUPER || speed == USB_SPEED_SUPER_PLUS;
}

/**
 * usbip_vhci_free_port() - lowest free port for a device of a given speed
 * @vhci: the table
 * @speed: enum usb_device_speed of the device
 * @skip: ports not to choose (already tried), may be NULL
 * @nskip: entries in @skip
 *
 * Return: the port number, or -ENOSPC when every port of the right hub
 * (ss for SuperSpeed devices, hs for the others) is in use or skipped.
 */
int usbip_vhci_free_port(const struct usbip_vhci *vhci, uint32_t speed,
			 const unsigned int *skip, size_t nskip)
{
	bool super = usbip_vhci_speed_is_super(speed);
	int best = -ENOSPC;
	size_t i, j;

	for (i = 0; i < vhci->count; i++) {
		const struct usbip_vhci_port *p = &vhci->ports[i];

		if (p->superspeed != super || p->status != USBIP_VDEV_ST_NULL)
			continue;
		for (j = 0; j < nskip; j++)
			if (skip[j] == p->port)
				break;
		if (j < nskip)
			continue;
		if (best < 0 || p->port < (unsigned int)best)
			best = p->port;
	}
	return best;
}

/* Writes @text to the vhci control file @attr ("attach", "detach"), logged. */
static int write_control(const char *attr, const char *text, struct usbip_error *err)
{
	char path[PATH_MAX + 16];
	int ret;

	snprintf(path, sizeof(path), "%s/%s", usbip_vhci_dir(), attr);
	ret = write_attr(path, text);
	if (ret)
		usbip_set_error(err, "writing \"%s\" to %s: %s%s", text, path, strerror(-ret),
				ret == -EACCES || ret == -EPERM ? " (are you root?)" : "");
	else
		usbip_dbg("wrote \"%s\" to %s", text, path);
	return ret;
}

/**
 * usbip_vhci_attach() - hand a connected socket to a vhci port
 * @port: global port number, free and of the device's speed class
 * @sockfd: connected socket, after a successful OP_REP_IMPORT
 * @devid: (busnum << 16) | devnum of the device on the server
 * @speed: enum usb_device_speed from the server's device record
 * @err: reason on failure, may be NULL
 *
 * Return: 0, -EBUSY when the port was taken meanwhile, or another -errno.
 */
int usbip_vhci_attach(unsigned int port, int sockfd, uint32_t devid, uint32_t speed,
		      struct usbip_error *err)
{
	char text[64];

	snprintf(text, sizeof(text), "%u %d %u %u", port, sockfd, devid, speed);
	return write_control("attach", text, err);
}

/* Bounds of the heartbeat vhci-hcd takes in an attach line (besides 0). */
#define HEARTBEAT_MIN_MS	100
#define HEARTBEAT_MAX_MS	3600000

/**
 * usbip_vhci_attach_ext() - hand a connected socket to a vhci port, with
 * the extensions the import agreed
 * @port: global port number, free and of the device's speed class
 * @sockfd: connected socket, after a successful OP_REP_IMPORT
 * @devid: (busnum << 16) | devnum of the device on the server
 * @speed: enum usb_device_speed from the server's device record
 * @ext: the import's extension block; NULL, or one that did not agree
 *	USBIP_EXT_CAP_SESSION, writes the plain line of usbip_vhci_attach()
 * @err: reason on failure, may be NULL
 *
 * With a session the line is "PORT SOCKFD DEVID SPEED caps=1 window=MS
 * heartbeat=MS": the window granted, and the heartbeat the server asked
 * for, raised to the 100 ms vhci-hcd takes at least (0 stays 0: none).
 * Only a vhci-hcd whose ext_caps lists USBIP_EXT_CAP_SESSION understands
 * it (usbip_vhci_ext_caps()): the in-tree driver ignores the words.
 *
 * Return: 0, -EBUSY when the port was taken meanwhile, or another -errno.
 */
int usbip_vhci_attach_ext(unsigned int port, int sockfd, uint32_t devid, uint32_t speed,
			  const struct usbip_ext_block *ext, struct usbip_error *err)
{
	uint32_t heartbeat;
	char text[128];

	if (!ext || !(ext->caps & USBIP_EXT_CAP_SESSION))
		return usbip_vhci_attach(port, sockfd, devid, speed, err);
	heartbeat = ext->heartbeat_ms;
	if (heartbeat && heartbeat < HEARTBEAT_MIN_MS)
		heartbeat = HEARTBEAT_MIN_MS;
	if (heartbeat > HEARTBEAT_MAX_MS)
		heartbeat = HEARTBEAT_MAX_MS;
	snprintf(text, sizeof(text), "%u %d %u %u caps=%x window=%u heartbeat=%u", port, sockfd,
		 devid, speed, USBIP_EXT_CAP_SESSION, ext->window_ms, heartbeat);
	return write_control("attach", text, err);
}

/**
 * usbip_vhci_resume() - go on with a port's suspended session
 * @port: global port number, whose session is reconnecting
 * @sockfd: connected socket, after an accepted OP_REP_RESUME (its
 *	extension block read: the driver sends EXT_RESUME next)
 * @err: reason on failure, may be NULL
 *
 * Return: 0, -ESTALE when the port has no suspended session (none, or its
 * window ended), -E2BIG when more URBs wait than one EXT_RESUME can list,
 * -ENOENT for a vhci-hcd without sessions, or another -errno.
 */
int usbip_vhci_resume(unsigned int port, int sockfd, struct usbip_error *err)
{
	char text[32];

	snprintf(text, sizeof(text), "%u %d", port, sockfd);
	return write_control("resume", text, err);
}

/**
 * usbip_vhci_ext_caps() - the extension capabilities of vhci-hcd
 * @caps: USBIP_EXT_CAP_* bits; 0 for a driver without the ext_caps file
 *	(the in-tree vhci-hcd)
 * @err: reason on failure, may be NULL
 *
 * Return: 0, -EINVAL when the file does not hold one hexadecimal number,
 * or another negative errno.
 */
int usbip_vhci_ext_caps(uint32_t *caps, struct usbip_error *err)
{
	char path[PATH_MAX + 16], *text;
	unsigned long v;
	int ret;

	*caps = 0;
	snprintf(path, sizeof(path), "%s/ext_caps", usbip_vhci_dir());
	ret = read_file(path, &text);
	if (ret == -ENOENT)
		return 0;
	if (ret) {
		usbip_set_error(err, "cannot read %s: %s", path, strerror(-ret));
		return ret;
	}
	text[strcspn(text, "\n")] = '\0';
	ret = parse_uint(text, 16, UINT32_MAX, &v);
	if (ret)
		usbip_set_error(err, "%s is \"%.20s\", not a hexadecimal number", path, text);
	else
		*caps = v;
	free(text);
	return ret;
}

/**
 * usbip_vhci_parse_session() - a port's state in the text of the session file
 * @text: the file: lines "PORT active" or "PORT reconnecting LEFT_MS"
 * @port: global port number
 * @s: the state; USBIP_VHCI_SESSION_NONE when no line names @port
 *
 * Every line is checked, not only @port's: a file that is not what the
 * driver writes is an error rather than a guess.
 *
 * Return: 0, or -EINVAL for a malformed line or a port listed twice.
 */
int usbip_vhci_parse_session(const char *text, unsigned int port, struct usbip_vhci_session *s)
{
	char *copy, *line, *next, *field[4], *save, *tok;
	unsigned long num, left;
	bool found = false;
	unsigned int n;
	int ret = 0;

	memset(s, 0, sizeof(*s));
	copy = strdup(text);
	if (!copy)
		return -ENOMEM;
	for (line = copy; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		n = 0;
		save = NULL;
		for (tok = strtok_r(line, " \t\r", &save); tok && n < 4;
		     tok = strtok_r(NULL, " \t\r", &save))
			field[n++] = tok;
		if (!n)
			continue;
		left = 0;
		if (n < 2 || n > 3 || parse_uint(field[0], 10, USBIP_VHCI_MAX_PORTS - 1, &num) ||
		    (n == 2 && strcmp(field[1], "active")) ||
		    (n == 3 && (strcmp(field[1], "reconnecting") ||
				parse_uint(field[2], 10, UINT32_MAX, &left)))) {
			ret = -EINVAL;
			break;
		}
		if (num != port)
			continue;
		if (found) {
			ret = -EINVAL;
			break;
		}
		found = true;
		s->state = n == 2 ? USBIP_VHCI_SESSION_ACTIVE : USBIP_VHCI_SESSION_RECONNECTING;
		s->left_ms = left;
	}
	free(copy);
	if (ret)
		memset(s, 0, sizeof(*s));
	return ret;
}

/**
 * usbip_vhci_session() - the session of a port, from vhci-hcd's session file
 * @port: global port number
 * @s: the state; USBIP_VHCI_SESSION_NONE when the port has none
 * @err: reason on failure, may be NULL
 *
 * Return: 0; -ENOENT when the driver has no session file (the in-tree
 * vhci-hcd: no port has a session), -EINVAL for a malformed file, or
 * another negative errno.
 */
int usbip_vhci_session(unsigned int port, struct usbip_vhci_session *s, struct usbip_error *err)
{
	char path[PATH_MAX + 16], *text;
	int ret;

	memset(s, 0, sizeof(*s));
	snprintf(path, sizeof(path), "%s/session", usbip_vhci_dir());
	ret = read_file(path, &text);
	if (ret) {
		usbip_set_error(err, "cannot read %s: %s", path, strerror(-ret));
		return ret;
	}
	ret = usbip_vhci_parse_session(text, port, s);
	if (ret)
		usbip_set_error(err, "%s: a line is not \"PORT active\" or \"PORT reconnecting "
				"LEFT_MS\"", path);
	free(text);
	return ret;
}

/**
 * usbip_vhci_detach() - drop the device of a vhci port
 * @port: global port number
 * @err: reason on failure, may be NULL
 *
 * Return: 0 or a negative errno.
 */
int usbip_vhci_detach(unsigned int port, struct usbip_error *err)
{
	char text[16];

	snprintf(text, sizeof(text), "%u", port);
	return write_control("detach", text, err);
}

/**
 * usbip_vhci_record_dir() - directory of the per-port records
 *
 * Return: $USBIP_VHCI_RECORD_DIR when set and non-empty, else
 * USBIP_VHCI_RECORD_DIR.
 */
const char *usbip_vhci_record_dir(void)
{
	const char *dir = getenv(USBIP_VHCI_RECORD_DIR_ENV);

	return dir && *dir ? dir : USBIP_VHCI_RECORD_DIR;
}

static void record_path(char *buf, size_t size, unsigned int port)
{
	snprintf(buf, size, "%s/port%u", usbip_vhci_record_dir(), port);
}

/**
 * usbip_vhci_record_write() - remember where the device of a port came from
 * @port: global port number
 * @rec: server, TCP port and remote bus id
 * @err: reason on failure, may be NULL
 *
 * The record is the file "port<N>" in usbip_vhci_record_dir() (created
 * with mode 0700 when missing), holding one line "HOST TCPPORT BUSID".
 * This is the layout the reference tools use, so each side's "usbip port"
 * shows the other's imports.  The file is written under a temporary name
 * and renamed, so a reader never sees half a record.
 *
 * Return: 0 or a negative errno.
 */
int usbip_vhci_record_write(unsigned int port, const struct usbip_vhci_record *rec,
			    struct usbip_error *err)
{
	const char *dir = usbip_vhci_record_dir();
	char path[PATH_MAX], tmp[PATH_MAX + 16], line[512];
	int fd, n, ret;

	if (strpbrk(rec->host, " \t\n") || strpbrk(rec->busid, " \t\n") || !*rec->host ||
	    !*rec->busid) {
		usbip_set_error(err, "host or bus id is empty or has white space");
		return -EINVAL;
	}
	if (mkdir(dir, 0700) && errno != EEXIST) {
		ret = -errno;
		usbip_set_error(err, "cannot create %s: %s", dir, strerror(errno));
		return ret;
	}
	record_path(path, sizeof(path), port);
	snprintf(tmp, sizeof(tmp), "%s.%ld", path, (long)getpid());
	n = snprintf(line, sizeof(line), "%s %s %s\n", rec->host, rec->tcp_port, rec->busid);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0700);
	if (fd < 0) {
		ret = -errno;
		usbip_set_error(err, "cannot create %s: %s", tmp, strerror(errno));
		return ret;
	}
	ret = write(fd, line, n) == n ? 0 : errno ? -errno : -EIO;
	if (close(fd) && !ret)
		ret = -errno;
	if (!ret && rename(tmp, path))
		ret = -errno;
	if (ret) {
		usbip_set_error(err, "cannot write %s: %s", path, strerror(-ret));
		unlink(tmp);
		return ret;
	}
	usbip_dbg("recorded \"%s %s %s\" in %s", rec->host, rec->tcp_port, rec->busid, path);
	return 0;
}

/**
 * usbip_vhci_record_read() - where the device of a port came from
 * @port: global port number
 * @rec: filled on success
 *
 * Return: 0, -ENOENT when there is no record, -EINVAL when it is malformed,
 * or another negative errno.
 */
int usbip_vhci_record_read(unsigned int port, struct usbip_vhci_record *rec)
{
	char path[PATH_MAX], *text, *host, *tcp, *busid, *extra, *save = NULL;
	int ret;

	record_path(path, sizeof(path), port);
	ret = read_file(path, &text);
	if (ret)
		return ret;
	host = strtok_r(text, " \t\r\n", &save);
	tcp = strtok_r(NULL, " \t\r\n", &save);
	busid = strtok_r(NULL, " \t\r\n", &save);
	extra = strtok_r(NULL, " \t\r\n", &save);
	if (!busid || extra || strlen(host) >= sizeof(rec->host) ||
	    strlen(tcp) >= sizeof(rec->tcp_port) || strlen(busid) >= sizeof(rec->busid)) {
		free(text);
		return -EINVAL;
	}
	strcpy(rec->host, host);
	strcpy(rec->tcp_port, tcp);
	strcpy(rec->busid, busid);
	free(text);
	return 0;
}

/**
 * usbip_vhci_record_remove() - forget the record of a port
 * @port: global port number
 * @err: reason on failure, may be NULL
 *
 * The record directory is removed too when it becomes empty.
 *
 * Return: 0 (also when there was no record) or a negative errno.
 */
int usbip_vhci_record_remove(unsigned int port, struct usbip_error *err)
{
	char path[PATH_MAX];
	int ret;

	record_path(path, sizeof(path), port);
	if (unlink(path) && errno != ENOENT) {
		ret = -errno;
		usbip_set_error(err, "cannot remove %s: %s", path, strerror(errno));
		return ret;
	}
	/* Fails harmlessly while other records remain. */
	rmdir(usbip_vhci_record_dir());
	return 0;
}
