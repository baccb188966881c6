// SPDX-License-Identifier: GPL-2.0
/*
 * usbip: command-line tool of the usbip project.
 *
 *   usbip [--debug] [--tcp-port PORT] <command> [<args>]
 */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "usbip.h"
#include "usbip_common.h"
#include "usbip_devices.h"
#include "usbip_net.h"
#include "usbip_proto.h"

unsigned int usbip_tcp_port = USBIP_PORT;

static int cmd_help(int argc, char *argv[]);
static int cmd_version(int argc, char *argv[]);

/**
 * struct usbip_command - a subcommand
 * @name: what the user types
 * @run: implementation; returns a USBIP_EXIT_* status
 * @usage: prints detailed help on stdout
 * @summary: one line for "usbip help"
 */
struct usbip_command {
	const char *name;
	int (*run)(int argc, char *argv[]);
	void (*usage)(void);
	const char *summary;
};

static void help_usage(void)
{
	printf("usage: usbip help [<command>]\n\n"
	       "Show the commands, or the usage of one command.\n");
}

static void version_usage(void)
{
	printf("usage: usbip version\n\n"
	       "Show the version of these tools and of the USB/IP protocol they speak.\n");
}

static const struct usbip_command commands[] = {
	{ "list", usbip_cmd_list, usbip_list_usage,
	  "list the local USB devices, or those a server exports" },
	{ "bind", usbip_cmd_bind, usbip_bind_usage, "export a local device through usbip-host" },
	{ "unbind", usbip_cmd_unbind, usbip_unbind_usage,
	  "give a device back from usbip-host to its driver" },
	{ "attach", usbip_cmd_attach, usbip_attach_usage,
	  "import a remote device through vhci-hcd" },
	{ "detach", usbip_cmd_detach, usbip_detach_usage, "detach an imported device" },
	{ "port", usbip_cmd_port, usbip_port_usage, "show the imported devices" },
	{ "version", cmd_version, version_usage, "show the version" },
	{ "help", cmd_help, help_usage, "show the commands or the usage of one" },
};

static const struct usbip_command *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

static void usage(FILE *out)
{
	size_t i;

	fprintf(out,
		"usage: usbip [--debug] [--tcp-port PORT] <command> [<args>]\n"
		"\n"
		"Options:\n"
		"  -d, --debug          print debugging information on stderr\n"
		"  -t, --tcp-port PORT  TCP port of the USB/IP server (default %u)\n"
		"  -h, --help           this text\n"
		"\n"
		"Commands:\n", USBIP_PORT);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\nSee 'usbip help <command>' for the usage of a command.\n");
}

static int cmd_help(int argc, char *argv[])
{
	const struct usbip_command *cmd;

	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		help_usage();
		return USBIP_EXIT_OK;
	}
	if (argc > 2) {
		usbip_err("help: too many arguments; usage: usbip help [<command>]");
		return USBIP_EXIT_USAGE;
	}
	if (argc < 2) {
		usage(stdout);
		return USBIP_EXIT_OK;
	}
	cmd = find_command(argv[1]);
	if (cmd) {
		cmd->usage();
		return USBIP_EXIT_OK;
	}
	usbip_err("help: unknown command '%s'; see 'usbip help'", argv[1]);
	return USBIP_EXIT_USAGE;
}

static int cmd_version(int argc, char *argv[])
{
	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		version_usage();
		return USBIP_EXIT_OK;
	}
	if (argc > 1) {
		usbip_err("version: takes no arguments");
		return USBIP_EXIT_USAGE;
	}
	printf("usbip (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
	printf("USB/IP protocol version %x.%x.%x\n", (USBIP_VERSION >> 8) & 0xf,
	       (USBIP_VERSION >> 4) & 0xf, USBIP_VERSION & 0xf);
	return USBIP_EXIT_OK;
}

/**
 * usbip_parse_output() - parse the argument of "-o FORMAT"
 * @cmd: the subcommand, for the error message
 * @text: "text" or "json"
 * @fmt: the format
 *
 * Return: USBIP_EXIT_OK, or USBIP_EXIT_USAGE after an error message.
 */
int usbip_parse_output(const char *cmd, const char *text, enum usbip_output *fmt)
{
	if (!strcmp(text, "json")) {
		*fmt = USBIP_OUTPUT_JSON;
	} else if (!strcmp(text, "text")) {
		*fmt = USBIP_OUTPUT_TEXT;
	} else {
		usbip_err("%s: unknown output format '%s' (want text or json)", cmd, text);
		return USBIP_EXIT_USAGE;
	}
	return USBIP_EXIT_OK;
}

/* Flushes stdout and turns a failed write (full disk, closed pipe) into an error. */
static int finish_output(int status)
{
	if (fflush(stdout) || ferror(stdout)) {
		usbip_err("writing output: %s", strerror(errno));
		return status == USBIP_EXIT_OK ? USBIP_EXIT_FAILED : status;
	}
	return status;
}

int main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "debug", no_argument, NULL, 'd' },
		{ "tcp-port", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct usbip_command *cmd;
	int c;

	usbip_progname = "usbip";
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+dt:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			usbip_debug_enabled = true;
			break;
		case 't':
			if (usbip_net_parse_port(optarg, &usbip_tcp_port)) {
				usbip_err("--tcp-port: '%s' is not a port number (1-65535)", optarg);
				return USBIP_EXIT_USAGE;
			}
			break;
		case 'h':
			usage(stdout);
			return finish_output(USBIP_EXIT_OK);
		default:
			if (optopt)
				usbip_err("invalid option '-%c' or missing argument; see 'usbip help'",
					  optopt);
			else
				usbip_err("invalid option '%s'; see 'usbip help'", argv[optind - 1]);
			return USBIP_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return USBIP_EXIT_USAGE;
	}

	cmd = find_command(argv[optind]);
	if (!cmd) {
		usbip_err("unknown command '%s'; see 'usbip help'", argv[optind]);
		return USBIP_EXIT_USAGE;
	}
	usbip_dbg("running '%s' (tcp port %u)", cmd->name, usbip_tcp_port);
	return finish_output(cmd->run(argc - optind, argv + optind));
}
