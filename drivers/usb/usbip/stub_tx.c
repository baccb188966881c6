// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * usbip-host: URB completion and request teardown.
 *
 * A completed request moves from the server's in-flight index to its
 * answer queue under req_lock, so a CMD_UNLINK (which looks in the
 * in-flight index only) either finds it still in flight and marks it, or
 * does not find it and is answered with status 0.  usbip-core's transmit
 * thread sends the answers (usbip_server.c); stub_req_ret_fill() gives it
 * what only the URB knows.
 *
 * A SPLIT request carries its pieces one after the other in the same URB:
 * the completion of a full piece submits the next one, so a short piece
 * ends the transfer before the device is asked for more data, and the
 * data the client gets back is always contiguous.
 */
#define pr_fmt(fmt) "usbip-host: " fmt

#include <linux/delay.h>
#include <linux/kernel.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>

#include "stub.h"

/**
 * stub_req_free() - free a request, its URB and its buffers (->urb_free)
 * @srv: the server of a struct stub_device
 * @su: a request on no list, whose URB is not in flight
 *
 * Gives back what the request was charged to the connection's budget.
 */
void stub_req_free(struct usbip_server *srv, struct usbip_server_urb *su)
{
	struct stub_req *req = su_to_stub_req(su);

	usbip_server_urb_release(srv, su);
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
	kfree(req);
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

#if IS_ENABLED(CONFIG_USBIP_SELFTEST)
/*
 * Test hook: holds one completion once it has handed its request on, the
 * window in which an unbind may free the device.  It busy-waits in the
 * completion's context (atomic, interrupts possibly off).  The parameter
 * reads 1 while the completion is held and 0 after, so that a test can act
 * in the window and then wait for its end.
 */
static void stub_selftest_complete_delay(void)
{
	unsigned int ms = READ_ONCE(stub_selftest_complete_delay_ms);

	if (ms > 1 && cmpxchg(&stub_selftest_complete_delay_ms, ms, 1) == ms) {
		mdelay(ms);
		WRITE_ONCE(stub_selftest_complete_delay_ms, 0);
	}
}
#else
static inline void stub_selftest_complete_delay(void)
{
}
#endif

/**
 * stub_urb_complete() - completion handler of every URB of usbip-host
 * @urb: the URB; its context is the struct stub_req
 */
void stub_urb_complete(struct urb *urb)
{
	struct stub_req *req = urb->context;
	struct stub_device *sdev = req->sdev;
	int status = urb->status;
	unsigned long flags;
	bool more;

	spin_lock_irqsave(&sdev->req_lock, flags);
	req->su.actual += urb->actual_length;
	if (req->kind == STUB_BUF_SPLIT) {
		more = !status && urb->actual_length == urb->transfer_buffer_length &&
		       req->piece + 1 < req->nents;
		if (more && !req->su.unlinking && !sdev->stopping) {
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
	if (req->su.unlinking)
		req->su.unlinked = status == -ECONNRESET || status == -ENOENT;
	req->su.status = status;
	usbip_server_in_flight_del(&sdev->srv, &req->su);
	/*
	 * This wakes the tx thread, before req_lock is dropped: once it is
	 * dropped, the tx thread may send and free @req, and an unbind, which
	 * no longer waits for this URB, may free @sdev.  Nothing below
	 * touches either.
	 */
	usbip_server_urb_done_locked(&sdev->srv, &req->su);
	spin_unlock_irqrestore(&sdev->req_lock, flags);
	stub_selftest_complete_delay();
}

/* Does @req's URB belong to the endpoint address @epaddr (STUB_EP_ALL: any)? */
static bool stub_req_on_ep(const struct stub_req *req, int epaddr)
{
	unsigned int pipe = req->urb->pipe;

	if (epaddr == STUB_EP_ALL)
		return true;
	return usb_pipeendpoint(pipe) == (epaddr & USB_ENDPOINT_NUMBER_MASK) &&
	       !!usb_pipein(pipe) == !!(epaddr & USB_DIR_IN);
}

/**
 * stub_in_flight_kill() - kill the submitted URBs of the connection
 * @sdev: the device
 * @epaddr: only those of this endpoint address (number | USB_DIR_IN), or
 *	STUB_EP_ALL for every one
 *
 * Each killed request goes to the answer queue as its completion sees it (status
 * -ENOENT for STUB_EP_ALL, -ECONNRESET for one endpoint, as a cancel
 * before a halt is cleared; or answered by RET_UNLINK alone if the client
 * was unlinking it), so each still gets exactly one answer unless the
 * connection is being torn down.  The caller is the only one that submits:
 * the rx thread itself, or anyone once the rx thread is stopped.
 *
 * Return: the number of URBs killed.
 */
unsigned int stub_in_flight_kill(struct stub_device *sdev, int epaddr)
{
	struct stub_req *req;
	struct rb_node *node;
	unsigned int left = 0, n = 0;
	struct urb *urb;

	/*
	 * Nobody submits meanwhile, so the URBs found now are all there is
	 * to stop; bounding the loop by them also bounds it if a killed
	 * request ever stayed in the tree.
	 */
	spin_lock_irq(&sdev->req_lock);
	for (node = rb_first(&sdev->srv.in_flight); node; node = rb_next(node))
		left += stub_req_on_ep(rb_entry(node, struct stub_req, su.seq.rb), epaddr);
	spin_unlock_irq(&sdev->req_lock);

	while (left--) {
		urb = NULL;
		spin_lock_irq(&sdev->req_lock);
		for (node = rb_first(&sdev->srv.in_flight); node; node = rb_next(node)) {
			req = rb_entry(node, struct stub_req, su.seq.rb);
			if (stub_req_on_ep(req, epaddr)) {
				urb = usb_get_urb(req->urb);
				break;
			}
		}
		spin_unlock_irq(&sdev->req_lock);
		if (!urb)
			break;
		if (epaddr != STUB_EP_ALL)
			usb_unlink_urb(urb);
		/* returns once the completion queued req for its answer */
		usb_kill_urb(urb);
		usb_put_urb(urb);
		n++;
	}
	return n;
}

/**
 * stub_io_stop() - cancel every URB and drop all answers (->shutdown)
 * @srv: the server of a struct stub_device; its rx and tx threads are
 *	stopped
 */
void stub_io_stop(struct usbip_server *srv)
{
	struct stub_device *sdev = srv_to_stub(srv);
	unsigned int n;

	lockdep_assert_held(&sdev->lock);

	spin_lock_irq(&sdev->req_lock);
	sdev->stopping = true;
	spin_unlock_irq(&sdev->req_lock);
	n = stub_in_flight_kill(sdev, STUB_EP_ALL);
	usbip_server_tx_drop(srv);
	usbip_dev_dbg(USBIP_DBG_STUB, &sdev->udev->dev, "%u URBs killed\n", n);
}

/**
 * stub_req_ret_fill() - the RET_SUBMIT fields only the URB knows (->ret_fill)
 * @srv: the server of a struct stub_device
 * @su: a finished request
 * @pdu: its RET_SUBMIT
 *
 * The start frame, and for an iso URB its packets and their error count.
 */
void stub_req_ret_fill(struct usbip_server *srv, struct usbip_server_urb *su,
		       struct usbip_pdu *pdu)
{
	struct urb *urb = su_to_stub_req(su)->urb;

	if (!urb)
		return;
	if (su->n_iso) {
		usbip_iso_descs_from_urb(su->iso, urb);
		pdu->ret_submit.error_count = urb->error_count;
	}
	pdu->ret_submit.start_frame = urb->start_frame;
}
