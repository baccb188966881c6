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

#include <linux/device.h>
#include <linux/kernel.h>
#include <linux/kthread.h>
#include <linux/net.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/sysfs.h>

#include "usbip_server.h"

/**
 * struct usbip_server_unlink - a RET_UNLINK 0 of the server's own
 * @list: in usbip_server.tx_unlinks
 * @seqnum: of the CMD_UNLINK it answers
 * @devid: of that CMD_UNLINK, echoed
 */
struct usbip_server_unlink {
	struct list_head list;
	u32 seqnum;
	u32 devid;
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

/**
 * usbip_server_tx_drop() - drop every answer not yet sent
 * @srv: the server; its rx and tx threads are stopped
 *
 * Frees the finished requests (with ->urb_free) and the RET_UNLINK
 * answers of the server's own, giving back their charges.  For the
 * driver's ->shutdown.
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

/* A receive error: a closed connection is quiet, anything else is not. */
static int usbip_server_rx_sock_err(struct usbip_server *srv, const struct usbip_pdu *pdu,
				    int err, const char *what)
{
	if (kthread_should_stop())
		return err;
	if (err == -ECONNRESET && !pdu) {
		usbip_conn_event(&srv->conn, USBIP_EV_DETACH, err, "peer closed the connection");
		return err;
	}
	if (err == -ECONNRESET)
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

	if (ops->submit_early && !cmd.n_iso && cmd.payload > USBIP_SERVER_RX_PIECE) {
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

/* Body of the receive thread; see struct usbip_conn_ops. */
static int usbip_server_rx_loop(struct usbip_conn *conn)
{
	struct usbip_server *srv = usbip_conn_to_server(conn);
	unsigned int noio = memalloc_noio_save();
	const char *reason = NULL;
	struct usbip_pdu pdu;
	int ret = 0;

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
			break;
		case USBIP_CMD_UNLINK:
			ret = usbip_server_rx_unlink(srv, &pdu);
			break;
		default:
			ret = usbip_server_rx_fail(srv, &pdu, -EPROTO,
						   "reply command sent to the server");
			break;
		}
		if (ret)
			break;
	}
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

static int usbip_server_send_urb(struct usbip_server *srv, struct usbip_server_urb *su)
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
	if (su->unlinking)
		ret = usbip_server_send_unlink(srv, su->unlink_seqnum, su->devid, 0);
	return ret;
}

static bool usbip_server_tx_has_work(struct usbip_server *srv)
{
	bool work;

	spin_lock_irq(srv->lock);
	work = !list_empty(&srv->tx_urbs) || !list_empty(&srv->tx_unlinks);
	spin_unlock_irq(srv->lock);
	return work;
}

/* Body of the transmit thread; see struct usbip_conn_ops. */
static int usbip_server_tx_loop(struct usbip_conn *conn)
{
	struct usbip_server *srv = usbip_conn_to_server(conn);
	unsigned int noio = memalloc_noio_save();
	struct usbip_server_unlink *ul;
	struct usbip_server_urb *su;
	int ret = 0;

	for (;;) {
		wait_event_interruptible(srv->tx_wq,
					 kthread_should_stop() || usbip_server_tx_has_work(srv));
		if (kthread_should_stop())
			break;

		spin_lock_irq(srv->lock);
		su = list_first_entry_or_null(&srv->tx_urbs, struct usbip_server_urb, list);
		ul = NULL;
		if (su) {
			list_del_init(&su->list);
		} else {
			ul = list_first_entry_or_null(&srv->tx_unlinks,
						      struct usbip_server_unlink, list);
			if (ul)
				list_del(&ul->list);
		}
		spin_unlock_irq(srv->lock);

		if (su) {
			ret = usbip_server_send_urb(srv, su);
			srv->ops->urb_free(srv, su);
		} else if (ul) {
			ret = usbip_server_send_unlink(srv, ul->seqnum, ul->devid, 0);
			usbip_server_unlink_free(srv, ul);
		}
		if (ret)
			break;
	}

	if (ret && !kthread_should_stop()) {
		if (ret == -EPIPE || ret == -ECONNRESET) {
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
	init_waitqueue_head(&srv->tx_wq);
	usbip_budget_init(&srv->budget);
	usbip_conn_init(&srv->conn, name, &usbip_server_conn_ops, conn_lock);
}
EXPORT_SYMBOL_GPL(usbip_server_init);

/**
 * usbip_server_sockfd_store() - the usbip_sockfd attribute of a server
 * @srv: the server
 * @buf: what was written: a socket fd to serve a client on, or -1 to end
 *	the connection
 * @count: its length
 *
 * usbipd hands in the socket of an accepted client.  The device must be
 * available; the driver's ->attach makes it ready, then the threads start
 * with the module's budget limits.
 *
 * Return: @count, or a negative errno.
 */
ssize_t usbip_server_sockfd_store(struct usbip_server *srv, const char *buf, size_t count)
{
	const struct usbip_server_ops *ops = srv->ops;
	struct mutex *lock = srv->conn.lock;
	struct socket *sock;
	int fd, ret;

	ret = kstrtoint(buf, 10, &fd);
	if (ret)
		return ret;

	if (fd == -1) {
		if ((ops->flags & USBIP_SERVER_DETACH_RUNNING) &&
		    usbip_conn_state(&srv->conn) != USBIP_CONN_RUNNING)
			return -EINVAL;
		ret = usbip_conn_event(&srv->conn, USBIP_EV_DETACH, 0,
				       "detach requested through usbip_sockfd");
		return ret ? ret : count;
	}
	if (fd < 0)
		return -EINVAL;

	sock = usbip_sockfd_get(fd);
	if (IS_ERR(sock))
		return PTR_ERR(sock);

	if (ops->flags & USBIP_SERVER_SOCKFD_TRYLOCK) {
		if (!mutex_trylock(lock)) {
			usbip_sock_release(sock);
			return restart_syscall();
		}
	} else {
		mutex_lock(lock);
	}
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
	ret = usbip_conn_start(&srv->conn, sock);
	if (ret)
		goto err_start;
	WRITE_ONCE(srv->status, SDEV_ST_USED);
	mutex_unlock(lock);

	if (ops->attached)
		ops->attached(srv);
	return count;

err_start:
	ops->shutdown(srv);
err_unlock:
	mutex_unlock(lock);
	usbip_sock_release(sock);
	return ret;
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
