// SPDX-License-Identifier: GPL-2.0
/*
 * usbip bind / usbip unbind: make a local device exportable through
 * usbip-host, or give it back to its usual driver.
 */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "usbip.h"
#include "usbip_host.h"
#include "usbip_kmod.h"

void usbip_bind_usage(void)
{
	printf("usage: usbip bind -b BUSID\n"
	       "\n"
	       "Bind the local USB device BUSID to the usbip-host driver so that usbipd\n"
	       "can export it.  Its current driver releases it.  Needs root and the\n"
	       "usbip-host module.\n"
	       "\n"
	       "  -b, --busid BUSID  bus id of the device (see 'usbip list -l')\n");
}

void usbip_unbind_usage(void)
{
	printf("usage: usbip unbind -b BUSID\n"
	       "\n"
	       "Release the USB device BUSID from usbip-host and give it back to its\n"
	       "usual driver.  Needs root.\n"
	       "\n"
	       "  -b, --busid BUSID  bus id of the device\n");
}

/* Loads usbip-host when its driver is not registered; prints why not. */
static int need_host(const char *cmd, const char *busid)
{
	struct usbip_error err;

	if (!usbip_host_driver_loaded(NULL) || !usbip_kmod_need(USBIP_HOST_DRIVER, &err))
		return 0;
	usbip_err("%s %s: %s", cmd, busid, err.msg);
	return -1;
}

/* Parses "-b BUSID"; returns USBIP_EXIT_OK with *busid set or an exit status. */
static int parse_busid(const char *cmd, void (*usage)(void), int argc, char *argv[],
		       const char **busid)
{
	static const struct option opts[] = {
		{ "busid", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*busid = NULL;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+b:h", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			*busid = optarg;
			break;
		case 'h':
			usage();
			return -1;
		default:
			if (optopt)
				usbip_err("%s: invalid option '-%c' or missing argument; "
					  "see 'usbip help %s'", cmd, optopt, cmd);
			else
				usbip_err("%s: invalid option '%s'; see 'usbip help %s'", cmd,
					  argv[optind - 1], cmd);
			return USBIP_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		usbip_err("%s: unexpected argument '%s'; see 'usbip help %s'", cmd, argv[optind],
			  cmd);
		return USBIP_EXIT_USAGE;
	}
	if (!*busid) {
		usbip_err("%s: which device? give its bus id with -b BUSID", cmd);
		return USBIP_EXIT_USAGE;
	}
	return USBIP_EXIT_OK;
}

int usbip_cmd_bind(int argc, char *argv[])
{
	struct usbip_error err;
	const char *busid;
	int ret;

	ret = parse_busid("bind", usbip_bind_usage, argc, argv, &busid);
	if (ret)
		return ret < 0 ? USBIP_EXIT_OK : ret;
	if (need_host("bind", busid))
		return USBIP_EXIT_FAILED;
	ret = usbip_host_bind(busid, &err);
	if (ret) {
		usbip_err("bind %s: %s", busid, err.msg);
		return USBIP_EXIT_FAILED;
	}
	usbip_info("bind device on busid %s: complete", busid);
	return USBIP_EXIT_OK;
}

int usbip_cmd_unbind(int argc, char *argv[])
{
	struct usbip_error err;
	const char *busid;
	int ret;

	ret = parse_busid("unbind", usbip_unbind_usage, argc, argv, &busid);
	if (ret)
		return ret < 0 ? USBIP_EXIT_OK : ret;
	if (need_host("unbind", busid))
		return USBIP_EXIT_FAILED;
	ret = usbip_host_unbind(busid, &err);
	if (ret) {
		usbip_err("unbind %s: %s", busid, err.msg);
		return USBIP_EXIT_FAILED;
	}
	usbip_info("unbind device on busid %s: complete", busid);
	return USBIP_EXIT_OK;
}
