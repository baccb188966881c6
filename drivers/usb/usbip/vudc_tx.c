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
#include <linux/mm.h>
#include <linux/slab.h>

#include "vudc.h"

/**
 * vudc_urb_free() - free a client URB and its buffers
 * @urb: an URB on no list
 */
void vudc_urb_free(struct vudc_urb *urb)
{
	struct vudc *vudc = urb->vudc;
	unsigned long flags;

	if (urb->counted) {
		spin_lock_irqsave(&vudc->slock, flags);
		vudc->pending_bytes -= urb->len;
		spin_unlock_irqrestore(&vudc->slock, flags);
	}
	kvfree(urb->data);
	kfree(urb->iso);
	kfree(urb);
}

static int vudc_send_urb(struct vudc *vudc, struct vudc_urb *urb)
{
	struct usbip_server_ret r = {
		.seqnum = urb->seqnum,
		.devid = urb->devid,
		.wire_dir = urb->wire_dir,
		.ep = urb->ep_num,
		.dir_in = urb->dir_in,
		.status = urb->status,
		.actual = min(urb->actual, urb->len),
		.iso = urb->iso,
		.n_iso = urb->n_iso,
		.unlinked = urb->unlinked,
		.unlinking = urb->unlinking,
		.unlink_seqnum = urb->unlink_seqnum,
	};
	int i;

	usbip_buf_linear(&r.buf, urb->data, urb->len);
	if (urb->n_iso && !urb->unlinked) {
		r.actual = 0;
		for (i = 0; i < urb->n_iso; i++) {
			/* packets the gadget never filled */
			if (i >= urb->iso_next) {
				urb->iso[i].actual_length = 0;
				urb->iso[i].status = urb->status ? urb->status : -EXDEV;
			}
			if (urb->iso[i].status)
				r.error_count++;
			r.actual += urb->iso[i].actual_length;
		}
	}
	return usbip_server_send_ret(&vudc->conn, vudc_dev(vudc), USBIP_DBG_VUDC_TX, &r);
}

/**
 * vudc_tx_send_done() - answer a completed URB (struct usbip_server_tx.send_done)
 * @conn: the connection of a struct vudc
 * @entry: the list entry of a struct vudc_urb taken off tx_urbs
 *
 * Return: 0 or the send error; the URB is freed either way.
 */
int vudc_tx_send_done(struct usbip_conn *conn, struct list_head *entry)
{
	struct vudc_urb *urb = list_entry(entry, struct vudc_urb, list);
	int ret;

	ret = vudc_send_urb(conn_to_vudc(conn), urb);
	vudc_urb_free(urb);
	return ret;
}
