// SPDX-License-Identifier: GPL-2.0
/*
 * usbip list: show the USB devices of this host, its gadgets bound to
 * usbip-vudc, or the devices a server exports.
 */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "usbip.h"
#include "usbip_devices.h"
#include "usbip_host.h"
#include "usbip_json.h"
#include "usbip_names.h"
#include "usbip_net.h"
#include "usbip_vudc.h"

void usbip_list_usage(void)
{
	printf("usage: usbip list -l [-p | --json]\n"
	       "       usbip list -d [-p | --json]\n"
	       "       usbip [--tcp-port PORT] list -r HOST [--json]\n"
	       "\n"
	       "List the USB devices of this host that could be exported (hubs are\n"
	       "left out), the USB gadgets bound to usbip-vudc controllers, or the\n"
	       "devices a USB/IP server exports.\n"
	       "\n"
	       "  -l, --local        list local devices\n"
	       "  -d, --device       list the gadgets bound to usbip-vudc (exported by\n"
	       "                     'usbipd --device'; bus id usbip-vudc.N)\n"
	       "  -p, --parsable     with -l or -d: one \"busid=BUSID#usbid=VVVV:PPPP#\"\n"
	       "                     line per device (accepted and ignored with -r)\n"
	       "  -r, --remote HOST  list the devices exported by the usbipd on HOST (a\n"
	       "                     host name, IPv4 or IPv6 address)\n"
	       "  -j, --json         print JSON (schema: usbip-json.schema.json, see usbip(8))\n"
	       "  -o, --output FMT   output format: text (default) or json\n"
	       "  -h, --help         this text\n"
	       "\n"
	       "Names come from usb.ids (%s, or $%s).\n",
	       USBIP_USB_IDS_PATH, USBIP_USB_IDS_ENV);
}

/* Opens the JSON document of a list: version, mode, host and devices. */
static void json_begin(const char *mode, const char *host)
{
	printf("{\"version\":%d,\"mode\":\"%s\",", USBIP_JSON_VERSION, mode);
	if (host) {
		fputs("\"host\":", stdout);
		usbip_json_string(stdout, host);
		printf(",\"tcp_port\":%u,", usbip_tcp_port);
	}
	fputs("\"devices\":[", stdout);
}

static void json_end(void)
{
	fputs("]}\n", stdout);
}

/* A JSON list document holding @devs. */
static void json_devices(const char *mode, const char *host, const struct usbip_devinfo *devs,
			 size_t ndev, const struct usbip_names *names)
{
	size_t i;

	json_begin(mode, host);
	for (i = 0; i < ndev; i++) {
		if (i)
			putchar(',');
		usbip_json_device(stdout, &devs[i], names);
	}
	json_end();
}

/* Loads usb.ids into @names; on failure says so and frees @devs. */
static int load_names(struct usbip_names **names, struct usbip_devinfo *devs)
{
	*names = usbip_names_load_default();
	if (*names)
		return 0;
	usbip_err("loading usb.ids: out of memory");
	free(devs);
	return -ENOMEM;
}

static int list_local(bool parsable, bool json)
{
	struct usbip_devinfo *devs;
	struct usbip_names *names = NULL;
	struct usbip_error err;
	size_t ndev, i, shown = 0;
	int ret;

	ret = usbip_local_devices(&devs, &ndev, &err);
	if (ret) {
		usbip_err("listing local USB devices: %s", err.msg);
		return USBIP_EXIT_FAILED;
	}
	if ((!parsable || json) && load_names(&names, devs))
		return USBIP_EXIT_FAILED;
	if (json)
		json_begin("local", NULL);
	for (i = 0; i < ndev; i++) {
		struct usbip_session session;

		if (devs[i].bDeviceClass == USBIP_CLASS_HUB) {
			usbip_dbg("%s: hub, not listed", devs[i].busid);
			continue;
		}
		/* Only our drivers have usbip_session; no file, no session shown. */
		ret = usbip_host_session(devs[i].busid, &session, &err);
		if (ret && ret != -ENOENT)
			usbip_dbg("%s: %s", devs[i].busid, err.msg);
		if (ret)
			session.state = USBIP_SESSION_NONE;
		if (json) {
			if (shown)
				putchar(',');
			usbip_json_device_session(stdout, &devs[i], names, &session);
		} else {
			usbip_print_local_device_session(stdout, &devs[i], names, parsable,
							 &session);
		}
		shown++;
	}
	if (json)
		json_end();
	usbip_dbg("%zu devices listed, %zu hubs left out", shown, ndev - shown);
	if (!ndev && access("/sys/bus/usb", F_OK))
		usbip_dbg("/sys/bus/usb does not exist: this system has no USB support loaded");
	usbip_names_free(names);
	free(devs);
	return USBIP_EXIT_OK;
}

/* Gadgets bound to usbip-vudc, whatever their export state. */
static int list_gadgets(bool parsable, bool json)
{
	struct usbip_devinfo *devs;
	struct usbip_names *names = NULL;
	struct usbip_error err;
	size_t ndev, i;
	int ret;

	ret = usbip_vudc_devices(&devs, &ndev, &err);
	if (ret) {
		usbip_err("listing gadgets: %s", err.msg);
		return USBIP_EXIT_FAILED;
	}
	if ((!parsable || json) && load_names(&names, devs))
		return USBIP_EXIT_FAILED;
	if (json) {
		json_devices("device", NULL, devs, ndev, names);
	} else {
		for (i = 0; i < ndev; i++)
			usbip_print_local_device(stdout, &devs[i], names, parsable);
	}
	if (!ndev)
		usbip_info("no gadget is bound to a %s controller", USBIP_VUDC_DRIVER);
	usbip_names_free(names);
	free(devs);
	return USBIP_EXIT_OK;
}

static int list_remote(const char *host, bool json)
{
	struct usbip_names *names;
	struct usbip_devinfo *devs;
	struct usbip_error err;
	uint32_t ndev, i;
	int fd, ret;

	fd = usbip_net_connect(host, usbip_tcp_port, &err);
	if (fd < 0) {
		usbip_err("%s", err.msg);
		return USBIP_EXIT_FAILED;
	}
	ret = usbip_net_devlist(fd, &devs, &ndev, &err);
	close(fd);
	if (ret) {
		usbip_err("device list from %s: %s", host, err.msg);
		return USBIP_EXIT_FAILED;
	}
	if (!ndev && !json) {
		usbip_info("no exportable devices found on %s", host);
		free(devs);
		return USBIP_EXIT_OK;
	}
	if (load_names(&names, devs))
		return USBIP_EXIT_FAILED;
	if (json) {
		json_devices("remote", host, devs, ndev, names);
	} else {
		printf("Exportable USB devices\n"
		       "======================\n"
		       " - %s\n", host);
		for (i = 0; i < ndev; i++)
			usbip_print_remote_device(stdout, &devs[i], names);
	}
	usbip_names_free(names);
	free(devs);
	return USBIP_EXIT_OK;
}

int usbip_cmd_list(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "local", no_argument, NULL, 'l' },
		{ "parsable", no_argument, NULL, 'p' },
		{ "remote", required_argument, NULL, 'r' },
		{ "device", no_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool local = false, parsable = false, gadgets = false;
	enum usbip_output fmt = USBIP_OUTPUT_TEXT;
	const char *remote = NULL;
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+lpr:djo:h", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			local = true;
			break;
		case 'p':
			parsable = true;
			break;
		case 'r':
			remote = optarg;
			break;
		case 'd':
			gadgets = true;
			break;
		case 'j':
			fmt = USBIP_OUTPUT_JSON;
			break;
		case 'o':
			if (usbip_parse_output("list", optarg, &fmt))
				return USBIP_EXIT_USAGE;
			break;
		case 'h':
			usbip_list_usage();
			return USBIP_EXIT_OK;
		default:
			if (optopt)
				usbip_err("list: invalid option '-%c' or missing argument; "
					  "see 'usbip help list'", optopt);
			else
				usbip_err("list: invalid option '%s'; see 'usbip help list'",
					  argv[optind - 1]);
			return USBIP_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		usbip_err("list: unexpected argument '%s'; see 'usbip help list'", argv[optind]);
		return USBIP_EXIT_USAGE;
	}
	if (local + gadgets + !!remote > 1) {
		usbip_err("list: --local, --device and --remote exclude each other");
		return USBIP_EXIT_USAGE;
	}
	if (parsable && fmt == USBIP_OUTPUT_JSON) {
		usbip_err("list: --parsable and --json exclude each other");
		return USBIP_EXIT_USAGE;
	}
	/* Accepted with --remote, as by the reference tools, and ignored. */
	if (remote && parsable)
		usbip_dbg("list: --parsable has no effect on --remote");
	if (remote)
		return list_remote(remote, fmt == USBIP_OUTPUT_JSON);
	if (gadgets)
		return list_gadgets(parsable, fmt == USBIP_OUTPUT_JSON);
	if (!local) {
		usbip_err("list: say which devices to list (--local, --device or --remote HOST); "
			  "see 'usbip help list'");
		return USBIP_EXIT_USAGE;
	}
	return list_local(parsable, fmt == USBIP_OUTPUT_JSON);
}
