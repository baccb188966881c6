/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Client side of libusbip: the sysfs interface of the vhci-hcd driver and
 * the records that remember where each imported device came from.
 *
 * The driver's files live in devices/platform/vhci_hcd.0 under the sysfs
 * root (see usbip_sysfs_root()):
 *
 *   nports          total number of ports of all controllers
 *   status          controller 0: a header line, then one line per port:
 *   status.N        controller N  "HUB PORT STA SPD DEVID SOCKFD LOCAL_BUSID"
 *   attach          "PORT SOCKFD DEVID SPEED" hands a connected socket over;
 *                   ours also take "caps=HEX window=MS heartbeat=MS" after
 *                   it, for an import that agreed a session
 *   detach          "PORT" drops the device of a port
 *   ext_caps        ours only: the extension capabilities, hexadecimal
 *   resume          ours only: "PORT SOCKFD" goes on with a port's
 *                   suspended session over a new connection
 *   session         ours only: "PORT active" or "PORT reconnecting
 *                   LEFT_MS", one line per port with a session
 *   usbip_debug     debug mask of the driver
 *
 * PORT is a global port number.  Every controller owns a contiguous range
 * of ports, half of them on its high-speed root hub ("hs") and half on its
 * SuperSpeed one ("ss").
 */
#ifndef USBIP_VHCI_H
#define USBIP_VHCI_H

#include <stddef.h>
#include <stdint.h>

#include "usbip_common.h"
#include "usbip_proto.h"

/* Port states in the status files (enum of the vhci-hcd driver). */
#define USBIP_VDEV_ST_NULL		4	/* free */
#define USBIP_VDEV_ST_NOTASSIGNED	5
#define USBIP_VDEV_ST_USED		6	/* a device is attached */
#define USBIP_VDEV_ST_ERROR		7

/* Where the records of imported devices are kept (see usbip_vhci_record_*). */
#define USBIP_VHCI_RECORD_DIR		"/var/run/vhci_hcd"
/* Environment variable that replaces USBIP_VHCI_RECORD_DIR (test hook). */
#define USBIP_VHCI_RECORD_DIR_ENV	"USBIP_VHCI_RECORD_DIR"

/* Largest port count accepted from "nports". */
#define USBIP_VHCI_MAX_PORTS		65536

/**
 * struct usbip_vhci_port - one line of a vhci status file
 * @port: global port number
 * @superspeed: true on a SuperSpeed root hub ("ss"), false on "hs"
 * @status: USBIP_VDEV_ST_*
 * @speed: enum usb_device_speed of the attached device, 0 when free
 * @devid: (busnum << 16) | devnum of the device on the server
 * @sockfd: the socket descriptor number the attach was made with
 * @local_busid: bus id of the device on this host, "0-0" when free
 */
struct usbip_vhci_port {
	unsigned int port;
	bool superspeed;
	unsigned int status;
	uint32_t speed;
	uint32_t devid;
	unsigned int sockfd;
	char local_busid[USBIP_BUSID_SIZE];
};

/**
 * struct usbip_vhci - the state of every vhci port
 * @nports: value of the nports attribute
 * @ports: the ports found in the status files, in file order
 * @count: number of entries in @ports
 */
struct usbip_vhci {
	unsigned int nports;
	struct usbip_vhci_port *ports;
	size_t count;
};

/**
 * struct usbip_vhci_record - where an imported device came from
 * @host: server as given to "usbip attach -r"
 * @tcp_port: its TCP port, as text
 * @busid: bus id of the device on the server
 */
struct usbip_vhci_record {
	char host[256];
	char tcp_port[16];
	char busid[USBIP_BUSID_SIZE];
};

/**
 * struct usbip_vhci_session - the session of one port (the session file)
 * @state: USBIP_VHCI_SESSION_NONE (no session: not listed, a plain
 *	import, or a vhci-hcd without sessions), USBIP_VHCI_SESSION_ACTIVE
 *	(on a live connection) or USBIP_VHCI_SESSION_RECONNECTING (the
 *	connection failed; the port waits for a resume)
 * @left_ms: state RECONNECTING: what is left of the resume window
 */
struct usbip_vhci_session {
	enum {
		USBIP_VHCI_SESSION_NONE,
		USBIP_VHCI_SESSION_ACTIVE,
		USBIP_VHCI_SESSION_RECONNECTING,
	} state;
	uint32_t left_ms;
};

const char *usbip_vhci_dir(void);
int usbip_vhci_open(struct usbip_vhci *vhci, struct usbip_error *err);
void usbip_vhci_close(struct usbip_vhci *vhci);
int usbip_vhci_parse_status(const char *text, struct usbip_vhci_port **ports, size_t *count,
			    struct usbip_error *err);
const struct usbip_vhci_port *usbip_vhci_find(const struct usbip_vhci *vhci, unsigned int port);
bool usbip_vhci_speed_is_super(uint32_t speed);
int usbip_vhci_free_port(const struct usbip_vhci *vhci, uint32_t speed,
			 const unsigned int *skip, size_t nskip);
int usbip_vhci_attach(unsigned int port, int sockfd, uint32_t devid, uint32_t speed,
		      struct usbip_error *err);
int usbip_vhci_detach(unsigned int port, struct usbip_error *err);
int usbip_vhci_ext_caps(uint32_t *caps, struct usbip_error *err);
int usbip_vhci_attach_ext(unsigned int port, int sockfd, uint32_t devid, uint32_t speed,
			  const struct usbip_ext_block *ext, struct usbip_error *err);
int usbip_vhci_resume(unsigned int port, int sockfd, struct usbip_error *err);
int usbip_vhci_parse_session(const char *text, unsigned int port, struct usbip_vhci_session *s);
int usbip_vhci_session(unsigned int port, struct usbip_vhci_session *s, struct usbip_error *err);

const char *usbip_vhci_record_dir(void);
int usbip_vhci_record_write(unsigned int port, const struct usbip_vhci_record *rec,
			    struct usbip_error *err);
int usbip_vhci_record_read(unsigned int port, struct usbip_vhci_record *rec);
int usbip_vhci_record_remove(unsigned int port, struct usbip_error *err);

#endif /* USBIP_VHCI_H */
