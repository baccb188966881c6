// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * usbip-host: URB completion and the transmit thread.
 *
 * A completed request moves from the stub_device.in_flight tree to the
 * .tx_reqs list under req_lock, so a CMD_UNLINK (which looks in in_flight
 * only) either finds it still in flight and marks it, or does not find it
 * and is answered with status 0.  A marked request is answered by the tx thread with a
 * RET_UNLINK -ECONNRESET alone when the unlink cut it short, otherwise
 * with its RET_SUBMIT followed by a RET_UNLINK 0.
 *
 * A SPLIT request carries its pieces one after the other in the same URB:
 * the completion of a full piece submits the next one, so a short piece
 * ends the transfer before the device is asked for more data, and the
 * data the client gets back is always contiguous.
 */
#define pr_fmt(fmt) "usbip-host: " fmt

#include <linux/delay.h>
#include <linux/kernel.h>
#include <linux/kthread.h>
#include <linux/sched/mm.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>

#include "stub.h"

/**
 * stub_req_free() - free a request, its URB and its buffers
 * @req: a request on no list, whose URB is not in flight
 *
 * Gives back what the request was charged to the connection's budget.
 */
void stub_req_free(struct stub_req *req)
{
	usbip_budget_release(&req->sdev->budget, 1, req->charged);
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
 * stub_unlink_free() - free a RET_UNLINK of our own and give back its charge
 * @sdev: the device
 * @ul: an answer on no list
 */
void stub_unlink_free(struct stub_device *sdev, struct stub_unlink *ul)
{
	kfree(ul);
	usbip_budget_release(&sdev->budget, 1, sizeof(*ul));
}

/**
 * stub_in_flight_find() - the in-flight request with a seqnum
 * @sdev: the device
 * @seqnum: of its CMD_SUBMIT
 *
 * Return: the request, or NULL.  Caller holds req_lock.
 */
struct stub_req *stub_in_flight_find(struct stub_device *sdev, u32 seqnum)
{
	struct usbip_seq_node *node;

	lockdep_assert_held(&sdev->req_lock);
	node = usbip_seq_find(&sdev->in_flight, seqnum);
	return node ? container_of(node, struct stub_req, seq) : NULL;
}

/**
 * stub_in_flight_add() - enter a request in the in-flight tree
 * @sdev: the device
 * @req: a request on no list and in no tree
 *
 * Return: false (and @req not entered) if its seqnum is in flight already.
 * Caller holds req_lock.
 */
bool stub_in_flight_add(struct stub_device *sdev, struct stub_req *req)
{
	lockdep_assert_held(&sdev->req_lock);
	return usbip_seq_insert(&sdev->in_flight, &req->seq);
}

/**
 * stub_in_flight_del() - take a request out of the in-flight tree
 * @sdev: the device
 * @req: a request, in the tree or not
 *
 * Caller holds req_lock.
 */
void stub_in_flight_del(struct stub_device *sdev, struct stub_req *req)
{
	lockdep_assert_held(&sdev->req_lock);
	usbip_seq_erase(&sdev->in_flight, &req->seq);
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
	wake_up(&sdev->tx_wq);	/* under req_lock, as stub_complete() must */
	spin_unlock_irq(&sdev->req_lock);
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
	stub_in_flight_del(sdev, req);
	list_add_tail(&req->list, &sdev->tx_reqs);
	/*
	 * Wake the tx thread before dropping req_lock: once it is dropped, the
	 * tx thread may send and free @req, and an unbind, which no longer
	 * waits for this URB, may free @sdev.  Nothing below touches either.
	 */
	wake_up(&sdev->tx_wq);
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
 * stub_kill_in_flight() - kill the submitted URBs of the connection
 * @sdev: the device
 * @epaddr: only those of this endpoint address (number | USB_DIR_IN), or
 *	STUB_EP_ALL for every one
 *
 * Each killed request goes to tx_reqs as its completion sees it (status
 * -ENOENT for STUB_EP_ALL, -ECONNRESET for one endpoint, as a cancel
 * before a halt is cleared; or answered by RET_UNLINK alone if the client
 * was unlinking it), so each still gets exactly one answer unless the
 * connection is being torn down.  The caller is the only one that submits:
 * the rx thread itself, or anyone once the rx thread is stopped.
 *
 * Return: the number of URBs killed.
 */
unsigned int stub_kill_in_flight(struct stub_device *sdev, int epaddr)
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
	for (node = rb_first(&sdev->in_flight); node; node = rb_next(node))
		left += stub_req_on_ep(rb_entry(node, struct stub_req, seq.rb), epaddr);
	spin_unlock_irq(&sdev->req_lock);

	while (left--) {
		urb = NULL;
		spin_lock_irq(&sdev->req_lock);
		for (node = rb_first(&sdev->in_flight); node; node = rb_next(node)) {
			req = rb_entry(node, struct stub_req, seq.rb);
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
		/* returns once the completion moved req to tx_reqs */
		usb_kill_urb(urb);
		usb_put_urb(urb);
		n++;
	}
	return n;
}

/**
 * stub_kill_all() - cancel every URB of the connection and drop all answers
 * @sdev: the device; its rx and tx threads are stopped
 */
void stub_kill_all(struct stub_device *sdev)
{
	struct stub_unlink *ul, *ul_tmp;
	struct stub_req *req, *tmp;
	LIST_HEAD(reqs);
	LIST_HEAD(unlinks);
	unsigned int n;

	lockdep_assert_held(&sdev->lock);

	spin_lock_irq(&sdev->req_lock);
	sdev->stopping = true;
	spin_unlock_irq(&sdev->req_lock);
	n = stub_kill_in_flight(sdev, STUB_EP_ALL);

	spin_lock_irq(&sdev->req_lock);
	list_splice_init(&sdev->tx_reqs, &reqs);
	list_splice_init(&sdev->tx_unlinks, &unlinks);
	spin_unlock_irq(&sdev->req_lock);

	list_for_each_entry_safe(req, tmp, &reqs, list) {
		list_del(&req->list);
		stub_req_free(req);
	}
	list_for_each_entry_safe(ul, ul_tmp, &unlinks, list) {
		list_del(&ul->list);
		stub_unlink_free(sdev, ul);
	}
	usbip_dev_dbg(USBIP_DBG_STUB, &sdev->udev->dev, "%u URBs killed\n", n);
}

static int stub_send_unlink(struct stub_device *sdev, u32 seqnum, int status)
{
	struct usbip_pdu pdu = {
		.command = USBIP_RET_UNLINK,
		.seqnum = seqnum,
		.devid = sdev->devid,
		.ret_unlink.status = status,
	};

	return usbip_send_msg(sdev->conn.sock, &pdu, NULL, 0, NULL, 0, 0);
}

static int stub_send_req(struct stub_device *sdev, struct stub_req *req)
{
	struct usbip_pdu pdu = {
		.command = USBIP_RET_SUBMIT,
		.seqnum = req->seq.seqnum,
		.devid = sdev->devid,
		.direction = req->wire_dir,
		.ep = req->ep,
	};
	struct urb *urb = req->urb;
	unsigned int flags = 0;
	struct usbip_buf buf;
	u32 actual = min(req->actual, req->len);
	u32 len = 0;
	int i, ret;

	if (req->unlinked)
		return stub_send_unlink(sdev, req->unlink_seqnum, -ECONNRESET);

	if (req->kind == STUB_BUF_SG || req->kind == STUB_BUF_SPLIT)
		usbip_buf_sg(&buf, req->sgl, req->nents, req->len);
	else
		usbip_buf_linear(&buf, req->data, req->len);

	if (req->n_iso && urb) {
		usbip_iso_descs_from_urb(req->iso, urb);
		actual = 0;
		for (i = 0; i < req->n_iso; i++)
			actual += req->iso[i].actual_length;
		pdu.ret_submit.number_of_packets = req->n_iso;
		pdu.ret_submit.error_count = urb->error_count;
		if (req->dir_in) {
			flags |= USBIP_SEND_ISO_PACKED;
			len = actual;
		}
	} else if (req->dir_in) {
		len = actual;
	}
	if (urb)
		pdu.ret_submit.start_frame = urb->start_frame;
	pdu.ret_submit.status = req->status;
	pdu.ret_submit.actual_length = actual;

	usbip_dev_dbg(USBIP_DBG_STUB_TX, &sdev->udev->dev,
		      "ret_submit seqnum %u status %d actual %u iso %d\n",
		      req->seq.seqnum, req->status, actual, req->n_iso);
	ret = usbip_send_msg(sdev->conn.sock, &pdu, &buf, len, req->iso,
			     req->n_iso, flags);
	if (ret)
		return ret;
	if (req->unlinking)
		ret = stub_send_unlink(sdev, req->unlink_seqnum, 0);
	return ret;
}

static bool stub_tx_has_work(struct stub_device *sdev)
{
	bool work;

	spin_lock_irq(&sdev->req_lock);
	work = !list_empty(&sdev->tx_reqs) || !list_empty(&sdev->tx_unlinks);
	spin_unlock_irq(&sdev->req_lock);
	return work;
}

/**
 * stub_tx_loop() - body of the transmit thread
 * @conn: the connection of a struct stub_device
 *
 * Sends the answers in the order they were queued, completed requests
 * first.
 *
 * Return: 0 when stopped, or the send error that ended the connection.
 */
int stub_tx_loop(struct usbip_conn *conn)
{
	struct stub_device *sdev = conn_to_stub(conn);
	unsigned int noio = memalloc_noio_save();
	struct stub_unlink *ul;
	struct stub_req *req;
	int ret = 0;

	for (;;) {
		wait_event_interruptible(sdev->tx_wq,
					 kthread_should_stop() || stub_tx_has_work(sdev));
		if (kthread_should_stop())
			break;

		spin_lock_irq(&sdev->req_lock);
		req = list_first_entry_or_null(&sdev->tx_reqs, struct stub_req, list);
		ul = NULL;
		if (req) {
			list_del_init(&req->list);
		} else {
			ul = list_first_entry_or_null(&sdev->tx_unlinks, struct stub_unlink, list);
			if (ul)
				list_del(&ul->list);
		}
		spin_unlock_irq(&sdev->req_lock);

		if (req) {
			ret = stub_send_req(sdev, req);
			stub_req_free(req);
		} else if (ul) {
			ret = stub_send_unlink(sdev, ul->seqnum, ul->status);
			stub_unlink_free(sdev, ul);
		}
		if (ret)
			break;
	}

	if (ret && !kthread_should_stop()) {
		if (ret == -EPIPE || ret == -ECONNRESET) {
			usbip_conn_event(conn, USBIP_EV_DETACH, ret, "peer closed the connection");
		} else {
			dev_err_ratelimited(&sdev->udev->dev,
					    "send failed (%d); closing the connection\n", ret);
			usbip_conn_event(conn, USBIP_EV_ERROR | USBIP_EV_QUIET, ret, "send failed");
		}
	}
	memalloc_noio_restore(noio);
	return ret;
}
