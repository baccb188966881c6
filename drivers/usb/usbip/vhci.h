/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vhci-hcd: USB/IP client virtual host controller, internal interfaces.
 *
 * Objects, from the top:
 *
 *  - struct vhci: one platform device vhci_hcd.N.  It owns two usb_hcds
 *    sharing one controller (like dummy_hcd): a USB 2.0 root hub (the
 *    primary hcd) and a USB 3 root hub (the shared hcd), each with
 *    vhci_hc_ports ports, and the spinlock that guards all of their state.
 *  - struct vhci_hcd: the hcd_priv of one of the two usb_hcds.
 *  - struct vhci_port: one root hub port.  When a remote device is
 *    attached it owns a USB/IP connection (struct usbip_conn) with an rx
 *    and a tx thread, and every URB submitted to the device.
 *  - struct vhci_priv: one URB in flight; struct vhci_unlink: one
 *    CMD_UNLINK.
 *
 * Locking:
 *
 *  - vhci->lock (spinlock, irq-safe) protects the hub emulation state of
 *    the ports, the attach fields that the status files show, the URB and
 *    unlink lists of the ports and their sequence numbers.  It is never
 *    held while calling usb_hcd_giveback_urb() or usb_hcd_poll_rh_status().
 *  - vhci_conn_mutex, the usbip_conn lock of every port, serializes attach,
 *    detach, the connection event worker and (un)registration of the
 *    controllers in vhci_ctrls[].
 *
 *  - A struct vhci outlives its platform device while a detach write
 *    still waits on one of its ports (struct vhci.kref).
 *
 * Sequence numbers: every number a port's server may still answer (an URB
 * not given back, a CMD_UNLINK not answered, a record on port->gone) is in
 * port->seqs, and vhci_next_seqnum() skips those, so a number is never
 * used twice at a time even after the counter wraps at 2^32.
 *
 * Sessions (Documentation/usb/usbip_ext.rst, vhci_session.c): with the
 * SESSION capability a failed link suspends the port's connection
 * instead of ending it.  The port stays connected on the root hub, its
 * URBs stay on port->privs and new ones queue; URBs unlinked meanwhile
 * are given back at once and remembered on port->lost.  A write of
 * "PORT SOCKFD" to the resume file starts the threads on the new
 * socket: the tx thread sends EXT_RESUME, the rx thread takes
 * EXT_RESUME_REP and queues again the commands the server did not count.
 * Commands are numbered in send order (priv->cmd_no, unlink->cmd_no,
 * port->cmds) and answers counted (port->answers), all under vhci->lock.
 *
 * URB ownership: a struct vhci_priv lives on port->privs from enqueue to
 * give-back.  The tx thread marks it "sending" while it transmits its
 * CMD_SUBMIT, the rx thread marks it "receiving" while it reads the reply
 * into the URB; whoever clears the last of these flags after the result
 * is known ("finished") gives the URB back, so it happens exactly once and
 * never while a thread still touches the URB's buffer.
 */
#ifndef VHCI_H
#define VHCI_H

#include <linux/hashtable.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/platform_device.h>
#include <linux/spinlock.h>
#include <linux/timer.h>
#include <linux/usb.h>
#include <linux/usb/hcd.h>
#include <linux/wait.h>

#include "usbip_common.h"

#define VHCI_DRV_NAME		"vhci_hcd"

/* Root hub ports per hub, and controllers: build defaults. */
#ifndef CONFIG_USBIP_VHCI_HC_PORTS
#define CONFIG_USBIP_VHCI_HC_PORTS	8
#endif
#ifndef CONFIG_USBIP_VHCI_NR_HCS
#define CONFIG_USBIP_VHCI_NR_HCS	1
#endif

/* A USB 3 root hub has at most 15 ports (USB_SS_MAXPORTS). */
#define VHCI_MAX_PORTS		15
#define VHCI_MAX_HCS		128

/*
 * RET_SUBMITs may still follow a RET_UNLINK with status 0; this many
 * sequence numbers given back that way are remembered per port.
 */
#define VHCI_MAX_GONE		64

/*
 * A CMD_UNLINK whose URB came back on a RET_SUBMIT waits only for its
 * RET_UNLINK, to match it; this many are remembered per port (on
 * port->orphans), the oldest forgotten first: a server that never sends
 * the RET_UNLINK must not grow the client's memory.
 */
#define VHCI_MAX_ORPHANS	64

/* Buckets of a port's sequence number table: 2^VHCI_SEQ_BITS. */
#define VHCI_SEQ_BITS		5

/* Extension capabilities vhci-hcd supports (its ext_caps file). */
#define VHCI_EXT_CAP_SESSION	0x1U
#define VHCI_EXT_CAPS		VHCI_EXT_CAP_SESSION
/* A session's EXT_ACK goes out after this many answers ... */
#define VHCI_ACK_ANSWERS	64
/* ... or this many bytes of answered transfers (IN data and OUT data). */
#define VHCI_ACK_BYTES		(64U << 10)
/*
 * Without heartbeats: how often a resume is looked at, and how long the
 * server has to answer its EXT_RESUME.
 */
#define VHCI_RESUME_POLL_MS	250U
#define VHCI_RESUME_TIMEOUT_S	10UL
/* Bounds of a session's heartbeat interval, ms (0: none). */
#define VHCI_HEARTBEAT_MIN_MS	100
#define VHCI_HEARTBEAT_MAX_MS	(3600U * 1000)

extern unsigned int vhci_hc_ports;	/* ports per root hub */
#if IS_ENABLED(CONFIG_USBIP_SELFTEST)
/* test hooks (vhci_main.c): see their MODULE_PARM_DESC */
extern unsigned int vhci_selftest_seqnum;
extern unsigned int vhci_selftest_unlink_delay_ms;
extern unsigned int vhci_selftest_detach_delay_ms;
extern bool vhci_selftest_hub_hold;
#endif
extern unsigned int vhci_nr_hcs;	/* controllers */
extern unsigned int vhci_unlink_timeout;	/* seconds, 0: no bound */
extern struct mutex vhci_conn_mutex;
extern struct vhci **vhci_ctrls;
extern struct platform_device **vhci_pdevs;

struct vhci;
struct vhci_hcd;
struct vhci_session_args;

/* What a sequence number in port->seqs belongs to. */
enum vhci_seq_kind {
	VHCI_SEQ_SUBMIT,	/* a struct vhci_priv (CMD_SUBMIT) */
	VHCI_SEQ_UNLINK,	/* a struct vhci_unlink (CMD_UNLINK) */
	VHCI_SEQ_GONE,		/* a struct vhci_unlink on port->gone (its target) */
	VHCI_SEQ_LOST,		/* one on port->lost, before the resume decides */
};

/**
 * struct vhci_seq - a sequence number in use, in port->seqs
 * @hnode: in port->seqs
 * @seqnum: the number
 * @kind: enum vhci_seq_kind
 */
struct vhci_seq {
	struct hlist_node hnode;
	u32 seqnum;
	u8 kind;
};

/**
 * struct vhci_port - one root hub port and the device attached to it
 * @conn: the USB/IP connection (lock: vhci_conn_mutex)
 * @vhci: the controller
 * @vh: the root hub this port belongs to
 * @rhport: 0-based index on its root hub
 * @number: global port number (the PORT of the sysfs files)
 * @status: VDEV_ST_* (vhci->lock; changed with vhci_conn_mutex held too)
 * @speed: enum usb_device_speed given at attach
 * @devid: (busnum << 16) | devnum of the device on the server
 * @sockfd: the fd number given at attach, for the status file only
 * @udev: the usb_device on this port, with a reference, or NULL
 * @gone_udev: the usb_device of the port's last connection, with a
 *	reference, until another device submits on the port: the hub driver
 *	may not have disconnected it yet when the next server attaches, and
 *	none of its requests may reach that server
 * @accepting: URBs may be enqueued (connection running)
 * @seqnum: last sequence number used on the connection
 * @seqs: every sequence number in use (struct vhci_seq), by number
 * @privs: every struct vhci_priv of the port not yet given back
 * @tx_queue: vhci_privs whose CMD_SUBMIT is still to be sent
 * @unlink_tx: vhci_unlinks whose CMD_UNLINK is still to be sent
 * @unlink_rx: vhci_unlinks sent, waiting for their RET_UNLINK
 * @gone: vhci_unlinks recording URBs given back on a RET_UNLINK with
 *	status 0, whose RET_SUBMIT may still arrive (and is then dropped)
 * @n_gone: entries on @gone
 * @orphans: vhci_unlinks sent whose URB came back on a RET_SUBMIT, still
 *	waiting for their RET_UNLINK (oldest first, VHCI_MAX_ORPHANS at most)
 * @n_orphans: entries on @orphans
 * @tx_wq: wakes the tx thread
 * @unlink_timer: fires when an unlinked URB is due back (vhci_unlink_timeout)
 * @rx_iso: rx thread scratch: iso descriptors and discarded payloads
 * @port_status: wPortStatus | wPortChange << 16 of the emulated port
 * @resuming: a resume (USB 2 ClearPortFeature(SUSPEND)) is in progress
 * @warm_reset: the reset in progress is a warm (BH) reset
 * @re_timeout: when the reset or resume in progress completes (jiffies)
 * @session: the connection has a session (SESSION agreed at attach)
 * @link_down: the session is suspended: no connection until a resume
 * @resume_send: the tx thread sends EXT_RESUME (@resume_list) first
 * @resume_wait: EXT_RESUME sent; nothing else goes out until the
 *	server's EXT_RESUME_REP
 * @resume_list: seqnums the EXT_RESUME lists (big endian), kvmalloc'ed
 * @resume_n: their number
 * @heartbeat_ms: idle time after which the client pings, 0 for none
 * @cmds: commands sent on the session (the stream counter C)
 * @answers: answers received (the stream counter A)
 * @acked: @answers as last sent in an EXT_ACK
 * @ack_bytes: bytes of transfers answered since
 * @ack_at: when the last EXT_ACK went out (jiffies)
 * @ack_due: the tx thread sends an EXT_ACK
 * @ping_due: the tx thread sends an EXT_ACK with PING
 * @ping_out: a PING is waiting for its EXT_ACK_REP, sent at @ping_at
 * @ping_at: jiffies
 * @rx_at: when the last message came in (jiffies)
 * @lost: struct vhci_unlinks of URBs given back while the link was down
 *	although their CMD_SUBMIT had been sent: VHCI_SEQ_LOST until a resume
 *	decides, then (the server had it) VHCI_SEQ_GONE until its answer or
 *	its cancelling CMD_UNLINK's answer arrives
 * @resume_at: when the resume started (jiffies), for its time limit
 * @srv_cmds: what the server counted of the commands at least: its last
 *	EXT_ACK_REP or EXT_RESUME_REP, or the last command it answered
 * @hb_sk: the connection's sock, held for the heartbeat's look at TCP
 * @hb_una: TCP's snd_una as the heartbeat last saw it
 * @hb_una_at: when TCP last made progress (or had nothing to send)
 * @hb_work: the heartbeat
 *
 * The session fields are under vhci->lock, except @heartbeat_ms and
 * @session, which change only with vhci_conn_mutex held and the threads
 * stopped.
 */
struct vhci_port {
	struct usbip_conn conn;
	struct vhci *vhci;
	struct vhci_hcd *vh;
	unsigned int rhport;
	unsigned int number;

	int status;
	enum usb_device_speed speed;
	u32 devid;
	int sockfd;
	struct usb_device *udev;
	struct usb_device *gone_udev;

	bool accepting;
	u32 seqnum;
	DECLARE_HASHTABLE(seqs, VHCI_SEQ_BITS);
	struct list_head privs;
	struct list_head tx_queue;
	struct list_head unlink_tx;
	struct list_head unlink_rx;
	struct list_head gone;
	unsigned int n_gone;
	struct list_head orphans;
	unsigned int n_orphans;
	wait_queue_head_t tx_wq;
	struct timer_list unlink_timer;
	struct usbip_iso_desc *rx_iso;

	u32 port_status;
	bool resuming;
	bool warm_reset;
	unsigned long re_timeout;

	bool session;
	bool link_down;
	bool resume_send;
	bool resume_wait;
	__be32 *resume_list;
	u32 resume_n;
	unsigned int heartbeat_ms;
	u32 cmds;
	u32 answers;
	u32 acked;
	u32 ack_bytes;
	unsigned long ack_at;
	bool ack_due;
	bool ping_due;
	bool ping_out;
	unsigned long ping_at;
	unsigned long rx_at;
	struct list_head lost;
	unsigned long resume_at;
	u32 srv_cmds;
	struct sock *hb_sk;
	u32 hb_una;
	unsigned long hb_una_at;
	struct delayed_work hb_work;
};

/**
 * struct vhci_hcd - hcd_priv of one of the two root hubs of a controller
 * @vhci: the controller
 * @hcd: back pointer
 * @ports: this hub's vhci_hc_ports entries of vhci->ports
 * @ss: this is the USB 3 root hub
 */
struct vhci_hcd {
	struct vhci *vhci;
	struct usb_hcd *hcd;
	struct vhci_port *ports;
	bool ss;
};

/**
 * struct vhci - one virtual host controller (platform device vhci_hcd.N)
 * @pdev: the platform device
 * @id: N
 * @kref: held by the platform driver while bound and by detach writes
 *	waiting on a port; the last vhci_put() frees the structure
 * @lock: see the locking rules at the top of this file
 * @hs: the USB 2.0 root hub's hcd_priv
 * @ss: the USB 3 root hub's hcd_priv
 * @ports: 2 * vhci_hc_ports ports: the USB 2.0 hub's, then the USB 3 hub's
 */
struct vhci {
	struct platform_device *pdev;
	unsigned int id;
	struct kref kref;
	spinlock_t lock;
	struct vhci_hcd *hs;
	struct vhci_hcd *ss;
	struct vhci_port ports[];
};

/**
 * struct vhci_priv - an URB submitted to a remote device
 * @node: on port->privs
 * @txnode: on port->tx_queue while its CMD_SUBMIT is not sent yet
 * @port: the port
 * @hcd: the hcd the URB was submitted to
 * @urb: the URB
 * @seq: sequence number of its CMD_SUBMIT (seq.seqnum), in port->seqs
 * @iso: iso packet descriptors to send (iso URBs only)
 * @status: result to give back with
 * @sending: the tx thread is transmitting the CMD_SUBMIT
 * @receiving: the rx thread is reading the RET_SUBMIT into the URB
 * @finished: the result is known; give back once not sending/receiving
 * @unlinking: a CMD_UNLINK was queued for it
 * @unlink: that CMD_UNLINK until the URB's result is known (then it is
 *	dropped if not sent yet, else moved to port->orphans), or NULL
 * @unlink_due: it was unlinked and must be given back by @unlink_deadline
 * @unlink_deadline: jiffies
 * @cmd_no: the number of its CMD_SUBMIT in the session's stream (C)
 * @sent: its CMD_SUBMIT went out (@cmd_no is valid); cleared when a resume
 *	queues it again
 */
struct vhci_priv {
	struct list_head node;
	struct list_head txnode;
	struct vhci_port *port;
	struct usb_hcd *hcd;
	struct urb *urb;
	struct vhci_seq seq;
	struct usbip_iso_desc *iso;
	int status;
	bool sending;
	bool receiving;
	bool finished;
	bool unlinking;
	struct vhci_unlink *unlink;
	bool unlink_due;
	unsigned long unlink_deadline;
	u32 cmd_no;
	bool sent;
};

/**
 * struct vhci_unlink - a CMD_UNLINK, or a record of a given-back URB
 * @node: on port->unlink_tx, port->unlink_rx, port->orphans or port->gone
 * @seq: in port->seqs: the sequence number of the CMD_UNLINK, or on
 *	port->gone that of the cancelled CMD_SUBMIT (VHCI_SEQ_GONE)
 * @seqnum: sequence number of the CMD_UNLINK
 * @target: sequence number of the CMD_SUBMIT it cancels
 * @dir_in: the cancelled URB was IN (to size a late RET_SUBMIT)
 * @sent: the tx thread took it off port->unlink_tx (it is on unlink_rx);
 *	from then on the rx thread may free it
 * @orphan: it is on port->orphans
 * @cmd_no: the number of the CMD_UNLINK in the session's stream (C), 0
 *	until sent; on port->lost, that of the CMD_SUBMIT given back
 * @cancel: on port->lost: the CMD_UNLINK to send on resume if the server
 *	counted the CMD_SUBMIT (allocated with the record)
 * @no_target: a CMD_UNLINK of an URB given back while the link was down:
 *	its RET_UNLINK gives nothing back, and ends the record on port->lost
 * @lost: it is a record on port->lost
 */
struct vhci_unlink {
	struct list_head node;
	struct vhci_seq seq;
	u32 seqnum;
	u32 target;
	bool dir_in;
	bool sent;
	bool orphan;
	u32 cmd_no;
	struct vhci_unlink *cancel;
	bool no_target;
	bool lost;
};

static inline struct vhci_hcd *hcd_to_vh(struct usb_hcd *hcd)
{
	return (struct vhci_hcd *)hcd->hcd_priv;
}

static inline struct vhci_port *conn_to_port(struct usbip_conn *conn)
{
	return container_of(conn, struct vhci_port, conn);
}

static inline struct device *port_dev(struct vhci_port *port)
{
	return &port->vhci->pdev->dev;
}

/* vhci_hcd.c */
extern const struct hc_driver vhci_hc_driver;
u32 vhci_next_seqnum(struct vhci_port *port);
void vhci_seq_add(struct vhci_port *port, struct vhci_seq *seq, u32 seqnum,
		  enum vhci_seq_kind kind);
struct vhci_seq *vhci_seq_find(struct vhci_port *port, u32 seqnum, enum vhci_seq_kind kind);
void vhci_unlink_timer_fn(struct timer_list *t);
void vhci_priv_finish(struct vhci_priv *priv, int status, struct list_head *giveback);
void vhci_giveback(struct list_head *giveback);
void vhci_port_connect(struct vhci_port *port);
void vhci_port_disconnect(struct vhci_port *port);

/* vhci_main.c */
struct vhci_port *vhci_port_by_number(unsigned int number);
void vhci_put(struct vhci *vhci);
int vhci_port_attach(struct vhci_port *port, struct socket *sock, int sockfd, u32 devid,
		     enum usb_device_speed speed, const struct vhci_session_args *sa);
void vhci_port_release(struct vhci_port *port, int status);

/* vhci_rx.c, vhci_tx.c */
int vhci_rx_loop(struct usbip_conn *conn);
int vhci_tx_loop(struct usbip_conn *conn);

/* vhci_session.c */
/**
 * struct vhci_session_args - the extension part of an attach
 * @caps: VHCI_EXT_CAP_* agreed (caps=HEX)
 * @window: resume window, ms (window=MS)
 * @heartbeat: heartbeat interval, ms, 0 for none (heartbeat=MS)
 */
struct vhci_session_args {
	u32 caps;
	u32 window;
	u32 heartbeat;
};

int vhci_session_args_parse(char *text, struct vhci_session_args *a);
void vhci_session_start(struct vhci_port *port, const struct vhci_session_args *a,
			struct socket *sock);
void vhci_session_answered(struct vhci_port *port, u32 bytes);
int vhci_session_rx_ext(struct vhci_port *port, const struct usbip_pdu *pdu,
			const char **reason);
bool vhci_session_resuming(struct vhci_port *port);
void vhci_session_lost_answered(struct vhci_port *port, u32 target);
bool vhci_session_lose_urb(struct vhci_port *port, struct vhci_priv *priv, int status,
			   struct list_head *giveback);
void vhci_session_suspend(struct usbip_conn *conn);
int vhci_session_resume(struct vhci_port *port, struct socket *sock, int sockfd);
void vhci_session_end(struct vhci_port *port);
void vhci_session_hb_fn(struct work_struct *work);
int vhci_session_link_event(struct vhci_port *port, int err, bool send,
			    const char *reason);

/* vhci_sysfs.c */
int vhci_sysfs_init(struct device *dev);
void vhci_sysfs_exit(struct device *dev);

#endif /* VHCI_H */
