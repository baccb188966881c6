// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * usbip-vudc: the device controller half.
 *
 * Endpoint and gadget ops, the transfer engine that pairs client URBs with
 * gadget requests, and ep0: setups go to the gadget driver from a work
 * item, except the requests a UDC answers itself.
 *
 * Transfer rules (what the packets of a real bus would do):
 *  - IN: request bytes are copied into the URB.  A request that ends with a
 *    short packet (length not a multiple of wMaxPacketSize, zero length,
 *    or req->zero) also ends the URB; otherwise the URB waits for the next
 *    request until it is full.  A full URB ends even if the request has
 *    more bytes left.
 *  - OUT: URB bytes are copied into the request.  An URB that ends with a
 *    short packet (same rule, URB_ZERO_PACKET for the zero-length packet)
 *    also ends the request; otherwise the request waits for the next URB
 *    until it is full.
 *  - isochronous: one request per packet of the URB.
 *  - control: the one request the gadget driver queues for the data or
 *    status stage ends the URB.
 */
#define pr_fmt(fmt) "usbip-vudc: " fmt

#include <linux/jiffies.h>
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "vudc.h"

static const char vudc_ep0_name[] = "ep0";

static bool vudc_is_ep0(struct vudc_ep *ep)
{
	return ep == &ep->vudc->eps[0];
}

/**
 * vudc_find_ep() - an endpoint by number and direction
 * @vudc: the UDC
 * @num: endpoint number, 0..15
 * @dir_in: IN endpoint (ignored for 0)
 *
 * Return: the endpoint.
 */
struct vudc_ep *vudc_find_ep(struct vudc *vudc, u32 num, bool dir_in)
{
	num &= USB_ENDPOINT_NUMBER_MASK;
	if (!num)
		return &vudc->eps[0];
	return &vudc->eps[dir_in ? num : VUDC_NR_EPS + num];
}

/* ------------------------------------------------------------------ */
/* Completion of URBs and requests                                     */
/* ------------------------------------------------------------------ */

/**
 * vudc_urb_done() - complete a client URB
 * @vudc: the UDC
 * @urb: an URB not yet done
 * @status: its final status
 *
 * Moves the URB to the tx thread (or wakes the waiter of an internal one).
 * Called with slock held.
 */
void vudc_urb_done(struct vudc *vudc, struct vudc_urb *urb, int status)
{
	lockdep_assert_held(&vudc->slock);
	urb->status = status;
	urb->done = true;
	list_del_init(&urb->ep_list);
	list_del_init(&urb->list);
	usbip_seq_erase(&vudc->in_flight_seq, &urb->seq);
	if (vudc->ep0_active == urb) {
		vudc->ep0_active = NULL;
		if (!list_empty(&vudc->eps[0].urbs))
			schedule_work(&vudc->ep0_work);
	}
	if (urb->internal) {
		complete(&urb->wait);
		return;
	}
	list_add_tail(&urb->list, &vudc->tx_urbs);
	wake_up(&vudc->tx_wq);
}

/* Gives a request back to its driver with slock released meanwhile. */
static void vudc_req_giveback(struct vudc_ep *ep, struct vudc_req *vreq, int status)
	__must_hold(&ep->vudc->slock)
{
	struct vudc *vudc = ep->vudc;

	lockdep_assert_held(&vudc->slock);
	list_del_init(&vreq->list);
	if (vreq->req.status == -EINPROGRESS)
		vreq->req.status = status;
	/* interrupts stay off, as in the interrupt handler of a real UDC */
	spin_unlock(&vudc->slock);
	usb_gadget_giveback_request(&ep->ep, &vreq->req);
	spin_lock(&vudc->slock);
}

/* Gives back every request of @ep with @status; slock held. */
static void vudc_ep_nuke(struct vudc_ep *ep, int status)
	__must_hold(&ep->vudc->slock)
{
	struct vudc_req *vreq;

	lockdep_assert_held(&ep->vudc->slock);
	while ((vreq = list_first_entry_or_null(&ep->reqs, struct vudc_req, list)))
		vudc_req_giveback(ep, vreq, status);
}

/* ------------------------------------------------------------------ */
/* Transfer engine                                                     */
/* ------------------------------------------------------------------ */

static void vudc_xfer_ctrl(struct vudc *vudc, struct vudc_ep *ep, struct vudc_urb *urb,
			   struct vudc_req *vreq)
	__must_hold(&vudc->slock)
{
	struct usb_request *req = &vreq->req;
	u32 n = min(req->length, urb->stage);
	int status = 0;

	/* an OUT data stage gives the gadget only bytes that were received */
	if (!urb->dir_in)
		n = min(n, urb->avail);
	if (urb->dir_in) {
		if (n)
			memcpy(urb->data, req->buf, n);
	} else if (n) {
		memcpy(req->buf, urb->data, n);
	}
	urb->actual = n;
	req->actual = n;
	if (urb->dir_in && n < urb->len && (urb->flags & USBIP_URB_SHORT_NOT_OK))
		status = -EREMOTEIO;

	/* remember the device descriptor for dev_desc */
	if (urb->dir_in && urb->setup.bRequestType == USB_DIR_IN &&
	    urb->setup.bRequest == USB_REQ_GET_DESCRIPTOR &&
	    le16_to_cpu(urb->setup.wValue) == USB_DT_DEVICE << 8 && n >= USB_DT_DEVICE_SIZE &&
	    ((u8 *)urb->data)[0] == USB_DT_DEVICE_SIZE &&
	    ((u8 *)urb->data)[1] == USB_DT_DEVICE) {
		memcpy(&vudc->dev_desc, urb->data, USB_DT_DEVICE_SIZE);
		vudc->dev_desc_valid = true;
	}
	vudc_urb_done(vudc, urb, status);
	vudc_req_giveback(ep, vreq, 0);
}

static void vudc_xfer_iso(struct vudc *vudc, struct vudc_ep *ep, struct vudc_urb *urb,
			  struct vudc_req *vreq)
	__must_hold(&vudc->slock)
{
	struct usb_request *req = &vreq->req;
	struct usbip_iso_desc *pkt = &urb->iso[urb->iso_next];
	u32 n = min_t(u32, req->length, pkt->length);

	if (urb->dir_in) {
		if (n)
			memcpy(urb->data + pkt->offset, req->buf, n);
	} else if (n) {
		memcpy(req->buf, urb->data + pkt->offset, n);
	}
	pkt->actual_length = n;
	pkt->status = 0;
	req->actual = n;
	urb->actual += n;
	if (++urb->iso_next == urb->n_iso)
		vudc_urb_done(vudc, urb, 0);
	vudc_req_giveback(ep, vreq, 0);
}

static void vudc_xfer_bulk(struct vudc *vudc, struct vudc_ep *ep, struct vudc_urb *urb,
			   struct vudc_req *vreq)
	__must_hold(&vudc->slock)
{
	struct usb_request *req = &vreq->req;
	unsigned int maxp = ep->ep.maxpacket ? ep->ep.maxpacket : 1;
	bool req_end = false, urb_end = false;
	int req_status = 0, urb_status = 0;
	u32 n;

	if (urb->dir_in) {
		n = min(req->length - req->actual, urb->len - urb->actual);
		if (n)
			memcpy(urb->data + urb->actual, req->buf + req->actual, n);
		req->actual += n;
		urb->actual += n;
		if (req->actual == req->length) {
			req_end = true;
			/* the request's last packet is short: the URB ends too */
			urb_end = !req->length || req->length % maxp || req->zero ||
				  urb->actual == urb->len;
		} else {
			urb_end = true;	/* URB full, the request goes on */
			if (urb->len % maxp)
				urb_status = -EOVERFLOW;
		}
		if (!urb_status && urb->actual < urb->len &&
		    (urb->flags & USBIP_URB_SHORT_NOT_OK))
			urb_status = -EREMOTEIO;
	} else {
		n = min(urb->avail - urb->actual, req->length - req->actual);
		if (n)
			memcpy(req->buf + req->actual, urb->data + urb->actual, n);
		req->actual += n;
		urb->actual += n;
		if (urb->actual == urb->len) {
			urb_end = true;
			req_end = !urb->len || urb->len % maxp ||
				  (urb->flags & USBIP_URB_ZERO_PACKET) ||
				  req->actual == req->length;
		} else if (req->actual == req->length) {
			req_end = true;	/* request full, the URB goes on */
			if (req->length % maxp)
				req_status = -EOVERFLOW;
		} else if (WARN_ON_ONCE(!urb->receiving)) {
			/* all of it in, so one of the two is full: never here */
			req_end = true;
		}
		/*
		 * Neither ends while the request has room and the rest of the
		 * URB's payload is still arriving: vudc_urb_received() runs the
		 * endpoint again with it.
		 */
		if (req_end && !req_status && req->actual < req->length &&
		    req->short_not_ok)
			req_status = -EREMOTEIO;
	}
	if (urb_end)
		vudc_urb_done(vudc, urb, urb_status);
	if (req_end)
		vudc_req_giveback(ep, vreq, req_status);
}

/*
 * Moves data on @ep while both a client URB and a request are waiting.
 * Only one caller runs an endpoint at a time; the others just return, and
 * the running one sees what they added.  slock held (released while
 * requests are given back).
 */
static void vudc_ep_run(struct vudc_ep *ep)
	__must_hold(&ep->vudc->slock)
{
	struct vudc *vudc = ep->vudc;
	struct vudc_urb *urb;
	struct vudc_req *vreq;

	lockdep_assert_held(&vudc->slock);
	if (ep->running)
		return;
	ep->running = true;
	for (;;) {
		urb = list_first_entry_or_null(&ep->urbs, struct vudc_urb, ep_list);
		if (!urb)
			break;
		if (vudc_is_ep0(ep)) {
			if (vudc->ep0_active != urb)
				break;
		} else if (urb->receiving) {
			/*
			 * The rx thread writes the rest of the payload into the
			 * buffer: only the bytes already in may move; whatever
			 * would end the URB waits until the payload is complete,
			 * and a request ends only when it is full.
			 */
			if (urb->actual == urb->avail || ep->halted || !ep->desc ||
			    ep->type == USB_ENDPOINT_XFER_ISOC)
				break;
		} else if (ep->halted) {
			vudc_urb_done(vudc, urb, -EPIPE);
			continue;
		} else if (!ep->desc) {
			break;	/* not enabled: the URB waits, as for NAKs */
		} else if ((ep->type == USB_ENDPOINT_XFER_ISOC) != (urb->n_iso > 0)) {
			vudc_urb_done(vudc, urb, -EINVAL);
			continue;
		}
		vreq = list_first_entry_or_null(&ep->reqs, struct vudc_req, list);
		if (!vreq)
			break;
		if (vudc_is_ep0(ep))
			vudc_xfer_ctrl(vudc, ep, urb, vreq);
		else if (urb->n_iso)
			vudc_xfer_iso(vudc, ep, urb, vreq);
		else
			vudc_xfer_bulk(vudc, ep, urb, vreq);
	}
	ep->running = false;
}

static void vudc_xfer_work(struct work_struct *work)
{
	struct vudc *vudc = container_of(work, struct vudc, xfer_work);
	unsigned long flags;
	int i;

	spin_lock_irqsave(&vudc->slock, flags);
	for (i = 0; i < ARRAY_SIZE(vudc->eps); i++)
		if (!list_empty(&vudc->eps[i].urbs))
			vudc_ep_run(&vudc->eps[i]);
	spin_unlock_irqrestore(&vudc->slock, flags);
}

/**
 * vudc_urb_queue() - queue a client URB on its endpoint
 * @vudc: the UDC
 * @urb: the URB, with ->ep set; on vudc.in_flight unless internal
 *
 * Called with slock held.
 */
void vudc_urb_queue(struct vudc *vudc, struct vudc_urb *urb)
{
	lockdep_assert_held(&vudc->slock);
	list_add_tail(&urb->ep_list, &urb->ep->urbs);
	if (vudc_is_ep0(urb->ep))
		schedule_work(&vudc->ep0_work);
	else
		vudc_ep_run(urb->ep);
}

/**
 * vudc_urb_received() - more of an OUT URB's payload has arrived
 * @vudc: the UDC
 * @urb: a queued URB whose payload is received piece by piece
 * @avail: bytes of the payload now in the buffer; with the last piece
 *	the URB stops being receiving and may end
 *
 * Called with slock held.
 */
void vudc_urb_received(struct vudc *vudc, struct vudc_urb *urb, u32 avail)
{
	lockdep_assert_held(&vudc->slock);
	urb->avail = avail;
	if (avail >= urb->len)
		urb->receiving = false;	/* the buffer is the engine's now */
	vudc_ep_run(urb->ep);
}

/**
 * vudc_urb_cancel() - take a waiting URB off its endpoint
 * @vudc: the UDC
 * @urb: an URB not done
 *
 * A control URB whose setup went to the gadget driver cannot be taken
 * back: its request is on its way.  Called with slock held.
 *
 * Return: true if the URB was removed from its endpoint and in_flight.
 */
bool vudc_urb_cancel(struct vudc *vudc, struct vudc_urb *urb)
{
	lockdep_assert_held(&vudc->slock);
	/* the rx thread still writes into a partly received URB */
	if (urb->done || vudc->ep0_active == urb || urb->receiving)
		return false;
	list_del_init(&urb->ep_list);
	list_del_init(&urb->list);
	usbip_seq_erase(&vudc->in_flight_seq, &urb->seq);
	return true;
}

/* ------------------------------------------------------------------ */
/* ep0                                                                 */
/* ------------------------------------------------------------------ */

/*
 * The endpoint a standard request's wIndex names: ep0, or an endpoint the
 * gadget enabled.  NULL for reserved bits or any other endpoint.  slock
 * held.
 */
static struct vudc_ep *vudc_std_ep(struct vudc *vudc, u16 index)
{
	struct vudc_ep *ep;

	lockdep_assert_held(&vudc->slock);
	if (index & ~(USB_ENDPOINT_NUMBER_MASK | USB_DIR_IN))
		return NULL;
	ep = vudc_find_ep(vudc, index, index & USB_DIR_IN);
	if (!vudc_is_ep0(ep) && !ep->desc)
		return NULL;
	return ep;
}

/*
 * The standard requests the UDC answers itself.  Return: true if handled,
 * with *@status set (-EPIPE for a stall).  slock held.
 */
static bool vudc_std_request(struct vudc *vudc, struct vudc_urb *urb, int *status)
{
	const struct usb_ctrlrequest *setup = &urb->setup;
	u16 value = le16_to_cpu(setup->wValue);
	u16 index = le16_to_cpu(setup->wIndex);
	u16 length = le16_to_cpu(setup->wLength);
	struct vudc_ep *ep = NULL;
	u8 recip = setup->bRequestType & USB_RECIP_MASK;
	u16 st = 0;

	lockdep_assert_held(&vudc->slock);
	if ((setup->bRequestType & USB_TYPE_MASK) != USB_TYPE_STANDARD)
		return false;
	if (recip == USB_RECIP_ENDPOINT)
		ep = vudc_std_ep(vudc, index);

	switch (setup->bRequest) {
	case USB_REQ_SET_ADDRESS:
		if (setup->bRequestType != (USB_DIR_OUT | USB_RECIP_DEVICE))
			return false;
		usb_gadget_set_state(&vudc->gadget, value ? USB_STATE_ADDRESS : USB_STATE_DEFAULT);
		*status = 0;
		return true;

	case USB_REQ_GET_STATUS:
		if (recip == USB_RECIP_DEVICE) {
			st = vudc->selfpowered << USB_DEVICE_SELF_POWERED |
			     vudc->remote_wakeup << USB_DEVICE_REMOTE_WAKEUP;
		} else if (recip == USB_RECIP_ENDPOINT) {
			if (!ep) {
				*status = -EPIPE;
				return true;
			}
			st = ep->halted ? 1 << USB_ENDPOINT_HALT : 0;
		} else {
			return false;	/* interfaces: the gadget driver knows */
		}
		if (!urb->dir_in || length < 2 || urb->len < 2) {
			*status = -EPIPE;
			return true;
		}
		((u8 *)urb->data)[0] = st & 0xff;
		((u8 *)urb->data)[1] = st >> 8;
		urb->actual = 2;
		*status = 0;
		return true;

	case USB_REQ_SET_FEATURE:
	case USB_REQ_CLEAR_FEATURE:
		if (recip == USB_RECIP_DEVICE) {
			if (value == USB_DEVICE_REMOTE_WAKEUP)
				vudc->remote_wakeup = setup->bRequest == USB_REQ_SET_FEATURE;
			/* test modes and U1/U2 enables: accepted, nothing to do */
			*status = 0;
			return true;
		}
		if (recip != USB_RECIP_ENDPOINT || value != USB_ENDPOINT_HALT ||
		    (setup->bRequestType & USB_DIR_IN))
			return false;
		if (!ep) {
			*status = -EPIPE;	/* no such endpoint */
			return true;
		}
		if (vudc_is_ep0(ep)) {
			*status = 0;	/* ep0 halts only for one transfer */
			return true;
		}
		if (setup->bRequest == USB_REQ_SET_FEATURE) {
			ep->halted = true;
		} else if (!ep->wedged) {
			/* a wedged endpoint stays halted until its driver clears it */
			ep->halted = false;
		}
		if (!list_empty(&ep->urbs))
			queue_work(system_highpri_wq, &vudc->xfer_work);
		*status = 0;
		return true;
	}
	return false;
}

static void vudc_ep0_work(struct work_struct *work)
{
	struct vudc *vudc = container_of(work, struct vudc, ep0_work);
	struct vudc_ep *ep0 = &vudc->eps[0];
	struct usb_gadget_driver *driver;
	struct usb_ctrlrequest setup;
	struct vudc_urb *urb;
	unsigned long flags;
	int status, ret;

	spin_lock_irqsave(&vudc->slock, flags);
	urb = list_first_entry_or_null(&ep0->urbs, struct vudc_urb, ep_list);
	if (vudc->ep0_active || !urb) {
		spin_unlock_irqrestore(&vudc->slock, flags);
		return;
	}
	vudc->ep0_active = urb;
	urb->setup_sent = true;
	setup = urb->setup;
	/* a stale request of an earlier, cancelled setup must not answer */
	vudc_ep_nuke(ep0, -ECONNRESET);
	if (vudc_std_request(vudc, urb, &status)) {
		vudc_urb_done(vudc, urb, status);
		spin_unlock_irqrestore(&vudc->slock, flags);
		return;
	}
	spin_unlock_irqrestore(&vudc->slock, flags);

	mutex_lock(&vudc->gadget_lock);
	spin_lock_irqsave(&vudc->slock, flags);
	driver = vudc->callbacks ? vudc->driver : NULL;
	spin_unlock(&vudc->slock);
#if IS_ENABLED(CONFIG_USBIP_SELFTEST)
	if (driver)
		atomic_inc(&vudc->selftest_setups);
#endif
	/* interrupts off, as in the interrupt handler of a real UDC */
	ret = driver ? driver->setup(&vudc->gadget, &setup) : -ESHUTDOWN;
	local_irq_restore(flags);
	mutex_unlock(&vudc->gadget_lock);

	usbip_dev_dbg(USBIP_DBG_VUDC, vudc_dev(vudc),
		      "setup %02x %02x %04x %04x %04x: %d\n", setup.bRequestType,
		      setup.bRequest, le16_to_cpu(setup.wValue), le16_to_cpu(setup.wIndex),
		      le16_to_cpu(setup.wLength), ret);

	spin_lock_irqsave(&vudc->slock, flags);
	if (vudc->ep0_active == urb) {
		if (ret < 0)
			vudc_urb_done(vudc, urb, -EPIPE);	/* stall */
		else
			vudc_ep_run(ep0);
	}
	spin_unlock_irqrestore(&vudc->slock, flags);
}

/*
 * Sends the gadget one GET_DESCRIPTOR(DEVICE) of the UDC's own through ep0
 * and waits for it; vudc_xfer_ctrl() keeps the answer in vudc.dev_desc.
 * Only while no client is served: a client's gadget gets no request it did
 * not send.  desc_lock held (usbip_sockfd takes it before serving starts).
 *
 * Return: 0, -ENODEV without a connected gadget, -EBUSY while a client is
 * served, -ENOMEM, -ETIMEDOUT or -EIO.
 */
static int vudc_dev_desc_request(struct vudc *vudc)
{
	struct vudc_urb *urb;
	unsigned long flags;
	int ret;

	lockdep_assert_held(&vudc->desc_lock);
	urb = kzalloc(sizeof(*urb), GFP_KERNEL);
	if (!urb)
		return -ENOMEM;
	urb->data = kzalloc(USB_DT_DEVICE_SIZE, GFP_KERNEL);
	if (!urb->data) {
		kfree(urb);
		return -ENOMEM;
	}
	INIT_LIST_HEAD(&urb->list);
	usbip_seq_node_init(&urb->seq, 0);
	INIT_LIST_HEAD(&urb->ep_list);
	init_completion(&urb->wait);
	urb->vudc = vudc;
	urb->ep = &vudc->eps[0];
	urb->internal = true;
	urb->dir_in = true;
	urb->len = USB_DT_DEVICE_SIZE;
	urb->stage = urb->len;
	urb->setup.bRequestType = USB_DIR_IN | USB_TYPE_STANDARD | USB_RECIP_DEVICE;
	urb->setup.bRequest = USB_REQ_GET_DESCRIPTOR;
	urb->setup.wValue = cpu_to_le16(USB_DT_DEVICE << 8);
	urb->setup.wLength = cpu_to_le16(USB_DT_DEVICE_SIZE);

	spin_lock_irqsave(&vudc->slock, flags);
	if (!vudc->driver || !vudc->pulled_up || !vudc->callbacks) {
		spin_unlock_irqrestore(&vudc->slock, flags);
		ret = -ENODEV;
		goto out;
	}
	if (vudc->serving) {
		spin_unlock_irqrestore(&vudc->slock, flags);
		ret = -EBUSY;
		goto out;
	}
	vudc_urb_queue(vudc, urb);
	spin_unlock_irqrestore(&vudc->slock, flags);

	wait_for_completion_timeout(&urb->wait, VUDC_INTERNAL_TIMEOUT);

	spin_lock_irqsave(&vudc->slock, flags);
	if (!urb->done) {
		list_del_init(&urb->ep_list);
		if (vudc->ep0_active == urb) {
			vudc->ep0_active = NULL;
			if (!list_empty(&vudc->eps[0].urbs))
				schedule_work(&vudc->ep0_work);
		}
		ret = -ETIMEDOUT;
	} else if (urb->status || urb->actual != USB_DT_DEVICE_SIZE || !vudc->dev_desc_valid) {
		ret = -EIO;
	} else {
		ret = 0;
	}
	spin_unlock_irqrestore(&vudc->slock, flags);
	/* the work item may still look at the URB */
	flush_work(&vudc->ep0_work);
out:
	kfree(urb->data);
	kfree(urb);
	return ret;
}

static void vudc_desc_work(struct work_struct *work)
{
	struct vudc *vudc = container_of(work, struct vudc, desc_work);
	bool valid;
	int ret;

	mutex_lock(&vudc->desc_lock);
	spin_lock_irq(&vudc->slock);
	valid = vudc->dev_desc_valid;
	spin_unlock_irq(&vudc->slock);
	ret = valid ? 0 : vudc_dev_desc_request(vudc);
	mutex_unlock(&vudc->desc_lock);
	if (ret && ret != -ENODEV && ret != -EBUSY)
		dev_warn_ratelimited(vudc_dev(vudc),
				     "the gadget did not give its device descriptor (%d)\n", ret);
}

/**
 * vudc_dev_desc_get() - the device descriptor of the bound gadget
 * @vudc: the UDC
 * @desc: output
 *
 * Served from memory: the descriptor the gadget gave when it connected
 * its pull-up, or later to a client.  Only if there is none (the gadget
 * failed to answer then) and no client is served does the UDC ask the
 * gadget again.
 *
 * Return: 0, -ENODEV without a connected gadget, -EBUSY if no descriptor
 * is known while a client is served, or the error of the request.
 */
int vudc_dev_desc_get(struct vudc *vudc, struct usb_device_descriptor *desc)
{
	bool valid;
	int ret = 0;

	mutex_lock(&vudc->desc_lock);
	spin_lock_irq(&vudc->slock);
	valid = vudc->dev_desc_valid;
	spin_unlock_irq(&vudc->slock);
	if (!valid)
		ret = vudc_dev_desc_request(vudc);
	spin_lock_irq(&vudc->slock);
	if (!ret && vudc->dev_desc_valid && vudc->driver && vudc->pulled_up)
		memcpy(desc, &vudc->dev_desc, sizeof(*desc));
	else if (!ret)
		ret = -ENODEV;
	spin_unlock_irq(&vudc->slock);
	mutex_unlock(&vudc->desc_lock);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Connection events seen by the gadget                                */
/* ------------------------------------------------------------------ */

/**
 * vudc_gadget_connect() - a client connected: bus reset to the gadget
 * @vudc: the UDC
 */
void vudc_gadget_connect(struct vudc *vudc)
{
	struct usb_gadget_driver *driver;
	unsigned long flags;

	mutex_lock(&vudc->gadget_lock);
	spin_lock_irqsave(&vudc->slock, flags);
	vudc->remote_wakeup = false;
	driver = vudc->callbacks ? vudc->driver : NULL;
	spin_unlock(&vudc->slock);
	if (driver)
		usb_gadget_udc_reset(&vudc->gadget, driver);
	local_irq_restore(flags);
	mutex_unlock(&vudc->gadget_lock);
}

/**
 * vudc_gadget_disconnect() - the client is gone: disconnect to the gadget
 * @vudc: the UDC
 */
void vudc_gadget_disconnect(struct vudc *vudc)
{
	struct usb_gadget_driver *driver;
	unsigned long flags;

	mutex_lock(&vudc->gadget_lock);
	spin_lock_irqsave(&vudc->slock, flags);
	driver = vudc->callbacks && vudc->pulled_up ? vudc->driver : NULL;
	spin_unlock(&vudc->slock);
	if (driver && driver->disconnect)
		driver->disconnect(&vudc->gadget);
	local_irq_restore(flags);
	usb_gadget_set_state(&vudc->gadget, USB_STATE_NOTATTACHED);
	mutex_unlock(&vudc->gadget_lock);
}

/**
 * vudc_stop_io() - end all I/O of the connection
 * @vudc: the UDC; its rx and tx threads are stopped
 *
 * Frees every client URB and answer, gives every gadget request back with
 * -ESHUTDOWN, then tells the gadget driver about the disconnect.
 */
void vudc_stop_io(struct vudc *vudc)
{
	struct vudc_unlink *ul, *ul_tmp;
	struct vudc_urb *urb, *tmp;
	unsigned long flags;
	LIST_HEAD(urbs);
	LIST_HEAD(unlinks);
	unsigned int n = 0;
	int i;

	spin_lock_irqsave(&vudc->slock, flags);
	vudc->serving = false;
	spin_unlock_irqrestore(&vudc->slock, flags);
	cancel_work_sync(&vudc->ep0_work);
	cancel_work_sync(&vudc->xfer_work);

	spin_lock_irqsave(&vudc->slock, flags);
	for (i = 0; i < ARRAY_SIZE(vudc->eps); i++) {
		struct vudc_ep *ep = &vudc->eps[i];

		list_for_each_entry_safe(urb, tmp, &ep->urbs, ep_list) {
			list_del_init(&urb->ep_list);
			if (urb->internal)
				vudc_urb_done(vudc, urb, -ESHUTDOWN);
		}
	}
	vudc->ep0_active = NULL;
	list_splice_init(&vudc->in_flight, &urbs);
	vudc->in_flight_seq = RB_ROOT;	/* its entries are freed below */
	list_splice_init(&vudc->tx_urbs, &urbs);
	list_splice_init(&vudc->tx_unlinks, &unlinks);
	for (i = 0; i < ARRAY_SIZE(vudc->eps); i++)
		vudc_ep_nuke(&vudc->eps[i], -ESHUTDOWN);
	spin_unlock_irqrestore(&vudc->slock, flags);

	list_for_each_entry_safe(urb, tmp, &urbs, list) {
		list_del(&urb->list);
		vudc_urb_free(urb);
		n++;
	}
	list_for_each_entry_safe(ul, ul_tmp, &unlinks, list) {
		list_del(&ul->list);
		vudc_unlink_free(vudc, ul);
	}
	usbip_dev_dbg(USBIP_DBG_VUDC, vudc_dev(vudc), "%u URBs dropped\n", n);

	vudc_gadget_disconnect(vudc);
}

/* ------------------------------------------------------------------ */
/* Endpoint ops                                                        */
/* ------------------------------------------------------------------ */

static int vudc_ep_enable(struct usb_ep *_ep, const struct usb_endpoint_descriptor *desc)
{
	struct vudc_ep *ep = to_vudc_ep(_ep);
	struct vudc *vudc = ep->vudc;
	unsigned long flags;
	unsigned int maxp;

	if (vudc_is_ep0(ep) || !desc || desc->bDescriptorType != USB_DT_ENDPOINT)
		return -EINVAL;
	if (usb_endpoint_dir_in(desc) != !!(ep->addr & USB_DIR_IN) ||
	    usb_endpoint_num(desc) != (ep->addr & USB_ENDPOINT_NUMBER_MASK))
		return -EINVAL;
	maxp = usb_endpoint_maxp(desc);
	if (!maxp || maxp > VUDC_EP_MAXPACKET)
		return -EINVAL;

	spin_lock_irqsave(&vudc->slock, flags);
	if (!vudc->driver) {
		spin_unlock_irqrestore(&vudc->slock, flags);
		return -ESHUTDOWN;
	}
	ep->desc = desc;
	ep->type = usb_endpoint_type(desc);
	ep->ep.maxpacket = maxp;
	ep->halted = false;
	ep->wedged = false;
	if (!list_empty(&ep->urbs))
		queue_work(system_highpri_wq, &vudc->xfer_work);
	spin_unlock_irqrestore(&vudc->slock, flags);
	usbip_dev_dbg(USBIP_DBG_VUDC, vudc_dev(vudc), "%s enabled: type %d maxp %u\n",
		      ep->name, ep->type, maxp);
	return 0;
}

static int vudc_ep_disable(struct usb_ep *_ep)
{
	struct vudc_ep *ep = to_vudc_ep(_ep);
	struct vudc *vudc = ep->vudc;
	unsigned long flags;

	if (vudc_is_ep0(ep))
		return -EINVAL;
	spin_lock_irqsave(&vudc->slock, flags);
	ep->desc = NULL;
	ep->halted = false;
	ep->wedged = false;
	vudc_ep_nuke(ep, -ESHUTDOWN);
	spin_unlock_irqrestore(&vudc->slock, flags);
	return 0;
}

static struct usb_request *vudc_alloc_request(struct usb_ep *_ep, gfp_t gfp)
{
	struct vudc_req *vreq = kzalloc(sizeof(*vreq), gfp);

	if (!vreq)
		return NULL;
	INIT_LIST_HEAD(&vreq->list);
	return &vreq->req;
}

static void vudc_free_request(struct usb_ep *_ep, struct usb_request *req)
{
	struct vudc_req *vreq = to_vudc_req(req);
	struct vudc *vudc = to_vudc_ep(_ep)->vudc;
	unsigned long flags;

	if (!list_empty(&vreq->list)) {
		/* a driver bug; at least keep the list intact */
		dev_err(vudc_dev(vudc), "%s: request freed while queued\n", _ep->name);
		spin_lock_irqsave(&vudc->slock, flags);
		list_del_init(&vreq->list);
		spin_unlock_irqrestore(&vudc->slock, flags);
	}
	kfree(vreq);
}

static int vudc_ep_queue(struct usb_ep *_ep, struct usb_request *req, gfp_t gfp)
{
	struct vudc_ep *ep = to_vudc_ep(_ep);
	struct vudc *vudc = ep->vudc;
	struct vudc_req *vreq;
	unsigned long flags;

	if (!req || !req->complete || (!req->buf && req->length))
		return -EINVAL;
	vreq = to_vudc_req(req);
	if (!list_empty(&vreq->list))
		return -EBUSY;

	spin_lock_irqsave(&vudc->slock, flags);
	if (!vudc->driver || (!vudc_is_ep0(ep) && !ep->desc)) {
		spin_unlock_irqrestore(&vudc->slock, flags);
		return -ESHUTDOWN;
	}
	req->actual = 0;
	req->status = -EINPROGRESS;
	vreq->zlp_done = false;
	list_add_tail(&vreq->list, &ep->reqs);
	/* never complete inside usb_ep_queue(): its caller may hold locks */
	if (!list_empty(&ep->urbs))
		queue_work(system_highpri_wq, &vudc->xfer_work);
	spin_unlock_irqrestore(&vudc->slock, flags);
	return 0;
}

static int vudc_ep_dequeue(struct usb_ep *_ep, struct usb_request *req)
{
	struct vudc_ep *ep = to_vudc_ep(_ep);
	struct vudc *vudc = ep->vudc;
	struct vudc_req *vreq, *found = NULL;
	unsigned long flags;

	if (!req)
		return -EINVAL;
	spin_lock_irqsave(&vudc->slock, flags);
	list_for_each_entry(vreq, &ep->reqs, list) {
		if (&vreq->req == req) {
			found = vreq;
			break;
		}
	}
	if (found)
		vudc_req_giveback(ep, found, -ECONNRESET);
	spin_unlock_irqrestore(&vudc->slock, flags);
	return found ? 0 : -EINVAL;
}

static int vudc_ep_set_halt_wedge(struct usb_ep *_ep, int value, bool wedge)
{
	struct vudc_ep *ep = to_vudc_ep(_ep);
	struct vudc *vudc = ep->vudc;
	unsigned long flags;
	int ret = 0;

	spin_lock_irqsave(&vudc->slock, flags);
	if (vudc_is_ep0(ep)) {
		/* a protocol stall of the current control transfer */
		if (value && vudc->ep0_active)
			vudc_urb_done(vudc, vudc->ep0_active, -EPIPE);
	} else if (!ep->desc) {
		ret = -EINVAL;
	} else if (!value) {
		ep->halted = false;
		ep->wedged = false;
		if (!list_empty(&ep->urbs))
			queue_work(system_highpri_wq, &vudc->xfer_work);
	} else if ((ep->addr & USB_DIR_IN) && !list_empty(&ep->reqs)) {
		ret = -EAGAIN;	/* data still to go out first */
	} else {
		ep->halted = true;
		ep->wedged |= wedge;
		if (!list_empty(&ep->urbs))
			queue_work(system_highpri_wq, &vudc->xfer_work);
	}
	spin_unlock_irqrestore(&vudc->slock, flags);
	return ret;
}

static int vudc_ep_set_halt(struct usb_ep *_ep, int value)
{
	return vudc_ep_set_halt_wedge(_ep, value, false);
}

static int vudc_ep_set_wedge(struct usb_ep *_ep)
{
	return vudc_ep_set_halt_wedge(_ep, 1, true);
}

static const struct usb_ep_ops vudc_ep_ops = {
	.enable = vudc_ep_enable,
	.disable = vudc_ep_disable,
	.alloc_request = vudc_alloc_request,
	.free_request = vudc_free_request,
	.queue = vudc_ep_queue,
	.dequeue = vudc_ep_dequeue,
	.set_halt = vudc_ep_set_halt,
	.set_wedge = vudc_ep_set_wedge,
};

/* ------------------------------------------------------------------ */
/* Gadget ops                                                          */
/* ------------------------------------------------------------------ */

static int vudc_get_frame(struct usb_gadget *gadget)
{
	return jiffies_to_msecs(jiffies) & 0x7ff;
}

static int vudc_wakeup(struct usb_gadget *gadget)
{
	return -EOPNOTSUPP;
}

static int vudc_set_selfpowered(struct usb_gadget *gadget, int value)
{
	struct vudc *vudc = gadget_to_vudc(gadget);
	unsigned long flags;

	spin_lock_irqsave(&vudc->slock, flags);
	vudc->selfpowered = value;
	spin_unlock_irqrestore(&vudc->slock, flags);
	return 0;
}

static int vudc_pullup(struct usb_gadget *gadget, int on)
{
	struct vudc *vudc = gadget_to_vudc(gadget);
	enum usb_device_speed speed = USB_SPEED_SUPER;
	unsigned long flags;

	spin_lock_irqsave(&vudc->slock, flags);
	vudc->pulled_up = on;
	if (on && vudc->driver && vudc->driver->max_speed != USB_SPEED_UNKNOWN)
		speed = min(vudc->driver->max_speed, USB_SPEED_SUPER);
	if (on)
		gadget->speed = speed;
	if (!on)
		vudc->dev_desc_valid = false;
	/* learn the device descriptor now, before any client connects */
	if (on && vudc->driver)
		schedule_work(&vudc->desc_work);
	spin_unlock_irqrestore(&vudc->slock, flags);

	if (!on && usbip_conn_state(&vudc->conn) == USBIP_CONN_RUNNING)
		usbip_conn_event(&vudc->conn, USBIP_EV_DETACH, 0,
				 "the gadget disconnected its pull-up");
	return 0;
}

static int vudc_udc_start(struct usb_gadget *gadget, struct usb_gadget_driver *driver)
{
	struct vudc *vudc = gadget_to_vudc(gadget);
	unsigned long flags;

	spin_lock_irqsave(&vudc->slock, flags);
	vudc->driver = driver;
	spin_unlock_irqrestore(&vudc->slock, flags);
	dev_info(vudc_dev(vudc), "gadget driver %s bound\n", driver->function ?: "?");
	return 0;
}

static int vudc_udc_stop(struct usb_gadget *gadget)
{
	struct vudc *vudc = gadget_to_vudc(gadget);
	unsigned long flags;

	/* its request would only be refused now; before gadget_lock (ep0) */
	cancel_work_sync(&vudc->desc_work);
	mutex_lock(&vudc->gadget_lock);
	spin_lock_irqsave(&vudc->slock, flags);
	vudc->driver = NULL;
	vudc->dev_desc_valid = false;
	spin_unlock_irqrestore(&vudc->slock, flags);
	mutex_unlock(&vudc->gadget_lock);
	return 0;
}

/*
 * Taking gadget_lock waits for a setup, reset or disconnect call in flight,
 * as synchronize_irq() does for a UDC with an interrupt: the gadget core
 * unbinds the driver right after disabling the callbacks.
 */
static void vudc_udc_async_callbacks(struct usb_gadget *gadget, bool enable)
{
	struct vudc *vudc = gadget_to_vudc(gadget);
	unsigned long flags;

	mutex_lock(&vudc->gadget_lock);
	spin_lock_irqsave(&vudc->slock, flags);
	vudc->callbacks = enable;
	spin_unlock_irqrestore(&vudc->slock, flags);
	mutex_unlock(&vudc->gadget_lock);
}

static const struct usb_gadget_ops vudc_gadget_ops = {
	.get_frame = vudc_get_frame,
	.wakeup = vudc_wakeup,
	.set_selfpowered = vudc_set_selfpowered,
	.pullup = vudc_pullup,
	.udc_start = vudc_udc_start,
	.udc_stop = vudc_udc_stop,
	.udc_async_callbacks = vudc_udc_async_callbacks,
};

/**
 * vudc_udc_init() - set up the gadget and its endpoints
 * @vudc: the UDC, zeroed, with ->pdev set
 *
 * Return: 0.
 */
int vudc_udc_init(struct vudc *vudc)
{
	struct usb_gadget *g = &vudc->gadget;
	int i;

	g->name = VUDC_DRIVER_NAME;
	g->ops = &vudc_gadget_ops;
	g->max_speed = USB_SPEED_SUPER;
	g->speed = USB_SPEED_UNKNOWN;
	INIT_LIST_HEAD(&g->ep_list);
	INIT_WORK(&vudc->ep0_work, vudc_ep0_work);
	INIT_WORK(&vudc->xfer_work, vudc_xfer_work);
	INIT_WORK(&vudc->desc_work, vudc_desc_work);

	for (i = 0; i < ARRAY_SIZE(vudc->eps); i++) {
		struct vudc_ep *ep = &vudc->eps[i];

		ep->vudc = vudc;
		INIT_LIST_HEAD(&ep->reqs);
		INIT_LIST_HEAD(&ep->urbs);
		ep->ep.ops = &vudc_ep_ops;
		if (i == 0) {
			strscpy(ep->name, vudc_ep0_name, sizeof(ep->name));
			ep->addr = 0;
			ep->ep.caps.type_control = true;
			ep->ep.caps.dir_in = true;
			ep->ep.caps.dir_out = true;
			usb_ep_set_maxpacket_limit(&ep->ep, VUDC_EP0_MAXPACKET);
		} else {
			bool in = i <= VUDC_NR_EPS;
			int num = in ? i : i - VUDC_NR_EPS;

			snprintf(ep->name, sizeof(ep->name), "ep%d%s", num, in ? "in" : "out");
			ep->addr = num | (in ? USB_DIR_IN : 0);
			ep->ep.caps.type_iso = true;
			ep->ep.caps.type_bulk = true;
			ep->ep.caps.type_int = true;
			ep->ep.caps.dir_in = in;
			ep->ep.caps.dir_out = !in;
			ep->ep.max_streams = 0;
			usb_ep_set_maxpacket_limit(&ep->ep, VUDC_EP_MAXPACKET);
			list_add_tail(&ep->ep.ep_list, &g->ep_list);
		}
		ep->ep.name = ep->name;
	}
	g->ep0 = &vudc->eps[0].ep;
	return 0;
}
