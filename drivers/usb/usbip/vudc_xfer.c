// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * usbip-vudc: the transfer engine, which pairs client URBs with gadget
 * requests on each endpoint, and ep0: setups go to the gadget driver from
 * a work item, except the requests a UDC answers itself.
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
 *    until it is full.  A request never ends while the rest of its URB's
 *    payload is still being received.
 *  - isochronous: one request per packet of the URB.
 *  - control: the one request the gadget driver queues for the data or
 *    status stage ends the URB.
 */
#define pr_fmt(fmt) "usbip-vudc: " fmt

#include <linux/kernel.h>
#include <linux/string.h>

#include "vudc.h"

/**
 * vudc_ep_find() - an endpoint by number and direction
 * @vudc: the UDC
 * @num: endpoint number, 0..15
 * @dir_in: IN endpoint (ignored for 0)
 *
 * Return: the endpoint.
 */
struct vudc_ep *vudc_ep_find(struct vudc *vudc, u32 num, bool dir_in)
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
	urb->su.status = status;
	urb->done = true;
	list_del_init(&urb->ep_list);
	list_del_init(&urb->su.list);
	usbip_server_in_flight_del(&vudc->srv, &urb->su);
	if (vudc->ep0_active == urb) {
		vudc->ep0_active = NULL;
		if (!list_empty(&vudc->eps[0].urbs))
			schedule_work(&vudc->ep0_work);
	}
	if (urb->internal) {
		complete(&urb->wait);
		return;
	}
	usbip_server_urb_done_locked(&vudc->srv, &urb->su);
}

/**
 * vudc_req_giveback() - give a request back to its gadget driver
 * @ep: its endpoint
 * @vreq: the request, on @ep's list
 * @status: its final status
 *
 * Called with slock held; releases it while the driver's completion runs.
 */
void vudc_req_giveback(struct vudc_ep *ep, struct vudc_req *vreq, int status)
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

/**
 * vudc_ep_nuke() - give back every request of an endpoint
 * @ep: the endpoint
 * @status: the status they all end with
 *
 * Called with slock held (released meanwhile, see vudc_req_giveback()).
 */
void vudc_ep_nuke(struct vudc_ep *ep, int status)
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
	if (!urb->su.dir_in)
		n = min(n, urb->avail);
	if (urb->su.dir_in) {
		if (n)
			memcpy(urb->data, req->buf, n);
	} else if (n) {
		memcpy(req->buf, urb->data, n);
	}
	urb->su.actual = n;
	req->actual = n;
	if (urb->su.dir_in && n < urb->su.len && (urb->flags & USBIP_URB_SHORT_NOT_OK))
		status = -EREMOTEIO;

	/* remember the device descriptor for dev_desc */
	if (urb->su.dir_in && urb->setup.bRequestType == USB_DIR_IN &&
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
	struct usbip_iso_desc *pkt = &urb->su.iso[urb->iso_next];
	u32 n = min_t(u32, req->length, pkt->length);

	if (urb->su.dir_in) {
		if (n)
			memcpy(urb->data + pkt->offset, req->buf, n);
	} else if (n) {
		memcpy(req->buf, urb->data + pkt->offset, n);
	}
	pkt->actual_length = n;
	pkt->status = 0;
	req->actual = n;
	urb->su.actual += n;
	if (++urb->iso_next == urb->su.n_iso)
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

	if (urb->su.dir_in) {
		n = min(req->length - req->actual, urb->su.len - urb->su.actual);
		if (n)
			memcpy(urb->data + urb->su.actual, req->buf + req->actual, n);
		req->actual += n;
		urb->su.actual += n;
		if (req->actual == req->length) {
			req_end = true;
			/* the request's last packet is short: the URB ends too */
			urb_end = !req->length || req->length % maxp || req->zero ||
				  urb->su.actual == urb->su.len;
		} else {
			urb_end = true;	/* URB full, the request goes on */
			if (urb->su.len % maxp)
				urb_status = -EOVERFLOW;
		}
		if (!urb_status && urb->su.actual < urb->su.len &&
		    (urb->flags & USBIP_URB_SHORT_NOT_OK))
			urb_status = -EREMOTEIO;
	} else {
		n = min(urb->avail - urb->su.actual, req->length - req->actual);
		if (n)
			memcpy(req->buf + req->actual, urb->data + urb->su.actual, n);
		req->actual += n;
		urb->su.actual += n;
		if (urb->su.actual == urb->su.len) {
			urb_end = true;
			req_end = !urb->su.len || urb->su.len % maxp ||
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
			if (urb->su.actual == urb->avail || ep->halted || !ep->desc ||
			    ep->type == USB_ENDPOINT_XFER_ISOC)
				break;
		} else if (ep->halted) {
			vudc_urb_done(vudc, urb, -EPIPE);
			continue;
		} else if (!ep->desc) {
			break;	/* not enabled: the URB waits, as for NAKs */
		} else if ((ep->type == USB_ENDPOINT_XFER_ISOC) != (urb->su.n_iso > 0)) {
			vudc_urb_done(vudc, urb, -EINVAL);
			continue;
		}
		vreq = list_first_entry_or_null(&ep->reqs, struct vudc_req, list);
		if (!vreq)
			break;
		if (vudc_is_ep0(ep))
			vudc_xfer_ctrl(vudc, ep, urb, vreq);
		else if (urb->su.n_iso)
			vudc_xfer_iso(vudc, ep, urb, vreq);
		else
			vudc_xfer_bulk(vudc, ep, urb, vreq);
	}
	ep->running = false;
}

/**
 * vudc_xfer_work() - run every endpoint that has URBs waiting
 * @work: vudc.xfer_work, queued where the engine must not run inline (a
 *	request queued from inside usb_ep_queue())
 */
void vudc_xfer_work(struct work_struct *work)
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
	if (avail >= urb->su.len)
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
	list_del_init(&urb->su.list);
	usbip_server_in_flight_del(&vudc->srv, &urb->su);
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
	ep = vudc_ep_find(vudc, index, index & USB_DIR_IN);
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
		if (!urb->su.dir_in || length < 2 || urb->su.len < 2) {
			*status = -EPIPE;
			return true;
		}
		((u8 *)urb->data)[0] = st & 0xff;
		((u8 *)urb->data)[1] = st >> 8;
		urb->su.actual = 2;
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

/**
 * vudc_ep0_work() - hand the setup of the first control URB to the gadget
 * @work: vudc.ep0_work
 *
 * Answers the standard requests a UDC handles itself; any other setup goes
 * to the gadget driver's ->setup() under gadget_lock.
 */
void vudc_ep0_work(struct work_struct *work)
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
