// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * usbip-vudc: the transmit thread.
 *
 * Sends a RET_SUBMIT for every completed URB (with the IN data), a lone
 * RET_UNLINK -ECONNRESET for an URB a CMD_UNLINK took back, a RET_SUBMIT
 * followed by RET_UNLINK 0 for one that completed although an unlink was
 * asked for, and RET_UNLINK 0 for unlinks of URBs that were already done.
 */
#define pr_fmt(fmt) "usbip-vudc: " fmt

#include <linux/kernel.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include "vudc.h"

/**
 * vudc_urb_free() - free a client URB and its buffers
 * @urb: an URB on no list
 */
void vudc_urb_free(struct vudc_urb *urb)
{
	if (urb->charged)
		usbip_budget_release(&urb->vudc->budget, 1, urb->len);
	kvfree(urb->data);
	kfree(urb->iso);
	kfree(urb);
}

/**
 * vudc_unlink_free() - free a RET_UNLINK of the UDC's own
 * @vudc: the UDC
 * @ul: the answer, on no list; its charge goes back to the budget
 */
void vudc_unlink_free(struct vudc *vudc, struct vudc_unlink *ul)
{
	kfree(ul);
	usbip_budget_release(&vudc->budget, 1, sizeof(*ul));
}

static int vudc_send_unlink(struct vudc *vudc, u32 seqnum, u32 devid, int status)
{
	struct usbip_pdu pdu = {
		.command = USBIP_RET_UNLINK,
		.seqnum = seqnum,
		.devid = devid,
		.ret_unlink.status = status,
	};

	return usbip_send_msg(vudc->conn.sock, &pdu, NULL, 0, NULL, 0, 0);
}

static int vudc_send_urb(struct vudc *vudc, struct vudc_urb *urb)
{
	struct usbip_pdu pdu = {
		.command = USBIP_RET_SUBMIT,
		.seqnum = urb->seq.seqnum,
		.devid = urb->devid,
		.direction = urb->wire_dir,
		.ep = urb->ep_num,
	};
	unsigned int flags = 0;
	struct usbip_buf buf;
	u32 actual = min(urb->actual, urb->len);
	u32 len = 0;
	int i, errors = 0, ret;

	if (urb->unlinked)
		return vudc_send_unlink(vudc, urb->unlink_seqnum, urb->devid, -ECONNRESET);

	usbip_buf_linear(&buf, urb->data, urb->len);
	if (urb->n_iso) {
		actual = 0;
		for (i = 0; i < urb->n_iso; i++) {
			/* packets the gadget never filled */
			if (i >= urb->iso_next) {
				urb->iso[i].actual_length = 0;
				urb->iso[i].status = urb->status ? urb->status : -EXDEV;
			}
			if (urb->iso[i].status)
				errors++;
			actual += urb->iso[i].actual_length;
		}
		pdu.ret_submit.number_of_packets = urb->n_iso;
		pdu.ret_submit.error_count = errors;
		if (urb->dir_in) {
			flags |= USBIP_SEND_ISO_PACKED;
			len = actual;
		}
	} else if (urb->dir_in) {
		len = actual;
	}
	pdu.ret_submit.status = urb->status;
	pdu.ret_submit.actual_length = actual;

	usbip_dev_dbg(USBIP_DBG_VUDC_TX, vudc_dev(vudc),
		      "ret_submit seqnum %u status %d actual %u iso %d\n",
		      urb->seq.seqnum, urb->status, actual, urb->n_iso);
	ret = usbip_send_msg(vudc->conn.sock, &pdu, &buf, len, urb->iso, urb->n_iso, flags);
	if (ret)
		return ret;
	if (urb->unlinking)
		ret = vudc_send_unlink(vudc, urb->unlink_seqnum, urb->devid, 0);
	return ret;
}

static bool vudc_tx_has_work(struct vudc *vudc)
{
	bool work;

	spin_lock_irq(&vudc->slock);
	work = !list_empty(&vudc->tx_urbs) || !list_empty(&vudc->tx_unlinks);
	spin_unlock_irq(&vudc->slock);
	return work;
}

/**
 * vudc_tx_loop() - body of the transmit thread
 * @conn: the connection of a struct vudc
 *
 * Return: 0 when stopped, or the send error that ended the connection.
 */
int vudc_tx_loop(struct usbip_conn *conn)
{
	struct vudc *vudc = conn_to_vudc(conn);
	unsigned int noio = memalloc_noio_save();
	struct vudc_unlink *ul;
	struct vudc_urb *urb;
	int ret = 0;

	for (;;) {
		wait_event_interruptible(vudc->tx_wq,
					 kthread_should_stop() || vudc_tx_has_work(vudc));
		if (kthread_should_stop())
			break;

		spin_lock_irq(&vudc->slock);
		urb = list_first_entry_or_null(&vudc->tx_urbs, struct vudc_urb, list);
		ul = NULL;
		if (urb) {
			list_del_init(&urb->list);
		} else {
			ul = list_first_entry_or_null(&vudc->tx_unlinks, struct vudc_unlink, list);
			if (ul)
				list_del(&ul->list);
		}
		spin_unlock_irq(&vudc->slock);

		if (urb) {
			ret = vudc_send_urb(vudc, urb);
			vudc_urb_free(urb);
		} else if (ul) {
			ret = vudc_send_unlink(vudc, ul->seqnum, ul->devid, ul->status);
			vudc_unlink_free(vudc, ul);
		}
		if (ret)
			break;
	}

	if (ret && !kthread_should_stop()) {
		if (ret == -EPIPE || ret == -ECONNRESET) {
			usbip_conn_event(conn, USBIP_EV_DETACH, ret, "peer closed the connection");
		} else {
			dev_err_ratelimited(vudc_dev(vudc),
					    "send failed (%d); closing the connection\n", ret);
			usbip_conn_event(conn, USBIP_EV_ERROR | USBIP_EV_QUIET, ret, "send failed");
		}
	}
	memalloc_noio_restore(noio);
	return ret;
}
