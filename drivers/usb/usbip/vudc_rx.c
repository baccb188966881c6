// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * usbip-vudc: how a CMD_SUBMIT reaches the gadget.
 *
 * usbip-core's server (usbip_server.c) reads and checks each command; a
 * CMD_SUBMIT becomes a struct vudc_urb queued on its endpoint, where the
 * transfer engine pairs it with gadget requests, and a CMD_UNLINK takes a
 * waiting URB back.
 */
#define pr_fmt(fmt) "usbip-vudc: " fmt

#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/slab.h>

#include "vudc.h"

/**
 * vudc_rx_ep_find() - the endpoint of a CMD_SUBMIT (server op ->ep_find)
 * @srv: the server of a struct vudc
 * @cmd: the command; ->ep is set to its struct vudc_ep
 * @reason: unused: every endpoint exists
 *
 * Only ep0 is known to be a control endpoint; the others take whatever
 * type the gadget enables them with, and the engine answers an URB of the
 * wrong form when it gets there.
 *
 * Return: 0.
 */
int vudc_rx_ep_find(struct usbip_server *srv, struct usbip_server_cmd *cmd,
		    const char **reason)
{
	const struct usbip_pdu *pdu = cmd->pdu;

	cmd->ep = vudc_ep_find(srv_to_vudc(srv), pdu->ep, pdu->direction == USBIP_DIR_IN);
	cmd->xfer = pdu->ep ? USBIP_XFER_ANY : USBIP_XFER_CONTROL;
	return 0;
}

/**
 * vudc_urb_alloc() - allocate a client URB and its buffer (->urb_alloc)
 * @srv: the server of a struct vudc
 * @cmd: the checked command
 * @out: set to the URB
 * @reason: set on failure
 *
 * Return: 0, or -ENOMEM with *@reason set.
 */
int vudc_urb_alloc(struct usbip_server *srv, const struct usbip_server_cmd *cmd,
		   struct usbip_server_urb **out, const char **reason)
{
	const struct usbip_pdu *pdu = cmd->pdu;
	struct vudc_urb *urb;

	urb = kzalloc(sizeof(*urb), GFP_KERNEL);
	if (!urb) {
		*reason = "out of memory";
		return -ENOMEM;
	}
	usbip_server_urb_init(&urb->su, cmd);
	INIT_LIST_HEAD(&urb->ep_list);
	urb->vudc = srv_to_vudc(srv);
	urb->ep = cmd->ep;
	urb->flags = pdu->submit.transfer_flags;
	memcpy(&urb->setup, pdu->submit.setup, sizeof(urb->setup));
	urb->stage = pdu->ep ? urb->su.len : cmd->stage;

	if (urb->su.len) {
		/* iso frames may leave gaps: never send stale memory */
		urb->data = cmd->n_iso ? kvzalloc(urb->su.len, GFP_KERNEL) :
					 kvmalloc(urb->su.len, GFP_KERNEL);
		if (!urb->data) {
			kfree(urb);
			*reason = "out of memory for the transfer buffer";
			return -ENOMEM;
		}
	}
	usbip_buf_linear(&urb->su.buf, urb->data, urb->su.len);
	/* only the bytes received are data: the OUT payload, nothing for IN */
	urb->avail = cmd->payload;
	*out = &urb->su;
	return 0;
}

/*
 * Queues @urb on its endpoint as in flight.  Return: false, and the URB
 * not queued, if its seqnum is in flight already.  slock held.
 */
static bool vudc_urb_in_flight_add(struct vudc *vudc, struct vudc_urb *urb)
{
	lockdep_assert_held(&vudc->slock);
	if (!usbip_server_in_flight_add(&vudc->srv, &urb->su))
		return false;
	list_add_tail(&urb->su.list, &vudc->in_flight);
	vudc_urb_queue(vudc, urb);
	return true;
}

/* Queues @urb unless the connection is going down; slock held. */
static int vudc_urb_start(struct vudc *vudc, struct vudc_urb *urb, const char **reason)
{
	lockdep_assert_held(&vudc->slock);
	if (!vudc->serving)
		return -ESHUTDOWN;
	if (!vudc_urb_in_flight_add(vudc, urb)) {
		/* checked before, and only this thread adds */
		*reason = "seqnum of an URB still in flight";
		return -EPROTO;
	}
	return 0;
}

/**
 * vudc_urb_submit_early() - queue a large OUT URB before its payload
 * @srv: the server of a struct vudc
 * @su: a non-iso URB whose payload is larger than USBIP_SERVER_RX_PIECE
 * @reason: set on failure
 *
 * The payload then goes to the gadget piece by piece (vudc_urb_rx_piece()):
 * the gadget driver works on the first pieces while the next ones arrive,
 * in requests that end only when they are full or the URB ends (as if the
 * pieces were one transfer).  Until the whole payload is in, the URB is
 * marked receiving: the rx
 * thread owns its buffer, and nothing completes, cancels or frees it
 * (vudc_ep_run() only moves the bytes that are in).  If the receive
 * fails, the connection is shut down and vudc_io_stop() frees it once the
 * rx thread has stopped.  Only for an endpoint that can take the URB now;
 * one that would reject it (iso, halted, not enabled) gets it whole, then
 * rejects it.
 *
 * Return: 1 if queued, 0 if the URB is to be received whole, or an error
 * (-ESHUTDOWN; -EPROTO with *@reason set).
 */
int vudc_urb_submit_early(struct usbip_server *srv, struct usbip_server_urb *su,
			  const char **reason)
{
	struct vudc_urb *urb = su_to_vudc_urb(su);
	struct vudc *vudc = urb->vudc;
	int ret;

	if (!su->ep)
		return 0;
	spin_lock_irq(&vudc->slock);
	if (!urb->ep->desc || urb->ep->halted || urb->ep->type == USB_ENDPOINT_XFER_ISOC) {
		spin_unlock_irq(&vudc->slock);
		return 0;
	}
	urb->avail = 0;
	urb->receiving = true;
	ret = vudc_urb_start(vudc, urb, reason);
	spin_unlock_irq(&vudc->slock);
	return ret ? ret : 1;
}

/**
 * vudc_urb_rx_piece() - more of an early URB's payload is in (->received)
 * @srv: the server of a struct vudc
 * @su: the URB
 * @avail: bytes of the payload now in its buffer
 *
 * Called with slock held.
 */
void vudc_urb_rx_piece(struct usbip_server *srv, struct usbip_server_urb *su, u32 avail)
{
	vudc_urb_received(srv_to_vudc(srv), su_to_vudc_urb(su), avail);
}

/**
 * vudc_urb_submit() - queue a received URB on its endpoint (->submit)
 * @srv: the server of a struct vudc
 * @su: the URB, payload and iso descriptors received
 * @cmd: its command
 * @reason: set on failure
 *
 * Return: 0; -ESHUTDOWN while the connection goes down; -EPROTO with
 * *@reason set.
 */
int vudc_urb_submit(struct usbip_server *srv, struct usbip_server_urb *su,
		    const struct usbip_server_cmd *cmd, const char **reason)
{
	struct vudc_urb *urb = su_to_vudc_urb(su);
	struct vudc *vudc = urb->vudc;
	int ret;

	usbip_dev_dbg(USBIP_DBG_VUDC_RX, vudc_dev(vudc),
		      "submit seqnum %u ep %u%s len %u iso %d\n", su->seq.seqnum, su->ep,
		      su->dir_in ? "in" : "out", su->len, su->n_iso);

	spin_lock_irq(&vudc->slock);
	ret = vudc_urb_start(vudc, urb, reason);
	spin_unlock_irq(&vudc->slock);
	return ret;
}

/**
 * vudc_urb_unlink() - take back the URB a CMD_UNLINK names (->unlink)
 * @srv: the server of a struct vudc
 * @pdu: the CMD_UNLINK
 *
 * A waiting URB is cut short and answered by RET_UNLINK -ECONNRESET
 * alone; one whose gadget request is on its way gets its RET_SUBMIT and
 * then a RET_UNLINK 0.
 *
 * Return: true if the URB was in flight.
 */
bool vudc_urb_unlink(struct usbip_server *srv, const struct usbip_pdu *pdu)
{
	struct vudc *vudc = srv_to_vudc(srv);
	struct usbip_server_urb *su;
	bool taken = false;

	spin_lock_irq(&vudc->slock);
	su = usbip_server_in_flight_find(srv, pdu->unlink.seqnum);
	if (su && !su->unlinking) {
		taken = true;
		su->unlink_seqnum = pdu->seqnum;
		if (vudc_urb_cancel(vudc, su_to_vudc_urb(su))) {
			/* cut short: only a RET_UNLINK -ECONNRESET answers it */
			su->unlinked = true;
			su_to_vudc_urb(su)->done = true;
			usbip_server_urb_done_locked(srv, su);
		} else {
			/* its request is on the way: RET_SUBMIT, then RET_UNLINK 0 */
			su->unlinking = true;
		}
	}
	spin_unlock_irq(&vudc->slock);
	return taken;
}
