/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The usbip command: shared definitions of its subcommands.
 */
#ifndef USBIP_CMD_H
#define USBIP_CMD_H

/* Exit statuses of every usbip command. */
#define USBIP_EXIT_OK		0	/* done */
#define USBIP_EXIT_FAILED	1	/* the operation failed */
#define USBIP_EXIT_USAGE	2	/* bad command line, or not available in this build */

#include <stdbool.h>
#include <stdint.h>

#include "usbip_proto.h"

/* Global options, set before a subcommand runs. */
extern unsigned int usbip_tcp_port;

/* Output formats of list and port. */
enum usbip_output { USBIP_OUTPUT_TEXT, USBIP_OUTPUT_JSON };
int usbip_parse_output(const char *cmd, const char *text, enum usbip_output *fmt);

int usbip_cmd_list(int argc, char *argv[]);
void usbip_list_usage(void);
int usbip_cmd_bind(int argc, char *argv[]);
void usbip_bind_usage(void);
int usbip_cmd_unbind(int argc, char *argv[]);
void usbip_unbind_usage(void);
int usbip_cmd_attach(int argc, char *argv[]);
void usbip_attach_usage(void);
int usbip_cmd_detach(int argc, char *argv[]);
void usbip_detach_usage(void);
int usbip_cmd_port(int argc, char *argv[]);
void usbip_port_usage(void);

/**
 * struct usbip_watch - an attached port that "usbip attach --persistent"
 * stays with (usbip_persist.c)
 * @port: the vhci-hcd port
 * @host: the server, as given to -r
 * @busid: the device's bus id on the server
 * @devid: the device's devid, as in vhci's status (tells our device from
 *	one attached to the port later)
 * @peer_timeout: --peer-timeout, for each new connection
 * @session: true when the import agreed USBIP_EXT_CAP_SESSION
 * @ext: the session's parameters; its token is replaced on each resume
 */
struct usbip_watch {
	unsigned int port;
	const char *host;
	const char *busid;
	uint32_t devid;
	unsigned int peer_timeout;
	bool session;
	struct usbip_ext_block ext;
};

int usbip_attach_watch(struct usbip_watch *w);

#endif /* USBIP_CMD_H */
