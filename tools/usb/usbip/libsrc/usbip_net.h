/* SPDX-License-Identifier: GPL-2.0 */
/*
 * TCP helpers shared by usbip and usbipd: connecting by host name, whole
 * reads and writes with a deadline, socket options.
 */
#ifndef USBIP_NET_H
#define USBIP_NET_H

#include <stddef.h>

#include "usbip_common.h"
#include "usbip_proto.h"

/* How long a client waits for a server's reply, in milliseconds. */
#define USBIP_NET_TIMEOUT_MS	30000

/*
 * Default seconds without an answer before a peer is declared dead
 * (--peer-timeout), and the most that is accepted.
 */
#define USBIP_PEER_TIMEOUT_DEFAULT	10
#define USBIP_PEER_TIMEOUT_MAX		3600

int usbip_net_parse_peer_timeout(const char *text, unsigned int *secs);
int usbip_net_set_peer_timeout(int fd, unsigned int secs, struct usbip_error *err);
int usbip_net_parse_port(const char *text, unsigned int *port);
int usbip_net_connect(const char *host, unsigned int port, struct usbip_error *err);
int usbip_net_connect_timeout(const char *host, unsigned int port, int timeout_ms,
			      struct usbip_error *err);
int usbip_net_read(int fd, void *buf, size_t len, int timeout_ms, struct usbip_error *err);
int usbip_net_write(int fd, const void *buf, size_t len, int timeout_ms,
		    struct usbip_error *err);
int usbip_net_set_options(int fd, struct usbip_error *err);
int usbip_net_devlist(int fd, struct usbip_devinfo **devs, uint32_t *ndev,
		      struct usbip_error *err);
int usbip_net_import(int fd, const char *busid, const struct usbip_ext_hello *offer,
		     uint32_t *status, struct usbip_devinfo *dev, struct usbip_ext_block *ext,
		     struct usbip_error *err);
int usbip_net_resume(int fd, const char *busid, const uint8_t *token,
		     const struct usbip_ext_hello *offer, uint32_t *status,
		     struct usbip_devinfo *dev, struct usbip_ext_block *ext,
		     struct usbip_error *err);
void usbip_net_addr_str(const void *sa, unsigned int salen, char *buf, size_t size);

#endif /* USBIP_NET_H */
