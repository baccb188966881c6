// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * usbip-vudc: the device controller half: the UDC's own GET_DESCRIPTOR,
 * gadget connect and disconnect, endpoint and gadget ops.  The transfer
 * engine and ep0 are in vudc_xfer.c.
 */
#define pr_fmt(fmt) "usbip-vudc: " fmt

#include <linux/jiffies.h>
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "vudc.h"

static const char vudc_ep0_name[] = "ep0";

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
	INIT_LIST_HEAD(&urb->su.list);
	usbip_seq_node_init(&urb->su.seq, 0);
	INIT_LIST_HEAD(&urb->ep_list);
	init_completion(&urb->wait);
	urb->vudc = vudc;
	urb->ep = &vudc->eps[0];
	urb->internal = true;
	urb->su.dir_in = true;
	urb->su.len = USB_DT_DEVICE_SIZE;
	urb->stage = urb->su.len;
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
	} else if (urb->su.status || urb->su.actual != USB_DT_DEVICE_SIZE || !vudc->dev_desc_valid) {
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
 * vudc_io_stop() - end all I/O of the connection
 * @vudc: the UDC; its rx and tx threads are stopped
 *
 * Frees every client URB and answer, gives every gadget request back with
 * -ESHUTDOWN, then tells the gadget driver about the disconnect.
 */
void vudc_io_stop(struct vudc *vudc)
{
	struct vudc_urb *urb, *tmp;
	unsigned long flags;
	LIST_HEAD(urbs);
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
	vudc->srv.in_flight = RB_ROOT;	/* its entries are freed below */
	for (i = 0; i < ARRAY_SIZE(vudc->eps); i++)
		vudc_ep_nuke(&vudc->eps[i], -ESHUTDOWN);
	spin_unlock_irqrestore(&vudc->slock, flags);

	list_for_each_entry_safe(urb, tmp, &urbs, su.list) {
		list_del(&urb->su.list);
		vudc_urb_free(urb);
		n++;
	}
	n += usbip_server_tx_drop(&vudc->srv);
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

	/*
	 * Whatever the connection's state: an idle one ignores it, and one
	 * being closed for a link failure must not be suspended now.
	 */
	if (!on)
		usbip_conn_event(&vudc->srv.conn, USBIP_EV_DETACH, 0,
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
