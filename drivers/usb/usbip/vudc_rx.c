// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * usbip-vudc: the receive thread.
 *
 * Reads CMD_SUBMIT and CMD_UNLINK messages.  A CMD_SUBMIT becomes a
 * struct vudc_urb queued on its endpoint, where the transfer engine pairs
 * it with gadget requests; a CMD_UNLINK takes a waiting URB back.  Any
 * malformed input ends the connection with one error line in the log.
 */
#define pr_fmt(fmt) "usbip-vudc: " fmt

#include <linux/kernel.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include "vudc.h"

/* A protocol error: one line in the log, then the connection is dropped. */
static int vudc_rx_fail(struct vudc *vudc, const struct usbip_pdu *pdu, int err,
			const char *reason)
{
	dev_err_ratelimited(vudc_dev(vudc), "%s seqnum %u: %s; closing the connection\n",
			    usbip_cmd_name(pdu->command), pdu->seqnum, reason);
	usbip_conn_event(&vudc->conn, USBIP_EV_ERROR | USBIP_EV_QUIET, err, reason);
	return err;
}

/* A receive error: a closed connection is quiet, anything else is not. */
static int vudc_rx_sock_err(struct vudc *vudc, const struct usbip_pdu *pdu, int err,
			    const char *what)
{
	if (kthread_should_stop())
		return err;
	if (err == -ECONNRESET && !pdu) {
		usbip_conn_event(&vudc->conn, USBIP_EV_DETACH, err, "peer closed the connection");
		return err;
	}
	if (err == -ECONNRESET)
		return vudc_rx_fail(vudc, pdu, err, what);
	dev_err_ratelimited(vudc_dev(vudc), "receive failed (%d); closing the connection\n", err);
	usbip_conn_event(&vudc->conn, USBIP_EV_ERROR | USBIP_EV_QUIET, err, "receive failed");
	return err;
}

/*
 * Charges a command to the connection's budget, waiting (and not reading
 * the socket) while the connection holds its limit.  Return: 0, or the
 * error that ends the connection (already reported).
 */
static int vudc_rx_charge(struct vudc *vudc, u32 urbs, u64 bytes)
{
	int ret = usbip_budget_charge(&vudc->budget, vudc->conn.sock, urbs, bytes);

	if (ret == -EINTR)
		return ret;	/* stopped */
	if (ret)
		return vudc_rx_sock_err(vudc, NULL, ret, NULL);
	return 0;
}

/* The URB not yet completed with @seqnum, or NULL.  slock held. */
static struct vudc_urb *vudc_in_flight_find(struct vudc *vudc, u32 seqnum)
{
	struct usbip_seq_node *node;

	lockdep_assert_held(&vudc->slock);
	node = usbip_seq_find(&vudc->in_flight_seq, seqnum);
	return node ? container_of(node, struct vudc_urb, seq) : NULL;
}

/*
 * Queues @urb on its endpoint as in flight.  Return: false, and the URB
 * not queued, if its seqnum is in flight already.  slock held.
 */
static bool vudc_in_flight_add(struct vudc *vudc, struct vudc_urb *urb)
{
	lockdep_assert_held(&vudc->slock);
	if (!usbip_seq_insert(&vudc->in_flight_seq, &urb->seq))
		return false;
	list_add_tail(&urb->list, &vudc->in_flight);
	vudc_urb_queue(vudc, urb);
	return true;
}

/*
 * A large bulk OUT URB is queued before its payload is received, which then
 * goes to the gadget piece by piece: the gadget driver works on the first
 * pieces while the next ones arrive, in requests that end only when they
 * are full or the URB ends (as if the pieces were one transfer).  Until
 * the whole payload is in, the URB is marked receiving: the rx thread owns
 * its buffer, and nothing completes, cancels or frees it (vudc_ep_run()
 * only moves the bytes that are in).  If the receive fails, the connection
 * is shut down and vudc_stop_io() frees it once this thread has stopped.
 */
static int vudc_rx_submit_pieces(struct vudc *vudc, const struct usbip_pdu *pdu,
				 struct vudc_urb *urb, u32 payload)
{
	struct usbip_buf buf;
	u32 off, n;
	int ret;

	usbip_buf_linear(&buf, urb->data, urb->len);
	urb->avail = 0;
	urb->receiving = true;
	spin_lock_irq(&vudc->slock);
	if (!vudc->serving) {
		spin_unlock_irq(&vudc->slock);
		vudc_urb_free(urb);
		return -ESHUTDOWN;
	}
	if (!vudc_in_flight_add(vudc, urb)) {
		/* checked before, and only this thread adds */
		spin_unlock_irq(&vudc->slock);
		vudc_urb_free(urb);
		return vudc_rx_fail(vudc, pdu, -EPROTO, "seqnum of an URB still in flight");
	}
	spin_unlock_irq(&vudc->slock);

	for (off = 0; off < payload; off += n) {
		n = min(payload - off, VUDC_RX_PIECE);
		ret = usbip_recv_buf(vudc->conn.sock, &buf, off, n);
		if (ret)
			return vudc_rx_sock_err(vudc, pdu, ret, "OUT payload cut short");
		spin_lock_irq(&vudc->slock);
		vudc_urb_received(vudc, urb, off + n);
		spin_unlock_irq(&vudc->slock);
	}
	return 0;
}

static int vudc_rx_submit(struct vudc *vudc, const struct usbip_pdu *pdu)
{
	const struct usb_ctrlrequest *setup = (const void *)pdu->submit.setup;
	bool wire_in = pdu->direction == USBIP_DIR_IN;
	u32 payload = usbip_cmd_payload_len(pdu);
	struct vudc_urb *urb;
	struct usbip_buf buf;
	const char *reason;
	bool dir_in, dup, pieces;
	u32 stage = 0;
	int n_iso, ret;

	if (pdu->ep == 0) {
		/* the setup packet decides, the wire must agree (usbip_proto.c) */
		ret = usbip_ctrl_check(pdu->direction, pdu->submit.setup,
				       pdu->submit.transfer_buffer_length, &dir_in, &stage,
				       &reason);
		if (ret)
			return vudc_rx_fail(vudc, pdu, ret, reason);
	} else {
		dir_in = wire_in;
	}
	n_iso = usbip_pdu_packets(pdu);
	if (n_iso && pdu->ep == 0)
		return vudc_rx_fail(vudc, pdu, -EPROTO, "iso packets for the control endpoint");

	spin_lock_irq(&vudc->slock);
	dup = vudc_in_flight_find(vudc, pdu->seqnum);
	spin_unlock_irq(&vudc->slock);
	if (dup)
		return vudc_rx_fail(vudc, pdu, -EPROTO, "seqnum of an URB still in flight");

	/* from here until its answer is sent, the URB holds budget */
	ret = vudc_rx_charge(vudc, 1, pdu->submit.transfer_buffer_length);
	if (ret)
		return ret;
	urb = kzalloc(sizeof(*urb), GFP_KERNEL);
	if (!urb) {
		usbip_budget_release(&vudc->budget, 1, pdu->submit.transfer_buffer_length);
		return vudc_rx_fail(vudc, pdu, -ENOMEM, "out of memory");
	}
	urb->charged = true;
	INIT_LIST_HEAD(&urb->list);
	usbip_seq_node_init(&urb->seq, pdu->seqnum);
	INIT_LIST_HEAD(&urb->ep_list);
	urb->vudc = vudc;
	urb->ep = vudc_find_ep(vudc, pdu->ep, wire_in);
	urb->devid = pdu->devid;
	urb->ep_num = pdu->ep;
	urb->wire_dir = pdu->direction;
	urb->dir_in = dir_in;
	urb->flags = pdu->submit.transfer_flags;
	memcpy(&urb->setup, setup, sizeof(urb->setup));
	urb->len = pdu->submit.transfer_buffer_length;
	urb->stage = pdu->ep ? urb->len : stage;
	urb->n_iso = n_iso;

	if (urb->len) {
		/* iso frames may leave gaps: never send stale memory */
		urb->data = n_iso ? kvzalloc(urb->len, GFP_KERNEL) :
				    kvmalloc(urb->len, GFP_KERNEL);
		if (!urb->data) {
			ret = vudc_rx_fail(vudc, pdu, -ENOMEM, "out of memory for the transfer buffer");
			goto err_free;
		}
	}
	/*
	 * Only the bytes received are data: the OUT payload, nothing for IN.
	 * Receiving in pieces while the URB is queued is only for an endpoint
	 * that can take the URB now; one that would reject it (iso, halted,
	 * not enabled) gets it whole, then rejects it.
	 */
	urb->avail = payload;
	pieces = false;
	if (payload > VUDC_RX_PIECE && pdu->ep && !n_iso) {
		spin_lock_irq(&vudc->slock);
		pieces = urb->ep->desc && !urb->ep->halted &&
			 urb->ep->type != USB_ENDPOINT_XFER_ISOC;
		spin_unlock_irq(&vudc->slock);
	}
	if (pieces)
		return vudc_rx_submit_pieces(vudc, pdu, urb, payload);
	if (payload) {
		usbip_buf_linear(&buf, urb->data, urb->len);
		ret = usbip_recv_buf(vudc->conn.sock, &buf, 0, payload);
		if (ret) {
			vudc_rx_sock_err(vudc, pdu, ret, "OUT payload cut short");
			goto err_free;
		}
	}
	if (n_iso) {
		urb->iso = kcalloc(n_iso, sizeof(*urb->iso), GFP_KERNEL);
		if (!urb->iso) {
			ret = vudc_rx_fail(vudc, pdu, -ENOMEM, "out of memory");
			goto err_free;
		}
		ret = usbip_recv_iso_descs(vudc->conn.sock, urb->iso, n_iso);
		if (ret) {
			vudc_rx_sock_err(vudc, pdu, ret, "iso descriptors cut short");
			goto err_free;
		}
		ret = usbip_iso_check(urb->iso, n_iso, urb->len, 0, 0, &reason);
		if (ret) {
			vudc_rx_fail(vudc, pdu, ret, reason);
			goto err_free;
		}
	}

	usbip_dev_dbg(USBIP_DBG_VUDC_RX, vudc_dev(vudc),
		      "submit seqnum %u ep %u%s len %u iso %d\n", pdu->seqnum, pdu->ep,
		      dir_in ? "in" : "out", urb->len, n_iso);

	spin_lock_irq(&vudc->slock);
	if (!vudc->serving) {
		spin_unlock_irq(&vudc->slock);
		ret = -ESHUTDOWN;
		goto err_free;
	}
	if (!vudc_in_flight_add(vudc, urb)) {
		spin_unlock_irq(&vudc->slock);
		ret = vudc_rx_fail(vudc, pdu, -EPROTO, "seqnum of an URB still in flight");
		goto err_free;
	}
	spin_unlock_irq(&vudc->slock);
	return 0;

err_free:
	vudc_urb_free(urb);
	return ret;
}

static int vudc_rx_unlink(struct vudc *vudc, const struct usbip_pdu *pdu)
{
	struct vudc_unlink *ul;
	struct vudc_urb *urb;
	bool taken = false;
	int ret;

	/*
	 * An URB in flight is answered under its own charge: the unlink has
	 * to get through while the budget is full of URBs that never
	 * complete, or nothing could ever free it.
	 */
	spin_lock_irq(&vudc->slock);
	urb = vudc_in_flight_find(vudc, pdu->unlink.seqnum);
	if (urb && !urb->unlinking) {
		taken = true;
		urb->unlink_seqnum = pdu->seqnum;
		if (vudc_urb_cancel(vudc, urb)) {
			/* cut short: only a RET_UNLINK -ECONNRESET answers it */
			urb->unlinked = true;
			urb->done = true;
			list_add_tail(&urb->list, &vudc->tx_urbs);
		} else {
			/* its request is on the way: RET_SUBMIT, then RET_UNLINK 0 */
			urb->unlinking = true;
		}
	}
	spin_unlock_irq(&vudc->slock);
	if (taken)
		goto out_wake;

	/*
	 * Done, unknown or already being unlinked: a RET_UNLINK 0 of the
	 * UDC's own, charged until it is sent.  Only this thread adds URBs,
	 * so none with the target's seqnum appears while it waits.
	 */
	ret = vudc_rx_charge(vudc, 1, sizeof(*ul));
	if (ret)
		return ret;
	ul = kzalloc(sizeof(*ul), GFP_KERNEL);
	if (!ul) {
		usbip_budget_release(&vudc->budget, 1, sizeof(*ul));
		return vudc_rx_fail(vudc, pdu, -ENOMEM, "out of memory");
	}
	ul->seqnum = pdu->seqnum;
	ul->devid = pdu->devid;
	spin_lock_irq(&vudc->slock);
	list_add_tail(&ul->list, &vudc->tx_unlinks);
	spin_unlock_irq(&vudc->slock);

out_wake:
	wake_up(&vudc->tx_wq);
	usbip_dev_dbg(USBIP_DBG_VUDC_RX, vudc_dev(vudc), "unlink seqnum %u -> %u: %s\n",
		      pdu->seqnum, pdu->unlink.seqnum, taken ? "in flight" : "not in flight");
	return 0;
}

/**
 * vudc_rx_loop() - body of the receive thread
 * @conn: the connection of a struct vudc
 *
 * Return: 0 when stopped, or the error that ended the connection (already
 * reported with usbip_conn_event()).
 */
int vudc_rx_loop(struct usbip_conn *conn)
{
	struct vudc *vudc = conn_to_vudc(conn);
	unsigned int noio = memalloc_noio_save();
	const char *reason = NULL;
	struct usbip_pdu pdu;
	int ret = 0;

	while (!kthread_should_stop()) {
		ret = usbip_recv_pdu(conn->sock, &pdu, &reason);
		if (ret == -EPROTO) {
			dev_err_ratelimited(vudc_dev(vudc),
					    "malformed header (%s); closing the connection\n",
					    reason);
			usbip_conn_event(conn, USBIP_EV_ERROR | USBIP_EV_QUIET, ret, reason);
			break;
		}
		if (ret) {
			vudc_rx_sock_err(vudc, NULL, ret, NULL);
			break;
		}

		switch (pdu.command) {
		case USBIP_CMD_SUBMIT:
			ret = vudc_rx_submit(vudc, &pdu);
			break;
		case USBIP_CMD_UNLINK:
			ret = vudc_rx_unlink(vudc, &pdu);
			break;
		default:
			ret = vudc_rx_fail(vudc, &pdu, -EPROTO, "reply command sent to the server");
			break;
		}
		if (ret)
			break;
	}
	memalloc_noio_restore(noio);
	return ret;
}
