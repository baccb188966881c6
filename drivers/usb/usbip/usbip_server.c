// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * usbip-core: the parts of a USB/IP server that usbip-host and usbip-vudc
 * share.
 *
 * Both drivers serve CMD_SUBMIT and CMD_UNLINK from one receive thread and
 * answer with RET_SUBMIT and RET_UNLINK from one transmit thread.  What
 * differs (how a request is carried out, where answers wait) the driver
 * supplies in a struct usbip_server_ops and struct usbip_server_tx; the
 * loops, the error reporting and the wire headers of the answers are here.
 *
 * Every log line names the device the driver passes in, so the messages
 * read as before the code was shared.
 */
#define pr_fmt(fmt) "usbip-core: " fmt

#include <linux/device.h>
#include <linux/kernel.h>
#include <linux/kthread.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/usb/ch9.h>
#include <linux/wait.h>

#include "usbip_common.h"

/**
 * usbip_server_rx_fail() - report a protocol error of a received command
 * @conn: the server's connection
 * @dev: the device named in the log line
 * @pdu: the offending command
 * @err: errno recorded for the incident
 * @reason: what is wrong with it
 *
 * Logs one line and drops the connection (the device stays usable).
 *
 * Return: @err.
 */
int usbip_server_rx_fail(struct usbip_conn *conn, struct device *dev,
			 const struct usbip_pdu *pdu, int err, const char *reason)
{
	dev_err_ratelimited(dev, "%s seqnum %u: %s; closing the connection\n",
			    usbip_cmd_name(pdu->command), pdu->seqnum, reason);
	usbip_conn_event(conn, USBIP_EV_ERROR | USBIP_EV_QUIET, err, reason);
	return err;
}
EXPORT_SYMBOL_GPL(usbip_server_rx_fail);

/**
 * usbip_server_rx_sock_err() - report a receive error of the rx thread
 * @conn: the server's connection
 * @dev: the device named in the log line
 * @pdu: the command whose remainder was being received, or NULL between
 *	commands
 * @err: the error of the receive function
 * @what: what was cut short (used with @pdu only)
 *
 * Nothing is reported when the thread is being stopped.  A connection the
 * peer closed between commands is a quiet detach; closed in the middle of
 * a command it is a protocol error of that command; any other error is
 * logged as a failed receive.
 *
 * Return: @err.
 */
int usbip_server_rx_sock_err(struct usbip_conn *conn, struct device *dev,
			     const struct usbip_pdu *pdu, int err, const char *what)
{
	if (kthread_should_stop())
		return err;
	if (err == -ECONNRESET && !pdu) {
		usbip_conn_event(conn, USBIP_EV_DETACH, err, "peer closed the connection");
		return err;
	}
	if (err == -ECONNRESET)
		return usbip_server_rx_fail(conn, dev, pdu, err, what);
	dev_err_ratelimited(dev, "receive failed (%d); closing the connection\n", err);
	usbip_conn_event(conn, USBIP_EV_ERROR | USBIP_EV_QUIET, err, "receive failed");
	return err;
}
EXPORT_SYMBOL_GPL(usbip_server_rx_sock_err);

/**
 * usbip_server_ctrl_dir() - direction of the data stage of a control CMD_SUBMIT
 * @pdu: a CMD_SUBMIT for a control endpoint
 * @dir_in: set to true for an IN data stage
 *
 * The setup packet decides; a zero-length data stage counts as OUT.  The
 * direction field of the header must agree whenever there is a data stage.
 *
 * Return: 0, or -EPROTO when the header and the setup packet disagree.
 */
int usbip_server_ctrl_dir(const struct usbip_pdu *pdu, bool *dir_in)
{
	const struct usb_ctrlrequest *setup = (const void *)pdu->submit.setup;
	bool wire_in = pdu->direction == USBIP_DIR_IN;
	u16 wlength = le16_to_cpu(setup->wLength);

	*dir_in = (setup->bRequestType & USB_DIR_IN) && wlength;
	if (wlength && *dir_in != wire_in)
		return -EPROTO;
	return 0;
}
EXPORT_SYMBOL_GPL(usbip_server_ctrl_dir);

/**
 * usbip_server_rx_iso() - receive and check the iso descriptors of a CMD_SUBMIT
 * @conn: the server's connection
 * @dev: the device named in the log line
 * @pdu: the CMD_SUBMIT, whose payload has been received already
 * @iso: set to the allocated descriptors (also on failure, when they were
 *	allocated: the caller frees them with its request)
 * @n_iso: number of iso packets of @pdu
 * @len: transfer_buffer_length of @pdu
 *
 * Must be called from the rx thread.  Every failure is reported.
 *
 * Return: 0 or a negative errno.
 */
int usbip_server_rx_iso(struct usbip_conn *conn, struct device *dev,
			const struct usbip_pdu *pdu, struct usbip_iso_desc **iso,
			int n_iso, u32 len)
{
	const char *reason;
	int ret;

	*iso = kcalloc(n_iso, sizeof(**iso), GFP_KERNEL);
	if (!*iso)
		return usbip_server_rx_fail(conn, dev, pdu, -ENOMEM, "out of memory");
	ret = usbip_recv_iso_descs(conn->sock, *iso, n_iso);
	if (ret)
		return usbip_server_rx_sock_err(conn, dev, pdu, ret, "iso descriptors cut short");
	ret = usbip_iso_check(*iso, n_iso, len, 0, 0, &reason);
	if (ret)
		return usbip_server_rx_fail(conn, dev, pdu, ret, reason);
	return 0;
}
EXPORT_SYMBOL_GPL(usbip_server_rx_iso);

/**
 * usbip_server_rx_loop() - body of a server's receive thread
 * @conn: the server's connection
 * @dev: the device named in the log lines
 * @ops: the driver's @submit and @unlink
 *
 * Receives commands until the thread is stopped or the connection fails,
 * with memory allocations that do not recurse into I/O.  A malformed
 * header, a receive error, a reply command and any error returned by the
 * driver end the loop.
 *
 * Return: 0 when stopped, or the error that ended the connection (already
 * reported with usbip_conn_event()).
 */
int usbip_server_rx_loop(struct usbip_conn *conn, struct device *dev,
			 const struct usbip_server_ops *ops)
{
	unsigned int noio = memalloc_noio_save();
	const char *reason = NULL;
	struct usbip_pdu pdu;
	int ret = 0;

	while (!kthread_should_stop()) {
		ret = usbip_recv_pdu(conn->sock, &pdu, &reason);
		if (ret == -EPROTO) {
			/* the header itself is bad: its fields mean nothing */
			dev_err_ratelimited(dev, "malformed header (%s); closing the connection\n",
					    reason);
			usbip_conn_event(conn, USBIP_EV_ERROR | USBIP_EV_QUIET, ret, reason);
			break;
		}
		if (ret) {
			usbip_server_rx_sock_err(conn, dev, NULL, ret, NULL);
			break;
		}

		switch (pdu.command) {
		case USBIP_CMD_SUBMIT:
			ret = ops->submit(conn, &pdu);
			break;
		case USBIP_CMD_UNLINK:
			ret = ops->unlink(conn, &pdu);
			break;
		default:
			ret = usbip_server_rx_fail(conn, dev, &pdu, -EPROTO,
						   "reply command sent to the server");
			break;
		}
		if (ret)
			break;
	}
	memalloc_noio_restore(noio);
	return ret;
}
EXPORT_SYMBOL_GPL(usbip_server_rx_loop);

/**
 * usbip_server_send_unlink() - send a RET_UNLINK
 * @conn: the server's connection
 * @seqnum: of the CMD_UNLINK answered
 * @devid: devid of the answer
 * @status: 0 or -ECONNRESET
 *
 * Must be called from the tx thread.
 *
 * Return: 0 or the send error.
 */
int usbip_server_send_unlink(struct usbip_conn *conn, u32 seqnum, u32 devid, int status)
{
	struct usbip_pdu pdu = {
		.command = USBIP_RET_UNLINK,
		.seqnum = seqnum,
		.devid = devid,
		.ret_unlink.status = status,
	};

	return usbip_send_msg(conn->sock, &pdu, NULL, 0, NULL, 0, 0);
}
EXPORT_SYMBOL_GPL(usbip_server_send_unlink);

/**
 * usbip_server_send_ret() - answer one served CMD_SUBMIT
 * @conn: the server's connection
 * @dev: the device named in debug lines
 * @dbg: USBIP_DBG_* category of the debug line
 * @r: the answer
 *
 * An URB cut short by CMD_UNLINK is answered by RET_UNLINK -ECONNRESET
 * alone.  Otherwise RET_SUBMIT goes out with the IN data (packed frame by
 * frame for iso) and the iso descriptors, followed by RET_UNLINK 0 if an
 * unlink arrived too late to cancel it.  Must be called from the tx thread.
 *
 * Return: 0 or the send error.
 */
int usbip_server_send_ret(struct usbip_conn *conn, struct device *dev, unsigned long dbg,
			  const struct usbip_server_ret *r)
{
	struct usbip_pdu pdu = {
		.command = USBIP_RET_SUBMIT,
		.seqnum = r->seqnum,
		.devid = r->devid,
		.direction = r->wire_dir,
		.ep = r->ep,
	};
	unsigned int flags = 0;
	u32 len = 0;
	int ret;

	if (r->unlinked)
		return usbip_server_send_unlink(conn, r->unlink_seqnum, r->devid, -ECONNRESET);

	if (r->n_iso) {
		pdu.ret_submit.number_of_packets = r->n_iso;
		pdu.ret_submit.error_count = r->error_count;
		if (r->dir_in) {
			flags |= USBIP_SEND_ISO_PACKED;
			len = r->actual;
		}
	} else if (r->dir_in) {
		len = r->actual;
	}
	pdu.ret_submit.start_frame = r->start_frame;
	pdu.ret_submit.status = r->status;
	pdu.ret_submit.actual_length = r->actual;

	usbip_dev_dbg(dbg, dev, "ret_submit seqnum %u status %d actual %u iso %d\n",
		      r->seqnum, r->status, r->actual, r->n_iso);
	ret = usbip_send_msg(conn->sock, &pdu, &r->buf, len, r->iso, r->n_iso, flags);
	if (ret)
		return ret;
	if (r->unlinking)
		ret = usbip_server_send_unlink(conn, r->unlink_seqnum, r->devid, 0);
	return ret;
}
EXPORT_SYMBOL_GPL(usbip_server_send_ret);

static bool usbip_server_tx_has_work(const struct usbip_server_tx *tx)
{
	bool work;

	spin_lock_irq(tx->lock);
	work = !list_empty(tx->done) || !list_empty(tx->unlinks);
	spin_unlock_irq(tx->lock);
	return work;
}

/* Sends the next answer, if any: the served requests first. */
static int usbip_server_tx_next(struct usbip_conn *conn, const struct usbip_server_tx *tx)
{
	struct usbip_server_unlink *ul = NULL;
	struct list_head *entry = NULL;
	int ret = 0;

	spin_lock_irq(tx->lock);
	if (!list_empty(tx->done)) {
		entry = tx->done->next;
		list_del_init(entry);
	} else {
		ul = list_first_entry_or_null(tx->unlinks, struct usbip_server_unlink, list);
		if (ul)
			list_del(&ul->list);
	}
	spin_unlock_irq(tx->lock);

	if (entry) {
		ret = tx->send_done(conn, entry);
	} else if (ul) {
		ret = usbip_server_send_unlink(conn, ul->seqnum, ul->devid, ul->status);
		kfree(ul);
	}
	return ret;
}

/**
 * usbip_server_tx_loop() - body of a server's transmit thread
 * @conn: the server's connection
 * @tx: its answer queues
 *
 * Sends the answers in the order they were queued, served requests before
 * RET_UNLINK answers, until the thread is stopped or a send fails.  A peer
 * that closed the connection is a quiet detach; any other send error is
 * logged.
 *
 * Return: 0 when stopped, or the send error that ended the connection.
 */
int usbip_server_tx_loop(struct usbip_conn *conn, const struct usbip_server_tx *tx)
{
	unsigned int noio = memalloc_noio_save();
	int ret = 0;

	for (;;) {
		wait_event_interruptible(*tx->wq,
					 kthread_should_stop() || usbip_server_tx_has_work(tx));
		if (kthread_should_stop())
			break;
		ret = usbip_server_tx_next(conn, tx);
		if (ret)
			break;
	}

	if (ret && !kthread_should_stop()) {
		if (ret == -EPIPE || ret == -ECONNRESET) {
			usbip_conn_event(conn, USBIP_EV_DETACH, ret, "peer closed the connection");
		} else {
			dev_err_ratelimited(tx->dev, "send failed (%d); closing the connection\n",
					    ret);
			usbip_conn_event(conn, USBIP_EV_ERROR | USBIP_EV_QUIET, ret, "send failed");
		}
	}
	memalloc_noio_restore(noio);
	return ret;
}
EXPORT_SYMBOL_GPL(usbip_server_tx_loop);

/**
 * usbip_server_unlinks_free() - drop RET_UNLINK answers that will not be sent
 * @unlinks: a list of struct usbip_server_unlink no one else can reach
 */
void usbip_server_unlinks_free(struct list_head *unlinks)
{
	struct usbip_server_unlink *ul, *tmp;

	list_for_each_entry_safe(ul, tmp, unlinks, list) {
		list_del(&ul->list);
		kfree(ul);
	}
}
EXPORT_SYMBOL_GPL(usbip_server_unlinks_free);
