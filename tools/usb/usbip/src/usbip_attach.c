// SPDX-License-Identifier: GPL-2.0
/*
 * usbip attach / detach / port: import a remote device through vhci-hcd,
 * give it back, and show what is imported.
 */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <linux/usb/ch9.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "usbip.h"
#include "usbip_devices.h"
#include "usbip_host.h"
#include "usbip_json.h"
#include "usbip_kmod.h"
#include "usbip_names.h"
#include "usbip_net.h"
#include "usbip_vhci.h"

/* getopt values of the long-only options */
#define OPT_PEER_TIMEOUT	256
#define OPT_RESUME_WINDOW	257

/* --resume-window: the default and the most that is asked for, seconds. */
#define RESUME_WINDOW_DEFAULT	30
#define RESUME_WINDOW_MAX	3600

void usbip_attach_usage(void)
{
	printf("usage: usbip [--tcp-port PORT] attach -r HOST -b BUSID\n"
	       "                [--peer-timeout SECS] [-p [--resume-window SECS]]\n"
	       "       usbip [--tcp-port PORT] attach -r HOST -d usbip-vudc.N\n"
	       "                [--peer-timeout SECS] [-p [--resume-window SECS]]\n"
	       "\n"
	       "Import the device BUSID exported by the usbipd on HOST and attach it\n"
	       "to a free port of vhci-hcd: a high-speed port for USB 1.x/2.0 devices,\n"
	       "a SuperSpeed port for USB 3 devices.  Prints the port used.  Needs\n"
	       "root and the vhci-hcd module.\n"
	       "\n"
	       "  -r, --remote HOST  the server: a host name, IPv4 or IPv6 address\n"
	       "  -b, --busid BUSID  bus id of the device on the server (see 'usbip list -r')\n"
	       "  -d, --device DEV   a gadget that the server exports with 'usbipd --device':\n"
	       "                     the name of its controller, usbip-vudc.N (the same\n"
	       "                     request as -b on the wire)\n"
	       "      --peer-timeout SECS\n"
	       "                     detach when the server has not answered for SECS\n"
	       "                     seconds, busy or idle (TCP_USER_TIMEOUT and keepalive;\n"
	       "                     default %d, at most %d; 0: leave it to the driver,\n"
	       "                     ours use usbip_core's peer_timeout)\n"
	       "  -p, --persistent   ask for a session, and stay in the foreground: when the\n"
	       "                     connection is lost, connect again and resume the\n"
	       "                     session within its window, the device staying attached.\n"
	       "                     Exits 0 once the port is detached ('usbip detach', or\n"
	       "                     SIGTERM/SIGINT/SIGHUP, on which it detaches the port),\n"
	       "                     1 when the import ends otherwise (resume refused or\n"
	       "                     too late, session ended by the server).  Without a\n"
	       "                     session (a server or vhci-hcd without them) it warns\n"
	       "                     and stays as a plain attach.\n"
	       "      --resume-window SECS\n"
	       "                     with -p: the resume window asked for (default %d, 1 to\n"
	       "                     %d; the server may grant less)\n"
	       "\n"
	       "Where the device came from is recorded in %s/port<N>.\n",
	       USBIP_PEER_TIMEOUT_DEFAULT, USBIP_PEER_TIMEOUT_MAX, RESUME_WINDOW_DEFAULT,
	       RESUME_WINDOW_MAX, USBIP_VHCI_RECORD_DIR);
}

void usbip_detach_usage(void)
{
	printf("usage: usbip detach -p PORT\n"
	       "\n"
	       "Detach the imported device on vhci-hcd port PORT (see 'usbip port').\n"
	       "The server gets the device back.  Needs root.\n"
	       "\n"
	       "  -p, --port PORT  the port number\n");
}

void usbip_port_usage(void)
{
	printf("usage: usbip port [--json | -o FORMAT]\n"
	       "\n"
	       "Show the devices imported through vhci-hcd: port, speed, names from\n"
	       "usb.ids, local bus id, and usbip://HOST:TCPPORT/BUSID of the remote device;\n"
	       "for an import with a session (attach --persistent) also whether it is\n"
	       "active or reconnecting.\n"
	       "Loads vhci-hcd when it is not loaded (needs root then).\n"
	       "\n"
	       "  -j, --json        print JSON (schema: usbip-json.schema.json, see usbip(8))\n"
	       "  -o, --output FMT  output format: text (default) or json\n"
	       "  -h, --help        this text\n");
}

/* Prints the "invalid option" usage error of @cmd; returns USBIP_EXIT_USAGE. */
static int bad_option(const char *cmd, char *argv[])
{
	if (optopt)
		usbip_err("%s: invalid option '-%c' or missing argument; see 'usbip help %s'",
			  cmd, optopt, cmd);
	else
		usbip_err("%s: invalid option '%s'; see 'usbip help %s'", cmd, argv[optind - 1],
			  cmd);
	return USBIP_EXIT_USAGE;
}

/*
 * usbip_vhci_open(), after loading vhci-hcd when its sysfs directory is
 * missing; a failed load replaces the "not loaded" error with its reason.
 */
static int open_vhci(struct usbip_vhci *vhci, struct usbip_error *err)
{
	int ret = usbip_vhci_open(vhci, err);

	if (!ret || access(usbip_vhci_dir(), F_OK) == 0)
		return ret;
	if (usbip_kmod_need("vhci-hcd", err))
		return -ENODEV;
	return usbip_vhci_open(vhci, err);
}

/* Explains a refused import. */
static const char *import_refusal(uint32_t status)
{
	switch (status) {
	case USBIP_OP_ST_DEV_BUSY:
		return "the device is busy: another client has imported it";
	case USBIP_OP_ST_NODEV:
		return "unknown device: the server does not export it (see 'usbip list -r')";
	case USBIP_OP_ST_DEV_ERR:
		return "the device is in an error state on the server";
	case USBIP_OP_ST_NA:
		return "the server refused the request";
	default:
		return usbip_op_status_str(status);
	}
}

/* Tried ports of one attach; never more than the port count. */
struct tried {
	unsigned int *ports;
	size_t n;
};

/*
 * Writes the attach line to the lowest free port of the right speed, moving
 * on to another port when one was taken meanwhile (-EBUSY).  Returns the
 * port or a negative errno with @err set.
 */
static int attach_free_port(int sockfd, uint32_t devid, uint32_t speed,
			    const struct usbip_ext_block *ext, struct usbip_error *err)
{
	struct tried tried = { NULL, 0 };
	struct usbip_vhci vhci;
	int port, ret;

	for (;;) {
		ret = usbip_vhci_open(&vhci, err);
		if (ret)
			break;
		if (!tried.ports) {
			tried.ports = calloc(vhci.nports, sizeof(*tried.ports));
			if (!tried.ports) {
				usbip_vhci_close(&vhci);
				usbip_set_error(err, "out of memory");
				ret = -ENOMEM;
				break;
			}
		}
		port = usbip_vhci_free_port(&vhci, speed, tried.ports, tried.n);
		usbip_vhci_close(&vhci);
		if (port < 0) {
			usbip_set_error(err, "no free port of that speed: every %s port of vhci-hcd "
					"is in use%s", usbip_vhci_speed_is_super(speed) ?
					"SuperSpeed (ss)" : "high-speed (hs)",
					tried.n ? " (others were taken while attaching)" : "");
			ret = -ENOSPC;
			break;
		}
		ret = usbip_vhci_attach_ext(port, sockfd, devid, speed, ext, err);
		if (!ret) {
			ret = port;
			break;
		}
		if (ret != -EBUSY || tried.n >= vhci.nports)
			break;
		usbip_dbg("port %d was taken meanwhile, trying another one", port);
		tried.ports[tried.n++] = port;
	}
	free(tried.ports);
	return ret;
}

/*
 * Connects to @host and imports @busid, offering @offer; a refusal or a
 * failure is reported here.  A server that is not ours might compare the
 * whole bus id field, hello included, and answer "no such device" or
 * close before its reply is complete: on either, the import is tried once
 * more, plainly, on a new connection.  Returns the connected socket, or -1.
 */
static int import_device(const char *host, const char *busid, unsigned int peer_timeout,
			 const struct usbip_ext_hello *offer, struct usbip_devinfo *dev,
			 struct usbip_ext_block *ext)
{
	bool hello = strlen(busid) <= USBIP_EXT_BUSID_MAX;
	struct usbip_error err;
	uint32_t status;
	int fd, ret;

	for (;;) {
		fd = usbip_net_connect(host, usbip_tcp_port, &err);
		if (fd < 0) {
			usbip_err("attach: %s", err.msg);
			return -1;
		}
		if (usbip_net_set_peer_timeout(fd, peer_timeout, &err)) {
			usbip_err("attach: %s: %s", host, err.msg);
			goto err_close;
		}
		/* Stays UINT32_MAX unless a whole reply arrived. */
		status = UINT32_MAX;
		ret = usbip_net_import(fd, busid, hello ? offer : NULL, &status, dev, ext, &err);
		if (hello && ((ret == -ECONNRESET && status == UINT32_MAX) ||
			      (!ret && status == USBIP_OP_ST_NODEV))) {
			usbip_dbg("%s: import of %s with the extension hello: %s; trying without",
				  host, busid, ret ? err.msg : "no such device");
			close(fd);
			hello = false;
			continue;
		}
		if (ret) {
			usbip_err("attach: import of %s from %s: %s", busid, host, err.msg);
			goto err_close;
		}
		if (status != USBIP_OP_ST_OK) {
			usbip_err("attach: import of %s from %s refused: %s", busid, host,
				  import_refusal(status));
			goto err_close;
		}
		return fd;
	}

err_close:
	close(fd);
	return -1;
}

int usbip_cmd_attach(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "remote", required_argument, NULL, 'r' },
		{ "busid", required_argument, NULL, 'b' },
		{ "device", required_argument, NULL, 'd' },
		{ "peer-timeout", required_argument, NULL, OPT_PEER_TIMEOUT },
		{ "persistent", no_argument, NULL, 'p' },
		{ "resume-window", required_argument, NULL, OPT_RESUME_WINDOW },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	/*
	 * The hello goes out with every import that has room for it, so a
	 * server of ours says what it supports; SESSION is offered only with
	 * --persistent, when vhci-hcd has sessions too.
	 */
	struct usbip_ext_hello offer = { .version = USBIP_EXT_VERSION };
	unsigned int peer_timeout = USBIP_PEER_TIMEOUT_DEFAULT;
	unsigned long window = RESUME_WINDOW_DEFAULT;
	bool persistent = false, window_given = false;
	struct usbip_watch watch;
	struct usbip_ext_block ext;
	uint32_t vhci_caps;
	char *end;
	const char *host = NULL, *busid = NULL;
	struct usbip_vhci_record rec;
	struct usbip_devinfo dev;
	struct usbip_error err;
	struct usbip_vhci vhci;
	uint32_t devid;
	int c, fd, port;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+r:b:d:ph", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			persistent = true;
			break;
		case OPT_RESUME_WINDOW:
			errno = 0;
			window = strtoul(optarg, &end, 10);
			if (*optarg < '0' || *optarg > '9' || *end || errno || !window ||
			    window > RESUME_WINDOW_MAX) {
				usbip_err("attach: resume window \"%.40s\" is not 1 to %d seconds",
					  optarg, RESUME_WINDOW_MAX);
				return USBIP_EXIT_USAGE;
			}
			window_given = true;
			break;
		case OPT_PEER_TIMEOUT:
			if (usbip_net_parse_peer_timeout(optarg, &peer_timeout)) {
				usbip_err("attach: peer timeout \"%.40s\" is not 0 to %d seconds",
					  optarg, USBIP_PEER_TIMEOUT_MAX);
				return USBIP_EXIT_USAGE;
			}
			break;
		case 'r':
			host = optarg;
			break;
		case 'b':
			busid = optarg;
			break;
		case 'd':
			/* A gadget's bus id is its controller's name. */
			busid = optarg;
			break;
		case 'h':
			usbip_attach_usage();
			return USBIP_EXIT_OK;
		default:
			return bad_option("attach", argv);
		}
	}
	if (optind < argc) {
		usbip_err("attach: unexpected argument '%s'; see 'usbip help attach'",
			  argv[optind]);
		return USBIP_EXIT_USAGE;
	}
	if (!host || !busid) {
		usbip_err("attach: give the server with -r HOST and the device with -b BUSID "
			  "(or -d usbip-vudc.N)");
		return USBIP_EXIT_USAGE;
	}
	if (strlen(busid) >= USBIP_BUSID_SIZE ||
	    usbip_check_busid(busid, strlen(busid) + 1, &err)) {
		usbip_err("attach: \"%.40s\" is not a valid bus id", busid);
		return USBIP_EXIT_USAGE;
	}
	if (strlen(host) >= sizeof(rec.host) || strpbrk(host, " \t\n")) {
		usbip_err("attach: \"%.40s\" is not a valid host", host);
		return USBIP_EXIT_USAGE;
	}
	if (window_given && !persistent) {
		usbip_err("attach: --resume-window goes with --persistent");
		return USBIP_EXIT_USAGE;
	}

	/* Checked first so that a missing module does not cost a round trip. */
	if (open_vhci(&vhci, &err)) {
		usbip_err("attach: %s", err.msg);
		return USBIP_EXIT_FAILED;
	}
	usbip_vhci_close(&vhci);
	if (persistent) {
		if (usbip_vhci_ext_caps(&vhci_caps, &err)) {
			usbip_warn("attach: %s", err.msg);
			vhci_caps = 0;
		}
		if (vhci_caps & USBIP_EXT_CAP_SESSION) {
			offer.caps = USBIP_EXT_CAP_SESSION;
			offer.window_s = window;
		} else {
			usbip_warn("attach: --persistent: vhci-hcd has no sessions (not this "
				   "project's driver); attaching without: a lost connection ends "
				   "the import");
		}
	}

	fd = import_device(host, busid, peer_timeout, &offer, &dev, &ext);
	if (fd < 0)
		return USBIP_EXIT_FAILED;
	if (ext.version)
		usbip_dbg("%s speaks extension version %u; capabilities agreed: 0x%x", host,
			  ext.version, ext.caps);
	else
		usbip_dbg("%s speaks plain USB/IP 1.1.1", host);
	devid = (dev.busnum << 16) | (dev.devnum & 0xffff);
	usbip_dbg("imported %s: devid 0x%08x, %s", busid, devid, usbip_speed_str(dev.speed));

	port = attach_free_port(fd, devid, dev.speed, &ext, &err);
	if (port < 0) {
		usbip_err("attach: %s/%s: %s", host, busid, err.msg);
		goto err_close;
	}
	/* vhci-hcd holds its own reference to the socket now. */
	close(fd);

	snprintf(rec.host, sizeof(rec.host), "%s", host);
	snprintf(rec.tcp_port, sizeof(rec.tcp_port), "%u", usbip_tcp_port);
	snprintf(rec.busid, sizeof(rec.busid), "%s", busid);
	if (usbip_vhci_record_write(port, &rec, &err))
		usbip_warn("attached, but 'usbip port' will not know where from: %s", err.msg);
	printf("usbip: attached remote device %s/%s to port %d\n", host, busid, port);
	if (!persistent)
		return USBIP_EXIT_OK;

	memset(&watch, 0, sizeof(watch));
	watch.port = port;
	watch.host = host;
	watch.busid = busid;
	watch.devid = devid;
	watch.peer_timeout = peer_timeout;
	watch.session = ext.caps & USBIP_EXT_CAP_SESSION;
	watch.ext = ext;
	if (watch.session) {
		printf("usbip: port %d: session agreed (resume window %u ms, heartbeat %u ms); "
		       "staying to resume it until the port is detached\n", port, ext.window_ms,
		       ext.heartbeat_ms);
	} else {
		if (offer.caps)
			usbip_warn("attach: --persistent: %s did not agree to a session (a server "
				   "or device driver without sessions); attached without: a lost "
				   "connection ends the import", host);
		printf("usbip: port %d: staying until the port is detached\n", port);
	}
	fflush(stdout);
	return usbip_attach_watch(&watch);

err_close:
	close(fd);
	return USBIP_EXIT_FAILED;
}

int usbip_cmd_detach(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct usbip_vhci_port *vp;
	const char *text = NULL;
	struct usbip_error err;
	struct usbip_vhci vhci;
	unsigned long port;
	char *end;
	int c, ret;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+p:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			text = optarg;
			break;
		case 'h':
			usbip_detach_usage();
			return USBIP_EXIT_OK;
		default:
			return bad_option("detach", argv);
		}
	}
	if (optind < argc) {
		usbip_err("detach: unexpected argument '%s'; see 'usbip help detach'",
			  argv[optind]);
		return USBIP_EXIT_USAGE;
	}
	if (!text) {
		usbip_err("detach: which port? give it with -p PORT (see 'usbip port')");
		return USBIP_EXIT_USAGE;
	}
	errno = 0;
	port = strtoul(text, &end, 10);
	if (!*text || *text == '-' || *text == '+' || *end || errno) {
		usbip_err("detach: '%s' is not a port number", text);
		return USBIP_EXIT_USAGE;
	}
	if (open_vhci(&vhci, &err)) {
		usbip_err("detach: %s", err.msg);
		return USBIP_EXIT_FAILED;
	}
	if (port >= vhci.nports) {
		usbip_err("detach: port %lu is out of range: vhci-hcd has ports 0 to %u", port,
			  vhci.nports - 1);
		usbip_vhci_close(&vhci);
		return USBIP_EXIT_FAILED;
	}
	vp = usbip_vhci_find(&vhci, port);
	if (!vp || vp->status == USBIP_VDEV_ST_NULL) {
		usbip_err("detach: port %lu is not in use", port);
		usbip_vhci_close(&vhci);
		/* A stale record of a port that is free is of no use. */
		usbip_vhci_record_remove(port, NULL);
		return USBIP_EXIT_FAILED;
	}
	usbip_vhci_close(&vhci);

	ret = usbip_vhci_detach(port, &err);
	if (ret) {
		usbip_err("detach: port %lu: %s", port, err.msg);
		return USBIP_EXIT_FAILED;
	}
	if (usbip_vhci_record_remove(port, &err))
		usbip_warn("detached, but %s", err.msg);
	printf("usbip: detached port %lu\n", port);
	return USBIP_EXIT_OK;
}

static const char *port_speed_str(uint32_t speed)
{
	switch (speed) {
	case USB_SPEED_LOW:
		return "Low Speed(1.5Mbps)";
	case USB_SPEED_FULL:
		return "Full Speed(12Mbps)";
	case USB_SPEED_HIGH:
		return "High Speed(480Mbps)";
	case USB_SPEED_WIRELESS:
		return "Wireless Speed(480Mbps)";
	case USB_SPEED_SUPER:
		return "Super Speed(5000Mbps)";
	case USB_SPEED_SUPER_PLUS:
		return "Super Speed Plus(10000Mbps)";
	default:
		return "Unknown Speed";
	}
}

static const char *port_status_str(unsigned int status)
{
	switch (status) {
	case USBIP_VDEV_ST_USED:
		return "Port in Use";
	case USBIP_VDEV_ST_NOTASSIGNED:
		return "Port Being Attached";
	case USBIP_VDEV_ST_ERROR:
		return "Port Error";
	default:
		return "Unknown Port State";
	}
}

/* Prints the "usbip://" part of a record; IPv6 literals in brackets. */
static void print_url(const struct usbip_vhci_record *rec)
{
	bool v6 = strchr(rec->host, ':') != NULL;

	printf("usbip://%s%s%s:%s/%s", v6 ? "[" : "", rec->host, v6 ? "]" : "", rec->tcp_port,
	       rec->busid);
}

/*
 * The session of a port for "usbip port": none when vhci-hcd has no
 * session file (the in-tree driver) or it cannot be read.
 */
static void port_session(unsigned int port, struct usbip_vhci_session *s)
{
	struct usbip_error err;
	int ret;

	ret = usbip_vhci_session(port, s, &err);
	if (ret && ret != -ENOENT)
		usbip_dbg("%s", err.msg);
}

/* Seconds left of a reconnecting port's window, rounded up. */
static unsigned int session_left_s(const struct usbip_vhci_session *s)
{
	return s->left_ms / 1000 + (s->left_ms % 1000 != 0);
}

static void print_port(const struct usbip_vhci_port *vp, const struct usbip_names *names)
{
	struct usbip_vhci_session session;
	struct usbip_vhci_record rec;
	struct usbip_devinfo local;
	char product[256];
	int ret;

	printf("Port %02u: <%s> at %s\n", vp->port, port_status_str(vp->status),
	       port_speed_str(vp->speed));
	if (!usbip_host_read_device(vp->local_busid, &local, NULL)) {
		usbip_names_product_str(names, product, sizeof(product), local.idVendor,
					local.idProduct);
		printf("       %s\n", product);
	} else {
		printf("       (no local device %s yet)\n", vp->local_busid);
	}
	ret = usbip_vhci_record_read(vp->port, &rec);
	printf("       %s -> ", vp->local_busid);
	if (!ret)
		print_url(&rec);
	else if (ret == -ENOENT)
		printf("unknown remote device (no record in %s)", usbip_vhci_record_dir());
	else
		printf("unknown remote device (unreadable record: %s)", strerror(-ret));
	printf("\n           -> remote bus/dev %03u/%03u\n", vp->devid >> 16,
	       vp->devid & 0xffff);
	port_session(vp->port, &session);
	if (session.state == USBIP_VHCI_SESSION_ACTIVE)
		printf("       session: active\n");
	else if (session.state == USBIP_VHCI_SESSION_RECONNECTING)
		printf("       session: reconnecting, %u s left\n", session_left_s(&session));
}

static const char *json_port_status(unsigned int status)
{
	switch (status) {
	case USBIP_VDEV_ST_USED:
		return "in use";
	case USBIP_VDEV_ST_NOTASSIGNED:
		return "attaching";
	case USBIP_VDEV_ST_ERROR:
		return "error";
	default:
		return "unknown";
	}
}

/* One port object of the "usbip port --json" schema. */
static void json_port(const struct usbip_vhci_port *vp, const struct usbip_names *names)
{
	struct usbip_vhci_session session;
	struct usbip_vhci_record rec;
	struct usbip_devinfo local;
	bool have_local;
	unsigned long tcp;
	char *end;

	printf("{\"port\":%u,\"hub\":\"%s\",\"status\":\"%s\",\"speed\":\"%s\","
	       "\"devid\":%u,\"remote_busnum\":%u,\"remote_devnum\":%u,\"local_busid\":",
	       vp->port, vp->superspeed ? "ss" : "hs", json_port_status(vp->status),
	       usbip_json_speed(vp->speed), vp->devid, vp->devid >> 16, vp->devid & 0xffff);
	usbip_json_string(stdout, vp->local_busid);
	have_local = !usbip_host_read_device(vp->local_busid, &local, NULL);
	if (have_local) {
		printf(",\"vendor_id\":\"%04x\",\"product_id\":\"%04x\",\"vendor\":",
		       local.idVendor, local.idProduct);
		usbip_json_string_or_null(stdout, usbip_names_vendor(names, local.idVendor));
		fputs(",\"product\":", stdout);
		usbip_json_string_or_null(stdout, usbip_names_product(names, local.idVendor,
								      local.idProduct));
	} else {
		fputs(",\"vendor_id\":null,\"product_id\":null,\"vendor\":null,"
		      "\"product\":null", stdout);
	}
	fputs(",\"remote\":", stdout);
	if (usbip_vhci_record_read(vp->port, &rec)) {
		fputs("null", stdout);
	} else {
		fputs("{\"host\":", stdout);
		usbip_json_string(stdout, rec.host);
		tcp = strtoul(rec.tcp_port, &end, 10);
		if (rec.tcp_port[0] && !*end && tcp <= 65535)
			printf(",\"tcp_port\":%lu", tcp);
		else
			fputs(",\"tcp_port\":null", stdout);
		fputs(",\"busid\":", stdout);
		usbip_json_string(stdout, rec.busid);
		fputs("}", stdout);
	}
	port_session(vp->port, &session);
	if (session.state == USBIP_VHCI_SESSION_ACTIVE)
		fputs(",\"session\":{\"state\":\"active\"}", stdout);
	else if (session.state == USBIP_VHCI_SESSION_RECONNECTING)
		printf(",\"session\":{\"state\":\"reconnecting\",\"left_s\":%u}",
		       session_left_s(&session));
	fputs("}", stdout);
}

int usbip_cmd_port(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	enum usbip_output fmt = USBIP_OUTPUT_TEXT;
	struct usbip_names *names;
	struct usbip_error err;
	struct usbip_vhci vhci;
	size_t i, shown = 0;
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+jo:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			fmt = USBIP_OUTPUT_JSON;
			break;
		case 'o':
			if (usbip_parse_output("port", optarg, &fmt))
				return USBIP_EXIT_USAGE;
			break;
		case 'h':
			usbip_port_usage();
			return USBIP_EXIT_OK;
		default:
			return bad_option("port", argv);
		}
	}
	if (optind < argc) {
		usbip_err("port: unexpected argument '%s'; see 'usbip help port'", argv[optind]);
		return USBIP_EXIT_USAGE;
	}
	if (open_vhci(&vhci, &err)) {
		usbip_err("port: %s", err.msg);
		return USBIP_EXIT_FAILED;
	}
	names = usbip_names_load_default();
	if (!names) {
		usbip_err("loading usb.ids: out of memory");
		usbip_vhci_close(&vhci);
		return USBIP_EXIT_FAILED;
	}
	if (fmt == USBIP_OUTPUT_JSON) {
		printf("{\"version\":%d,\"nports\":%u,\"ports\":[", USBIP_JSON_VERSION,
		       vhci.nports);
		for (i = 0; i < vhci.count; i++) {
			if (vhci.ports[i].status == USBIP_VDEV_ST_NULL)
				continue;
			if (shown++)
				putchar(',');
			json_port(&vhci.ports[i], names);
		}
		fputs("]}\n", stdout);
	} else {
		printf("Imported USB devices\n"
		       "====================\n");
		for (i = 0; i < vhci.count; i++)
			if (vhci.ports[i].status != USBIP_VDEV_ST_NULL)
				print_port(&vhci.ports[i], names);
	}
	usbip_names_free(names);
	usbip_vhci_close(&vhci);
	return USBIP_EXIT_OK;
}
