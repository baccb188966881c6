// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * usbip-host: URB completion and the transmit thread.
 *
 * A completed request moves from stub_device.in_flight to .tx_reqs under
 * req_lock, so a CMD_UNLINK (which looks in in_flight only) either finds
 * it still in flight and marks it, or does not find it and is answered
 * with status 0.  A marked request is answered by the tx thread with a
 * RET_UNLINK -ECONNRESET alone when the unlink cut it short, otherwise
 * with its RET_SUBMIT followed by a RET_UNLINK 0.
 *
 * A SPLIT request carries its pieces one after the other in the same URB:
 * the completion of a full piece submits the next one, so a short piece
 * ends the transfer before the device is asked for more data, and the
 * data the client gets back is always contiguous.
 */
#define pr_fmt(fmt) "usbip-host: " fmt

#include <linux/kernel.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>

#include "stub.h"

/**
 * stub_req_free() - free a request, its URB and its buffers
 * @req: a request on no list, whose URB is not in flight
 */
void stub_req_free(struct stub_req *req)
{
	if (req->urb) {
		kfree(req->urb->setup_packet);
		usb_free_urb(req->urb);
	}
	switch (req->kind) {
	case STUB_BUF_LINEAR:
		kfree(req->data);
		break;
	case STUB_BUF_SG:
	case STUB_BUF_SPLIT:
		sgl_free_order(req->sgl, req->order);
		break;
	case STUB_BUF_NONE:
		break;
	}
	kfree(req->iso);
	kfree(req);
}

/**
 * stub_queue_done() - hand a finished request to the tx thread
 * @sdev: the device
 * @req: a request on no list (its URB, if any, not in flight)
 */
void stub_queue_done(struct stub_device *sdev, struct stub_req *req)
{
	spin_lock_irq(&sdev->req_lock);
	list_add_tail(&req->list, &sdev->tx_reqs);
	spin_unlock_irq(&sdev->req_lock);
	wake_up(&sdev->tx_wq);
}

/* SPLIT: puts the next piece in the URB and submits it; req_lock held. */
static int stub_submit_next_piece(struct stub_req *req, struct urb *urb)
{
	struct scatterlist *sg;

	lockdep_assert_held(&req->sdev->req_lock);
	req->piece++;
	sg = &req->sgl[req->piece];
	urb->transfer_buffer = sg_virt(sg);
	urb->transfer_buffer_length = sg->length;
	if (req->piece == req->nents - 1)
		urb->transfer_flags |= req->urb_flags & URB_ZERO_PACKET;
	return usb_submit_urb(urb, GFP_ATOMIC);
}

/**
 * stub_complete() - completion handler of every URB of usbip-host
 * @urb: the URB; its context is the struct stub_req
 */
void stub_complete(struct urb *urb)
{
	struct stub_req *req = urb->context;
	struct stub_device *sdev = req->sdev;
	int status = urb->status;
	unsigned long flags;
	bool more;

	spin_lock_irqsave(&sdev->req_lock, flags);
	req->actual += urb->actual_length;
	if (req->kind == STUB_BUF_SPLIT) {
		more = !status && urb->actual_length == urb->transfer_buffer_length &&
		       req->piece + 1 < req->nents;
		if (more && !req->unlinking && !sdev->stopping) {
			status = stub_submit_next_piece(req, urb);
			if (!status) {
				spin_unlock_irqrestore(&sdev->req_lock, flags);
				return;
			}
		} else if (more) {
			/* cut between two pieces */
			status = -ECONNRESET;
		}
	}
	if (req->unlinking)
		req->unlinked = status == -ECONNRESET || status == -ENOENT;
	req->status = status;
	list_move_tail(&req->list, &sdev->tx_reqs);
	spin_unlock_irqrestore(&sdev->req_lock, flags);

	wake_up(&sdev->tx_wq);
}

/**
 * stub_kill_all() - cancel every URB of the connection and drop all answers
 * @sdev: the device; its rx and tx threads are stopped
 */
void stub_kill_all(struct stub_device *sdev)
{
	struct stub_req *req, *tmp;
	LIST_HEAD(reqs);
	LIST_HEAD(unlinks);
	struct urb *urb;
	unsigned int n = 0;

	lockdep_assert_held(&sdev->lock);

	spin_lock_irq(&sdev->req_lock);
	sdev->stopping = true;
	while (!list_empty(&sdev->in_flight)) {
		req = list_first_entry(&sdev->in_flight, struct stub_req, list);
		urb = usb_get_urb(req->urb);
		spin_unlock_irq(&sdev->req_lock);
		/* returns once the completion moved req to tx_reqs */
		usb_kill_urb(urb);
		usb_put_urb(urb);
		n++;
		spin_lock_irq(&sdev->req_lock);
	}
	list_splice_init(&sdev->tx_reqs, &reqs);
	list_splice_init(&sdev->tx_unlinks, &unlinks);
	spin_unlock_irq(&sdev->req_lock);

	list_for_each_entry_safe(req, tmp, &reqs, list) {
		list_del(&req->list);
		stub_req_free(req);
	}
	usbip_server_unlinks_free(&unlinks);
	usbip_dev_dbg(USBIP_DBG_STUB, &sdev->udev->dev, "%u URBs killed\n", n);
}

static int stub_send_req(struct stub_device *sdev, struct stub_req *req)
{
	struct urb *urb = req->urb;
	struct usbip_server_ret r = {
		.seqnum = req->seqnum,
		.devid = sdev->devid,
		.wire_dir = req->wire_dir,
		.ep = req->ep,
		.dir_in = req->dir_in,
		.status = req->status,
		.actual = min(req->actual, req->len),
		.start_frame = urb ? urb->start_frame : 0,
		.iso = req->iso,
		.n_iso = req->n_iso,
		.unlinked = req->unlinked,
		.unlinking = req->unlinking,
		.unlink_seqnum = req->unlink_seqnum,
	};
	int i;

	if (req->kind == STUB_BUF_SG || req->kind == STUB_BUF_SPLIT)
		usbip_buf_sg(&r.buf, req->sgl, req->nents, req->len);
	else
		usbip_buf_linear(&r.buf, req->data, req->len);

	/* a request the server carried out itself (no URB) has no iso packets */
	if (req->n_iso && urb && !req->unlinked) {
		usbip_iso_descs_from_urb(req->iso, urb);
		r.actual = 0;
		for (i = 0; i < req->n_iso; i++)
			r.actual += req->iso[i].actual_length;
		r.error_count = urb->error_count;
	}
	return usbip_server_send_ret(&sdev->conn, &sdev->udev->dev, USBIP_DBG_STUB_TX, &r);
}

/**
 * stub_tx_send_done() - answer a served request (struct usbip_server_tx.send_done)
 * @conn: the connection of a struct stub_device
 * @entry: the list entry of a struct stub_req taken off tx_reqs
 *
 * Return: 0 or the send error; the request is freed either way.
 */
int stub_tx_send_done(struct usbip_conn *conn, struct list_head *entry)
{
	struct stub_req *req = list_entry(entry, struct stub_req, list);
	int ret;

	ret = stub_send_req(conn_to_stub(conn), req);
	stub_req_free(req);
	return ret;
}
