// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * usbip-core: the server side of a connection, for usbip-host and
 * usbip-vudc (see usbip_server.h).
 *
 * Receive thread.  Each command is checked before anything is allocated
 * for it: the header (usbip_recv_pdu()), the devid, the seqnum against
 * the requests in flight, the endpoint (the driver's ->ep_find), the
 * control direction against the setup packet and the iso packets against
 * the endpoint type (usbip_proto.c).  Then the command is charged to the
 * connection's budget, waiting without reading the socket while there is
 * no room (backpressure), and only then does the driver allocate.  Any
 * malformed input ends the connection with one error line.
 *
 * Transmit thread.  Finished requests are answered in the order they were
 * queued, before the RET_UNLINK answers of the server's own: a request a
 * CMD_UNLINK took back gets a RET_UNLINK -ECONNRESET alone, one that
 * finished although an unlink was asked for gets its RET_SUBMIT and then
 * a RET_UNLINK 0.  A request gives back its charge when its answer has
 * been sent (or dropped at shutdown).
 */
#define pr_fmt(fmt) "usbip-core: " fmt

#include <crypto/algapi.h>
#include <linux/device.h>
#include <linux/kernel.h>
#include <linux/kthread.h>
#include <linux/net.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/bsearch.h>
#include <linux/sort.h>
#include <linux/sysfs.h>

#include "usbip_server.h"

/**
 * struct usbip_server_unlink - a RET_UNLINK 0 of the server's own
 * @list: in usbip_server.tx_unlinks
 * @seqnum: of the CMD_UNLINK it answers
 * @devid: of that CMD_UNLINK, echoed
 * @jn: in the journal once sent, with a session
 */
struct usbip_server_unlink {
	struct list_head list;
	u32 seqnum;
	u32 devid;
	struct usbip_server_jnode jn;
};

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

/**
 * usbip_server_urb_init() - fill the common part of a new request
 * @su: the request, zeroed
 * @cmd: its checked CMD_SUBMIT
 *
 * Called by the driver's ->urb_alloc.  The buffer (@su->buf) is the
 * driver's to set.
 */
void usbip_server_urb_init(struct usbip_server_urb *su, const struct usbip_server_cmd *cmd)
{
	const struct usbip_pdu *pdu = cmd->pdu;

	INIT_LIST_HEAD(&su->list);
	usbip_seq_node_init(&su->seq, pdu->seqnum);
	su->devid = pdu->devid;
	su->ep = pdu->ep;
	su->wire_dir = pdu->direction;
	su->dir_in = cmd->dir_in;
	su->len = pdu->submit.transfer_buffer_length;
	su->n_iso = cmd->n_iso;
}
EXPORT_SYMBOL_GPL(usbip_server_urb_init);

/**
 * usbip_server_urb_release() - give back what a request holds in the core
 * @srv: the server
 * @su: the request, on no list
 *
 * Gives back its charge to the budget and frees its iso descriptors.
 * Called by the driver's ->urb_free.
 */
void usbip_server_urb_release(struct usbip_server *srv, struct usbip_server_urb *su)
{
	if (su->charged)
		usbip_budget_release(&srv->budget, 1, su->charged_bytes);
	su->charged = false;
	kfree(su->iso);
	su->iso = NULL;
}
EXPORT_SYMBOL_GPL(usbip_server_urb_release);

/**
 * usbip_server_urb_done_locked() - queue a finished request for its answer
 * @srv: the server
 * @su: the request, on no list and not in flight
 *
 * Also wakes the tx thread, under the lock: once the caller drops it, the
 * tx thread may answer and free @su, and the device may go away (an
 * unbind no longer waits for a request that is not in flight), so the
 * caller must touch neither after unlocking.
 *
 * Caller holds @srv->lock (any context).
 */
void usbip_server_urb_done_locked(struct usbip_server *srv, struct usbip_server_urb *su)
{
	lockdep_assert_held(srv->lock);
	list_add_tail(&su->list, &srv->tx_urbs);
	wake_up(&srv->tx_wq);
}
EXPORT_SYMBOL_GPL(usbip_server_urb_done_locked);

/**
 * usbip_server_urb_done() - hand a finished request to the tx thread
 * @srv: the server
 * @su: the request, on no list and not in flight
 *
 * Process context, @srv->lock not held.
 */
void usbip_server_urb_done(struct usbip_server *srv, struct usbip_server_urb *su)
{
	spin_lock_irq(srv->lock);
	usbip_server_urb_done_locked(srv, su);
	spin_unlock_irq(srv->lock);
}
EXPORT_SYMBOL_GPL(usbip_server_urb_done);

/**
 * usbip_server_in_flight_find() - the request in flight with a seqnum
 * @srv: the server
 * @seqnum: of its CMD_SUBMIT
 *
 * Return: the request, or NULL.  Caller holds @srv->lock.
 */
struct usbip_server_urb *usbip_server_in_flight_find(struct usbip_server *srv, u32 seqnum)
{
	struct usbip_seq_node *node;

	lockdep_assert_held(srv->lock);
	node = usbip_seq_find(&srv->in_flight, seqnum);
	return node ? container_of(node, struct usbip_server_urb, seq) : NULL;
}
EXPORT_SYMBOL_GPL(usbip_server_in_flight_find);

/**
 * usbip_server_in_flight_add() - enter a request in the in-flight index
 * @srv: the server
 * @su: a request in no index
 *
 * Return: false (and @su not entered) if its seqnum is in flight already.
 * Caller holds @srv->lock.
 */
bool usbip_server_in_flight_add(struct usbip_server *srv, struct usbip_server_urb *su)
{
	lockdep_assert_held(srv->lock);
	return usbip_seq_insert(&srv->in_flight, &su->seq);
}
EXPORT_SYMBOL_GPL(usbip_server_in_flight_add);

/**
 * usbip_server_in_flight_del() - take a request out of the in-flight index
 * @srv: the server
 * @su: a request, in the index or not
 *
 * Caller holds @srv->lock.
 */
void usbip_server_in_flight_del(struct usbip_server *srv, struct usbip_server_urb *su)
{
	lockdep_assert_held(srv->lock);
	usbip_seq_erase(&srv->in_flight, &su->seq);
}
EXPORT_SYMBOL_GPL(usbip_server_in_flight_del);

static void usbip_server_unlink_free(struct usbip_server *srv, struct usbip_server_unlink *ul)
{
	kfree(ul);
	usbip_budget_release(&srv->budget, 1, sizeof(*ul));
}

/* ------------------------------------------------------------------ */
/* Session: the journal                                                */
/* ------------------------------------------------------------------ */

static void usbip_server_jnode_free(struct usbip_server *srv, struct usbip_server_jnode *jn)
{
	if (jn->unlink)
		kfree(container_of(jn, struct usbip_server_unlink, jn));
	else
		srv->ops->urb_free(srv, container_of(jn, struct usbip_server_urb, jn));
}

/* Frees journal entries taken off the journal onto @list. */
static void usbip_server_journal_free(struct usbip_server *srv, struct list_head *list)
{
	struct usbip_server_jnode *jn, *tmp;

	list_for_each_entry_safe(jn, tmp, list, list) {
		list_del_init(&jn->list);
		usbip_server_jnode_free(srv, jn);
	}
}

/* Moves the entries the client counted (@count answers) to @out. */
static void usbip_server_journal_trim(struct usbip_server *srv, u32 count,
				      struct list_head *out)
{
	struct usbip_server_jnode *jn, *tmp;

	lockdep_assert_held(srv->lock);
	list_for_each_entry_safe(jn, tmp, &srv->journal, list) {
		if ((s32)(jn->end - count) > 0)
			break;
		list_move_tail(&jn->list, out);
		srv->journal_bytes -= jn->bytes;
		srv->journal_n--;
	}
}

/*
 * Journals an answer of @n messages about to be sent: from now on it
 * counts as sent (the client gets all of it or not, a resume tells).
 * Over the journal's bound the oldest entries go to @out, and the session
 * cannot be resumed until the client has acknowledged them.
 */
static void usbip_server_journal_add(struct usbip_server *srv, struct usbip_server_jnode *jn,
				     u8 n, u32 bytes, struct list_head *out)
{
	struct usbip_server_jnode *old;

	lockdep_assert_held(srv->lock);
	jn->n = n;
	jn->bytes = bytes;
	srv->ans_total += n;
	jn->end = srv->ans_total;
	list_add_tail(&jn->list, &srv->journal);
	srv->journal_bytes += bytes;
	srv->journal_n++;
	while (srv->journal_bytes > srv->journal_max ||
	       srv->journal_n > USBIP_SERVER_JOURNAL_ENTRIES) {
		old = list_first_entry(&srv->journal, struct usbip_server_jnode, list);
		if (old == jn)
			break;
		srv->ans_lost = old->end;
		srv->lost = true;
		list_move_tail(&old->list, out);
		srv->journal_bytes -= old->bytes;
		srv->journal_n--;
	}
}

/*
 * Moves to @out the entries both acknowledged and completely sent: an
 * acknowledgement may overtake the tx thread, which must not lose the
 * entry it is sending.
 */
static void usbip_server_journal_settle(struct usbip_server *srv, struct list_head *out)
{
	lockdep_assert_held(srv->lock);
	usbip_server_journal_trim(srv, (s32)(srv->ans_acked - srv->ans_sent) < 0 ?
				  srv->ans_acked : srv->ans_sent, out);
}

/* Can a session be resumed: the client has every answer the journal lost. */
static bool usbip_server_resumable(struct usbip_server *srv)
{
	lockdep_assert_held(srv->lock);
	return srv->session && (!srv->lost || (s32)(srv->ans_acked - srv->ans_lost) >= 0);
}

/* Forgets the token a resume drew (see @token_next). */
static void usbip_server_token_next_clear(struct usbip_server *srv)
{
	lockdep_assert_held(srv->lock);
	memzero_explicit(srv->token_next, sizeof(srv->token_next));
	srv->token_next_set = false;
}

/* The client proved it has @token_next: it becomes the only token. */
static void usbip_server_token_next_take(struct usbip_server *srv)
{
	lockdep_assert_held(srv->lock);
	memcpy(srv->token, srv->token_next, sizeof(srv->token));
	usbip_server_token_next_clear(srv);
}

/* Ends the session state of a connection that closed; lock of conn held. */
static void usbip_server_session_end(struct usbip_server *srv)
{
	LIST_HEAD(list);

	spin_lock_irq(srv->lock);
	list_splice_init(&srv->journal, &list);
	srv->journal_bytes = 0;
	srv->journal_n = 0;
	srv->session = false;
	srv->resend = NULL;
	srv->resuming = false;
	srv->resume_rep_due = false;
	srv->pong = false;
	memzero_explicit(srv->token, sizeof(srv->token));
	usbip_server_token_next_clear(srv);
	spin_unlock_irq(srv->lock);
	usbip_server_journal_free(srv, &list);
}

/**
 * usbip_server_tx_drop() - drop every answer not yet sent
 * @srv: the server; its rx and tx threads are stopped
 *
 * Frees the finished requests (with ->urb_free) and the RET_UNLINK
 * answers of the server's own, giving back their charges, and the
 * journal of a session, which ends.  For the driver's ->shutdown.
 *
 * Return: the number of requests freed.
 */
unsigned int usbip_server_tx_drop(struct usbip_server *srv)
{
	struct usbip_server_unlink *ul, *ul_tmp;
	struct usbip_server_urb *su, *tmp;
	LIST_HEAD(urbs);
	LIST_HEAD(unlinks);
	unsigned int n = 0;

	spin_lock_irq(srv->lock);
	list_splice_init(&srv->tx_urbs, &urbs);
	list_splice_init(&srv->tx_unlinks, &unlinks);
	spin_unlock_irq(srv->lock);

	list_for_each_entry_safe(su, tmp, &urbs, list) {
		list_del_init(&su->list);
		srv->ops->urb_free(srv, su);
		n++;
	}
	list_for_each_entry_safe(ul, ul_tmp, &unlinks, list) {
		list_del(&ul->list);
		usbip_server_unlink_free(srv, ul);
	}
	usbip_server_session_end(srv);
	return n;
}
EXPORT_SYMBOL_GPL(usbip_server_tx_drop);

/* ------------------------------------------------------------------ */
/* Receive thread: failure paths                                       */
/* ------------------------------------------------------------------ */

/* A protocol error: one line in the log, then the connection is dropped. */
static int usbip_server_rx_fail(struct usbip_server *srv, const struct usbip_pdu *pdu,
				int err, const char *reason)
{
	dev_err_ratelimited(srv->dev, "%s seqnum %u: %s; closing the connection\n",
			    usbip_cmd_name(pdu->command), pdu->seqnum, reason);
	usbip_conn_event(&srv->conn, USBIP_EV_ERROR | USBIP_EV_QUIET, err, reason);
	return err;
}

/*
 * The link failed under a session: suspend it if it can be resumed, else
 * end it as any failed connection.
 */
static void usbip_server_link_lost(struct usbip_server *srv, int err, const char *reason)
{
	bool ok;

	spin_lock_irq(srv->lock);
	ok = usbip_server_resumable(srv);
	spin_unlock_irq(srv->lock);
	if (ok) {
		usbip_conn_event(&srv->conn, USBIP_EV_LINK_ERROR | USBIP_EV_QUIET, err, reason);
		return;
	}
	dev_err_ratelimited(srv->dev,
			    "%s (%d); the journal lost answers the client lacks, so the session ends\n",
			    reason, err);
	usbip_conn_event(&srv->conn, USBIP_EV_ERROR | USBIP_EV_QUIET, err, reason);
}

/* A receive error: a closed connection is quiet, anything else is not. */
static int usbip_server_rx_sock_err(struct usbip_server *srv, const struct usbip_pdu *pdu,
				    int err, const char *what)
{
	if (kthread_should_stop())
		return err;
	/*
	 * An incident is being handled already: the event worker shuts the
	 * socket down before it stops this thread, and the end of stream
	 * that wakes us is its doing, not the peer's.  Reported, it would
	 * end a session the incident is suspending.
	 */
	if (usbip_conn_state(&srv->conn) != USBIP_CONN_RUNNING)
		return err;
	if (READ_ONCE(srv->session) && usbip_sock_err_is_link(err, false)) {
		usbip_server_link_lost(srv, err, "receive failed");
		return err;
	}
	if ((err == -ECONNRESET || err == -ENETRESET) && !pdu) {
		usbip_conn_event(&srv->conn, USBIP_EV_DETACH, err, "peer closed the connection");
		return err;
	}
	if (err == -ECONNRESET || err == -ENETRESET)
		return usbip_server_rx_fail(srv, pdu, err, what);
	dev_err_ratelimited(srv->dev, "receive failed (%d); closing the connection\n", err);
	usbip_conn_event(&srv->conn, USBIP_EV_ERROR | USBIP_EV_QUIET, err, "receive failed");
	return err;
}

/*
 * Charges a command to the connection's budget, waiting (and not reading
 * the socket) while the connection holds its limit.  Return: 0, or the
 * error that ends the connection (already reported).
 */
static int usbip_server_rx_charge(struct usbip_server *srv, u32 urbs, u64 bytes)
{
	int ret = usbip_budget_charge(&srv->budget, srv->conn.sock, urbs, bytes);

	if (ret == -EINTR)
		return ret;	/* stopped */
	if (ret)
		return usbip_server_rx_sock_err(srv, NULL, ret, NULL);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Receive thread: CMD_SUBMIT                                          */
/* ------------------------------------------------------------------ */

/*
 * The checks of a CMD_SUBMIT that need no allocation: its endpoint, then
 * (usbip_cmd_submit_check()) the control direction against the setup
 * packet and the iso packets against the endpoint type.  Return: 0, or
 * -EPROTO with *@reason set.
 */
static int usbip_server_rx_check(struct usbip_server *srv, struct usbip_server_cmd *cmd,
				 const char **reason)
{
	const struct usbip_pdu *pdu = cmd->pdu;
	int ret;

	cmd->xfer = USBIP_XFER_ANY;
	ret = srv->ops->ep_find(srv, cmd, reason);
	if (ret)
		return ret;
	cmd->n_iso = usbip_pdu_packets(pdu);
	cmd->payload = usbip_cmd_payload_len(pdu);
	return usbip_cmd_submit_check(pdu, cmd->xfer, &cmd->dir_in, &cmd->stage, reason);
}

/* Receives the iso descriptors of a CMD_SUBMIT into @su->iso. */
static int usbip_server_rx_iso(struct usbip_server *srv, const struct usbip_pdu *pdu,
			       struct usbip_server_urb *su)
{
	const char *reason;
	int i, ret;

	su->iso = kcalloc(su->n_iso, sizeof(*su->iso), GFP_KERNEL);
	if (!su->iso)
		return usbip_server_rx_fail(srv, pdu, -ENOMEM, "out of memory");
	ret = usbip_recv_iso_descs(srv->conn.sock, su->iso, su->n_iso);
	if (ret)
		return usbip_server_rx_sock_err(srv, pdu, ret, "iso descriptors cut short");
	/*
	 * Frames inside the buffer is all the server needs: the device
	 * fills each frame where it lies and the sender gathers each from
	 * its offset, so frames out of order or overlapping (as a host
	 * controller takes them) harm nothing here.
	 */
	ret = usbip_iso_check(su->iso, su->n_iso, su->len, 0, 0, &reason);
	if (ret)
		return usbip_server_rx_fail(srv, pdu, ret, reason);
	/* what the peer put there means nothing: the device fills them */
	for (i = 0; i < su->n_iso; i++) {
		su->iso[i].actual_length = 0;
		su->iso[i].status = 0;
	}
	return 0;
}

/* Reads and drops @len bytes of the stream, without allocating. */
static int usbip_server_rx_discard(struct usbip_server *srv, u64 len)
{
	u8 scratch[256];
	size_t n;
	int ret;

	while (len) {
		n = min_t(u64, len, sizeof(scratch));
		ret = usbip_recv_data(srv->conn.sock, scratch, n);
		if (ret)
			return ret;
		len -= n;
	}
	return 0;
}

/*
 * No memory for the transfer buffer of a well-formed CMD_SUBMIT: the
 * stream stays in step (the payload and iso descriptors are read and
 * dropped) and the request is answered with -ENOMEM, so the client's URB
 * fails instead of the whole connection.  @su has no buffer.
 */
static int usbip_server_rx_nomem(struct usbip_server *srv, const struct usbip_server_cmd *cmd,
				 struct usbip_server_urb *su)
{
	u64 skip = cmd->payload + (u64)cmd->n_iso * USBIP_ISO_DESC_SIZE;
	int ret;

	dev_warn_ratelimited(srv->dev,
			     "CMD_SUBMIT seqnum %u: no memory for %u bytes; answering -ENOMEM\n",
			     cmd->pdu->seqnum, su->len);
	ret = usbip_server_rx_discard(srv, skip);
	if (ret) {
		srv->ops->urb_free(srv, su);
		return usbip_server_rx_sock_err(srv, cmd->pdu, ret, "OUT payload cut short");
	}
	usbip_buf_linear(&su->buf, NULL, 0);
	su->len = 0;
	su->n_iso = 0;
	su->status = -ENOMEM;
	usbip_server_urb_done(srv, su);
	return 0;
}

/*
 * The payload of a request the driver took early (->submit_early): it is
 * received piece by piece, and the driver gets each piece as it comes in.
 * The request is the driver's: if the receive fails, the connection is
 * shut down and the driver's ->shutdown frees it once this thread has
 * stopped.
 */
static int usbip_server_rx_pieces(struct usbip_server *srv, const struct usbip_pdu *pdu,
				  struct usbip_server_urb *su, u32 payload)
{
	u32 off, n;
	int ret;

	for (off = 0; off < payload; off += n) {
		n = min(payload - off, USBIP_SERVER_RX_PIECE);
		ret = usbip_recv_buf(srv->conn.sock, &su->buf, off, n);
		if (ret)
			return usbip_server_rx_sock_err(srv, pdu, ret, "OUT payload cut short");
		spin_lock_irq(srv->lock);
		srv->ops->received(srv, su, off + n);
		spin_unlock_irq(srv->lock);
	}
	return 0;
}

/* Receives the OUT payload and the iso descriptors of @su. */
static int usbip_server_rx_data(struct usbip_server *srv, const struct usbip_server_cmd *cmd,
				struct usbip_server_urb *su)
{
	int ret;

	if (cmd->payload) {
		ret = usbip_recv_buf(srv->conn.sock, &su->buf, 0, cmd->payload);
		if (ret)
			return usbip_server_rx_sock_err(srv, cmd->pdu, ret,
							"OUT payload cut short");
	}
	if (cmd->n_iso)
		return usbip_server_rx_iso(srv, cmd->pdu, su);
	return 0;
}

static int usbip_server_rx_submit(struct usbip_server *srv, const struct usbip_pdu *pdu)
{
	const struct usbip_server_ops *ops = srv->ops;
	struct usbip_server_cmd cmd = { .pdu = pdu };
	struct usbip_server_urb *su = NULL;
	const char *reason = NULL;
	u64 charge;
	bool dup;
	int ret;

	if ((ops->flags & USBIP_SERVER_CHECK_DEVID) && pdu->devid != srv->devid)
		return usbip_server_rx_fail(srv, pdu, -EPROTO, "devid is not the exported device");

	spin_lock_irq(srv->lock);
	dup = usbip_server_in_flight_find(srv, pdu->seqnum);
	spin_unlock_irq(srv->lock);
	if (dup)
		return usbip_server_rx_fail(srv, pdu, -EPROTO, "seqnum of an URB still in flight");

	ret = usbip_server_rx_check(srv, &cmd, &reason);
	if (ret)
		return usbip_server_rx_fail(srv, pdu, ret, reason);

	/* from here until its answer is sent, the request holds budget */
	charge = usbip_submit_charge(pdu->submit.transfer_buffer_length, cmd.n_iso);
	ret = usbip_server_rx_charge(srv, 1, charge);
	if (ret)
		return ret;
	ret = ops->urb_alloc(srv, &cmd, &su, &reason);
	if (ret) {
		usbip_budget_release(&srv->budget, 1, charge);
		return usbip_server_rx_fail(srv, pdu, ret, reason);
	}
	su->charged = true;
	su->charged_bytes = charge;
	if (su->nomem)
		return usbip_server_rx_nomem(srv, &cmd, su);

	/*
	 * Not with a session: a payload cut short by a failed link would
	 * have reached the device in part, and the command is sent again.
	 */
	if (ops->submit_early && !srv->session && !cmd.n_iso &&
	    cmd.payload > USBIP_SERVER_RX_PIECE) {
		ret = ops->submit_early(srv, su, &reason);
		if (ret > 0)
			return usbip_server_rx_pieces(srv, pdu, su, cmd.payload);
		if (ret < 0)
			goto err_fail;
	}
	ret = usbip_server_rx_data(srv, &cmd, su);
	if (ret)
		goto err_free;
	ret = ops->submit(srv, su, &cmd, &reason);
	if (ret)
		goto err_fail;
	return 0;

err_fail:
	if (reason)
		usbip_server_rx_fail(srv, pdu, ret, reason);
err_free:
	ops->urb_free(srv, su);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Receive thread: CMD_UNLINK and the loop                             */
/* ------------------------------------------------------------------ */

static int usbip_server_rx_unlink(struct usbip_server *srv, const struct usbip_pdu *pdu)
{
	struct usbip_server_unlink *ul;
	bool taken;
	int ret;

	if ((srv->ops->flags & USBIP_SERVER_CHECK_DEVID) && pdu->devid != srv->devid)
		return usbip_server_rx_fail(srv, pdu, -EPROTO, "devid is not the exported device");

	/*
	 * A request in flight is answered under its own charge: the unlink
	 * has to get through while the budget is full of requests that never
	 * complete, or nothing could ever free them.
	 */
	taken = srv->ops->unlink(srv, pdu);
	if (!taken) {
		/*
		 * Done, unknown or already being unlinked: a RET_UNLINK 0 of
		 * our own, charged until it is sent, so a flood of these whose
		 * answers are not read stops being read.  Only this thread
		 * adds requests, so none with the target's seqnum appears
		 * while it waits.
		 */
		ret = usbip_server_rx_charge(srv, 1, sizeof(*ul));
		if (ret)
			return ret;
		ul = kzalloc(sizeof(*ul), GFP_KERNEL);
		if (!ul) {
			usbip_budget_release(&srv->budget, 1, sizeof(*ul));
			return usbip_server_rx_fail(srv, pdu, -ENOMEM, "out of memory");
		}
		ul->seqnum = pdu->seqnum;
		ul->devid = pdu->devid;
		spin_lock_irq(srv->lock);
		list_add_tail(&ul->list, &srv->tx_unlinks);
		spin_unlock_irq(srv->lock);
	}
	/* logged before this wake (a driver's unlink may have woken it already) */
	usbip_dev_dbg(srv->dbg_rx, srv->dev, "unlink seqnum %u -> %u: %s\n", pdu->seqnum,
		      pdu->unlink.seqnum, taken ? "in flight" : "not in flight");
	wake_up(&srv->tx_wq);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Receive thread: session messages                                    */
/* ------------------------------------------------------------------ */

/* EXT_ACK: the client has @pdu->seqnum answers; drop them from the journal. */
static int usbip_server_rx_ack(struct usbip_server *srv, const struct usbip_pdu *pdu)
{
	bool ping = pdu->ext.arg & USBIP_EXT_ACK_PING;
	const char *reason = NULL;
	LIST_HEAD(done);
	int ret;

	spin_lock_irq(srv->lock);
	ret = usbip_ext_count_check(srv->ans_acked, pdu->seqnum, srv->ans_total, &reason);
	if (!ret) {
		srv->ans_acked = pdu->seqnum;
		/* past the answers dropped: resumable again, for good */
		if (srv->lost && (s32)(srv->ans_acked - srv->ans_lost) >= 0)
			srv->lost = false;
		usbip_server_journal_settle(srv, &done);
		if (ping)
			srv->pong = true;
	}
	spin_unlock_irq(srv->lock);
	if (ret)
		return usbip_server_rx_fail(srv, pdu, ret, reason);
	usbip_server_journal_free(srv, &done);
	if (ping)
		wake_up(&srv->tx_wq);
	return 0;
}

static int usbip_server_u32_cmp(const void *a, const void *b)
{
	u32 x = *(const u32 *)a, y = *(const u32 *)b;

	return x < y ? -1 : x > y;
}

static bool usbip_server_listed(const u32 *seqs, u32 n, u32 seqnum)
{
	return bsearch(&seqnum, seqs, n, sizeof(*seqs), usbip_server_u32_cmp);
}

/* A request the client must still be waiting for: is it in its list? */
static bool usbip_server_urb_listed(struct usbip_server_urb *su, const u32 *seqs, u32 n)
{
	if (usbip_server_listed(seqs, n, su->seq.seqnum))
		return true;
	return (su->unlinking || su->unlinked) &&
	       usbip_server_listed(seqs, n, su->unlink_seqnum);
}

/*
 * Every request the client has no answer for (in flight, answered but not
 * sent, or answered after @count) must be in its sorted list @seqs: a
 * client that forgot one cannot be trusted with the session.
 */
static int usbip_server_resume_check(struct usbip_server *srv, u32 count, const u32 *seqs,
				     u32 n, const char **reason)
{
	struct usbip_server_unlink *ul;
	struct usbip_server_jnode *jn;
	struct usbip_server_urb *su;
	struct rb_node *node;

	lockdep_assert_held(srv->lock);
	for (node = rb_first(&srv->in_flight); node; node = rb_next(node)) {
		su = container_of(node, struct usbip_server_urb, seq.rb);
		if (!usbip_server_urb_listed(su, seqs, n))
			goto err_missing;
	}
	list_for_each_entry(su, &srv->tx_urbs, list)
		if (!usbip_server_urb_listed(su, seqs, n))
			goto err_missing;
	list_for_each_entry(ul, &srv->tx_unlinks, list)
		if (!usbip_server_listed(seqs, n, ul->seqnum))
			goto err_missing;
	list_for_each_entry(jn, &srv->journal, list) {
		if ((s32)(jn->end - count) <= 0)
			continue;
		if (jn->unlink) {
			ul = container_of(jn, struct usbip_server_unlink, jn);
			if (!usbip_server_listed(seqs, n, ul->seqnum))
				goto err_missing;
		} else if (!usbip_server_urb_listed(container_of(jn, struct usbip_server_urb, jn),
						    seqs, n)) {
			goto err_missing;
		}
	}
	return 0;

err_missing:
	*reason = "EXT_RESUME does not list a request still unanswered";
	return -EPROTO;
}

/*
 * The first message of a resumed connection: the client's EXT_RESUME.
 * Checks it, drops from the journal what the client has, and lets the tx
 * thread answer EXT_RESUME_REP and send the rest again.  Any mismatch
 * ends the session.
 */
static int usbip_server_rx_resume(struct usbip_server *srv)
{
	const char *reason = NULL;
	struct usbip_pdu pdu;
	LIST_HEAD(done);
	u32 *seqs = NULL;
	u32 i, n = 0, n_again = 0;
	int ret;

	/*
	 * A resumer that proved the token but never speaks holds the device
	 * no longer than a client that never came back would: each read
	 * waits a window at most.
	 */
	usbip_sock_rcvtimeo_set(srv->conn.sock, msecs_to_jiffies(srv->conn.resume_window));
	ret = usbip_recv_pdu(srv->conn.sock, &pdu, &reason);
	if (!ret && pdu.command == USBIP_EXT_RESUME && pdu.ext.arg) {
		/* usbip_pdu_check() bounds them (USBIP_EXT_RESUME_MAX, 16 KiB) */
		n = pdu.ext.arg;
		seqs = kvmalloc_array(n, sizeof(*seqs), GFP_KERNEL);
		if (seqs)
			ret = usbip_recv_data(srv->conn.sock, seqs, n * sizeof(*seqs));
	}
	usbip_sock_rcvtimeo_set(srv->conn.sock, 0);
	if (ret == -EPROTO)
		return usbip_server_rx_fail(srv, &pdu, ret, reason);
	if (n && !seqs)
		return usbip_server_rx_fail(srv, &pdu, -ENOMEM, "out of memory");
	if (ret == -EAGAIN)
		ret = -ETIMEDOUT;
	/*
	 * End of stream, even after a FIN, is no detach here: the client's
	 * tools close a connection they could not hand to their driver (the
	 * link failed again during the handshake) and try again.
	 */
	if (ret == -ECONNRESET)
		ret = -ENETRESET;
	if (ret) {
		kvfree(seqs);
		return usbip_server_rx_sock_err(srv, n ? &pdu : NULL, ret,
						n ? "EXT_RESUME cut short" : NULL);
	}
	if (pdu.command != USBIP_EXT_RESUME)
		return usbip_server_rx_fail(srv, &pdu, -EPROTO,
					    "resumed connection does not start with EXT_RESUME");
	/*
	 * The client lists every command it sent without an answer: in
	 * flight here, answered and not received, or still in the socket,
	 * unread while the budget was full.
	 */
	for (i = 0; i < n; i++)
		seqs[i] = be32_to_cpu((__force __be32)seqs[i]);
	if (n)
		sort(seqs, n, sizeof(*seqs), usbip_server_u32_cmp, NULL);

	spin_lock_irq(srv->lock);
	ret = usbip_ext_count_check(srv->ans_acked, pdu.seqnum, srv->ans_total, &reason);
	if (!ret)
		ret = usbip_server_resume_check(srv, pdu.seqnum, seqs, n, &reason);
	if (!ret) {
		usbip_server_journal_trim(srv, pdu.seqnum, &done);
		srv->ans_acked = pdu.seqnum;
		srv->ans_sent = pdu.seqnum;
		srv->resend = list_first_entry_or_null(&srv->journal, struct usbip_server_jnode,
						       list);
		memset(&srv->resume_rep, 0, sizeof(srv->resume_rep));
		srv->resume_rep.command = USBIP_EXT_RESUME_REP;
		srv->resume_rep.seqnum = srv->cmds;
		n_again = srv->ans_total - pdu.seqnum;
		srv->resume_rep.ext.arg = n_again;
		srv->resume_rep_due = true;
		srv->resuming = false;
		/* the client's driver speaks: its tools have the new token */
		if (srv->token_next_set)
			usbip_server_token_next_take(srv);
	}
	spin_unlock_irq(srv->lock);
	kvfree(seqs);
	if (ret)
		return usbip_server_rx_fail(srv, &pdu, ret, reason);
	usbip_server_journal_free(srv, &done);
	dev_info(srv->dev, "session resumed: the client had %u answers; %u sent again\n",
		 pdu.seqnum, n_again);
	wake_up(&srv->tx_wq);
	return 0;
}

/* Body of the receive thread; see struct usbip_conn_ops. */
static int usbip_server_rx_loop(struct usbip_conn *conn)
{
	struct usbip_server *srv = usbip_conn_to_server(conn);
	unsigned int noio = memalloc_noio_save();
	const char *reason = NULL;
	struct usbip_pdu pdu;
	bool resuming;
	int ret = 0;

	spin_lock_irq(srv->lock);
	resuming = srv->resuming;
	spin_unlock_irq(srv->lock);
	if (resuming) {
		ret = usbip_server_rx_resume(srv);
		if (ret)
			goto out;
	}

	while (!kthread_should_stop()) {
		ret = usbip_recv_pdu(conn->sock, &pdu, &reason);
		if (ret == -EPROTO) {
			/* the header itself is bad: its fields mean nothing */
			dev_err_ratelimited(srv->dev,
					    "malformed header (%s); closing the connection\n",
					    reason);
			usbip_conn_event(conn, USBIP_EV_ERROR | USBIP_EV_QUIET, ret, reason);
			break;
		}
		if (ret) {
			usbip_server_rx_sock_err(srv, NULL, ret, NULL);
			break;
		}

		switch (pdu.command) {
		case USBIP_CMD_SUBMIT:
			ret = usbip_server_rx_submit(srv, &pdu);
			if (!ret)
				WRITE_ONCE(srv->cmds, srv->cmds + 1);
			break;
		case USBIP_CMD_UNLINK:
			ret = usbip_server_rx_unlink(srv, &pdu);
			if (!ret)
				WRITE_ONCE(srv->cmds, srv->cmds + 1);
			break;
		case USBIP_EXT_ACK:
			if (srv->session) {
				ret = usbip_server_rx_ack(srv, &pdu);
				break;
			}
			fallthrough;
		default:
			ret = usbip_server_rx_fail(srv, &pdu, -EPROTO,
						   usbip_pdu_is_ext(pdu.command) ?
						   "session message not expected here" :
						   "reply command sent to the server");
			break;
		}
		if (ret)
			break;
	}
out:
	memalloc_noio_restore(noio);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Transmit thread                                                     */
/* ------------------------------------------------------------------ */

static int usbip_server_send_unlink(struct usbip_server *srv, u32 seqnum, u32 devid,
				    int status)
{
	struct usbip_pdu pdu = {
		.command = USBIP_RET_UNLINK,
		.seqnum = seqnum,
		.devid = devid,
		.ret_unlink.status = status,
	};

	return usbip_send_msg(srv->conn.sock, &pdu, NULL, 0, NULL, 0, 0);
}

/*
 * Sends the answer of @su: RET_SUBMIT, then RET_UNLINK 0 if an unlink was
 * asked for too late; or RET_UNLINK -ECONNRESET alone.  @skip: messages
 * of it the client already has (a resume).
 */
static int usbip_server_send_urb(struct usbip_server *srv, struct usbip_server_urb *su,
				 unsigned int skip)
{
	struct usbip_pdu pdu = {
		.command = USBIP_RET_SUBMIT,
		.seqnum = su->seq.seqnum,
		.devid = su->devid,
		.direction = su->wire_dir,
		.ep = su->ep,
	};
	u32 actual = min(su->actual, su->len);
	unsigned int flags = 0;
	u32 len = 0;
	int i, ret;

	if (su->unlinked)
		return usbip_server_send_unlink(srv, su->unlink_seqnum, su->devid, -ECONNRESET);
	if (skip)
		goto unlinking;

	if (srv->ops->ret_fill)
		srv->ops->ret_fill(srv, su, &pdu);
	if (su->n_iso) {
		actual = 0;
		for (i = 0; i < su->n_iso; i++)
			actual += su->iso[i].actual_length;
		pdu.ret_submit.number_of_packets = su->n_iso;
		if (su->dir_in) {
			flags |= USBIP_SEND_ISO_PACKED;
			len = actual;
		}
	} else if (su->dir_in) {
		len = actual;
	}
	pdu.ret_submit.status = su->status;
	pdu.ret_submit.actual_length = actual;

	usbip_dev_dbg(srv->dbg_tx, srv->dev, "ret_submit seqnum %u status %d actual %u iso %d\n",
		      su->seq.seqnum, su->status, actual, su->n_iso);
	ret = usbip_send_msg(srv->conn.sock, &pdu, &su->buf, len, su->iso, su->n_iso, flags);
	if (ret)
		return ret;
unlinking:
	if (su->unlinking)
		ret = usbip_server_send_unlink(srv, su->unlink_seqnum, su->devid, 0);
	return ret;
}

/* Messages the answer of @su takes. */
static u8 usbip_server_urb_msgs(const struct usbip_server_urb *su)
{
	return su->unlinking && !su->unlinked ? 2 : 1;
}

/* A session message of the server (EXT_ACK_REP, EXT_RESUME_REP). */
static int usbip_server_send_ext(struct usbip_server *srv, u32 command, u32 count, u32 arg)
{
	struct usbip_pdu pdu = {
		.command = command,
		.seqnum = count,
		.ext.arg = arg,
	};

	usbip_dev_dbg(srv->dbg_tx, srv->dev, "%s count %u arg %u\n", usbip_cmd_name(command),
		      count, arg);
	return usbip_send_msg(srv->conn.sock, &pdu, NULL, 0, NULL, 0, 0);
}

/*
 * After a resume: sends the journal entry @srv->resend again (what the
 * client lacks of it) and moves on to the next.
 */
static int usbip_server_tx_resend(struct usbip_server *srv)
{
	struct usbip_server_jnode *jn;
	unsigned int skip;
	LIST_HEAD(done);
	int ret;

	spin_lock_irq(srv->lock);
	jn = srv->resend;
	skip = srv->ans_sent - (jn->end - jn->n);
	spin_unlock_irq(srv->lock);

	/* it stays in the journal until sent (usbip_server_journal_settle()) */
	if (jn->unlink) {
		struct usbip_server_unlink *ul = container_of(jn, struct usbip_server_unlink, jn);

		ret = usbip_server_send_unlink(srv, ul->seqnum, ul->devid, 0);
	} else {
		ret = usbip_server_send_urb(srv, container_of(jn, struct usbip_server_urb, jn),
					    skip);
	}
	if (ret)
		return ret;

	spin_lock_irq(srv->lock);
	srv->ans_sent = jn->end;
	srv->resend = list_is_last(&jn->list, &srv->journal) ? NULL :
		      list_next_entry(jn, list);
	usbip_server_journal_settle(srv, &done);
	spin_unlock_irq(srv->lock);
	usbip_server_journal_free(srv, &done);
	return 0;
}

/*
 * With a session: journals the answer of @su or @ul (one of them) and
 * sends it.  Its charge goes back now; the journal holds it until the
 * client acknowledges it.
 */
static int usbip_server_tx_journaled(struct usbip_server *srv, struct usbip_server_urb *su,
				     struct usbip_server_unlink *ul)
{
	struct usbip_server_jnode *jn;
	LIST_HEAD(dropped);
	int ret;

	spin_lock_irq(srv->lock);
	if (su) {
		jn = &su->jn;
		jn->unlink = false;
		usbip_server_journal_add(srv, jn, usbip_server_urb_msgs(su),
					 USBIP_SERVER_JNODE_COST + su->charged_bytes, &dropped);
	} else {
		jn = &ul->jn;
		jn->unlink = true;
		usbip_server_journal_add(srv, jn, 1, USBIP_SERVER_JNODE_COST + sizeof(*ul),
					 &dropped);
	}
	spin_unlock_irq(srv->lock);

	if (su) {
		if (su->charged)
			usbip_budget_release(&srv->budget, 1, su->charged_bytes);
		su->charged = false;
		ret = usbip_server_send_urb(srv, su, 0);
	} else {
		usbip_budget_release(&srv->budget, 1, sizeof(*ul));
		ret = usbip_server_send_unlink(srv, ul->seqnum, ul->devid, 0);
	}
	usbip_server_journal_free(srv, &dropped);
	if (ret)
		return ret;	/* stays in the journal, for a resume */

	spin_lock_irq(srv->lock);
	srv->ans_sent = jn->end;
	usbip_server_journal_settle(srv, &dropped);
	spin_unlock_irq(srv->lock);
	usbip_server_journal_free(srv, &dropped);
	return 0;
}

static bool usbip_server_tx_has_work(struct usbip_server *srv)
{
	bool work;

	spin_lock_irq(srv->lock);
	work = !srv->resuming &&
	       (srv->resume_rep_due || srv->pong || srv->resend ||
		!list_empty(&srv->tx_urbs) || !list_empty(&srv->tx_unlinks));
	spin_unlock_irq(srv->lock);
	return work;
}

/* One message (or answer) of the tx thread; see usbip_server_tx_loop(). */
static int usbip_server_tx_one(struct usbip_server *srv)
{
	struct usbip_server_unlink *ul = NULL;
	struct usbip_server_urb *su;
	u32 count;
	int ret;

	spin_lock_irq(srv->lock);
	if (srv->resume_rep_due) {
		struct usbip_pdu rep = srv->resume_rep;

		srv->resume_rep_due = false;
		spin_unlock_irq(srv->lock);
		return usbip_server_send_ext(srv, rep.command, rep.seqnum, rep.ext.arg);
	}
	if (srv->pong) {
		srv->pong = false;
		count = READ_ONCE(srv->cmds);
		spin_unlock_irq(srv->lock);
		return usbip_server_send_ext(srv, USBIP_EXT_ACK_REP, count, 0);
	}
	if (srv->resend) {
		spin_unlock_irq(srv->lock);
		return usbip_server_tx_resend(srv);
	}
	su = list_first_entry_or_null(&srv->tx_urbs, struct usbip_server_urb, list);
	if (su) {
		list_del_init(&su->list);
	} else {
		ul = list_first_entry_or_null(&srv->tx_unlinks, struct usbip_server_unlink, list);
		if (ul)
			list_del_init(&ul->list);
	}
	spin_unlock_irq(srv->lock);

	if (!su && !ul)
		return 0;
	if (srv->session)
		return usbip_server_tx_journaled(srv, su, ul);
	if (su) {
		ret = usbip_server_send_urb(srv, su, 0);
		srv->ops->urb_free(srv, su);
	} else {
		ret = usbip_server_send_unlink(srv, ul->seqnum, ul->devid, 0);
		usbip_server_unlink_free(srv, ul);
	}
	return ret;
}

/* Body of the transmit thread; see struct usbip_conn_ops. */
static int usbip_server_tx_loop(struct usbip_conn *conn)
{
	struct usbip_server *srv = usbip_conn_to_server(conn);
	unsigned int noio = memalloc_noio_save();
	int ret = 0;

	for (;;) {
		wait_event_interruptible(srv->tx_wq,
					 kthread_should_stop() || usbip_server_tx_has_work(srv));
		if (kthread_should_stop())
			break;
		ret = usbip_server_tx_one(srv);
		if (ret)
			break;
	}

	if (ret && !kthread_should_stop()) {
		if (srv->session && usbip_sock_err_is_link(ret, true) &&
		    !usbip_sock_peer_closed(conn->sock)) {
			usbip_server_link_lost(srv, ret, "send failed");
		} else if (ret == -EPIPE || ret == -ECONNRESET ||
			   usbip_sock_peer_closed(conn->sock)) {
			usbip_conn_event(conn, USBIP_EV_DETACH, ret, "peer closed the connection");
		} else {
			dev_err_ratelimited(srv->dev, "send failed (%d); closing the connection\n",
					    ret);
			usbip_conn_event(conn, USBIP_EV_ERROR | USBIP_EV_QUIET, ret, "send failed");
		}
	}
	memalloc_noio_restore(noio);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Connection ops and attach                                           */
/* ------------------------------------------------------------------ */

static void usbip_server_conn_shutdown(struct usbip_conn *conn)
{
	struct usbip_server *srv = usbip_conn_to_server(conn);

	lockdep_assert_held(conn->lock);
	srv->ops->shutdown(srv);
	usbip_server_session_end(srv);	/* done by usbip_server_tx_drop() already */
}

/*
 * The link of a session failed: the threads are stopped, the device's
 * requests keep running and their answers wait in tx_urbs; what was sent
 * stays in the journal.  A resume starts the threads again.
 */
static void usbip_server_conn_suspend(struct usbip_conn *conn)
{
	struct usbip_server *srv = usbip_conn_to_server(conn);

	lockdep_assert_held(conn->lock);
	spin_lock_irq(srv->lock);
	srv->resend = NULL;
	srv->resume_rep_due = false;
	srv->pong = false;
	spin_unlock_irq(srv->lock);
}

static void usbip_server_conn_reset(struct usbip_conn *conn)
{
	struct usbip_server *srv = usbip_conn_to_server(conn);

	lockdep_assert_held(conn->lock);
	if (srv->ops->reset)
		srv->ops->reset(srv);
	WRITE_ONCE(srv->status, SDEV_ST_AVAILABLE);
}

static void usbip_server_conn_unusable(struct usbip_conn *conn)
{
	struct usbip_server *srv = usbip_conn_to_server(conn);

	lockdep_assert_held(conn->lock);
	WRITE_ONCE(srv->status, SDEV_ST_ERROR);
}

static const struct usbip_conn_ops usbip_server_conn_ops = {
	.rx = usbip_server_rx_loop,
	.tx = usbip_server_tx_loop,
	.shutdown = usbip_server_conn_shutdown,
	.reset = usbip_server_conn_reset,
	.unusable = usbip_server_conn_unusable,
	.suspend = usbip_server_conn_suspend,
};

/**
 * usbip_server_init() - set up the server side of a device
 * @srv: the server, embedded in the driver's device structure
 * @name: for log lines and thread names (copied)
 * @dev: the device named in log lines
 * @ops: the driver's ops; must outlive @srv
 * @conn_lock: the driver's attach/detach mutex
 * @lock: the driver's irq-safe spinlock for its requests
 * @limits: the module's budget parameters (USBIP_SERVER_BUDGET_PARAMS())
 *
 * The device starts available (SDEV_ST_AVAILABLE) with no connection.
 */
void usbip_server_init(struct usbip_server *srv, const char *name, struct device *dev,
		       const struct usbip_server_ops *ops, struct mutex *conn_lock,
		       spinlock_t *lock, const struct usbip_server_limits *limits)
{
	srv->ops = ops;
	srv->dev = dev;
	srv->lock = lock;
	srv->limits = limits;
	srv->status = SDEV_ST_AVAILABLE;
	srv->in_flight = RB_ROOT;
	INIT_LIST_HEAD(&srv->tx_urbs);
	INIT_LIST_HEAD(&srv->tx_unlinks);
	INIT_LIST_HEAD(&srv->journal);
	init_waitqueue_head(&srv->tx_wq);
	usbip_budget_init(&srv->budget);
	usbip_conn_init(&srv->conn, name, &usbip_server_conn_ops, conn_lock);
}
EXPORT_SYMBOL_GPL(usbip_server_init);

/**
 * struct usbip_server_args - what was written to usbip_sockfd
 * @fd: the socket, or -1 to end the connection
 * @resume: "resume FD token=... new=..." rather than a new import
 * @w: the extension words: caps, token, window, heartbeat, journal for a
 *	new import; token and new for a resume
 */
struct usbip_server_args {
	int fd;
	bool resume;
	struct usbip_ext_words w;
};

/*
 * Parses "FD", "-1", "FD caps=HEX token=HEX32 window=MS heartbeat=MS
 * journal=BYTES" or "resume FD token=HEX32 new=HEX32" (in @line, which
 * is cut up) and checks the values' ranges.
 */
static int usbip_server_args_parse(char *line, struct usbip_server_args *a)
{
	const struct usbip_ext_words *w = &a->w;
	unsigned int allowed;
	char *word;
	int ret;

	memset(a, 0, sizeof(*a));
	line = skip_spaces(line);
	word = strsep(&line, " \t\n");
	if (!strcmp(word, "resume")) {
		a->resume = true;
		if (!line)
			return -EINVAL;
		line = skip_spaces(line);
		word = strsep(&line, " \t\n");
	}
	ret = kstrtoint(word, 10, &a->fd);
	if (ret)
		return ret;
	allowed = a->resume ? USBIP_EXT_W_TOKEN | USBIP_EXT_W_NEW :
		  USBIP_EXT_W_CAPS | USBIP_EXT_W_TOKEN | USBIP_EXT_W_WINDOW |
		  USBIP_EXT_W_HEARTBEAT | USBIP_EXT_W_JOURNAL;
	if (line) {
		ret = usbip_ext_words_parse(line, allowed, &a->w, NULL);
		if (ret)
			return ret;
	}

	if (a->resume)	/* a resume always draws a new token */
		return a->fd >= 0 && (w->have & USBIP_EXT_W_TOKEN) &&
		       (w->have & USBIP_EXT_W_NEW) ? 0 : -EINVAL;
	if (a->fd < -1 || (a->fd == -1 && w->have))
		return -EINVAL;
	if (w->caps & ~USBIP_SERVER_EXT_CAPS)
		return -EOPNOTSUPP;
	if (!(w->caps & USBIP_EXT_CAP_SESSION))
		return w->have & ~USBIP_EXT_W_CAPS ? -EINVAL : 0;
	if (!(w->have & USBIP_EXT_W_JOURNAL))
		a->w.journal = 4U << 20;
	if (!(w->have & USBIP_EXT_W_TOKEN) || !w->window ||
	    w->window > USBIP_EXT_WINDOW_MAX_MS || w->journal < USBIP_EXT_JOURNAL_MIN ||
	    w->journal > USBIP_EXT_JOURNAL_MAX)
		return -EINVAL;
	return 0;
}

/* Takes the connection's lock, or asks for the write to be restarted. */
static int usbip_server_lock(struct usbip_server *srv)
{
	if (!(srv->ops->flags & USBIP_SERVER_SOCKFD_TRYLOCK)) {
		mutex_lock(srv->conn.lock);
		return 0;
	}
	return mutex_trylock(srv->conn.lock) ? 0 : restart_syscall();
}

/* Sets up the session of a new connection; its lock is held. */
static void usbip_server_session_start(struct usbip_server *srv,
				       const struct usbip_server_args *a)
{
	lockdep_assert_held(srv->conn.lock);
	spin_lock_irq(srv->lock);
	srv->session = a->w.caps & USBIP_EXT_CAP_SESSION;
	srv->journal_max = a->w.journal;
	srv->journal_bytes = 0;
	srv->journal_n = 0;
	srv->resend = NULL;
	srv->ans_total = 0;
	srv->ans_sent = 0;
	srv->ans_acked = 0;
	srv->ans_lost = 0;
	srv->lost = false;
	srv->cmds = 0;
	srv->resuming = false;
	srv->resume_rep_due = false;
	srv->pong = false;
	memcpy(srv->token, a->w.token, sizeof(srv->token));
	srv->token_next_set = false;
	spin_unlock_irq(srv->lock);
	srv->conn.resume_window = srv->session ? a->w.window : 0;
}

/*
 * "resume FD token=..." : a client comes back to its session.  The token
 * must match; a connection of the session that still looks alive is
 * taken for dead (the newcomer proved the token) and suspended first.
 */
static int usbip_server_resume(struct usbip_server *srv, const struct usbip_server_args *a)
{
	struct usbip_conn *conn = &srv->conn;
	enum usbip_conn_state state;
	struct socket *sock;
	bool ok, known, next;
	int ret;

	sock = usbip_sockfd_get(a->fd);
	if (IS_ERR(sock))
		return PTR_ERR(sock);
	ret = usbip_server_lock(srv);
	if (ret)
		goto err_sock;
	if (!srv->session) {
		ret = -ESTALE;
		goto err_unlock;
	}
	spin_lock_irq(srv->lock);
	/* both compared, whichever matches */
	known = !crypto_memneq(srv->token, a->w.token, sizeof(srv->token));
	next = !crypto_memneq(srv->token_next, a->w.token, sizeof(srv->token_next));
	next &= srv->token_next_set;
	/*
	 * The client proved the newer one: the older goes, and the proven
	 * one stays valid until this resume's EXT_RESUME.
	 */
	if (next)
		usbip_server_token_next_take(srv);
	known |= next;
	spin_unlock_irq(srv->lock);
	if (!known) {
		ret = -EACCES;
		goto err_unlock;
	}
	state = usbip_conn_state(conn);
	if (state == USBIP_CONN_RUNNING || state == USBIP_CONN_CLOSING) {
		/*
		 * The old connection goes first.  The write is restarted
		 * rather than waiting for the event worker, which may wait
		 * for a driver unbind that waits for this write.
		 */
		if (state == USBIP_CONN_RUNNING)
			usbip_server_link_lost(srv, -ECONNABORTED,
					       "replaced by a resumed connection");
		ret = restart_syscall();
		goto err_unlock;
	}

	/*
	 * The new token takes over at the client's EXT_RESUME: should the
	 * link fail before the client's tools have read it, they come back
	 * with the one they proved.  Set before the threads start, which may
	 * read the EXT_RESUME at once.
	 */
	spin_lock_irq(srv->lock);
	ok = state == USBIP_CONN_SUSPENDED && usbip_server_resumable(srv);
	if (ok) {
		srv->resuming = true;
		memcpy(srv->token_next, a->w.new_token, sizeof(srv->token_next));
		srv->token_next_set = true;
	}
	spin_unlock_irq(srv->lock);
	if (!ok) {
		ret = -ESTALE;
		goto err_unlock;
	}
	ret = usbip_conn_resume(conn, sock);
	if (ret) {
		spin_lock_irq(srv->lock);
		srv->resuming = false;
		usbip_server_token_next_clear(srv);
		spin_unlock_irq(srv->lock);
		goto err_unlock;
	}
	mutex_unlock(conn->lock);
	dev_info(srv->dev, "session resumed on a new connection\n");
	return 0;

err_unlock:
	mutex_unlock(conn->lock);
err_sock:
	usbip_sock_release(sock);
	return ret;
}

/**
 * usbip_server_sockfd_store() - the usbip_sockfd attribute of a server
 * @srv: the server
 * @buf: what was written: a socket fd to serve a client on, optionally
 *	with the session's parameters ("FD caps=HEX token=HEX32 window=MS
 *	heartbeat=MS journal=BYTES"); "resume FD token=HEX32 [new=HEX32]" to
 *	resume a suspended session on a new socket; or -1 to end the
 *	connection (and its session)
 * @count: its length
 *
 * usbipd hands in the socket of an accepted client.  The device must be
 * available; the driver's ->attach makes it ready, then the threads start
 * with the module's budget limits.
 *
 * Return: @count, or a negative errno: for a resume -EACCES for a wrong
 * token, -ESTALE if there is no session to resume (any more).
 */
ssize_t usbip_server_sockfd_store(struct usbip_server *srv, const char *buf, size_t count)
{
	const struct usbip_server_ops *ops = srv->ops;
	struct mutex *lock = srv->conn.lock;
	struct usbip_server_args a;
	enum usbip_conn_state state;
	struct socket *sock;
	char *line;
	int ret;

	line = kmemdup_nul(buf, min_t(size_t, count, 256), GFP_KERNEL);
	if (!line)
		return -ENOMEM;
	ret = usbip_server_args_parse(line, &a);
	kfree_sensitive(line);
	if (ret)
		goto out;
	if (a.resume) {
		ret = usbip_server_resume(srv, &a);
		goto out;
	}

	if (a.fd == -1) {
		state = usbip_conn_state(&srv->conn);
		if ((ops->flags & USBIP_SERVER_DETACH_RUNNING) &&
		    state != USBIP_CONN_RUNNING && state != USBIP_CONN_SUSPENDED)
			return -EINVAL;
		ret = usbip_conn_event(&srv->conn, USBIP_EV_DETACH, 0,
				       "detach requested through usbip_sockfd");
		goto out;
	}

	sock = usbip_sockfd_get(a.fd);
	if (IS_ERR(sock)) {
		ret = PTR_ERR(sock);
		goto out;
	}

	ret = usbip_server_lock(srv);
	if (ret)
		goto err_sock;
	if (srv->status != SDEV_ST_AVAILABLE) {
		ret = srv->status == SDEV_ST_USED ? -EBUSY : -EIO;
		goto err_unlock;
	}
	if (ops->attach) {
		ret = ops->attach(srv);
		if (ret)
			goto err_unlock;
	}
	usbip_budget_set_limits(&srv->budget, READ_ONCE(srv->limits->max_urbs),
				READ_ONCE(srv->limits->max_bytes));
	usbip_server_session_start(srv, &a);
	ret = usbip_conn_start(&srv->conn, sock);
	if (ret)
		goto err_start;
	WRITE_ONCE(srv->status, SDEV_ST_USED);
	mutex_unlock(lock);

	if (ops->attached)
		ops->attached(srv);
	goto out;

err_start:
	ops->shutdown(srv);
	usbip_server_session_end(srv);
	srv->conn.resume_window = 0;
err_unlock:
	mutex_unlock(lock);
err_sock:
	usbip_sock_release(sock);
out:
	memzero_explicit(&a, sizeof(a));
	return ret ? ret : count;
}
EXPORT_SYMBOL_GPL(usbip_server_sockfd_store);

/**
 * usbip_server_status_show() - the usbip_status attribute of a server
 * @srv: the server
 * @buf: the sysfs page
 *
 * Return: the length written: SDEV_ST_* in decimal and a newline.
 */
ssize_t usbip_server_status_show(struct usbip_server *srv, char *buf)
{
	return sysfs_emit(buf, "%d\n", READ_ONCE(srv->status));
}
EXPORT_SYMBOL_GPL(usbip_server_status_show);

/**
 * usbip_server_session_show() - the usbip_session attribute of a server
 * @srv: the server
 * @buf: the sysfs page
 *
 * Return: the length written: "none", "active journal=BYTES" or
 * "resumable left_ms=MS" (a suspended session and what is left of its
 * window), and a newline.
 */
ssize_t usbip_server_session_show(struct usbip_server *srv, char *buf)
{
	enum usbip_conn_state state = usbip_conn_state(&srv->conn);
	u64 bytes;

	if (state == USBIP_CONN_SUSPENDED)
		return sysfs_emit(buf, "resumable left_ms=%u\n",
				  usbip_conn_window_left(&srv->conn));
	if (state != USBIP_CONN_RUNNING || !READ_ONCE(srv->session))
		return sysfs_emit(buf, "none\n");
	spin_lock_irq(srv->lock);
	bytes = srv->journal_bytes;
	spin_unlock_irq(srv->lock);
	return sysfs_emit(buf, "active journal=%llu\n", bytes);
}
EXPORT_SYMBOL_GPL(usbip_server_session_show);
