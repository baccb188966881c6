/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * usbip-core: the server side of a USB/IP connection, shared by usbip-host
 * (real USB devices) and usbip-vudc (gadgets).
 *
 * usbip_server.c owns what every server does the same way: the receive
 * thread (read a header, check it, charge the budget, allocate through the
 * driver, receive the OUT payload and the iso descriptors, hand the
 * request to the driver), the transmit thread and its queue of answers
 * (RET_SUBMIT, RET_UNLINK), the RET_UNLINK answers of the server's own,
 * the error policy of both threads (one log line per incident), the
 * usbip_sockfd attribute and the budget parameters.  A driver only says,
 * through struct usbip_server_ops, how a request reaches its device.
 *
 * Lock order (outermost first):
 *
 *  1. struct usbip_conn.lock (the driver's attach/detach mutex): held by
 *     usbip_server_sockfd_store() and by the event worker around the
 *     ->attach, ->shutdown and ->reset ops;
 *  2. the driver's own locks (e.g. usbip-vudc's gadget_lock);
 *  3. struct usbip_server.lock, the driver's irq-safe spinlock that
 *     protects its requests: the server's in-flight index, its answer
 *     queues and the fields of struct usbip_server_urb marked so below;
 *  4. the tx thread's wait queue lock (usbip_server_urb_done_locked()
 *     wakes it under 3.);
 *  5. struct usbip_budget.lock, innermost.
 *
 * The rx thread waits for budget and receives with none of them held;
 * the tx thread sends with none held.
 *
 * Sessions (Documentation/usb/usbip_ext.rst).  With the SESSION
 * capability, usbipd hands in a token and a resume window with the
 * socket.  Every answer sent goes into the journal (struct
 * usbip_server_jnode, under 3.) until the client's EXT_ACK counts it; a
 * failed link suspends the connection (usbip_conn_resume()) with the
 * device's URBs still running; a resume (usbip_sockfd "resume FD
 * token=...") starts with the client's EXT_RESUME, after which the tx
 * thread sends EXT_RESUME_REP, the journal's answers the client lacks,
 * then the rest as usual.
 */
#ifndef USBIP_SERVER_H
#define USBIP_SERVER_H

#include <linux/device.h>
#include <linux/list.h>
#include <linux/moduleparam.h>
#include <linux/rbtree.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/wait.h>

#include "usbip_common.h"

struct usbip_server;

/* Capability bits of the extension (usbip_ext.rst). */
#define USBIP_EXT_CAP_SESSION		0x1U
/* What a server of this core supports (its usbip_ext_caps file). */
#define USBIP_SERVER_EXT_CAPS		USBIP_EXT_CAP_SESSION
/* Bounds of the session parameters usbipd hands in. */
#define USBIP_EXT_WINDOW_MAX_MS		(3600U * 1000)
#define USBIP_EXT_JOURNAL_MIN		(64U << 10)
#define USBIP_EXT_JOURNAL_MAX		(64U << 20)
/*
 * What a journal entry costs besides its buffer, counted against the
 * journal's bound: the driver's request and its URB (a few hundred bytes),
 * so that answers without data cannot pile up unbounded.
 */
#define USBIP_SERVER_JNODE_COST		512U
/*
 * Entries a journal holds at most, whatever their size: a resume walks
 * them under the server's spinlock.  The client's acknowledgements every
 * 64 answers keep far fewer.
 */
#define USBIP_SERVER_JOURNAL_ENTRIES	4096U

/**
 * struct usbip_server_jnode - an answer in the journal of a session
 * @list: in usbip_server.journal, in send order (usbip_server.lock)
 * @end: the answer counter after its messages
 * @n: its messages (1, or 2 for a RET_SUBMIT followed by a RET_UNLINK 0)
 * @bytes: what it holds, counted against the journal's bound
 * @unlink: a RET_UNLINK of the server's own, else a request's answer
 */
struct usbip_server_jnode {
	struct list_head list;
	u32 end;
	u8 n;
	bool unlink;
	u32 bytes;
};

/*
 * OUT payloads larger than this that a driver takes before they are
 * complete (->submit_early) are received in pieces of this size, and each
 * piece is handed to the driver while the next one is received.
 */
#define USBIP_SERVER_RX_PIECE		(64U * 1024)

/**
 * struct usbip_server_limits - the budget parameters of a server module
 * @max_urbs: the max_urbs module parameter
 * @max_bytes: the max_bytes module parameter
 *
 * Read when a connection starts.  Defined with USBIP_SERVER_BUDGET_PARAMS().
 */
struct usbip_server_limits {
	unsigned int max_urbs;
	unsigned long max_bytes;
};

/*
 * USBIP_SERVER_BUDGET_PARAMS() - define the max_urbs and max_bytes module
 * parameters of a server module in a struct usbip_server_limits named
 * @limits: what one connection may hold (requests from their CMD_SUBMIT
 * until their RET_SUBMIT is sent, and their transfer buffers; defaults:
 * see USBIP_BUDGET_URBS).  Over either, the rx thread stops reading the
 * socket until answers have gone out.
 */
#define USBIP_SERVER_BUDGET_PARAMS(limits)					\
	static struct usbip_server_limits limits = {					\
		.max_urbs = USBIP_BUDGET_URBS,					\
		.max_bytes = USBIP_BUDGET_BYTES,				\
	};									\
	module_param_named(max_urbs, limits.max_urbs, uint, 0644);		\
	MODULE_PARM_DESC(max_urbs,						\
			 "requests one connection may hold before the server stops reading it (default 1024; read when a connection starts)"); \
	module_param_named(max_bytes, limits.max_bytes, ulong, 0644);		\
	MODULE_PARM_DESC(max_bytes,						\
			 "transfer buffer bytes one connection may hold before the server stops reading it (default 64 MiB; read when a connection starts)")

/*
 * USBIP_SERVER_DEVICE_ATTRS() - define the device attributes every server
 * has, dev_attr_usbip_status (read), dev_attr_usbip_sockfd (write),
 * dev_attr_usbip_ext_caps and dev_attr_usbip_session (read) and
 * dev_attr_usbip_debug (read/write), for a device whose struct
 * usbip_server the driver's function @to_srv(dev) returns.
 */
#define USBIP_SERVER_DEVICE_ATTRS(to_srv)					\
static ssize_t usbip_status_show(struct device *dev,			\
				 struct device_attribute *attr, char *buf)	\
{										\
	return usbip_server_status_show(to_srv(dev), buf);			\
}										\
static DEVICE_ATTR_RO(usbip_status);						\
static ssize_t usbip_sockfd_store(struct device *dev,			\
				  struct device_attribute *attr,		\
				  const char *buf, size_t count)		\
{										\
	return usbip_server_sockfd_store(to_srv(dev), buf, count);		\
}										\
static DEVICE_ATTR_WO(usbip_sockfd);						\
static ssize_t usbip_ext_caps_show(struct device *dev,			\
				   struct device_attribute *attr, char *buf)	\
{										\
	return sysfs_emit(buf, "%x\n", USBIP_SERVER_EXT_CAPS);			\
}										\
static DEVICE_ATTR_RO(usbip_ext_caps);						\
static ssize_t usbip_session_show(struct device *dev,			\
				  struct device_attribute *attr, char *buf)	\
{										\
	return usbip_server_session_show(to_srv(dev), buf);			\
}										\
static DEVICE_ATTR_RO(usbip_session);						\
static ssize_t usbip_server_debug_show(struct device *dev,			\
				       struct device_attribute *attr, char *buf) \
{										\
	return usbip_debug_show(buf);						\
}										\
static ssize_t usbip_server_debug_store(struct device *dev,			\
					struct device_attribute *attr,		\
					const char *buf, size_t count)		\
{										\
	return usbip_debug_store(buf, count);					\
}										\
static struct device_attribute dev_attr_usbip_debug =				\
	__ATTR(usbip_debug, 0644, usbip_server_debug_show, usbip_server_debug_store)

/**
 * struct usbip_server_urb - the part of a client's CMD_SUBMIT the core keeps
 * @list: in usbip_server.tx_urbs once done (lock); the driver may use it
 *	while the request waits for its device
 * @seq: seqnum of the CMD_SUBMIT; in usbip_server.in_flight while the
 *	driver has it in flight (lock)
 * @devid: devid of the CMD_SUBMIT, echoed in the answers
 * @ep: endpoint number, echoed
 * @wire_dir: direction field of the CMD_SUBMIT, echoed
 * @dir_in: the data stage is IN (its data goes into the RET_SUBMIT)
 * @len: transfer_buffer_length
 * @charged: one URB and @charged_bytes are charged to the budget (set by
 *	the core once ->urb_alloc succeeded)
 * @charged_bytes: the bytes charged (usbip_submit_charge())
 * @buf: the transfer buffer; the driver sets it in ->urb_alloc
 * @actual: bytes transferred (lock)
 * @status: final status (lock)
 * @iso: the iso descriptors of the CMD_SUBMIT, reused for the answer
 * @n_iso: number of iso packets
 * @unlinking: a CMD_UNLINK for it arrived while it could not be taken
 *	back: answer RET_SUBMIT, then RET_UNLINK 0 (lock)
 * @unlinked: the unlink took it back: answer RET_UNLINK -ECONNRESET only
 * @unlink_seqnum: seqnum of that CMD_UNLINK
 * @nomem: set by ->urb_alloc when there was no memory for the transfer
 *	buffer: the core drops the payload and answers -ENOMEM
 * @jn: in the journal once answered, with a session (core only)
 *
 * Embedded in the driver's request; the driver frees the whole with
 * ->urb_free, which calls usbip_server_urb_release().
 */
struct usbip_server_urb {
	struct list_head list;
	struct usbip_seq_node seq;
	u32 devid;
	u32 ep;
	u32 wire_dir;
	bool dir_in;
	u32 len;
	bool charged;
	u64 charged_bytes;
	struct usbip_buf buf;
	u32 actual;
	int status;
	struct usbip_iso_desc *iso;
	int n_iso;
	bool unlinking;
	bool unlinked;
	u32 unlink_seqnum;
	bool nomem;
	struct usbip_server_jnode jn;
};

/**
 * struct usbip_server_cmd - what the checks made of a CMD_SUBMIT
 * @pdu: the header
 * @ep: the driver's endpoint, set by ->ep_find
 * @xfer: USBIP_XFER_* of the endpoint, set by ->ep_find (USBIP_XFER_ANY
 *	if the driver cannot know it yet)
 * @dir_in: the data stage is IN
 * @stage: bytes the data stage may move (control: min(wLength, length))
 * @n_iso: number of iso packets
 * @payload: bytes of OUT data following the header
 */
struct usbip_server_cmd {
	const struct usbip_pdu *pdu;
	void *ep;
	int xfer;
	bool dir_in;
	u32 stage;
	int n_iso;
	u32 payload;
};

/* struct usbip_server_ops.flags */
/* CMD_SUBMIT and CMD_UNLINK must carry usbip_server.devid. */
#define USBIP_SERVER_CHECK_DEVID	BIT(0)
/*
 * usbip_sockfd never sleeps on the connection's lock (the write restarts
 * instead): the driver's unbind holds a lock the event worker may wait
 * for while it waits for this write.
 */
#define USBIP_SERVER_SOCKFD_TRYLOCK	BIT(1)
/* Writing -1 to usbip_sockfd is -EINVAL unless a client is served. */
#define USBIP_SERVER_DETACH_RUNNING	BIT(2)

/**
 * struct usbip_server_ops - how a driver's requests reach its device
 * @flags: USBIP_SERVER_* bits
 * @ep_find: rx thread, CMD_SUBMIT: set @cmd->ep and @cmd->xfer.  Return 0,
 *	or -EPROTO with *@reason set.
 * @urb_alloc: rx thread, after the budget is charged: allocate the
 *	request and its transfer buffer, fill the common part with
 *	usbip_server_urb_init() and set ->buf.  No memory for the buffer
 *	alone: set ->nomem and return 0 (the core answers -ENOMEM).
 *	Return 0 with *@out set, or an error with *@reason set (then the
 *	core gives back the charge and ends the connection).
 * @submit_early: rx thread, optional: before the OUT payload is received,
 *	take the request now and let the core hand its payload piece by
 *	piece to @received.  Return 1 if taken, 0 if not, or an error as
 *	for @submit (the request is then not taken).
 * @received: rx thread, with @lock held: more of the payload of a request
 *	taken by @submit_early is in its buffer (@avail bytes).
 * @submit: rx thread: the request is complete (payload, iso descriptors);
 *	queue it to the device, or answer it with usbip_server_urb_done().
 *	Return 0 if taken; else an error: the core frees the request and,
 *	if *@reason was set, ends the connection with that reason (without
 *	it, the rx thread ends and the connection is ended as a failed one).
 * @unlink: rx thread, CMD_UNLINK: take back the request in flight with
 *	seqnum @pdu->unlink.seqnum and set its unlink fields.  Return true if
 *	it was found (its answer says the rest), false if not (the core
 *	answers RET_UNLINK 0).
 * @ret_fill: tx thread, optional: complete the RET_SUBMIT of @su (start
 *	frame, error count) and its iso descriptors.
 * @urb_free: free a request (it is on no list and not in flight).
 * @attach: usbip_sockfd, with the connection's lock held, before the
 *	threads start: make the device ready for a client.  Return 0 or an
 *	errno for the write.  Optional.
 * @attached: usbip_sockfd, lock released: the one log line of a new
 *	connection.  Optional.
 * @shutdown: event worker (and usbip_sockfd when the threads failed to
 *	start), with the connection's lock held: stop and free all the I/O
 *	of the connection; the threads are stopped.  Use
 *	usbip_server_tx_drop() for the answers not yet sent.
 * @reset: event worker, optional: make the device available again
 *	(usbip_status goes back to available after it).
 */
struct usbip_server_ops {
	unsigned int flags;
	int (*ep_find)(struct usbip_server *srv, struct usbip_server_cmd *cmd,
		       const char **reason);
	int (*urb_alloc)(struct usbip_server *srv, const struct usbip_server_cmd *cmd,
			 struct usbip_server_urb **out, const char **reason);
	int (*submit_early)(struct usbip_server *srv, struct usbip_server_urb *su,
			    const char **reason);
	void (*received)(struct usbip_server *srv, struct usbip_server_urb *su, u32 avail);
	int (*submit)(struct usbip_server *srv, struct usbip_server_urb *su,
		      const struct usbip_server_cmd *cmd, const char **reason);
	bool (*unlink)(struct usbip_server *srv, const struct usbip_pdu *pdu);
	void (*ret_fill)(struct usbip_server *srv, struct usbip_server_urb *su,
			 struct usbip_pdu *pdu);
	void (*urb_free)(struct usbip_server *srv, struct usbip_server_urb *su);
	int (*attach)(struct usbip_server *srv);
	void (*attached)(struct usbip_server *srv);
	void (*shutdown)(struct usbip_server *srv);
	void (*reset)(struct usbip_server *srv);
};

/**
 * struct usbip_server - the server side of one exported device
 * @conn: its connection (rx/tx threads are the core's)
 * @ops: the driver's ops
 * @dev: the device named in log lines; its drvdata is not used
 * @lock: the driver's irq-safe spinlock for its requests (see above)
 * @limits: the module's budget parameters
 * @devid: with USBIP_SERVER_CHECK_DEVID, what commands must carry
 * @status: SDEV_ST_*; written under @conn's lock, read locklessly
 * @dbg_rx: USBIP_DBG_* category of the per-command debug lines
 * @dbg_tx: USBIP_DBG_* category of the per-answer debug lines
 * @in_flight: requests the driver has in flight, by seqnum (@lock)
 * @tx_urbs: finished requests waiting for the tx thread (@lock)
 * @tx_unlinks: RET_UNLINK answers of the server's own (@lock)
 * @tx_wq: the tx thread waits here
 * @budget: what the connection holds: every request from its CMD_SUBMIT
 *	until its answer is sent, every RET_UNLINK of our own until sent
 * @session: the connection has a session (SESSION agreed); set under the
 *	connection's lock before its threads start
 * @token: the session's token (@lock)
 * @token_next: the token a resume drew, if @token_next_set: until the
 *	client's EXT_RESUME proves it has the new one, a resume is accepted
 *	with either (@lock)
 * @token_next_set: see @token_next
 * @journal_max: bound of @journal_bytes
 * @journal: answers sent and not yet acknowledged (@lock)
 * @journal_bytes: what they hold (@lock)
 * @journal_n: how many there are (@lock)
 * @resend: next journal entry to send again after a resume, or NULL (@lock)
 * @ans_total: answer counter after the last answer journaled (@lock)
 * @ans_sent: answer counter after the last one sent completely on this
 *	connection (@lock)
 * @ans_acked: the client's last acknowledgement (@lock)
 * @ans_lost: end of the last answer dropped from the full journal (@lock)
 * @lost: answers were dropped: the session can be resumed only once
 *	@ans_acked has reached @ans_lost (@lock)
 * @cmds: commands received (rx thread)
 * @resuming: a resumed connection waits for the client's EXT_RESUME; the
 *	tx thread sends nothing meanwhile (@lock)
 * @resume_rep: the EXT_RESUME_REP to send first, if @resume_rep_due (@lock)
 * @resume_rep_due: see @resume_rep
 * @pong: an EXT_ACK_REP is to be sent (@lock)
 */
struct usbip_server {
	struct usbip_conn conn;
	const struct usbip_server_ops *ops;
	struct device *dev;
	spinlock_t *lock;
	const struct usbip_server_limits *limits;
	u32 devid;
	int status;
	unsigned long dbg_rx;
	unsigned long dbg_tx;

	struct rb_root in_flight;
	struct list_head tx_urbs;
	struct list_head tx_unlinks;
	wait_queue_head_t tx_wq;
	struct usbip_budget budget;

	bool session;
	u8 token[USBIP_EXT_TOKEN_SIZE];
	u8 token_next[USBIP_EXT_TOKEN_SIZE];
	bool token_next_set;
	u32 journal_max;
	struct list_head journal;
	u64 journal_bytes;
	unsigned int journal_n;
	struct usbip_server_jnode *resend;
	u32 ans_total;
	u32 ans_sent;
	u32 ans_acked;
	u32 ans_lost;
	bool lost;
	u32 cmds;
	bool resuming;
	struct usbip_pdu resume_rep;
	bool resume_rep_due;
	bool pong;
};

static inline struct usbip_server *usbip_conn_to_server(struct usbip_conn *conn)
{
	return container_of(conn, struct usbip_server, conn);
}

void usbip_server_init(struct usbip_server *srv, const char *name, struct device *dev,
		       const struct usbip_server_ops *ops, struct mutex *conn_lock,
		       spinlock_t *lock, const struct usbip_server_limits *limits);
void usbip_server_urb_init(struct usbip_server_urb *su, const struct usbip_server_cmd *cmd);
void usbip_server_urb_release(struct usbip_server *srv, struct usbip_server_urb *su);
void usbip_server_urb_done_locked(struct usbip_server *srv, struct usbip_server_urb *su);
void usbip_server_urb_done(struct usbip_server *srv, struct usbip_server_urb *su);
struct usbip_server_urb *usbip_server_in_flight_find(struct usbip_server *srv, u32 seqnum);
bool usbip_server_in_flight_add(struct usbip_server *srv, struct usbip_server_urb *su);
void usbip_server_in_flight_del(struct usbip_server *srv, struct usbip_server_urb *su);
unsigned int usbip_server_tx_drop(struct usbip_server *srv);
ssize_t usbip_server_sockfd_store(struct usbip_server *srv, const char *buf, size_t count);
ssize_t usbip_server_status_show(struct usbip_server *srv, char *buf);
ssize_t usbip_server_session_show(struct usbip_server *srv, char *buf);

#endif /* USBIP_SERVER_H */
