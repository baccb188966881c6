// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * usbip-host: the receive thread.
 *
 * Reads CMD_SUBMIT and CMD_UNLINK messages, checks them against the
 * exported device, builds and submits URBs, and carries out the control
 * requests that change the state the USB core keeps about the device
 * (configuration, alternate settings, endpoint halt, port reset) with the
 * core's own functions.  Any malformed input ends the connection with one
 * error line in the kernel log.
 */
#define pr_fmt(fmt) "usbip-host: " fmt

#include <linux/kernel.h>
#include <linux/kthread.h>
#include <linux/sched/mm.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/usb/ch9.h>
#include <linux/usb/ch11.h>

#include "stub.h"

/* Class request to a hub port: SET_FEATURE(PORT_RESET). */
#define STUB_RT_PORT		(USB_DIR_OUT | USB_TYPE_CLASS | USB_RECIP_OTHER)

/* A protocol error: one line in the log, then the connection is dropped. */
static int stub_rx_fail(struct stub_device *sdev, const struct usbip_pdu *pdu, int err,
			const char *reason)
{
	dev_err_ratelimited(&sdev->udev->dev, "%s seqnum %u: %s; closing the connection\n",
			    usbip_cmd_name(pdu->command), pdu->seqnum, reason);
	usbip_conn_event(&sdev->conn, USBIP_EV_ERROR | USBIP_EV_QUIET, err, reason);
	return err;
}

/* A receive error: a closed connection is quiet, anything else is not. */
static int stub_rx_sock_err(struct stub_device *sdev, const struct usbip_pdu *pdu, int err,
			    const char *what)
{
	if (kthread_should_stop())
		return err;
	if (err == -ECONNRESET && !pdu) {
		usbip_conn_event(&sdev->conn, USBIP_EV_DETACH, err, "peer closed the connection");
		return err;
	}
	if (err == -ECONNRESET)
		return stub_rx_fail(sdev, pdu, err, what);
	dev_err_ratelimited(&sdev->udev->dev, "receive failed (%d); closing the connection\n",
			    err);
	usbip_conn_event(&sdev->conn, USBIP_EV_ERROR | USBIP_EV_QUIET, err, "receive failed");
	return err;
}

/*
 * Charges a command to the connection's budget, waiting (and not reading
 * the socket) while the connection holds its limit.  Return: 0, or the
 * error that ends the connection (already reported).
 */
static int stub_rx_charge(struct stub_device *sdev, u32 urbs, u64 bytes)
{
	int ret = usbip_budget_charge(&sdev->budget, sdev->conn.sock, urbs, bytes);

	if (ret == -EINTR)
		return ret;	/* stopped */
	if (ret)
		return stub_rx_sock_err(sdev, NULL, ret, NULL);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Requests carried out by the server                                  */
/* ------------------------------------------------------------------ */

enum stub_ctrl_op {
	STUB_CTRL_URB,		/* an ordinary control transfer */
	STUB_CTRL_SET_CONFIG,
	STUB_CTRL_SET_INTERFACE,
	STUB_CTRL_CLEAR_HALT,
	STUB_CTRL_PORT_RESET,
	STUB_CTRL_SET_ADDRESS,
};

static enum stub_ctrl_op stub_ctrl_classify(const struct usb_ctrlrequest *setup)
{
	switch (setup->bRequestType) {
	case USB_DIR_OUT | USB_TYPE_STANDARD | USB_RECIP_DEVICE:
		if (setup->bRequest == USB_REQ_SET_CONFIGURATION)
			return STUB_CTRL_SET_CONFIG;
		if (setup->bRequest == USB_REQ_SET_ADDRESS)
			return STUB_CTRL_SET_ADDRESS;
		break;
	case USB_DIR_OUT | USB_TYPE_STANDARD | USB_RECIP_INTERFACE:
		if (setup->bRequest == USB_REQ_SET_INTERFACE)
			return STUB_CTRL_SET_INTERFACE;
		break;
	case USB_DIR_OUT | USB_TYPE_STANDARD | USB_RECIP_ENDPOINT:
		if (setup->bRequest == USB_REQ_CLEAR_FEATURE &&
		    le16_to_cpu(setup->wValue) == USB_ENDPOINT_HALT)
			return STUB_CTRL_CLEAR_HALT;
		break;
	case STUB_RT_PORT:
		if (setup->bRequest == USB_REQ_SET_FEATURE &&
		    le16_to_cpu(setup->wValue) == USB_PORT_FEAT_RESET)
			return STUB_CTRL_PORT_RESET;
		break;
	}
	return STUB_CTRL_URB;
}

/*
 * Carries out @op with the USB core's functions, which keep the core's
 * view of the device (configuration, interfaces, toggles) in step.
 * Return: the result for the RET_SUBMIT status.
 */
static int stub_ctrl_do(struct stub_device *sdev, enum stub_ctrl_op op,
			const struct usb_ctrlrequest *setup)
{
	struct usb_device *udev = sdev->udev;
	u16 value = le16_to_cpu(setup->wValue);
	u16 index = le16_to_cpu(setup->wIndex);
	unsigned int pipe, n;
	int ret;

	if (op == STUB_CTRL_SET_ADDRESS) {
		/*
		 * The address belongs to this host's USB core and host
		 * controller, which gave it when the device was enumerated;
		 * a device that moved behind their back would be lost.  The
		 * client's view (its own vhci address) is not ours to change.
		 */
		usbip_dev_dbg(USBIP_DBG_STUB_RX, &udev->dev,
			      "client SET_ADDRESS %u answered without effect\n", value);
		return 0;
	}

	if (op == STUB_CTRL_CLEAR_HALT) {
		/*
		 * Our URBs still queued on the endpoint first: a host
		 * controller refuses (xHCI) or warns about (EHCI) a reset of
		 * a busy endpoint.  Ep0 carries this very request.
		 */
		n = index & USB_ENDPOINT_NUMBER_MASK ?
			stub_kill_in_flight(sdev, index & (USB_DIR_IN | USB_ENDPOINT_NUMBER_MASK)) : 0;
		/* usb_clear_halt() only uses the number and direction */
		if (index & USB_DIR_IN)
			pipe = usb_rcvbulkpipe(udev, index & USB_ENDPOINT_NUMBER_MASK);
		else
			pipe = usb_sndbulkpipe(udev, index & USB_ENDPOINT_NUMBER_MASK);
		ret = usb_clear_halt(udev, pipe);
		usbip_dev_dbg(USBIP_DBG_STUB_RX, &udev->dev,
			      "clear halt ep %#x: %d (%u URBs stopped first)\n", index, ret, n);
		return ret;
	}

	ret = stub_lock_udev(sdev, true);
	if (ret)
		return -ESHUTDOWN;
	switch (op) {
	case STUB_CTRL_SET_CONFIG:
		ret = usb_set_configuration(udev, value & 0xff);
		usbip_dev_dbg(USBIP_DBG_STUB_RX, &udev->dev, "set configuration %u: %d\n",
			      value & 0xff, ret);
		break;
	case STUB_CTRL_SET_INTERFACE:
		ret = usb_set_interface(udev, index, value);
		usbip_dev_dbg(USBIP_DBG_STUB_RX, &udev->dev,
			      "set interface %u alt %u: %d\n", index, value, ret);
		break;
	case STUB_CTRL_PORT_RESET:
		/*
		 * As a driver must before a reset (pre_reset), take our own
		 * URBs off the host controller first; each is answered to the
		 * client as its completion says (killed: -ENOENT).  Only this
		 * thread submits, so none is added meanwhile.
		 */
		n = stub_kill_in_flight(sdev, STUB_EP_ALL);
		ret = usb_reset_device(udev);
		usbip_dev_dbg(USBIP_DBG_STUB_RX, &udev->dev,
			      "port reset: %d (%u URBs stopped first)\n", ret, n);
		break;
	default:
		ret = -EINVAL;
		break;
	}
	usb_unlock_device(udev);
	return ret;
}

/* ------------------------------------------------------------------ */
/* CMD_SUBMIT                                                          */
/* ------------------------------------------------------------------ */

/* The URB flags usb_submit_urb() accepts for this transfer. */
static unsigned int stub_allowed_flags(int type, bool dir_in)
{
	unsigned int allowed = URB_NO_INTERRUPT;

	switch (type) {
	case USB_ENDPOINT_XFER_ISOC:
		return allowed | URB_ISO_ASAP;
	case USB_ENDPOINT_XFER_BULK:
	case USB_ENDPOINT_XFER_INT:
		if (!dir_in)
			allowed |= URB_ZERO_PACKET;
		fallthrough;
	default:
		if (dir_in)
			allowed |= URB_SHORT_NOT_OK;
		return allowed;
	}
}

/* Scatter-gather is used for large bulk transfers if the HCD takes it. */
static bool stub_sg_usable(struct stub_device *sdev, struct usb_host_endpoint *hep,
			   unsigned int nents)
{
	struct usb_bus *bus = sdev->udev->bus;
	unsigned int maxp = usb_endpoint_maxp(&hep->desc);

	if (!READ_ONCE(stub_use_sg) || !bus->sg_tablesize || nents > bus->sg_tablesize)
		return false;
	/* page-sized entries must be whole packets unless the HCD does not care */
	return bus->no_sg_constraint || (maxp && PAGE_SIZE % maxp == 0);
}

/* The fail_alloc test hook: true if this allocation is to fail. */
static bool stub_alloc_should_fail(void)
{
#if IS_ENABLED(CONFIG_USBIP_SELFTEST)
	unsigned int n = READ_ONCE(stub_fail_alloc);

	/* only the rx threads decrement it; a racing write just wins */
	if (!n)
		return false;
	WRITE_ONCE(stub_fail_alloc, n - 1);
	return true;
#else
	return false;
#endif
}

/* Allocates the transfer buffer of @req (length req->len). */
static int stub_alloc_buffer(struct stub_device *sdev, struct stub_req *req,
			     struct usb_host_endpoint *hep, int type)
{
	unsigned int maxp = usb_endpoint_maxp(&hep->desc);
	unsigned int nents;

	if (!req->len) {
		req->kind = STUB_BUF_NONE;
		return 0;
	}
	if (stub_alloc_should_fail())
		return -ENOMEM;
	if (type != USB_ENDPOINT_XFER_BULK || req->len <= STUB_LINEAR_MAX) {
		if (req->len > STUB_KMALLOC_MAX)
			return -EMSGSIZE;
		req->data = kzalloc(req->len, GFP_KERNEL | __GFP_NOWARN);
		if (!req->data)
			return -ENOMEM;
		req->kind = STUB_BUF_LINEAR;
		return 0;
	}

	nents = DIV_ROUND_UP(req->len, PAGE_SIZE);
	if (stub_sg_usable(sdev, hep, nents)) {
		req->sgl = sgl_alloc(req->len, GFP_KERNEL | __GFP_NOWARN, &req->nents);
		if (!req->sgl)
			return -ENOMEM;
		req->kind = STUB_BUF_SG;
		req->order = 0;
		return 0;
	}

	/* Pieces must be whole packets, so that only the last can be short. */
	if (!maxp || (PAGE_SIZE << STUB_PIECE_ORDER) % maxp)
		return -EMSGSIZE;
	req->sgl = sgl_alloc_order(req->len, STUB_PIECE_ORDER, false,
				   GFP_KERNEL | __GFP_NOWARN, &req->nents);
	if (!req->sgl)
		return -ENOMEM;
	req->kind = STUB_BUF_SPLIT;
	req->order = STUB_PIECE_ORDER;
	return 0;
}

static void stub_req_buf(struct stub_req *req, struct usbip_buf *buf)
{
	if (req->kind == STUB_BUF_SG || req->kind == STUB_BUF_SPLIT)
		usbip_buf_sg(buf, req->sgl, req->nents, req->len);
	else
		usbip_buf_linear(buf, req->data, req->len);
}

/* Points the URB at the buffer (at the first piece for SPLIT). */
static void stub_urb_set_buffer(struct stub_req *req, struct urb *urb)
{
	switch (req->kind) {
	case STUB_BUF_NONE:
		urb->transfer_buffer = NULL;
		urb->transfer_buffer_length = 0;
		break;
	case STUB_BUF_LINEAR:
		urb->transfer_buffer = req->data;
		urb->transfer_buffer_length = req->len;
		break;
	case STUB_BUF_SG:
		urb->sg = req->sgl;
		urb->num_sgs = req->nents;
		urb->transfer_buffer = NULL;
		urb->transfer_buffer_length = req->len;
		break;
	case STUB_BUF_SPLIT:
		req->piece = 0;
		urb->transfer_buffer = sg_virt(req->sgl);
		urb->transfer_buffer_length = req->sgl->length;
		if (req->nents > 1)
			urb->transfer_flags &= ~URB_ZERO_PACKET;
		break;
	}
}

/* Receives the iso descriptors of a CMD_SUBMIT into req->iso. */
static int stub_rx_iso(struct stub_device *sdev, const struct usbip_pdu *pdu,
		       struct stub_req *req)
{
	const char *reason;
	int ret;

	req->iso = kcalloc(req->n_iso, sizeof(*req->iso), GFP_KERNEL);
	if (!req->iso)
		return stub_rx_fail(sdev, pdu, -ENOMEM, "out of memory");
	ret = usbip_recv_iso_descs(sdev->conn.sock, req->iso, req->n_iso);
	if (ret)
		return stub_rx_sock_err(sdev, pdu, ret, "iso descriptors cut short");
	ret = usbip_iso_check(req->iso, req->n_iso, req->len, 0, 0, &reason);
	if (ret)
		return stub_rx_fail(sdev, pdu, ret, reason);
	return 0;
}

/* Looks up the endpoint of a CMD_SUBMIT; sets *@dir_in for the data stage. */
static struct usb_host_endpoint *stub_rx_endpoint(struct stub_device *sdev,
						  const struct usbip_pdu *pdu,
						  bool *dir_in, const char **reason)
{
	struct usb_device *udev = sdev->udev;
	const struct usb_ctrlrequest *setup = (const void *)pdu->submit.setup;
	bool wire_in = pdu->direction == USBIP_DIR_IN;
	struct usb_host_endpoint *hep;

	if (pdu->ep == 0) {
		hep = &udev->ep0;
	} else {
		hep = wire_in ? udev->ep_in[pdu->ep] : udev->ep_out[pdu->ep];
		if (!hep) {
			if (wire_in ? udev->ep_out[pdu->ep] : udev->ep_in[pdu->ep])
				*reason = "direction does not match the endpoint";
			else
				*reason = "endpoint not in the current configuration";
			return NULL;
		}
	}

	if (usb_endpoint_xfer_control(&hep->desc)) {
		/* the setup packet decides; a zero-length stage counts as OUT */
		*dir_in = (setup->bRequestType & USB_DIR_IN) && setup->wLength;
		if (setup->wLength && *dir_in != wire_in) {
			*reason = "direction does not match the setup packet";
			return NULL;
		}
		return hep;
	}
	*dir_in = wire_in;
	return hep;
}

/* Reads and drops @len bytes of the stream, without allocating. */
static int stub_rx_discard(struct stub_device *sdev, u64 len)
{
	u8 scratch[256];
	size_t n;
	int ret;

	while (len) {
		n = min_t(u64, len, sizeof(scratch));
		ret = usbip_recv_data(sdev->conn.sock, scratch, n);
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
 * fails instead of the whole connection.  @req has no buffer and no URB.
 */
static int stub_rx_nomem(struct stub_device *sdev, const struct usbip_pdu *pdu,
			 struct stub_req *req)
{
	u64 skip = usbip_cmd_payload_len(pdu) + (u64)req->n_iso * USBIP_ISO_DESC_SIZE;
	int ret;

	dev_warn_ratelimited(&sdev->udev->dev,
			     "CMD_SUBMIT seqnum %u: no memory for %u bytes; answering -ENOMEM\n",
			     pdu->seqnum, req->len);
	ret = stub_rx_discard(sdev, skip);
	if (ret) {
		stub_req_free(req);
		return stub_rx_sock_err(sdev, pdu, ret, "OUT payload cut short");
	}
	req->kind = STUB_BUF_NONE;
	req->len = 0;
	req->n_iso = 0;
	req->status = -ENOMEM;
	stub_queue_done(sdev, req);
	return 0;
}

static int stub_rx_submit(struct stub_device *sdev, const struct usbip_pdu *pdu)
{
	const struct usb_ctrlrequest *setup = (const void *)pdu->submit.setup;
	struct usb_device *udev = sdev->udev;
	enum stub_ctrl_op op = STUB_CTRL_URB;
	struct usb_host_endpoint *hep;
	const char *reason = NULL;
	struct stub_req *req;
	struct usbip_buf buf;
	struct urb *urb;
	bool dir_in, dup;
	int type, n_iso, ret;

	if (pdu->devid != sdev->devid)
		return stub_rx_fail(sdev, pdu, -EPROTO, "devid is not the exported device");

	spin_lock_irq(&sdev->req_lock);
	dup = stub_in_flight_find(sdev, pdu->seqnum);
	spin_unlock_irq(&sdev->req_lock);
	if (dup)
		return stub_rx_fail(sdev, pdu, -EPROTO, "seqnum of an URB still in flight");

	hep = stub_rx_endpoint(sdev, pdu, &dir_in, &reason);
	if (!hep)
		return stub_rx_fail(sdev, pdu, -EPROTO, reason);
	type = usb_endpoint_type(&hep->desc);
	n_iso = usbip_pdu_packets(pdu);
	if (n_iso && type != USB_ENDPOINT_XFER_ISOC)
		return stub_rx_fail(sdev, pdu, -EPROTO, "iso packets for a non-iso endpoint");

	/* from here until its answer is sent, the request holds budget */
	ret = stub_rx_charge(sdev, 1, pdu->submit.transfer_buffer_length);
	if (ret)
		return ret;
	req = kzalloc(sizeof(*req), GFP_KERNEL);
	if (!req) {
		usbip_budget_release(&sdev->budget, 1, pdu->submit.transfer_buffer_length);
		return stub_rx_fail(sdev, pdu, -ENOMEM, "out of memory");
	}
	req->charged = pdu->submit.transfer_buffer_length;
	usbip_seq_node_init(&req->seq, pdu->seqnum);
	req->sdev = sdev;
	req->ep = pdu->ep;
	req->wire_dir = pdu->direction;
	req->dir_in = dir_in;
	req->len = pdu->submit.transfer_buffer_length;
	req->n_iso = n_iso;
	INIT_LIST_HEAD(&req->list);

	ret = stub_alloc_buffer(sdev, req, hep, type);
	if (ret == -EMSGSIZE) {
		ret = stub_rx_fail(sdev, pdu, -EPROTO,
				   "transfer length above the limit for this endpoint");
		goto err_free;
	}
	if (ret)
		return stub_rx_nomem(sdev, pdu, req);

	/* payload (as the header announces it), then iso descriptors */
	if (usbip_cmd_payload_len(pdu)) {
		stub_req_buf(req, &buf);
		ret = usbip_recv_buf(sdev->conn.sock, &buf, 0, usbip_cmd_payload_len(pdu));
		if (ret) {
			stub_rx_sock_err(sdev, pdu, ret, "OUT payload cut short");
			goto err_free;
		}
	}
	if (n_iso) {
		ret = stub_rx_iso(sdev, pdu, req);
		if (ret)
			goto err_free;
	}

	if (usb_endpoint_xfer_control(&hep->desc) && pdu->ep == 0 &&
	    usbip_setup_std_check(pdu->submit.setup, &reason)) {
		/* never to reach the device behind the core's back: stall */
		usbip_dev_dbg(USBIP_DBG_STUB_RX, &udev->dev, "seqnum %u: %s\n",
			      req->seq.seqnum, reason);
		req->status = -EPIPE;
		stub_queue_done(sdev, req);
		return 0;
	}
	if (usb_endpoint_xfer_control(&hep->desc) && pdu->ep == 0)
		op = stub_ctrl_classify(setup);
	if (op != STUB_CTRL_URB) {
		req->status = stub_ctrl_do(sdev, op, setup);
		stub_queue_done(sdev, req);
		return 0;
	}

	urb = usb_alloc_urb(n_iso, GFP_KERNEL);
	if (!urb) {
		ret = stub_rx_fail(sdev, pdu, -ENOMEM, "out of memory");
		goto err_free;
	}
	req->urb = urb;

	switch (type) {
	case USB_ENDPOINT_XFER_CONTROL:
		urb->pipe = dir_in ? usb_rcvctrlpipe(udev, pdu->ep) : usb_sndctrlpipe(udev, pdu->ep);
		urb->setup_packet = kmemdup(setup, sizeof(*setup), GFP_KERNEL);
		if (!urb->setup_packet) {
			ret = stub_rx_fail(sdev, pdu, -ENOMEM, "out of memory");
			goto err_free;
		}
		break;
	case USB_ENDPOINT_XFER_ISOC:
		urb->pipe = dir_in ? usb_rcvisocpipe(udev, pdu->ep) : usb_sndisocpipe(udev, pdu->ep);
		break;
	case USB_ENDPOINT_XFER_BULK:
		urb->pipe = dir_in ? usb_rcvbulkpipe(udev, pdu->ep) : usb_sndbulkpipe(udev, pdu->ep);
		break;
	default:
		urb->pipe = dir_in ? usb_rcvintpipe(udev, pdu->ep) : usb_sndintpipe(udev, pdu->ep);
		break;
	}
	urb->dev = udev;
	urb->context = req;
	urb->complete = stub_complete;
	urb->interval = pdu->submit.interval > 0 ? pdu->submit.interval : 1;
	urb->start_frame = pdu->submit.start_frame;
	urb->number_of_packets = n_iso;
	urb->transfer_flags = usbip_urb_flags_from_wire(pdu->submit.transfer_flags) &
			      stub_allowed_flags(type, dir_in);
	/*
	 * The client's frame numbers mean nothing on this bus, and its
	 * stream reaches us late by the network's delay: an iso URB goes
	 * into the first free slot here instead of into frames that are
	 * already over (where UHCI, for example, would drop its packets
	 * with -EXDEV).  Back-to-back URBs still follow each other.
	 */
	if (type == USB_ENDPOINT_XFER_ISOC)
		urb->transfer_flags |= URB_ISO_ASAP;
	req->urb_flags = urb->transfer_flags;
	if (n_iso) {
		int i;

		for (i = 0; i < n_iso; i++) {
			urb->iso_frame_desc[i].offset = req->iso[i].offset;
			urb->iso_frame_desc[i].length = req->iso[i].length;
			urb->iso_frame_desc[i].actual_length = 0;
			urb->iso_frame_desc[i].status = 0;
		}
	}
	stub_urb_set_buffer(req, urb);

	usbip_dev_dbg(USBIP_DBG_STUB_RX, &udev->dev,
		      "submit seqnum %u ep %u%s type %d len %u iso %d buf %d\n",
		      req->seq.seqnum, pdu->ep, dir_in ? "in" : "out", type, req->len, n_iso,
		      req->kind);

	spin_lock_irq(&sdev->req_lock);
	dup = !stub_in_flight_add(sdev, req);
	spin_unlock_irq(&sdev->req_lock);
	if (dup) {
		/* checked above, and only this thread adds */
		ret = stub_rx_fail(sdev, pdu, -EPROTO, "seqnum of an URB still in flight");
		goto err_free;
	}

	ret = usb_submit_urb(urb, GFP_KERNEL);
	if (ret) {
		/* never reached the HCD: answer with the error */
		spin_lock_irq(&sdev->req_lock);
		stub_in_flight_del(sdev, req);
		spin_unlock_irq(&sdev->req_lock);
		usbip_dev_dbg(USBIP_DBG_STUB_RX, &udev->dev,
			      "submit seqnum %u failed: %d\n", req->seq.seqnum, ret);
		req->status = ret;
		stub_queue_done(sdev, req);
	}
	return 0;

err_free:
	stub_req_free(req);
	return ret;
}

/* ------------------------------------------------------------------ */
/* CMD_UNLINK                                                          */
/* ------------------------------------------------------------------ */

static int stub_rx_unlink(struct stub_device *sdev, const struct usbip_pdu *pdu)
{
	struct stub_unlink *ul;
	struct stub_req *req;
	struct urb *urb = NULL;
	int ret;

	if (pdu->devid != sdev->devid)
		return stub_rx_fail(sdev, pdu, -EPROTO, "devid is not the exported device");

	spin_lock_irq(&sdev->req_lock);
	req = stub_in_flight_find(sdev, pdu->unlink.seqnum);
	if (req && !req->unlinking) {
		/* answered with the request when its URB comes back */
		req->unlinking = true;
		req->unlink_seqnum = pdu->seqnum;
		urb = usb_get_urb(req->urb);
	}
	spin_unlock_irq(&sdev->req_lock);

	usbip_dev_dbg(USBIP_DBG_STUB_RX, &sdev->udev->dev, "unlink seqnum %u -> %u: %s\n",
		      pdu->seqnum, pdu->unlink.seqnum, urb ? "in flight" : "not in flight");
	if (urb) {
		/* the completion sees ->unlinking and resubmits no piece */
		usb_unlink_urb(urb);
		usb_put_urb(urb);
		return 0;
	}

	/*
	 * Done, unknown, or already being unlinked: nothing to cancel, a
	 * RET_UNLINK 0 of our own.  It holds budget until it is sent, so a
	 * flood of these whose answers are not read stops being read.  Only
	 * this thread adds to in_flight, so the target cannot appear there
	 * while we wait.
	 */
	ret = stub_rx_charge(sdev, 1, sizeof(*ul));
	if (ret)
		return ret;
	ul = kzalloc(sizeof(*ul), GFP_KERNEL);
	if (!ul) {
		usbip_budget_release(&sdev->budget, 1, sizeof(*ul));
		return stub_rx_fail(sdev, pdu, -ENOMEM, "out of memory");
	}
	ul->seqnum = pdu->seqnum;
	ul->status = 0;
	spin_lock_irq(&sdev->req_lock);
	list_add_tail(&ul->list, &sdev->tx_unlinks);
	spin_unlock_irq(&sdev->req_lock);
	wake_up(&sdev->tx_wq);
	return 0;
}

/**
 * stub_rx_loop() - body of the receive thread
 * @conn: the connection of a struct stub_device
 *
 * Return: 0 when stopped, or the error that ended the connection (already
 * reported with usbip_conn_event()).
 */
int stub_rx_loop(struct usbip_conn *conn)
{
	struct stub_device *sdev = conn_to_stub(conn);
	unsigned int noio = memalloc_noio_save();
	const char *reason = NULL;
	struct usbip_pdu pdu;
	int ret = 0;

	while (!kthread_should_stop()) {
		ret = usbip_recv_pdu(conn->sock, &pdu, &reason);
		if (ret == -EPROTO) {
			/* the header itself is bad: its fields mean nothing */
			dev_err_ratelimited(&sdev->udev->dev,
					    "malformed header (%s); closing the connection\n",
					    reason);
			usbip_conn_event(conn, USBIP_EV_ERROR | USBIP_EV_QUIET, ret, reason);
			break;
		}
		if (ret) {
			stub_rx_sock_err(sdev, NULL, ret, NULL);
			break;
		}

		switch (pdu.command) {
		case USBIP_CMD_SUBMIT:
			ret = stub_rx_submit(sdev, &pdu);
			break;
		case USBIP_CMD_UNLINK:
			ret = stub_rx_unlink(sdev, &pdu);
			break;
		default:
			ret = stub_rx_fail(sdev, &pdu, -EPROTO, "reply command sent to the server");
			break;
		}
		if (ret)
			break;
	}
	memalloc_noio_restore(noio);
	return ret;
}
