/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * usbip-vudc: a virtual USB device controller that exports the gadget bound
 * to it over USB/IP.
 *
 * The server itself (receive and transmit threads, answer queues,
 * usbip_sockfd, budget) is usbip-core's struct usbip_server; usbip-vudc
 * only says how a client URB reaches the gadget: through the transfer
 * engine.
 *
 * vudc_main.c   module, platform devices and driver, the server ops
 * vudc_udc.c    the UDC: gadget and endpoint ops, gadget connect and
 *               disconnect, the UDC's own GET_DESCRIPTOR
 * vudc_xfer.c   the transfer engine that moves data between client URBs
 *               and gadget requests, ep0
 * vudc_rx.c     CMD_SUBMIT to a client URB on its endpoint, CMD_UNLINK
 * vudc_tx.c     the RET_SUBMIT fields of an iso URB, freeing URBs
 * vudc_sysfs.c  usbip_sockfd, usbip_status, dev_desc
 *
 * Data path.  A client URB (struct vudc_urb) waits on the list of its
 * endpoint; a gadget request waits on the same endpoint's request list.
 * As soon as both lists are non-empty, vudc_ep_run() copies between the
 * two, as the packets of a real bus would split them, and completes
 * whichever is finished: there is no timer and no frame pacing.
 *
 * Control transfers on ep0 are queued on ep0's URB list; the ep0 work item
 * hands the setup packet of the first one to the gadget driver (or answers
 * it itself for the requests a UDC handles: SET_ADDRESS, GET_STATUS and
 * the endpoint halt feature), and the single request the driver queues for
 * the data or status stage completes it.
 *
 * Locking (in this order):
 *  - vudc.lock (mutex) is the usbip_conn lock: usbip_sockfd writes and the
 *    event worker hold it.
 *  - vudc.desc_lock (mutex) is held by the UDC's own GET_DESCRIPTOR
 *    request while it waits, and by usbip_sockfd while it starts serving.
 *  - vudc.gadget_lock (mutex) serializes the calls into the gadget driver
 *    that are made from process context (setup from the ep0 work,
 *    disconnect and reset from the connection code) with udc_stop.
 *  - vudc.slock (irq-safe spinlock) is the server's lock: it protects the
 *    endpoints, their lists, the URB lists, the in-flight index and answer
 *    queues of vudc.srv and the flags marked so below.  Request
 *    completions are given back with it released.
 *  - the budget lock (usbip-core) is innermost; the rx thread waits for
 *    budget with no lock held.
 */
#ifndef USBIP_VUDC_H
#define USBIP_VUDC_H

#include <linux/atomic.h>
#include <linux/completion.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/platform_device.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/usb/ch9.h>
#include <linux/usb/gadget.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "usbip_server.h"

#define VUDC_DRIVER_NAME	"usbip-vudc"
/* Endpoints besides ep0, per direction. */
#define VUDC_NR_EPS		USBIP_MAX_EP
#define VUDC_EP0_MAXPACKET	64
#define VUDC_EP_MAXPACKET	1024
/* Internal requests (dev_desc) wait this long for the gadget. */
#define VUDC_INTERNAL_TIMEOUT	(2 * HZ)

struct vudc;

/**
 * struct vudc_ep - one endpoint of the UDC
 * @ep: the gadget API endpoint
 * @vudc: owner
 * @name: "ep0", "ep1in", "ep1out", ...
 * @addr: endpoint address (number | USB_DIR_IN)
 * @desc: descriptor while enabled (slock)
 * @type: USB_ENDPOINT_XFER_* while enabled (slock)
 * @reqs: queued gadget requests (struct vudc_req.list, slock)
 * @urbs: client URBs waiting for data (struct vudc_urb.ep_list, slock)
 * @halted: halt feature set (slock)
 * @wedged: halted until the driver clears it (slock)
 * @running: vudc_ep_run() is active on this endpoint (slock)
 */
struct vudc_ep {
	struct usb_ep ep;
	struct vudc *vudc;
	char name[8];
	u8 addr;
	const struct usb_endpoint_descriptor *desc;
	int type;
	struct list_head reqs;
	struct list_head urbs;
	bool halted;
	bool wedged;
	bool running;
};

/**
 * struct vudc_req - a gadget request
 * @req: the gadget API request
 * @list: in vudc_ep.reqs while queued
 * @zlp_done: IN: the zero-length packet @req->zero asks for was sent
 */
struct vudc_req {
	struct usb_request req;
	struct list_head list;
	bool zlp_done;
};

/**
 * struct vudc_urb - a client CMD_SUBMIT being served
 * @su: the server's part: @su.list is in vudc.in_flight while waiting,
 *	then in the server's answer queue; @su.seq is in the server's
 *	in-flight index while on vudc.in_flight (slock); length, direction,
 *	actual length and status (slock), iso descriptors, unlink state
 * @ep_list: in vudc_ep.urbs while waiting for data (slock)
 * @vudc: owner
 * @ep: the endpoint
 * @flags: USBIP_URB_* transfer flags of the CMD_SUBMIT
 * @setup: control setup packet (ep0)
 * @data: transfer buffer (kvmalloc'd), NULL when the length is 0
 * @stage: ep0: bytes the data stage may move, min(wLength, length); the
 *	length for other endpoints
 * @avail: OUT: bytes of the payload received so far (slock); 0 for IN.
 *	Only these bytes are ever given to the gadget.
 * @receiving: the rx thread still receives the payload into @data: the
 *	URB must not be completed, cancelled or freed (slock)
 * @done: completed, in the answer queue or given to its waiter (slock)
 * @setup_sent: ep0: the setup went to the gadget driver (slock)
 * @internal: issued by the UDC itself (dev_desc), completes @wait
 * @wait: for @internal URBs
 * @iso_next: next iso packet to fill (slock)
 */
struct vudc_urb {
	struct usbip_server_urb su;
	struct list_head ep_list;
	struct vudc *vudc;
	struct vudc_ep *ep;
	u32 flags;
	struct usb_ctrlrequest setup;
	void *data;
	u32 stage;
	u32 avail;
	bool receiving;
	bool done;
	bool setup_sent;
	bool internal;
	struct completion wait;
	int iso_next;
};

/**
 * struct vudc - one virtual UDC (platform device usbip-vudc.N)
 * @pdev: the platform device
 * @gadget: the gadget of this UDC
 * @driver: the bound gadget driver (slock for readers in atomic context,
 *	@gadget_lock for callers into it)
 * @pulled_up: the gadget driver connected the pull-up (slock)
 * @eps: ep0, then VUDC_NR_EPS IN and VUDC_NR_EPS OUT endpoints
 * @srv: the USB/IP server side (connection, answer queues, budget)
 * @lock: attach/detach mutex, the connection's lock
 * @gadget_lock: see the locking rules above
 * @slock: see the locking rules above
 * @serving: a client is connected; URBs can be queued (slock)
 * @in_flight: client URBs not yet completed (struct vudc_urb.su.list);
 *	the same URBs are in @srv's in-flight index by seqnum
 * @callbacks: the gadget core allows calls into the driver (slock)
 * @selfpowered: reported by GET_STATUS (slock)
 * @remote_wakeup: DEVICE_REMOTE_WAKEUP feature (slock)
 * @ep0_work: hands ep0 setups to the gadget driver
 * @xfer_work: runs the endpoints after the gadget queued a request while
 *	a client URB was waiting (never inside usb_ep_queue() itself)
 * @ep0_active: the control URB whose setup is being served (slock)
 * @dev_desc: the last device descriptor the gadget returned, to a client
 *	or to the request the UDC sends itself when the gadget connects
 * @dev_desc_valid: @dev_desc is set (slock)
 * @desc_lock: serializes the UDC's own GET_DESCRIPTOR requests with the
 *	start of a connection: none is sent while a client is served
 * @desc_work: asks a gadget that just connected its pull-up for its device
 *	descriptor
 * @selftest_setups: setups handed to the gadget driver (test builds only)
 */
struct vudc {
	struct platform_device *pdev;
	struct usb_gadget gadget;
	struct usb_gadget_driver *driver;
	bool pulled_up;
	struct vudc_ep eps[1 + 2 * VUDC_NR_EPS];

	struct usbip_server srv;
	struct mutex lock;
	struct mutex gadget_lock;

	spinlock_t slock;
	bool serving;
	struct list_head in_flight;

	bool callbacks;
	bool selfpowered;
	bool remote_wakeup;
	struct work_struct ep0_work;
	struct work_struct xfer_work;
	struct vudc_urb *ep0_active;

	struct usb_device_descriptor dev_desc;
	bool dev_desc_valid;
	struct mutex desc_lock;
	struct work_struct desc_work;
#if IS_ENABLED(CONFIG_USBIP_SELFTEST)
	atomic_t selftest_setups;
#endif
};

static inline struct vudc *srv_to_vudc(struct usbip_server *srv)
{
	return container_of(srv, struct vudc, srv);
}

static inline struct vudc_urb *su_to_vudc_urb(struct usbip_server_urb *su)
{
	return container_of(su, struct vudc_urb, su);
}

static inline struct vudc *gadget_to_vudc(struct usb_gadget *g)
{
	return container_of(g, struct vudc, gadget);
}

static inline struct vudc_ep *to_vudc_ep(struct usb_ep *ep)
{
	return container_of(ep, struct vudc_ep, ep);
}

static inline struct vudc_req *to_vudc_req(struct usb_request *req)
{
	return container_of(req, struct vudc_req, req);
}

static inline bool vudc_is_ep0(struct vudc_ep *ep)
{
	return ep == &ep->vudc->eps[0];
}

static inline struct device *vudc_dev(struct vudc *vudc)
{
	return &vudc->pdev->dev;
}

/* vudc_xfer.c */
struct vudc_ep *vudc_ep_find(struct vudc *vudc, u32 num, bool dir_in);
void vudc_urb_queue(struct vudc *vudc, struct vudc_urb *urb);
void vudc_urb_received(struct vudc *vudc, struct vudc_urb *urb, u32 avail);
void vudc_urb_done(struct vudc *vudc, struct vudc_urb *urb, int status);
bool vudc_urb_cancel(struct vudc *vudc, struct vudc_urb *urb);
void vudc_req_giveback(struct vudc_ep *ep, struct vudc_req *vreq, int status);
void vudc_ep_nuke(struct vudc_ep *ep, int status);
void vudc_xfer_work(struct work_struct *work);
void vudc_ep0_work(struct work_struct *work);

/* vudc_udc.c */
int vudc_udc_init(struct vudc *vudc);
void vudc_io_stop(struct vudc *vudc);
void vudc_gadget_connect(struct vudc *vudc);
void vudc_gadget_disconnect(struct vudc *vudc);
int vudc_dev_desc_get(struct vudc *vudc, struct usb_device_descriptor *desc);

/* vudc_rx.c */
int vudc_rx_ep_find(struct usbip_server *srv, struct usbip_server_cmd *cmd,
		    const char **reason);
int vudc_urb_alloc(struct usbip_server *srv, const struct usbip_server_cmd *cmd,
		   struct usbip_server_urb **out, const char **reason);
int vudc_urb_submit_early(struct usbip_server *srv, struct usbip_server_urb *su,
			  const char **reason);
void vudc_urb_rx_piece(struct usbip_server *srv, struct usbip_server_urb *su, u32 avail);
int vudc_urb_submit(struct usbip_server *srv, struct usbip_server_urb *su,
		    const struct usbip_server_cmd *cmd, const char **reason);
bool vudc_urb_unlink(struct usbip_server *srv, const struct usbip_pdu *pdu);

/* vudc_tx.c */
void vudc_urb_ret_fill(struct usbip_server *srv, struct usbip_server_urb *su,
		       struct usbip_pdu *pdu);
void vudc_urb_free(struct vudc_urb *urb);
void vudc_urb_srv_free(struct usbip_server *srv, struct usbip_server_urb *su);

/* vudc_sysfs.c */
extern const struct attribute_group *vudc_groups[];

#endif /* USBIP_VUDC_H */
