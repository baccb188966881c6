// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * usbip-host: how a CMD_SUBMIT reaches the device.
 *
 * usbip-core's server (usbip_server.c) reads and checks each command and
 * calls these steps: find the endpoint (stub_rx_ep_find()), allocate the
 * request and its buffer (stub_req_alloc()), and, once the payload is in,
 * dispatch it (stub_req_submit()): the control requests that change the
 * state the USB core keeps about the device (configuration, alternate
 * settings, endpoint halt, port reset) are carried out with the core's
 * own functions, everything else becomes an URB for usb_submit_urb().
 * CMD_UNLINK unlinks the URB (stub_req_unlink()).
 */
#define pr_fmt(fmt) "usbip-host: " fmt

#include <linux/build_bug.h>
#include <linux/kernel.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/usb/ch9.h>
#include <linux/usb/ch11.h>

#include "stub.h"

/* Class request to a hub port: SET_FEATURE(PORT_RESET). */
#define STUB_RT_PORT		(USB_DIR_OUT | USB_TYPE_CLASS | USB_RECIP_OTHER)

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
			stub_in_flight_kill(sdev, index & (USB_DIR_IN | USB_ENDPOINT_NUMBER_MASK)) : 0;
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

	ret = stub_udev_lock(sdev, true);
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
		n = stub_in_flight_kill(sdev, STUB_EP_ALL);
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
/* Transfer buffers and URB fields                                     */
/* ------------------------------------------------------------------ */

/* The URB flags usb_submit_urb() accepts for this transfer. */
static unsigned int stub_urb_flags_allowed(int type, bool dir_in)
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
static bool stub_req_buf_fail(void)
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

/* Allocates the transfer buffer of @req (length req->su.len). */
static int stub_req_buf_alloc(struct stub_device *sdev, struct stub_req *req,
			     struct usb_host_endpoint *hep, int type)
{
	unsigned int maxp = usb_endpoint_maxp(&hep->desc);
	unsigned int nents;

	if (!req->su.len) {
		req->kind = STUB_BUF_NONE;
		return 0;
	}
	if (stub_req_buf_fail())
		return -ENOMEM;
	if (type != USB_ENDPOINT_XFER_BULK || req->su.len <= STUB_LINEAR_MAX) {
		if (usbip_xfer_len_check(type, req->su.len, STUB_KMALLOC_MAX, NULL))
			return -EMSGSIZE;
		req->data = kzalloc(req->su.len, GFP_KERNEL | __GFP_NOWARN);
		if (!req->data)
			return -ENOMEM;
		req->kind = STUB_BUF_LINEAR;
		return 0;
	}

	nents = DIV_ROUND_UP(req->su.len, PAGE_SIZE);
	if (stub_sg_usable(sdev, hep, nents)) {
		req->sgl = sgl_alloc(req->su.len, GFP_KERNEL | __GFP_NOWARN, &req->nents);
		if (!req->sgl)
			return -ENOMEM;
		req->kind = STUB_BUF_SG;
		req->order = 0;
		return 0;
	}

	/* Pieces must be whole packets, so that only the last can be short. */
	if (!maxp || (PAGE_SIZE << STUB_PIECE_ORDER) % maxp)
		return -EMSGSIZE;
	req->sgl = sgl_alloc_order(req->su.len, STUB_PIECE_ORDER, false,
				   GFP_KERNEL | __GFP_NOWARN, &req->nents);
	if (!req->sgl)
		return -ENOMEM;
	req->kind = STUB_BUF_SPLIT;
	req->order = STUB_PIECE_ORDER;
	return 0;
}

static void stub_req_buf_describe(struct stub_req *req, struct usbip_buf *buf)
{
	if (req->kind == STUB_BUF_SG || req->kind == STUB_BUF_SPLIT)
		usbip_buf_sg(buf, req->sgl, req->nents, req->su.len);
	else
		usbip_buf_linear(buf, req->data, req->su.len);
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
		urb->transfer_buffer_length = req->su.len;
		break;
	case STUB_BUF_SG:
		urb->sg = req->sgl;
		urb->num_sgs = req->nents;
		urb->transfer_buffer = NULL;
		urb->transfer_buffer_length = req->su.len;
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

/* ------------------------------------------------------------------ */
/* CMD_SUBMIT, step 1: the endpoint                                    */
/* ------------------------------------------------------------------ */

/**
 * stub_rx_ep_find() - the endpoint of a CMD_SUBMIT (server op ->ep_find)
 * @srv: the server of a struct stub_device
 * @cmd: the command; ->ep is set to its struct usb_host_endpoint and
 *	->xfer to its transfer type
 * @reason: set when the endpoint is not there
 *
 * Return: 0, or -EPROTO with *@reason set.
 */
int stub_rx_ep_find(struct usbip_server *srv, struct usbip_server_cmd *cmd,
		    const char **reason)
{
	struct usb_device *udev = srv_to_stub(srv)->udev;
	const struct usbip_pdu *pdu = cmd->pdu;
	bool wire_in = pdu->direction == USBIP_DIR_IN;
	struct usb_host_endpoint *hep;

	BUILD_BUG_ON(USBIP_XFER_CONTROL != USB_ENDPOINT_XFER_CONTROL ||
		     USBIP_XFER_ISOC != USB_ENDPOINT_XFER_ISOC ||
		     USBIP_XFER_BULK != USB_ENDPOINT_XFER_BULK ||
		     USBIP_XFER_INT != USB_ENDPOINT_XFER_INT);

	if (pdu->ep == 0) {
		hep = &udev->ep0;
	} else {
		hep = wire_in ? udev->ep_in[pdu->ep] : udev->ep_out[pdu->ep];
		if (!hep) {
			if (wire_in ? udev->ep_out[pdu->ep] : udev->ep_in[pdu->ep])
				*reason = "direction does not match the endpoint";
			else
				*reason = "endpoint not in the current configuration";
			return -EPROTO;
		}
	}
	cmd->ep = hep;
	cmd->xfer = usb_endpoint_type(&hep->desc);
	return 0;
}

/* ------------------------------------------------------------------ */
/* CMD_SUBMIT, step 2: the request and its buffer                      */
/* ------------------------------------------------------------------ */

/**
 * stub_req_alloc() - allocate a request and its buffer (->urb_alloc)
 * @srv: the server of a struct stub_device
 * @cmd: the checked command
 * @out: set to the request
 * @reason: set on failure
 *
 * Without memory for the buffer the request comes back marked ->nomem,
 * to be answered -ENOMEM.
 *
 * Return: 0; -ENOMEM (no request) or -EPROTO (a buffer above what this
 * endpoint takes) with *@reason set.
 */
int stub_req_alloc(struct usbip_server *srv, const struct usbip_server_cmd *cmd,
		   struct usbip_server_urb **out, const char **reason)
{
	struct stub_device *sdev = srv_to_stub(srv);
	struct stub_req *req;
	int ret;

	req = kzalloc(sizeof(*req), GFP_KERNEL);
	if (!req) {
		*reason = "out of memory";
		return -ENOMEM;
	}
	usbip_server_urb_init(&req->su, cmd);
	req->sdev = sdev;

	ret = stub_req_buf_alloc(sdev, req, cmd->ep, cmd->xfer);
	if (ret == -EMSGSIZE) {
		kfree(req);
		*reason = "transfer length above the limit for this endpoint";
		return -EPROTO;
	}
	if (ret) {
		req->kind = STUB_BUF_NONE;
		req->su.nomem = true;
	} else {
		stub_req_buf_describe(req, &req->su.buf);
	}
	*out = &req->su;
	return 0;
}

/* ------------------------------------------------------------------ */
/* CMD_SUBMIT, step 3: dispatch                                        */
/* ------------------------------------------------------------------ */

/*
 * The requests on ep0 that must not reach the device as they are: the
 * inconsistent forms of the standard requests are stalled, those that
 * change the USB core's view of the device are carried out with its own
 * functions.  Return: true if @req was answered so.
 */
static bool stub_req_ctrl_local(struct stub_device *sdev, struct stub_req *req,
				const struct usbip_pdu *pdu)
{
	const struct usb_ctrlrequest *setup = (const void *)pdu->submit.setup;
	enum stub_ctrl_op op;
	const char *why;

	if (usbip_setup_std_check(pdu->submit.setup, &why)) {
		/* never to reach the device behind the core's back: stall */
		usbip_dev_dbg(USBIP_DBG_STUB_RX, &sdev->udev->dev, "seqnum %u: %s\n",
			      req->su.seq.seqnum, why);
		req->su.status = -EPIPE;
	} else {
		op = stub_ctrl_classify(setup);
		if (op == STUB_CTRL_URB)
			return false;
		req->su.status = stub_ctrl_do(sdev, op, setup);
	}
	usbip_server_urb_done(&sdev->srv, &req->su);
	return true;
}

/* Allocates and fills the URB of @req. */
static int stub_urb_build(struct stub_device *sdev, struct stub_req *req,
			  const struct usbip_server_cmd *cmd, const char **reason)
{
	const struct usbip_pdu *pdu = cmd->pdu;
	struct usb_device *udev = sdev->udev;
	bool dir_in = req->su.dir_in;
	int type = cmd->xfer, n_iso = req->su.n_iso, i;
	struct urb *urb;

	urb = usb_alloc_urb(n_iso, GFP_KERNEL);
	if (!urb)
		goto err_nomem;
	req->urb = urb;

	switch (type) {
	case USB_ENDPOINT_XFER_CONTROL:
		urb->pipe = dir_in ? usb_rcvctrlpipe(udev, pdu->ep) : usb_sndctrlpipe(udev, pdu->ep);
		urb->setup_packet = kmemdup(pdu->submit.setup, USBIP_SETUP_SIZE, GFP_KERNEL);
		if (!urb->setup_packet)
			goto err_nomem;
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
	urb->complete = stub_urb_complete;
	urb->interval = pdu->submit.interval > 0 ? pdu->submit.interval : 1;
	urb->start_frame = pdu->submit.start_frame;
	urb->number_of_packets = n_iso;
	urb->transfer_flags = usbip_urb_flags_from_wire(pdu->submit.transfer_flags) &
			      stub_urb_flags_allowed(type, dir_in);
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
	for (i = 0; i < n_iso; i++) {
		urb->iso_frame_desc[i].offset = req->su.iso[i].offset;
		urb->iso_frame_desc[i].length = req->su.iso[i].length;
		urb->iso_frame_desc[i].actual_length = 0;
		urb->iso_frame_desc[i].status = 0;
	}
	stub_urb_set_buffer(req, urb);

	usbip_dev_dbg(USBIP_DBG_STUB_RX, &udev->dev,
		      "submit seqnum %u ep %u%s type %d len %u iso %d buf %d\n",
		      req->su.seq.seqnum, pdu->ep, dir_in ? "in" : "out", type, req->su.len,
		      n_iso, req->kind);
	return 0;

err_nomem:
	*reason = "out of memory";
	return -ENOMEM;
}

/* Enters @req in the in-flight index and submits its URB. */
static int stub_urb_submit(struct stub_device *sdev, struct stub_req *req,
			   const char **reason)
{
	bool dup;
	int ret;

	spin_lock_irq(&sdev->req_lock);
	dup = !usbip_server_in_flight_add(&sdev->srv, &req->su);
	spin_unlock_irq(&sdev->req_lock);
	if (dup) {
		/* checked before, and only this thread adds */
		*reason = "seqnum of an URB still in flight";
		return -EPROTO;
	}

	ret = usb_submit_urb(req->urb, GFP_KERNEL);
	if (ret) {
		/* never reached the HCD: answer with the error */
		spin_lock_irq(&sdev->req_lock);
		usbip_server_in_flight_del(&sdev->srv, &req->su);
		spin_unlock_irq(&sdev->req_lock);
		usbip_dev_dbg(USBIP_DBG_STUB_RX, &sdev->udev->dev,
			      "submit seqnum %u failed: %d\n", req->su.seq.seqnum, ret);
		req->su.status = ret;
		usbip_server_urb_done(&sdev->srv, &req->su);
	}
	return 0;
}

/**
 * stub_req_submit() - hand a received request to the device (->submit)
 * @srv: the server of a struct stub_device
 * @su: the request, payload and iso descriptors received
 * @cmd: its command
 * @reason: set on failure
 *
 * Return: 0 if the request was submitted or answered; -ENOMEM or -EPROTO
 * with *@reason set.
 */
int stub_req_submit(struct usbip_server *srv, struct usbip_server_urb *su,
		    const struct usbip_server_cmd *cmd, const char **reason)
{
	struct stub_device *sdev = srv_to_stub(srv);
	struct stub_req *req = su_to_stub_req(su);
	int ret;

	if (cmd->xfer == USBIP_XFER_CONTROL && cmd->pdu->ep == 0 &&
	    stub_req_ctrl_local(sdev, req, cmd->pdu))
		return 0;
	ret = stub_urb_build(sdev, req, cmd, reason);
	if (ret)
		return ret;
	return stub_urb_submit(sdev, req, reason);
}

/* ------------------------------------------------------------------ */
/* CMD_UNLINK                                                          */
/* ------------------------------------------------------------------ */

/**
 * stub_req_unlink() - unlink the URB a CMD_UNLINK names (->unlink)
 * @srv: the server of a struct stub_device
 * @pdu: the CMD_UNLINK
 *
 * The request is answered when its URB comes back: RET_UNLINK
 * -ECONNRESET alone if the unlink cut it short, else its RET_SUBMIT and
 * a RET_UNLINK 0.
 *
 * Return: true if an URB in flight was unlinked.
 */
bool stub_req_unlink(struct usbip_server *srv, const struct usbip_pdu *pdu)
{
	struct stub_device *sdev = srv_to_stub(srv);
	struct usbip_server_urb *su;
	struct urb *urb = NULL;

	spin_lock_irq(&sdev->req_lock);
	su = usbip_server_in_flight_find(srv, pdu->unlink.seqnum);
	if (su && !su->unlinking) {
		su->unlinking = true;
		su->unlink_seqnum = pdu->seqnum;
		urb = usb_get_urb(su_to_stub_req(su)->urb);
	}
	spin_unlock_irq(&sdev->req_lock);
	if (!urb)
		return false;

	/* the completion sees ->unlinking and resubmits no piece */
	usb_unlink_urb(urb);
	usb_put_urb(urb);
	return true;
}
