// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vhci-hcd: the rx thread of a port: receives RET_SUBMIT and RET_UNLINK.
 *
 * Everything the server sends is checked before it is used; the first
 * bad message ends the connection with one log line naming the problem
 * (printed by usbip-core from the reason given to usbip_conn_event()).
 *
 * A RET_UNLINK gives the URB back if it is still waiting (status
 * -ECONNRESET or 0 alike: some servers send 0 without any RET_SUBMIT when
 * the URB completed while being unlinked).  With status 0 a RET_SUBMIT
 * may still follow, so the sequence number is remembered on port->gone
 * and such a RET_SUBMIT is read and dropped instead of being an error.
 * A RET_UNLINK nobody waits for is dropped.  A CMD_UNLINK whose URB
 * came back on a RET_SUBMIT first waits on port->orphans, a bounded list
 * (see vhci_unlink_orphan()).
 */
#define pr_fmt(fmt) "vhci-hcd: " fmt

#include <linux/kthread.h>
#include <linux/slab.h>
#include <linux/usb.h>

#include "vhci.h"

/* Scratch for discarded payloads: the rx_iso array, viewed as bytes. */
#define VHCI_RX_SCRATCH		(USBIP_MAX_ISO_PACKETS * sizeof(struct usbip_iso_desc))

static struct vhci_priv *vhci_find_priv(struct vhci_port *port, u32 seqnum)
{
	struct vhci_seq *seq = vhci_seq_find(port, seqnum, VHCI_SEQ_SUBMIT);
	struct vhci_priv *priv;

	if (!seq)
		return NULL;
	priv = container_of(seq, struct vhci_priv, seq);
	return priv->finished ? NULL : priv;
}

/* The vhci_unlink of a seqnum of the given kind (UNLINK: sent ones only). */
static struct vhci_unlink *vhci_find_unlink(struct vhci_port *port, u32 seqnum,
					    enum vhci_seq_kind kind)
{
	struct vhci_seq *seq = vhci_seq_find(port, seqnum, kind);
	struct vhci_unlink *unlink;

	if (!seq)
		return NULL;
	unlink = container_of(seq, struct vhci_unlink, seq);
	return kind == VHCI_SEQ_UNLINK && !unlink->sent ? NULL : unlink;
}

/* Reads and drops the payload and descriptors of an unwanted RET_SUBMIT. */
static int vhci_discard_ret_submit(struct vhci_port *port, const struct usbip_pdu *pdu,
				   bool dir_in)
{
	struct socket *sock = port->conn.sock;
	u32 left = usbip_ret_payload_len(pdu, dir_in);
	int ret;

	while (left) {
		u32 chunk = min_t(u32, left, VHCI_RX_SCRATCH);

		ret = usbip_recv_data(sock, port->rx_iso, chunk);
		if (ret)
			return ret;
		left -= chunk;
	}
	return usbip_recv_iso_descs(sock, port->rx_iso, usbip_pdu_packets(pdu));
}

/* Fills an iso URB's frames from the received descriptors. */
static int vhci_rx_iso(struct vhci_port *port, struct urb *urb, const struct usbip_buf *buf,
		       const struct usbip_pdu *pdu, int np, const char **reason)
{
	struct usbip_iso_desc *d = port->rx_iso;
	u32 actual = pdu->ret_submit.actual_length;
	int ret, i;

	/* the server's view of the frames must fit the buffer and add up */
	ret = usbip_iso_check(d, np, urb->transfer_buffer_length, actual,
			      USBIP_ISO_CHECK_ACTUAL, reason);
	if (ret)
		return ret;
	/* then only the results are taken, over our own layout */
	for (i = 0; i < np; i++) {
		d[i].offset = urb->iso_frame_desc[i].offset;
		d[i].length = urb->iso_frame_desc[i].length;
	}
	if (usb_pipein(urb->pipe))
		ret = usbip_iso_unpack_buf(buf, d, np, actual, reason);
	else
		ret = usbip_iso_check(d, np, urb->transfer_buffer_length, actual,
				      USBIP_ISO_CHECK_ACTUAL, reason);
	if (ret)
		return ret;

	for (i = 0; i < np; i++) {
		urb->iso_frame_desc[i].actual_length = d[i].actual_length;
		urb->iso_frame_desc[i].status = d[i].status;
	}
	for (; i < urb->number_of_packets; i++) {
		urb->iso_frame_desc[i].actual_length = 0;
		urb->iso_frame_desc[i].status = -EXDEV;
	}
	return 0;
}

/* Receives the rest of a RET_SUBMIT into its URB; the URB is "receiving". */
static int vhci_rx_urb(struct vhci_port *port, struct urb *urb, const struct usbip_pdu *pdu,
		       const char **reason)
{
	struct socket *sock = port->conn.sock;
	bool iso = usb_pipetype(urb->pipe) == PIPE_ISOCHRONOUS;
	bool dir_in = usb_pipein(urb->pipe);
	struct usbip_buf buf;
	int np, ret;
	u32 len;

	ret = usbip_check_ret_submit(pdu, urb->transfer_buffer_length,
				     iso ? urb->number_of_packets : 0, reason);
	if (ret)
		return ret;
	if (!dir_in && pdu->direction == USBIP_DIR_IN) {
		*reason = "IN data for an OUT URB";
		return -EPROTO;
	}
	np = usbip_pdu_packets(pdu);
	if (iso && np < urb->number_of_packets &&
	    (np || pdu->ret_submit.actual_length)) {
		*reason = "fewer iso packets than submitted";
		return -EPROTO;
	}

	usbip_buf_from_urb(&buf, urb);
	len = usbip_ret_payload_len(pdu, dir_in);
	ret = usbip_recv_buf(sock, &buf, 0, len);
	if (ret)
		goto err_recv;

	if (iso) {
		ret = usbip_recv_iso_descs(sock, port->rx_iso, np);
		if (ret)
			goto err_recv;
		ret = vhci_rx_iso(port, urb, &buf, pdu, np, reason);
		if (ret)
			return ret;
		urb->start_frame = pdu->ret_submit.start_frame;
		urb->error_count = pdu->ret_submit.error_count;
	}
	urb->actual_length = pdu->ret_submit.actual_length;
	return 0;

err_recv:
	*reason = ret == -ECONNRESET ? "stream cut mid-payload" : "receive error";
	return ret;
}

static int vhci_rx_ret_submit(struct vhci_port *port, const struct usbip_pdu *pdu,
			      const char **reason)
{
	spinlock_t *lock = &port->vhci->lock;
	struct vhci_unlink *gone;
	struct vhci_priv *priv;
	LIST_HEAD(giveback);
	unsigned long flags;
	bool dir_in;
	int ret;

	spin_lock_irqsave(lock, flags);
	priv = vhci_find_priv(port, pdu->seqnum);
	if (priv) {
		priv->receiving = true;
		spin_unlock_irqrestore(lock, flags);

		ret = vhci_rx_urb(port, priv->urb, pdu, reason);

		spin_lock_irqsave(lock, flags);
		priv->receiving = false;
		/*
		 * On error the connection's shutdown gives the URB back, or,
		 * with a session, the answer comes again after a resume.
		 */
		if (!ret) {
			/* the server counted it: a floor for its counts */
			if ((s32)(priv->cmd_no - port->srv_cmds) > 0)
				port->srv_cmds = priv->cmd_no;
			vhci_session_answered(port, priv->urb->transfer_buffer_length);
			vhci_priv_finish(priv, usbip_ret_status(pdu->ret_submit.status),
					 &giveback);
		}
		spin_unlock_irqrestore(lock, flags);
		vhci_giveback(&giveback);
		return ret;
	}

	gone = vhci_find_unlink(port, pdu->seqnum, VHCI_SEQ_GONE);
	if (!gone) {
		spin_unlock_irqrestore(lock, flags);
		*reason = "RET_SUBMIT for unknown seqnum";
		return -EPROTO;
	}
	/*
	 * The record stays until the answer is read in full: cut short, the
	 * answer comes again after a resume, and EXT_RESUME must list its
	 * seqnum (only this thread takes records off port->gone).
	 */
	dir_in = gone->dir_in;
	spin_unlock_irqrestore(lock, flags);

	usbip_dbg(USBIP_DBG_VHCI_RX, "port %u: dropping RET_SUBMIT %u of an unlinked URB\n",
		  port->number, pdu->seqnum);
	ret = vhci_discard_ret_submit(port, pdu, dir_in);
	if (ret) {
		*reason = ret == -ECONNRESET ? "stream cut mid-payload" : "receive error";
		return ret;
	}
	spin_lock_irqsave(lock, flags);
	list_del(&gone->node);
	hash_del(&gone->seq.hnode);
	if (!gone->lost)
		port->n_gone--;
	vhci_session_answered(port, usbip_ret_payload_len(pdu, dir_in));
	spin_unlock_irqrestore(lock, flags);
	kfree(gone);
	return 0;
}

static void vhci_rx_ret_unlink(struct vhci_port *port, const struct usbip_pdu *pdu)
{
	spinlock_t *lock = &port->vhci->lock;
	struct vhci_unlink *unlink, *old = NULL;
	struct vhci_priv *priv;
	LIST_HEAD(giveback);
	unsigned long flags;

	spin_lock_irqsave(lock, flags);
	vhci_session_answered(port, 0);
	unlink = vhci_find_unlink(port, pdu->seqnum, VHCI_SEQ_UNLINK);
	if (!unlink) {
		spin_unlock_irqrestore(lock, flags);
		usbip_dbg(USBIP_DBG_VHCI_RX, "port %u: RET_UNLINK %u for nothing, dropped\n",
			  port->number, pdu->seqnum);
		return;
	}
	list_del(&unlink->node);
	hash_del(&unlink->seq.hnode);
	if (unlink->orphan)
		port->n_orphans--;
	if (unlink->no_target)	/* no RET_SUBMIT of its target follows it */
		vhci_session_lost_answered(port, unlink->target);

	/* an orphan's target is back: its number may belong to a new URB */
	priv = unlink->orphan || unlink->no_target ? NULL :
	       vhci_find_priv(port, unlink->target);
	if (priv) {
		priv->unlink = NULL;	/* it is this one */
		vhci_priv_finish(priv, -ECONNRESET, &giveback);
		if (pdu->ret_unlink.status == 0) {
			/* its RET_SUBMIT may still come: remember it */
			list_add_tail(&unlink->node, &port->gone);
			vhci_seq_add(port, &unlink->seq, unlink->target, VHCI_SEQ_GONE);
			unlink = NULL;
			if (++port->n_gone > VHCI_MAX_GONE) {
				old = list_first_entry(&port->gone, struct vhci_unlink, node);
				list_del(&old->node);
				hash_del(&old->seq.hnode);
				port->n_gone--;
			}
		}
	}
	spin_unlock_irqrestore(lock, flags);

	vhci_giveback(&giveback);
	kfree(unlink);
	kfree(old);
}

/**
 * vhci_rx_loop() - body of a port's rx thread
 * @conn: the port's connection
 *
 * Return: 0 when asked to stop, else the error that ended the connection
 * (already reported with its reason).
 */
int vhci_rx_loop(struct usbip_conn *conn)
{
	struct vhci_port *port = conn_to_port(conn);
	const char *reason = NULL;
	struct usbip_pdu pdu;
	int ret;

	while (!kthread_should_stop()) {
		ret = usbip_recv_pdu(conn->sock, &pdu, &reason);
		if (ret)
			goto err;

		WRITE_ONCE(port->rx_at, jiffies);
		if (vhci_session_resuming(port) && pdu.command != USBIP_EXT_RESUME_REP) {
			reason = "resumed connection does not start with EXT_RESUME_REP";
			ret = -EPROTO;
			goto err;
		}
		switch (pdu.command) {
		case USBIP_EXT_ACK_REP:
		case USBIP_EXT_RESUME_REP:
			ret = vhci_session_rx_ext(port, &pdu, &reason);
			if (ret)
				goto err;
			break;
		case USBIP_RET_SUBMIT:
			ret = vhci_rx_ret_submit(port, &pdu, &reason);
			if (ret)
				goto err;
			break;
		case USBIP_RET_UNLINK:
			vhci_rx_ret_unlink(port, &pdu);
			break;
		default:
			reason = usbip_pdu_is_ext(pdu.command) ?
				 "session message not expected here" : "CMD_* sent to the client";
			ret = -EPROTO;
			goto err;
		}
	}
	return 0;

err:
	if (kthread_should_stop())
		return 0;
	if ((ret == -ECONNRESET && reason && !strcmp(reason, "connection closed")) ||
	    ret == -ENETRESET)
		reason = port->session && ret == -ENETRESET ? "connection lost" :
			 "server closed the connection";
	return vhci_session_link_event(port, ret, false, reason ? reason : "receive error");
}
