// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vhci-hcd: the tx thread of a port: sends CMD_UNLINK and CMD_SUBMIT.
 *
 * Pending unlinks go first, then submits in the order they were queued.
 * A CMD_UNLINK is only ever queued once its CMD_SUBMIT has left the tx
 * queue, so it follows that CMD_SUBMIT on the stream.  Payloads are sent
 * straight from the URB's buffer or sg list.
 *
 * With a session, a resumed connection starts with EXT_RESUME and sends
 * nothing else until the rx thread has the server's EXT_RESUME_REP; an
 * EXT_ACK (or a PING) goes out before anything else when due.  Each
 * command gets its number in the session's stream as it is sent.
 */
#define pr_fmt(fmt) "vhci-hcd: " fmt

#include <linux/delay.h>
#include <linux/kthread.h>
#include <linux/slab.h>
#include <linux/usb.h>

#include "vhci.h"

static bool vhci_tx_pending(struct vhci_port *port)
{
	if (READ_ONCE(port->resume_send))
		return true;
	if (READ_ONCE(port->resume_wait))
		return false;
	return READ_ONCE(port->ack_due) || READ_ONCE(port->ping_due) ||
	       !list_empty_careful(&port->unlink_tx) || !list_empty_careful(&port->tx_queue);
}

/* EXT_RESUME: the answers received and the seqnums still waited for. */
static int vhci_send_resume(struct vhci_port *port, u32 count, __be32 *list, u32 n)
{
	struct usbip_pdu pdu = {
		.command = USBIP_EXT_RESUME,
		.seqnum = count,
		.ext.arg = n,
	};
	int ret;

	ret = usbip_send_msg(port->conn.sock, &pdu, NULL, 0, NULL, 0, 0);
	if (!ret && n)
		ret = usbip_send_data(port->conn.sock, list, n * sizeof(*list), false);
	return ret;
}

static int vhci_send_ack(struct vhci_port *port, u32 count, bool ping)
{
	struct usbip_pdu pdu = {
		.command = USBIP_EXT_ACK,
		.seqnum = count,
		.ext.arg = ping ? USBIP_EXT_ACK_PING : 0,
	};

	usbip_dbg(USBIP_DBG_VHCI_TX, "port %u: EXT_ACK %u%s\n", port->number, count,
		  ping ? " PING" : "");
	return usbip_send_msg(port->conn.sock, &pdu, NULL, 0, NULL, 0, 0);
}

/*
 * The session's messages of the tx thread, if one is due: EXT_RESUME,
 * EXT_ACK.  Return: 1 if nothing was due, else 0 or the send error.
 */
static int vhci_tx_session(struct vhci_port *port)
{
	spinlock_t *lock = &port->vhci->lock;
	unsigned long flags;
	__be32 *list;
	bool ping;
	u32 n, count;
	int ret;

	if (!READ_ONCE(port->session))
		return 1;
	spin_lock_irqsave(lock, flags);
	if (port->resume_send) {
		list = port->resume_list;
		n = port->resume_n;
		port->resume_list = NULL;
		port->resume_send = false;
		port->resume_wait = true;
		count = port->answers;
		spin_unlock_irqrestore(lock, flags);
		ret = vhci_send_resume(port, count, list, n);
		kvfree(list);
		return ret;
	}
	if (port->ack_due || port->ping_due) {
		ping = port->ping_due && !port->ping_out;
		if (ping) {
			port->ping_out = true;
			port->ping_at = jiffies;
		}
		port->ping_due = false;
		port->ack_due = false;
		count = port->answers;
		port->acked = count;
		port->ack_bytes = 0;
		port->ack_at = jiffies;
		spin_unlock_irqrestore(lock, flags);
		return vhci_send_ack(port, count, ping);
	}
	spin_unlock_irqrestore(lock, flags);
	return 1;
}

/*
 * The numbers are passed by value: once the CMD_UNLINK is on unlink_rx the
 * rx thread may free it at any time (a RET_UNLINK can be sent before the
 * CMD_UNLINK it answers, the numbers being predictable).
 */
static int vhci_send_unlink(struct vhci_port *port, u32 seqnum, u32 target)
{
	struct usbip_pdu pdu = {
		.command = USBIP_CMD_UNLINK,
		.seqnum = seqnum,
		.devid = port->devid,
		.unlink.seqnum = target,
	};

	return usbip_send_msg(port->conn.sock, &pdu, NULL, 0, NULL, 0, 0);
}

static int vhci_send_submit(struct vhci_port *port, struct vhci_priv *priv)
{
	struct urb *urb = priv->urb;
	bool iso = usb_pipetype(urb->pipe) == PIPE_ISOCHRONOUS;
	bool dir_in = usb_pipein(urb->pipe);
	struct usbip_pdu pdu = {
		.command = USBIP_CMD_SUBMIT,
		.seqnum = priv->seq.seqnum,
		.devid = port->devid,
		.direction = dir_in ? USBIP_DIR_IN : USBIP_DIR_OUT,
		.ep = usb_pipeendpoint(urb->pipe),
		.submit = {
			.transfer_flags = usbip_urb_flags_to_wire(urb->transfer_flags),
			.transfer_buffer_length = urb->transfer_buffer_length,
			.start_frame = iso ? urb->start_frame : 0,
			.number_of_packets = iso ? urb->number_of_packets : 0,
			.interval = urb->interval,
		},
	};
	struct usbip_buf buf;
	u32 len = 0;

	if (usb_pipetype(urb->pipe) == PIPE_CONTROL && urb->setup_packet)
		memcpy(pdu.submit.setup, urb->setup_packet, USBIP_SETUP_SIZE);
	usbip_buf_from_urb(&buf, urb);
	if (!dir_in)
		len = urb->transfer_buffer_length;

	return usbip_send_msg(port->conn.sock, &pdu, &buf, len, priv->iso,
			      iso ? urb->number_of_packets : 0, 0);
}

/**
 * vhci_tx_loop() - body of a port's tx thread
 * @conn: the port's connection
 *
 * Return: 0 when asked to stop, or the send error (the connection is
 * then reported broken).
 */
int vhci_tx_loop(struct usbip_conn *conn)
{
	struct vhci_port *port = conn_to_port(conn);
	spinlock_t *lock = &port->vhci->lock;
	struct vhci_unlink *unlink;
	struct vhci_priv *priv;
	LIST_HEAD(giveback);
	unsigned long flags;
	u32 seqnum, target;
	int ret;

	for (;;) {
		wait_event_interruptible(port->tx_wq,
					 vhci_tx_pending(port) || kthread_should_stop());
		if (kthread_should_stop())
			return 0;

		ret = vhci_tx_session(port);
		if (ret <= 0) {
			if (ret)
				goto err_send;
			continue;
		}
		spin_lock_irqsave(lock, flags);
		if (port->resume_wait) {
			spin_unlock_irqrestore(lock, flags);
			continue;
		}
		unlink = list_first_entry_or_null(&port->unlink_tx, struct vhci_unlink, node);
		if (unlink) {
			/* not ours any more once the lock is dropped */
			seqnum = unlink->seqnum;
			target = unlink->target;
			unlink->sent = true;
			unlink->cmd_no = ++port->cmds;
			list_move_tail(&unlink->node, &port->unlink_rx);
			spin_unlock_irqrestore(lock, flags);
#if IS_ENABLED(CONFIG_USBIP_SELFTEST)
			if (READ_ONCE(vhci_selftest_unlink_delay_ms))
				msleep(READ_ONCE(vhci_selftest_unlink_delay_ms));
#endif
			ret = vhci_send_unlink(port, seqnum, target);
			if (ret)
				goto err_send;
			continue;
		}
		priv = list_first_entry_or_null(&port->tx_queue, struct vhci_priv, txnode);
		if (!priv) {
			spin_unlock_irqrestore(lock, flags);
			continue;
		}
		list_del_init(&priv->txnode);
		priv->sending = true;
		priv->sent = true;
		priv->cmd_no = ++port->cmds;
		spin_unlock_irqrestore(lock, flags);

		ret = vhci_send_submit(port, priv);

		spin_lock_irqsave(lock, flags);
		priv->sending = false;
		if (priv->finished)	/* the reply came while we were sending */
			vhci_priv_finish(priv, priv->status, &giveback);
		spin_unlock_irqrestore(lock, flags);
		vhci_giveback(&giveback);
		if (ret)
			goto err_send;
	}

err_send:
	if (ret == -EINVAL)
		usbip_conn_event(conn, USBIP_EV_ERROR, ret, "URB cannot be sent");
	else
		vhci_session_link_event(port, ret, true, "send error");
	return ret;
}
