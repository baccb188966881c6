/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * usbip-core: the kernel API shared by vhci-hcd, usbip-host and usbip-vudc.
 *
 * Six parts, each in its own file:
 *
 *  - usbip_proto.[ch]: the wire format (plain C, see usbip_proto.h);
 *  - usbip_sock.c: socket lookup and exact-length send/receive of
 *    headers, linear or scatter-gather payloads and iso descriptors;
 *  - usbip_event.c: struct usbip_conn, the life cycle of one connection
 *    and its error handling;
 *  - usbip_budget.c: struct usbip_budget, the bound on what a server's
 *    connection holds, enforced by not reading (backpressure);
 *  - usbip_seq.c: struct usbip_seq_node, a server's index of its
 *    requests in flight by seqnum;
 *  - usbip_server.[ch]: struct usbip_server, the server side of
 *    usbip-host and usbip-vudc (receive and transmit threads, answer
 *    queues, usbip_sockfd), behind struct usbip_server_ops.
 *
 * Plus usbip_flags.c (URB_* <-> USBIP_URB_* translation) and the debug
 * mask in usbip_core_main.c.
 *
 * Locking rules in one place:
 *
 *  - A socket has one sender and one receiver at a time: the send
 *    functions must be serialized by the caller (normally only the tx
 *    thread sends), and so must the receive functions (only the rx thread
 *    receives).  A message is sent with several sendmsg calls, so two
 *    concurrent senders would interleave messages.
 *  - Every driver has a mutex that serializes attach and detach of a
 *    connection (struct usbip_conn.lock, e.g. the vhci port lock).  The
 *    event worker holds it while it runs the driver ops.  Consequently the
 *    rx/tx threads and the ops must never wait for that mutex, and nobody
 *    may call usbip_conn_wait() or usbip_conn_destroy() while holding it.
 *  - usbip_conn_event() may be called from any context (including hard
 *    irq and the ops themselves) and never sleeps.
 *  - struct usbip_budget.lock is innermost: it may be taken under any
 *    driver lock (irq-safe), and nothing is taken under it.
 *  - A seqnum index (usbip_seq_*) has no lock of its own: the driver's
 *    lock that protects its requests protects it.
 *  - The lock order of a server is in usbip_server.h.
 */
#ifndef USBIP_COMMON_H
#define USBIP_COMMON_H

#include <linux/bits.h>
#include <linux/compiler.h>
#include <linux/mutex.h>
#include <linux/printk.h>
#include <linux/rbtree.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/usb.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "usbip_proto.h"

struct scatterlist;
struct socket;
struct task_struct;

/* ------------------------------------------------------------------ */
/* Debug messages                                                      */
/* ------------------------------------------------------------------ */

/*
 * Bits of the usbip_debug mask (module parameter of usbip-core, which the
 * drivers can also show in their own sysfs files with usbip_debug_show()
 * and usbip_debug_store()).
 */
#define USBIP_DBG_CORE		BIT(0)	/* usbip-core in general */
#define USBIP_DBG_RX		BIT(1)	/* messages received */
#define USBIP_DBG_TX		BIT(2)	/* messages sent */
#define USBIP_DBG_EVENT		BIT(3)	/* connection events */
#define USBIP_DBG_VHCI		BIT(8)	/* vhci-hcd */
#define USBIP_DBG_VHCI_RX	BIT(9)
#define USBIP_DBG_VHCI_TX	BIT(10)
#define USBIP_DBG_VHCI_SYSFS	BIT(11)
#define USBIP_DBG_STUB		BIT(16)	/* usbip-host */
#define USBIP_DBG_STUB_RX	BIT(17)
#define USBIP_DBG_STUB_TX	BIT(18)
#define USBIP_DBG_STUB_SYSFS	BIT(19)
#define USBIP_DBG_VUDC		BIT(24)	/* usbip-vudc */
#define USBIP_DBG_VUDC_RX	BIT(25)
#define USBIP_DBG_VUDC_TX	BIT(26)
#define USBIP_DBG_VUDC_SYSFS	BIT(27)

extern unsigned long usbip_debug_flags;

/**
 * usbip_dbg_on() - is a debug category enabled
 * @flag: USBIP_DBG_* bits
 *
 * Return: true if any of @flag is set in the usbip_debug mask.
 */
static inline bool usbip_dbg_on(unsigned long flag)
{
	return READ_ONCE(usbip_debug_flags) & flag;
}

/*
 * usbip_dbg() / usbip_dev_dbg(): pr_debug() / dev_dbg() gated by a
 * category of the usbip_debug mask.  With CONFIG_USBIP_DEBUG (-DDEBUG)
 * they print as soon as the category is enabled; otherwise dynamic debug
 * must enable them as well.
 */
#define usbip_dbg(flag, fmt, ...)					\
	do {								\
		if (usbip_dbg_on(flag))					\
			pr_debug(fmt, ##__VA_ARGS__);			\
	} while (0)

#define usbip_dev_dbg(flag, dev, fmt, ...)				\
	do {								\
		if (usbip_dbg_on(flag))					\
			dev_dbg(dev, fmt, ##__VA_ARGS__);		\
	} while (0)

ssize_t usbip_debug_show(char *buf);
ssize_t usbip_debug_store(const char *buf, size_t count);

/* ------------------------------------------------------------------ */
/* URB flag translation                                                */
/* ------------------------------------------------------------------ */

u32 usbip_urb_flags_to_wire(unsigned int urb_flags);
unsigned int usbip_urb_flags_from_wire(u32 wire_flags);

/* ------------------------------------------------------------------ */
/* Buffers and socket I/O                                              */
/* ------------------------------------------------------------------ */

/**
 * struct usbip_buf - a transfer buffer, linear or scatter-gather
 * @data: kernel virtual address of a linear buffer, or NULL
 * @sg: scatterlist used when @data is NULL
 * @nents: number of entries of @sg
 * @len: size of the buffer in bytes
 *
 * Only describes memory owned by someone else (usually an URB).
 */
struct usbip_buf {
	void *data;
	struct scatterlist *sg;
	unsigned int nents;
	u32 len;
};

/**
 * usbip_buf_linear() - describe a linear buffer
 * @b: the descriptor to fill
 * @data: the buffer
 * @len: its size
 */
static inline void usbip_buf_linear(struct usbip_buf *b, void *data, u32 len)
{
	b->data = data;
	b->sg = NULL;
	b->nents = 0;
	b->len = len;
}

/**
 * usbip_buf_sg() - describe a scatter-gather buffer
 * @b: the descriptor to fill
 * @sg: the scatterlist
 * @nents: its number of entries
 * @len: size of the buffer (at most the sum of the entry lengths)
 */
static inline void usbip_buf_sg(struct usbip_buf *b, struct scatterlist *sg,
				unsigned int nents, u32 len)
{
	b->data = NULL;
	b->sg = sg;
	b->nents = nents;
	b->len = len;
}

/**
 * usbip_buf_from_urb() - describe the transfer buffer of an URB
 * @b: the descriptor to fill
 * @urb: an URB with either an sg list (num_sgs > 0) or transfer_buffer
 */
static inline void usbip_buf_from_urb(struct usbip_buf *b, struct urb *urb)
{
	if (urb->num_sgs)
		usbip_buf_sg(b, urb->sg, urb->num_sgs, urb->transfer_buffer_length);
	else
		usbip_buf_linear(b, urb->transfer_buffer, urb->transfer_buffer_length);
}

/* usbip_send_msg() flags */
/* Send the iso frames' data packed (RET_SUBMIT of an IN iso URB). */
#define USBIP_SEND_ISO_PACKED	BIT(0)

/* peer_timeout parameter of usbip-core, seconds (see usbip_sock.c) */
#define USBIP_PEER_TIMEOUT_DEFAULT	10
#define USBIP_PEER_TIMEOUT_MAX		3600
extern unsigned int usbip_peer_timeout;

struct socket *usbip_sockfd_get(int fd);
void usbip_sock_release(struct socket *sock);
bool usbip_sock_err_is_link(int err, bool send);
int usbip_sock_eof_err(struct socket *sock);
void usbip_sock_abort(struct socket *sock);
bool usbip_sock_peer_closed(struct socket *sock);
void usbip_sock_rcvtimeo_set(struct socket *sock, long timeo);

int usbip_send_msg(struct socket *sock, const struct usbip_pdu *pdu,
		   const struct usbip_buf *buf, u32 len,
		   const struct usbip_iso_desc *iso, int n_iso, unsigned int flags);
int usbip_send_data(struct socket *sock, const void *data, size_t len, bool more);
int usbip_send_buf(struct socket *sock, const struct usbip_buf *buf, u32 off, u32 len,
		   bool more);

int usbip_recv_data(struct socket *sock, void *data, size_t len);
int usbip_recv_buf(struct socket *sock, const struct usbip_buf *buf, u32 off, u32 len);
int usbip_recv_pdu(struct socket *sock, struct usbip_pdu *pdu, const char **reason);
int usbip_recv_iso_descs(struct socket *sock, struct usbip_iso_desc *descs, int n);
int usbip_iso_unpack_buf(const struct usbip_buf *buf, const struct usbip_iso_desc *descs,
			 int n, u32 actual_length, const char **reason);

/**
 * usbip_iso_descs_from_urb() - copy the iso packet descriptors of an URB
 * @descs: output, urb->number_of_packets entries
 * @urb: an isochronous URB
 */
static inline void usbip_iso_descs_from_urb(struct usbip_iso_desc *descs,
					    const struct urb *urb)
{
	int i;

	for (i = 0; i < urb->number_of_packets; i++) {
		descs[i].offset = urb->iso_frame_desc[i].offset;
		descs[i].length = urb->iso_frame_desc[i].length;
		descs[i].actual_length = urb->iso_frame_desc[i].actual_length;
		descs[i].status = urb->iso_frame_desc[i].status;
	}
}

/* ------------------------------------------------------------------ */
/* Connections and their event handler                                 */
/* ------------------------------------------------------------------ */

struct usbip_conn;

/**
 * struct usbip_conn_ops - what a driver does for its connection
 * @rx: body of the receive thread, or NULL for none.  Runs while the
 *	connection is up; on a socket or protocol error it calls
 *	usbip_conn_event() and returns.  It may also just return an error,
 *	which is reported as "rx thread failed".  It must not take the
 *	connection's @lock.
 * @tx: body of the transmit thread, or NULL; same rules as @rx.  Its waits
 *	for work must also end on kthread_should_stop().
 * @shutdown: called once per incident, with the socket shut down and the
 *	rx/tx threads already stopped: cancel and give back all the I/O of
 *	the connection.  May be NULL.
 * @reset: called after @shutdown when the connection ended normally or
 *	by a recoverable error: make the device available again.
 * @unusable: called after @shutdown instead of @reset after a fatal
 *	error: mark the device unusable (SDEV_ST_ERROR / VDEV_ST_ERROR).
 * @suspend: optional: called instead of @shutdown when only the link
 *	failed (every report of the incident had USBIP_EV_LINK) and the
 *	connection has a session (@resume_window set): the socket is
 *	released and the threads are stopped, but the I/O stays; the
 *	connection is then SUSPENDED until usbip_conn_resume() or the end
 *	of the window.  If the session ends instead (a detach, the window),
 *	@shutdown and @reset run as for any incident.
 *
 * @shutdown, @reset, @unusable and @suspend run in the event worker with
 * the connection's lock held and may sleep.
 */
struct usbip_conn_ops {
	int (*rx)(struct usbip_conn *conn);
	int (*tx)(struct usbip_conn *conn);
	void (*shutdown)(struct usbip_conn *conn);
	void (*reset)(struct usbip_conn *conn);
	void (*unusable)(struct usbip_conn *conn);
	void (*suspend)(struct usbip_conn *conn);
};

/* Events for usbip_conn_event() */
#define USBIP_EV_SHUTDOWN	BIT(0)	/* close the connection (always implied) */
#define USBIP_EV_RESET		BIT(1)	/* then make the device available again */
#define USBIP_EV_UNUSABLE	BIT(2)	/* then mark it unusable; wins over RESET */
#define USBIP_EV_QUIET		BIT(3)	/* log the incident at info level only */
/*
 * Only the link failed (timeout, reset, unreachable, missed heartbeat): a
 * connection with a session is suspended instead of closed, if every
 * report of the incident says so.
 */
#define USBIP_EV_LINK		BIT(4)
/* Internal: a report without USBIP_EV_LINK came; the session ends. */
#define USBIP_EV_FINAL		BIT(5)
/* Internal steps of the event worker. */
#define USBIP_EV_CLOSE		BIT(6)	/* socket and threads */
#define USBIP_EV_SUSPEND	BIT(7)	/* ->suspend */

/* A socket or protocol error: the device is reset and can be used again. */
#define USBIP_EV_ERROR		(USBIP_EV_SHUTDOWN | USBIP_EV_RESET)
/* An error the device cannot recover from. */
#define USBIP_EV_FATAL		(USBIP_EV_SHUTDOWN | USBIP_EV_UNUSABLE)
/* An orderly detach requested by the user or by the peer. */
#define USBIP_EV_DETACH		(USBIP_EV_SHUTDOWN | USBIP_EV_RESET | USBIP_EV_QUIET)
/* A failed link: suspends a session, else as USBIP_EV_ERROR. */
#define USBIP_EV_LINK_ERROR	(USBIP_EV_ERROR | USBIP_EV_LINK)

/**
 * enum usbip_conn_state - life cycle of a struct usbip_conn
 * @USBIP_CONN_IDLE: no socket; usbip_conn_start() may be called
 * @USBIP_CONN_RUNNING: socket and threads up
 * @USBIP_CONN_CLOSING: an incident is being handled by the event worker
 * @USBIP_CONN_DEAD: usbip_conn_destroy() was called
 * @USBIP_CONN_SUSPENDED: no socket, I/O kept, waiting for
 *	usbip_conn_resume() until the resume window ends
 */
enum usbip_conn_state {
	USBIP_CONN_IDLE,
	USBIP_CONN_RUNNING,
	USBIP_CONN_CLOSING,
	USBIP_CONN_DEAD,
	USBIP_CONN_SUSPENDED,
};

/**
 * struct usbip_conn - one USB/IP connection of a driver
 * @name: for log lines and thread names, e.g. "vhci-hcd.0 port 3"
 * @ops: the driver's callbacks
 * @lock: the driver's attach/detach mutex (see usbip_conn_init())
 * @sock: the connected socket while not IDLE; owned by the connection
 * @rx_task: receive thread, or NULL
 * @tx_task: transmit thread, or NULL
 * @ev_lock: protects @state, @events, @done, @err and @reason
 * @state: see enum usbip_conn_state
 * @events: USBIP_EV_* bits reported during the current incident
 * @done: USBIP_EV_* steps the worker has finished for this incident
 * @err: errno of the first report of the current incident
 * @reason: reason of the first report of the current incident
 * @work: the event worker
 * @wq: woken when an incident has been handled
 * @incidents: number of incidents handled so far
 * @resume_window: resume window of the connection's session in ms, 0
 *	without a session; set by the driver (lock held) before
 *	usbip_conn_start(), cleared by the core when the session ends
 * @suspended_at: jiffies when the connection was suspended (ev_lock)
 * @window_work: ends a suspended session when its window has passed
 *
 * The driver embeds this in its per-device (or per-port) structure and
 * only reads @sock (from its threads and ops) and @incidents, and sets
 * @resume_window; the rest is private to usbip-core.
 */
struct usbip_conn {
	char name[32];
	const struct usbip_conn_ops *ops;
	struct mutex *lock;
	struct socket *sock;
	struct task_struct *rx_task;
	struct task_struct *tx_task;

	spinlock_t ev_lock;
	enum usbip_conn_state state;
	unsigned long events;
	unsigned long done;
	int err;
	const char *reason;
	struct work_struct work;
	wait_queue_head_t wq;
	unsigned int incidents;
	unsigned int resume_window;
	unsigned long suspended_at;
	struct delayed_work window_work;
};

void usbip_conn_init(struct usbip_conn *conn, const char *name,
		     const struct usbip_conn_ops *ops, struct mutex *lock);
int usbip_conn_start(struct usbip_conn *conn, struct socket *sock);
int usbip_conn_event(struct usbip_conn *conn, unsigned long events, int err,
		     const char *reason);
int usbip_conn_resume(struct usbip_conn *conn, struct socket *sock);
unsigned int usbip_conn_window_left(struct usbip_conn *conn);
void usbip_conn_wait(struct usbip_conn *conn);
void usbip_conn_destroy(struct usbip_conn *conn);
enum usbip_conn_state usbip_conn_state(struct usbip_conn *conn);

/* ------------------------------------------------------------------ */
/* Per-connection budget (usbip_budget.c)                              */
/* ------------------------------------------------------------------ */

/**
 * struct usbip_budget - the requests and bytes one connection may hold
 * @lock: protects the fields below (irq-safe, innermost)
 * @urbs: requests charged: URBs from their command until their answer
 *	is sent, answers of the server's own that wait to be sent
 * @bytes: bytes charged (transfer buffers)
 * @max_urbs: limit of @urbs
 * @max_bytes: limit of @bytes
 * @wq: the receive thread waits here for room
 *
 * The receive thread charges each command before it allocates for it and
 * waits, without reading the socket, while there is no room: see
 * usbip_budget.c.
 */
struct usbip_budget {
	spinlock_t lock;
	u32 urbs;
	u64 bytes;
	u32 max_urbs;
	u64 max_bytes;
	wait_queue_head_t wq;
};

/*
 * Default limits of a server connection (the max_urbs and max_bytes
 * parameters of usbip-host and usbip-vudc).  A fast USB 3 disk under UAS
 * keeps about 32 requests of up to 1 MiB in flight (32 MiB), and the
 * answers on their way through the socket count too, so 64 MiB leaves that
 * twice over; 1024 requests is far above any driver's queue (usb-storage 1,
 * UAS 32-256, audio and video a handful of iso URBs per endpoint) and
 * bounds the bookkeeping (about 1 KiB per request) as well.
 */
#define USBIP_BUDGET_URBS	1024U
#define USBIP_BUDGET_BYTES	(64UL << 20)

void usbip_budget_init(struct usbip_budget *b);
void usbip_budget_set_limits(struct usbip_budget *b, u32 max_urbs, u64 max_bytes);
int usbip_budget_charge(struct usbip_budget *b, struct socket *sock, u32 urbs, u64 bytes);
void usbip_budget_release(struct usbip_budget *b, u32 urbs, u64 bytes);
void usbip_budget_used(struct usbip_budget *b, u32 *urbs, u64 *bytes);

/* ------------------------------------------------------------------ */
/* Seqnum index of a server's requests (usbip_seq.c)                   */
/* ------------------------------------------------------------------ */

/**
 * struct usbip_seq_node - a request's entry in a seqnum index
 * @rb: in the index (a struct rb_root), empty while in none
 * @seqnum: the seqnum of the request's command
 */
struct usbip_seq_node {
	struct rb_node rb;
	u32 seqnum;
};

static inline void usbip_seq_node_init(struct usbip_seq_node *node, u32 seqnum)
{
	RB_CLEAR_NODE(&node->rb);
	node->seqnum = seqnum;
}

struct usbip_seq_node *usbip_seq_find(struct rb_root *root, u32 seqnum);
bool usbip_seq_insert(struct rb_root *root, struct usbip_seq_node *node);
void usbip_seq_erase(struct rb_root *root, struct usbip_seq_node *node);

/* internal to usbip-core */
int usbip_event_init(void);
void usbip_event_exit(void);
int usbip_selftest_run(bool unix_only);

#endif /* USBIP_COMMON_H */
