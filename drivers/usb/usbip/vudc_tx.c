// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * usbip-vudc: the answer side of a client URB.
 *
 * usbip-core's transmit thread (usbip_server.c) sends a RET_SUBMIT for
 * every completed URB (with the IN data), a lone RET_UNLINK -ECONNRESET
 * for an URB a CMD_UNLINK took back, a RET_SUBMIT followed by RET_UNLINK 0
 * for one that completed although an unlink was asked for, and
 * RET_UNLINK 0 for unlinks of URBs that were already done.  Here: what
 * the answer of an iso URB says about the packets the gadget never
 * filled, and freeing URBs.
 */
#define pr_fmt(fmt) "usbip-vudc: " fmt

#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/slab.h>

#include "vudc.h"

/**
 * vudc_urb_free() - free a client URB and its buffers
 * @urb: an URB on no list; its charge goes back to the budget
 */
void vudc_urb_free(struct vudc_urb *urb)
{
	usbip_server_urb_release(&urb->vudc->srv, &urb->su);
	kvfree(urb->data);
	kfree(urb);
}

/**
 * vudc_urb_srv_free() - free a client URB (server op ->urb_free)
 * @srv: the server of a struct vudc
 * @su: the URB, on no list
 */
void vudc_urb_srv_free(struct usbip_server *srv, struct usbip_server_urb *su)
{
	vudc_urb_free(su_to_vudc_urb(su));
}

/**
 * vudc_urb_ret_fill() - the iso part of a RET_SUBMIT (->ret_fill)
 * @srv: the server of a struct vudc
 * @su: a completed URB
 * @pdu: its RET_SUBMIT
 *
 * The packets the gadget never filled come back empty with the URB's
 * error (or -EXDEV, as a missed frame), and the error count says how
 * many packets failed.
 */
void vudc_urb_ret_fill(struct usbip_server *srv, struct usbip_server_urb *su,
		       struct usbip_pdu *pdu)
{
	struct vudc_urb *urb = su_to_vudc_urb(su);
	int i, errors = 0;

	for (i = 0; i < su->n_iso; i++) {
		if (i >= urb->iso_next) {
			su->iso[i].actual_length = 0;
			su->iso[i].status = su->status ? su->status : -EXDEV;
		}
		if (su->iso[i].status)
			errors++;
	}
	pdu->ret_submit.error_count = errors;
}
