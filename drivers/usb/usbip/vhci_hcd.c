// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vhci-hcd: the host controller driver side: root hub emulation and the
 * URB entry points (enqueue and dequeue).
 *
 * Each port keeps wPortStatus and wPortChange of a real hub port in
 * port->port_status (status in the low, change bits in the high 16 bits).
 * A USB 3 port also keeps its link state there (bits 5..8) and uses the
 * USB 3 power bit.  Resets and resumes complete when the hub driver reads
 * the port status after their time has passed, as on dummy_hcd.
 */
#define pr_fmt(fmt) "vhci-hcd: " fmt

#include <linux/jiffies.h>
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/usb.h>
#include <linux/usb/ch11.h>
#include <linux/usb/hcd.h>

#include "vhci.h"

/* How long an emulated port reset and a USB 2 resume last. */
#define VHCI_RESET_MS		50
#define VHCI_RESUME_MS		20

#define PORT_C(bits)		((u32)(bits) << 16)

/* ------------------------------------------------------------------ */
/* Root hub emulation                                                  */
/* ------------------------------------------------------------------ */

static u32 vhci_power_bit(const struct vhci_hcd *vh)
{
	return vh->ss ? USB_SS_PORT_STAT_POWER : USB_PORT_STAT_POWER;
}

static void vhci_set_link(struct vhci_port *port, u32 link)
{
	port->port_status = (port->port_status & ~USB_PORT_STAT_LINK_STATE) | link;
}

/* USB 2 speed bits of wPortStatus for the attached device. */
static u32 vhci_hs_speed_bits(const struct vhci_port *port)
{
	switch (port->speed) {
	case USB_SPEED_LOW:
		return USB_PORT_STAT_LOW_SPEED;
	case USB_SPEED_HIGH:
	case USB_SPEED_WIRELESS:
		return USB_PORT_STAT_HIGH_SPEED;
	default:
		return 0;
	}
}

/**
 * vhci_port_connect() - report a newly attached device on its port
 * @port: the port; vhci->lock held
 */
void vhci_port_connect(struct vhci_port *port)
{
	lockdep_assert_held(&port->vhci->lock);

	port->port_status |= USB_PORT_STAT_CONNECTION | PORT_C(USB_PORT_STAT_C_CONNECTION);
	if (port->vh->ss) {
		if (port->port_status & USB_SS_PORT_STAT_POWER)
			vhci_set_link(port, USB_SS_PORT_LS_U0);
	} else {
		port->port_status &= ~(USB_PORT_STAT_LOW_SPEED | USB_PORT_STAT_HIGH_SPEED);
		port->port_status |= vhci_hs_speed_bits(port);
	}
}

/**
 * vhci_port_disconnect() - report that the device left its port
 * @port: the port; vhci->lock held
 */
void vhci_port_disconnect(struct vhci_port *port)
{
	u32 keep = vhci_power_bit(port->vh) | 0xffff0000;

	lockdep_assert_held(&port->vhci->lock);

	if (port->port_status & USB_PORT_STAT_CONNECTION)
		port->port_status |= PORT_C(USB_PORT_STAT_C_CONNECTION);
	if (port->port_status & USB_PORT_STAT_ENABLE)
		port->port_status |= PORT_C(USB_PORT_STAT_C_ENABLE);
	port->port_status &= keep;
	port->resuming = false;
	if (port->vh->ss && (port->port_status & USB_SS_PORT_STAT_POWER))
		vhci_set_link(port, USB_SS_PORT_LS_RX_DETECT);
}

/* Completes a reset or resume whose time has come; vhci->lock held. */
static void vhci_port_update(struct vhci_port *port)
{
	lockdep_assert_held(&port->vhci->lock);

	if ((port->port_status & USB_PORT_STAT_RESET) &&
	    time_after_eq(jiffies, port->re_timeout)) {
		port->port_status &= ~USB_PORT_STAT_RESET;
		port->port_status |= PORT_C(USB_PORT_STAT_C_RESET);
		if (port->vh->ss && port->warm_reset)
			port->port_status |= PORT_C(USB_PORT_STAT_C_BH_RESET);
		port->warm_reset = false;
		if (port->port_status & USB_PORT_STAT_CONNECTION) {
			port->port_status |= USB_PORT_STAT_ENABLE;
			if (port->vh->ss)
				vhci_set_link(port, USB_SS_PORT_LS_U0);
			else
				port->port_status |= vhci_hs_speed_bits(port);
		}
	}
	if (port->resuming && time_after_eq(jiffies, port->re_timeout)) {
		port->resuming = false;
		port->port_status &= ~USB_PORT_STAT_SUSPEND;
		port->port_status |= PORT_C(USB_PORT_STAT_C_SUSPEND);
	}
}

static int vhci_hub_status_data(struct usb_hcd *hcd, char *buf)
{
	struct vhci_hcd *vh = hcd_to_vh(hcd);
	int len = DIV_ROUND_UP(vhci_hc_ports + 1, 8);
	unsigned long flags;
	bool changed = false;
	unsigned int i;

	memset(buf, 0, len);
	spin_lock_irqsave(&vh->vhci->lock, flags);
	if (!HCD_HW_ACCESSIBLE(hcd))
		goto out;
#if IS_ENABLED(CONFIG_USBIP_SELFTEST)
	if (READ_ONCE(vhci_selftest_hub_hold))
		goto out;
#endif
	for (i = 0; i < vhci_hc_ports; i++) {
		struct vhci_port *port = &vh->ports[i];

		vhci_port_update(port);
		if (port->port_status & 0xffff0000) {
			buf[(i + 1) / 8] |= 1 << ((i + 1) % 8);
			changed = true;
		}
	}
	if (changed && hcd->state == HC_STATE_SUSPENDED)
		usb_hcd_resume_root_hub(hcd);
out:
	spin_unlock_irqrestore(&vh->vhci->lock, flags);
	return changed ? len : 0;
}

static int vhci_hub_descriptor(struct vhci_hcd *vh, u16 wValue, char *buf)
{
	struct usb_hub_descriptor *desc = (struct usb_hub_descriptor *)buf;
	int bytes = DIV_ROUND_UP(vhci_hc_ports + 1, 8);

	memset(desc, 0, sizeof(*desc));
	desc->bNbrPorts = vhci_hc_ports;
	desc->wHubCharacteristics = cpu_to_le16(HUB_CHAR_INDV_PORT_LPSM | HUB_CHAR_COMMON_OCPM);
	desc->bPwrOn2PwrGood = 5;
	if (vh->ss) {
		if ((wValue >> 8) != USB_DT_SS_HUB)
			return -EPIPE;
		desc->bDescriptorType = USB_DT_SS_HUB;
		desc->bDescLength = USB_DT_SS_HUB_SIZE;
		desc->u.ss.bHubHdrDecLat = 0;
		desc->u.ss.wHubDelay = 0;
		desc->u.ss.DeviceRemovable = 0;
	} else {
		if ((wValue >> 8) != USB_DT_HUB)
			return -EPIPE;
		desc->bDescriptorType = USB_DT_HUB;
		desc->bDescLength = USB_DT_HUB_NONVAR_SIZE + 2 * bytes;
		/* every port removable; PortPwrCtrlMask all ones */
		memset(desc->u.hs.DeviceRemovable, 0, bytes);
		memset(desc->u.hs.PortPwrCtrlMask, 0xff, bytes);
	}
	return desc->bDescLength;
}

/* BOS of the USB 3 root hub: one SuperSpeed capability. */
static const struct {
	struct usb_bos_descriptor bos;
	struct usb_ss_cap_descriptor ss_cap;
} __packed vhci_ss_bos = {
	.bos = {
		.bLength = USB_DT_BOS_SIZE,
		.bDescriptorType = USB_DT_BOS,
		.wTotalLength = cpu_to_le16(sizeof(vhci_ss_bos)),
		.bNumDeviceCaps = 1,
	},
	.ss_cap = {
		.bLength = USB_DT_USB_SS_CAP_SIZE,
		.bDescriptorType = USB_DT_DEVICE_CAPABILITY,
		.bDevCapabilityType = USB_SS_CAP_TYPE,
		.wSpeedSupported = cpu_to_le16(USB_5GBPS_OPERATION),
		.bFunctionalitySupport = ilog2(USB_5GBPS_OPERATION),
	},
};

/* The change bit a ClearPortFeature(C_*) clears, or 0. */
static u32 vhci_change_bit(const struct vhci_hcd *vh, u16 feature)
{
	switch (feature) {
	case USB_PORT_FEAT_C_CONNECTION:
		return PORT_C(USB_PORT_STAT_C_CONNECTION);
	case USB_PORT_FEAT_C_ENABLE:
		return PORT_C(USB_PORT_STAT_C_ENABLE);
	case USB_PORT_FEAT_C_SUSPEND:
		return PORT_C(USB_PORT_STAT_C_SUSPEND);
	case USB_PORT_FEAT_C_OVER_CURRENT:
		return PORT_C(USB_PORT_STAT_C_OVERCURRENT);
	case USB_PORT_FEAT_C_RESET:
		return PORT_C(USB_PORT_STAT_C_RESET);
	case USB_PORT_FEAT_C_PORT_L1:	/* same value as U1_TIMEOUT */
		return vh->ss ? 0 : PORT_C(USB_PORT_STAT_C_L1);
	case USB_PORT_FEAT_C_PORT_LINK_STATE:
		return vh->ss ? PORT_C(USB_PORT_STAT_C_LINK_STATE) : 0;
	case USB_PORT_FEAT_C_PORT_CONFIG_ERROR:
		return vh->ss ? PORT_C(USB_PORT_STAT_C_CONFIG_ERROR) : 0;
	case USB_PORT_FEAT_C_BH_PORT_RESET:
		return vh->ss ? PORT_C(USB_PORT_STAT_C_BH_RESET) : 0;
	default:
		return 0;
	}
}

static int vhci_clear_port_feature(struct vhci_hcd *vh, struct vhci_port *port, u16 feature)
{
	u32 bit;

	switch (feature) {
	case USB_PORT_FEAT_ENABLE:
		port->port_status &= ~(USB_PORT_STAT_ENABLE | USB_PORT_STAT_SUSPEND);
		port->resuming = false;
		return 0;
	case USB_PORT_FEAT_SUSPEND:
		if (vh->ss)
			return -EPIPE;
		if (port->port_status & USB_PORT_STAT_SUSPEND) {
			port->resuming = true;
			port->re_timeout = jiffies + msecs_to_jiffies(VHCI_RESUME_MS);
		}
		return 0;
	case USB_PORT_FEAT_POWER:
		port->port_status &= ~vhci_power_bit(vh);
		if (vh->ss)
			vhci_set_link(port, USB_SS_PORT_LS_SS_DISABLED);
		return 0;
	case USB_PORT_FEAT_INDICATOR:
		return 0;
	default:
		bit = vhci_change_bit(vh, feature);
		if (!bit)
			return -EPIPE;
		port->port_status &= ~bit;
		return 0;
	}
}

static int vhci_set_port_feature(struct vhci_hcd *vh, struct vhci_port *port, u16 feature,
				 u16 wIndex)
{
	switch (feature) {
	case USB_PORT_FEAT_POWER:
		port->port_status |= vhci_power_bit(vh);
		if (vh->ss)
			vhci_set_link(port, (port->port_status & USB_PORT_STAT_CONNECTION) ?
					    USB_SS_PORT_LS_U0 : USB_SS_PORT_LS_RX_DETECT);
		return 0;
	case USB_PORT_FEAT_BH_PORT_RESET:
		if (!vh->ss)
			return -EPIPE;
		port->warm_reset = true;
		fallthrough;
	case USB_PORT_FEAT_RESET:
		if (!(port->port_status & vhci_power_bit(vh)))
			return 0;
		port->port_status &= ~(USB_PORT_STAT_ENABLE | USB_PORT_STAT_SUSPEND);
		if (!vh->ss)
			port->port_status &= ~(USB_PORT_STAT_LOW_SPEED |
					       USB_PORT_STAT_HIGH_SPEED);
		port->port_status |= USB_PORT_STAT_RESET;
		port->resuming = false;
		port->re_timeout = jiffies + msecs_to_jiffies(VHCI_RESET_MS);
		return 0;
	case USB_PORT_FEAT_SUSPEND:
		if (vh->ss)
			return -EPIPE;
		if (port->port_status & USB_PORT_STAT_ENABLE)
			port->port_status |= USB_PORT_STAT_SUSPEND;
		return 0;
	case USB_PORT_FEAT_LINK_STATE:
		if (!vh->ss)
			return -EPIPE;
		/* the new state comes in the high byte of wIndex */
		if (!(port->port_status & USB_SS_PORT_STAT_POWER))
			return 0;
		vhci_set_link(port, ((u32)(wIndex >> 8) << 5) & USB_PORT_STAT_LINK_STATE);
		return 0;
	case USB_PORT_FEAT_U1_TIMEOUT:
	case USB_PORT_FEAT_U2_TIMEOUT:
	case USB_PORT_FEAT_REMOTE_WAKE_MASK:
	case USB_PORT_FEAT_FORCE_LINKPM_ACCEPT:
		return vh->ss ? 0 : -EPIPE;
	case USB_PORT_FEAT_TEST:
	case USB_PORT_FEAT_INDICATOR:
		return vh->ss ? -EPIPE : 0;
	default:
		return -EPIPE;
	}
}

static int vhci_hub_control(struct usb_hcd *hcd, u16 typeReq, u16 wValue, u16 wIndex,
			    char *buf, u16 wLength)
{
	struct vhci_hcd *vh = hcd_to_vh(hcd);
	struct vhci_port *port = NULL;
	unsigned int portnum = wIndex & 0xff;
	unsigned long flags;
	int ret = 0;

	if (!HCD_HW_ACCESSIBLE(hcd))
		return -ETIMEDOUT;

	if (typeReq == GetPortStatus || typeReq == SetPortFeature ||
	    typeReq == ClearPortFeature || typeReq == GetPortErrorCount) {
		if (portnum < 1 || portnum > vhci_hc_ports)
			return -EPIPE;
		port = &vh->ports[portnum - 1];
	}

	spin_lock_irqsave(&vh->vhci->lock, flags);
	switch (typeReq) {
	case ClearHubFeature:
		if (wValue != C_HUB_LOCAL_POWER && wValue != C_HUB_OVER_CURRENT)
			ret = -EPIPE;
		break;
	case SetHubFeature:
		ret = -EPIPE;
		break;
	case GetHubDescriptor:
		ret = vhci_hub_descriptor(vh, wValue, buf);
		break;
	case DeviceRequest | USB_REQ_GET_DESCRIPTOR:
		if (!vh->ss || (wValue >> 8) != USB_DT_BOS) {
			ret = -EPIPE;
			break;
		}
		ret = min_t(int, sizeof(vhci_ss_bos), wLength);
		memcpy(buf, &vhci_ss_bos, ret);
		break;
	case GetHubStatus:
		memset(buf, 0, 4);
		ret = 4;
		break;
	case GetPortStatus:
		vhci_port_update(port);
		((__le16 *)buf)[0] = cpu_to_le16(port->port_status & 0xffff);
		((__le16 *)buf)[1] = cpu_to_le16(port->port_status >> 16);
		ret = 4;
		break;
	case SetPortFeature:
		ret = vhci_set_port_feature(vh, port, wValue, wIndex);
		break;
	case ClearPortFeature:
		ret = vhci_clear_port_feature(vh, port, wValue);
		break;
	case GetPortErrorCount:
		if (!vh->ss) {
			ret = -EPIPE;
			break;
		}
		*(__le16 *)buf = cpu_to_le16(0);
		ret = 2;
		break;
	case SetHubDepth:
		if (!vh->ss)
			ret = -EPIPE;
		break;
	default:
		ret = -EPIPE;
		break;
	}
	spin_unlock_irqrestore(&vh->vhci->lock, flags);
	return ret;
}

static int vhci_bus_suspend(struct usb_hcd *hcd)
{
	dev_dbg(&hcd->self.root_hub->dev, "root hub suspended\n");
	return 0;
}

static int vhci_bus_resume(struct usb_hcd *hcd)
{
	dev_dbg(&hcd->self.root_hub->dev, "root hub resumed\n");
	return 0;
}

/* ------------------------------------------------------------------ */
/* URBs                                                                */
/* ------------------------------------------------------------------ */

/**
 * vhci_seq_find() - look a sequence number of a port up
 * @port: the port; vhci->lock held
 * @seqnum: the number
 * @kind: what it must belong to
 *
 * A number is in port->seqs at most once per kind (a given-back URB's
 * number can be VHCI_SEQ_GONE while its vhci_priv, still being sent, is
 * VHCI_SEQ_SUBMIT), so @kind picks the entry.
 *
 * Return: the entry, or NULL.
 */
struct vhci_seq *vhci_seq_find(struct vhci_port *port, u32 seqnum, enum vhci_seq_kind kind)
{
	struct vhci_seq *seq;

	lockdep_assert_held(&port->vhci->lock);
	hash_for_each_possible(port->seqs, seq, hnode, seqnum)
		if (seq->seqnum == seqnum && seq->kind == kind)
			return seq;
	return NULL;
}

static bool vhci_seq_in_use(struct vhci_port *port, u32 seqnum)
{
	struct vhci_seq *seq;

	lockdep_assert_held(&port->vhci->lock);
	hash_for_each_possible(port->seqs, seq, hnode, seqnum)
		if (seq->seqnum == seqnum)
			return true;
	return false;
}

/**
 * vhci_seq_add() - enter a sequence number in use into port->seqs
 * @port: the port; vhci->lock held
 * @seq: the entry, embedded in its owner; removed with hash_del()
 * @seqnum: the number
 * @kind: its owner's kind
 */
void vhci_seq_add(struct vhci_port *port, struct vhci_seq *seq, u32 seqnum,
		  enum vhci_seq_kind kind)
{
	lockdep_assert_held(&port->vhci->lock);
	seq->seqnum = seqnum;
	seq->kind = kind;
	hash_add(port->seqs, &seq->hnode, seqnum);
}

/**
 * vhci_next_seqnum() - sequence number for a new command of a port
 * @port: the port; vhci->lock held
 *
 * Numbers in use are skipped, so a command never shares its number with
 * one the server may still answer, even after 2^32 commands.  0 is
 * skipped too.  The caller enters the number with vhci_seq_add() before
 * dropping the lock.
 *
 * Return: a nonzero number not used by any outstanding command.
 */
u32 vhci_next_seqnum(struct vhci_port *port)
{
	lockdep_assert_held(&port->vhci->lock);

#if IS_ENABLED(CONFIG_USBIP_SELFTEST)
	if (vhci_selftest_seqnum) {
		port->seqnum = vhci_selftest_seqnum;
		vhci_selftest_seqnum = 0;
	}
#endif
	/* ends: far fewer than 2^32 numbers can be in use (memory) */
	do {
		if (++port->seqnum == 0)
			port->seqnum = 1;
	} while (vhci_seq_in_use(port, port->seqnum));
	return port->seqnum;
}

/*
 * The URB a CMD_UNLINK cancels has its result.  Not sent yet, the
 * CMD_UNLINK is dropped; sent, it waits on port->orphans for the
 * RET_UNLINK that answers it, and the oldest of those is forgotten once
 * there are more than VHCI_MAX_ORPHANS (its RET_UNLINK, if it ever comes,
 * is then dropped as one for nothing).  vhci->lock held.
 */
static void vhci_unlink_orphan(struct vhci_port *port, struct vhci_unlink *unlink)
{
	lockdep_assert_held(&port->vhci->lock);

	if (!unlink->sent) {
		list_del(&unlink->node);
		hash_del(&unlink->seq.hnode);
		kfree(unlink);
		return;
	}
	unlink->orphan = true;
	list_move_tail(&unlink->node, &port->orphans);
	if (++port->n_orphans <= VHCI_MAX_ORPHANS)
		return;
	unlink = list_first_entry(&port->orphans, struct vhci_unlink, node);
	list_del(&unlink->node);
	hash_del(&unlink->seq.hnode);
	port->n_orphans--;
	usbip_dbg(USBIP_DBG_VHCI, "port %u: CMD_UNLINK %u never answered, forgotten\n",
		  port->number, unlink->seqnum);
	kfree(unlink);
}

/**
 * vhci_priv_finish() - record the result of an URB, give it back if idle
 * @priv: the URB's vhci_priv
 * @status: the status to give it back with
 * @giveback: list collecting the vhci_privs to give back once vhci->lock
 *	is dropped (see vhci_giveback())
 *
 * If the tx or rx thread still works on the URB, the thread that finishes
 * last calls this again and the URB goes back then.  vhci->lock held.
 */
void vhci_priv_finish(struct vhci_priv *priv, int status, struct list_head *giveback)
{
	lockdep_assert_held(&priv->port->vhci->lock);

	if (!priv->finished) {
		priv->finished = true;
		priv->status = status;
		if (priv->unlink)
			vhci_unlink_orphan(priv->port, priv->unlink);
		priv->unlink = NULL;
	}
	if (priv->sending || priv->receiving)
		return;
	list_del_init(&priv->txnode);
	list_del(&priv->node);
	hash_del(&priv->seq.hnode);
	usb_hcd_unlink_urb_from_ep(priv->hcd, priv->urb);
	priv->urb->hcpriv = NULL;
	list_add_tail(&priv->node, giveback);
}

/**
 * vhci_giveback() - give back URBs collected by vhci_priv_finish()
 * @giveback: the list; vhci->lock not held
 */
void vhci_giveback(struct list_head *giveback)
{
	struct vhci_priv *priv, *tmp;

	list_for_each_entry_safe(priv, tmp, giveback, node) {
		list_del(&priv->node);
		usb_hcd_giveback_urb(priv->hcd, priv->urb, priv->status);
		kfree(priv->iso);
		kfree(priv);
	}
}

/* The device plugged into the root hub port above @udev. */
static struct usb_device *vhci_top_device(struct usb_device *udev)
{
	while (udev->parent && udev->parent->parent)
		udev = udev->parent;
	return udev;
}

static bool vhci_is_set_address(struct urb *urb)
{
	const struct usb_ctrlrequest *req = (const struct usb_ctrlrequest *)urb->setup_packet;

	return usb_pipetype(urb->pipe) == PIPE_CONTROL && usb_pipeendpoint(urb->pipe) == 0 &&
	       req && req->bRequestType == (USB_DIR_OUT | USB_TYPE_STANDARD | USB_RECIP_DEVICE) &&
	       req->bRequest == USB_REQ_SET_ADDRESS;
}

static int vhci_urb_enqueue(struct usb_hcd *hcd, struct urb *urb, gfp_t mem_flags)
{
	struct vhci_hcd *vh = hcd_to_vh(hcd);
	struct usb_device *top = vhci_top_device(urb->dev), *old = NULL, *gone = NULL;
	bool iso = usb_pipetype(urb->pipe) == PIPE_ISOCHRONOUS;
	struct vhci_port *port;
	struct vhci_priv *priv;
	unsigned long flags;
	int ret, i;

	if (top->portnum < 1 || top->portnum > vhci_hc_ports)
		return -ENODEV;
	port = &vh->ports[top->portnum - 1];

	if (urb->transfer_buffer_length && !urb->transfer_buffer && !urb->num_sgs)
		return -EINVAL;	/* no CPU address to send from or receive into */
	if (iso && (urb->number_of_packets < 1 ||
		    urb->number_of_packets > USBIP_MAX_ISO_PACKETS))
		return -EINVAL;

	priv = kzalloc(sizeof(*priv), mem_flags);
	if (!priv)
		return -ENOMEM;
	INIT_LIST_HEAD(&priv->txnode);
	priv->port = port;
	priv->hcd = hcd;
	priv->urb = urb;
	if (iso) {
		priv->iso = kmalloc_array(urb->number_of_packets, sizeof(*priv->iso), mem_flags);
		if (!priv->iso) {
			ret = -ENOMEM;
			goto err_free;
		}
		for (i = 0; i < urb->number_of_packets; i++) {
			priv->iso[i].offset = urb->iso_frame_desc[i].offset;
			priv->iso[i].length = urb->iso_frame_desc[i].length;
			priv->iso[i].actual_length = 0;
			priv->iso[i].status = 0;
		}
	}

	spin_lock_irqsave(&vh->vhci->lock, flags);
	/* the device of an earlier connection, not yet disconnected by the hub */
	if (!port->accepting || top == port->gone_udev) {
		ret = -ENODEV;
		goto err_unlock;
	}
	ret = usb_hcd_link_urb_to_ep(hcd, urb);
	if (ret)
		goto err_unlock;

	if (port->udev != top) {
		old = port->udev;
		port->udev = usb_get_dev(top);
		/*
		 * The hub driver disconnects the device it knew on the port
		 * before it creates the next one: the gone device can submit
		 * no more.
		 */
		gone = port->gone_udev;
		port->gone_udev = NULL;
	}

	if (vhci_is_set_address(urb)) {
		/* the address is local to this host; the server keeps its own */
		usb_hcd_unlink_urb_from_ep(hcd, urb);
		spin_unlock_irqrestore(&vh->vhci->lock, flags);
		usb_put_dev(old);
		usb_put_dev(gone);
		usbip_dev_dbg(USBIP_DBG_VHCI, port_dev(port), "port %u: address %u\n",
			      port->number, le16_to_cpu(((struct usb_ctrlrequest *)
							 urb->setup_packet)->wValue));
		kfree(priv->iso);
		kfree(priv);
		urb->actual_length = 0;
		usb_hcd_giveback_urb(hcd, urb, 0);
		return 0;
	}

	vhci_seq_add(port, &priv->seq, vhci_next_seqnum(port), VHCI_SEQ_SUBMIT);
	urb->hcpriv = priv;
	list_add_tail(&priv->node, &port->privs);
	list_add_tail(&priv->txnode, &port->tx_queue);
	spin_unlock_irqrestore(&vh->vhci->lock, flags);

	usb_put_dev(old);
	usb_put_dev(gone);
	wake_up(&port->tx_wq);
	return 0;

err_unlock:
	spin_unlock_irqrestore(&vh->vhci->lock, flags);
err_free:
	kfree(priv->iso);
	kfree(priv);
	return ret;
}

/*
 * A URB being unlinked must come back within vhci_unlink_timeout: a server
 * that never answers the CMD_UNLINK, or stops in the middle of its reply,
 * would otherwise leave usb_kill_urb() (a driver's disconnect, a process's
 * close) waiting until the user detaches the port.  vhci->lock held.
 */
static void vhci_unlink_watch(struct vhci_port *port, struct vhci_priv *priv)
{
	unsigned int secs = READ_ONCE(vhci_unlink_timeout);

	lockdep_assert_held(&port->vhci->lock);
	if (!secs || priv->unlink_due || !port->accepting)
		return;
	priv->unlink_due = true;
	priv->unlink_deadline = jiffies + secs * HZ;
	if (!timer_pending(&port->unlink_timer) ||
	    time_before(priv->unlink_deadline, port->unlink_timer.expires))
		mod_timer(&port->unlink_timer, priv->unlink_deadline);
}

/**
 * vhci_unlink_timer_fn() - a port's unlinked URBs are due back
 * @t: port->unlink_timer
 *
 * An URB still there past its deadline breaks the connection, whose
 * shutdown gives every URB back; otherwise the timer is set again for the
 * next deadline.
 */
void vhci_unlink_timer_fn(struct timer_list *t)
{
	struct vhci_port *port = from_timer(port, t, unlink_timer);
	unsigned long flags, next = 0;
	bool expired = false, more = false;
	struct vhci_priv *priv;

	spin_lock_irqsave(&port->vhci->lock, flags);
	list_for_each_entry(priv, &port->privs, node) {
		if (!priv->unlink_due)
			continue;
		if (time_after_eq(jiffies, priv->unlink_deadline)) {
			expired = true;
			break;
		}
		if (!more || time_before(priv->unlink_deadline, next))
			next = priv->unlink_deadline;
		more = true;
	}
	if (!port->accepting || port->link_down)
		expired = false;	/* closing already, or given back on suspend */
	else if (!expired && more)
		mod_timer(&port->unlink_timer, next);
	spin_unlock_irqrestore(&port->vhci->lock, flags);

	if (expired)
		usbip_conn_event(&port->conn, USBIP_EV_ERROR, -ETIMEDOUT,
				 "unlinked URB not given back in time");
}

static int vhci_urb_dequeue(struct usb_hcd *hcd, struct urb *urb, int status)
{
	struct vhci_hcd *vh = hcd_to_vh(hcd);
	struct vhci_unlink *unlink;
	struct vhci_port *port;
	struct vhci_priv *priv;
	unsigned long flags;
	LIST_HEAD(giveback);
	int ret;

	spin_lock_irqsave(&vh->vhci->lock, flags);
	ret = usb_hcd_check_unlink_urb(hcd, urb, status);
	if (ret)
		goto out_unlock;
	priv = urb->hcpriv;
	if (!priv)
		goto out_unlock;
	port = priv->port;

	if (!priv->finished && !priv->receiving && !list_empty(&priv->txnode)) {
		/* never sent: nothing to cancel on the server */
		vhci_priv_finish(priv, status, &giveback);
		spin_unlock_irqrestore(&vh->vhci->lock, flags);
		vhci_giveback(&giveback);
		return 0;
	}
	if (vhci_session_resuming(port) && !priv->finished &&
	    vhci_session_lose_urb(port, priv, status, &giveback)) {
		/* no link to cancel it on: back now, cancelled on resume */
		spin_unlock_irqrestore(&vh->vhci->lock, flags);
		vhci_giveback(&giveback);
		return 0;
	}
	vhci_unlink_watch(port, priv);
	if (priv->finished || priv->receiving || priv->unlinking)
		goto out_unlock;	/* its result is on the way */
	if (!port->accepting)
		goto out_unlock;	/* connection closing: shutdown gives it back */

	unlink = kzalloc(sizeof(*unlink), GFP_ATOMIC);
	if (!unlink) {
		spin_unlock_irqrestore(&vh->vhci->lock, flags);
		usbip_conn_event(&port->conn, USBIP_EV_ERROR, -ENOMEM,
				 "out of memory for CMD_UNLINK");
		return 0;
	}
	unlink->seqnum = vhci_next_seqnum(port);
	vhci_seq_add(port, &unlink->seq, unlink->seqnum, VHCI_SEQ_UNLINK);
	unlink->target = priv->seq.seqnum;
	unlink->dir_in = usb_pipein(urb->pipe);
	priv->unlinking = true;
	priv->unlink = unlink;
	list_add_tail(&unlink->node, &port->unlink_tx);
	spin_unlock_irqrestore(&vh->vhci->lock, flags);
	wake_up(&port->tx_wq);
	return 0;

out_unlock:
	spin_unlock_irqrestore(&vh->vhci->lock, flags);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Controller                                                          */
/* ------------------------------------------------------------------ */

static int vhci_setup(struct usb_hcd *hcd)
{
	if (usb_hcd_is_primary_hcd(hcd)) {
		hcd->speed = HCD_USB2;
		hcd->self.root_hub->speed = USB_SPEED_HIGH;
		hcd->has_tt = 1;
	} else {
		hcd->speed = HCD_USB3;
		hcd->self.root_hub->speed = USB_SPEED_SUPER;
	}
	/* buffers go to the socket as they are: any sg list will do */
	hcd->self.sg_tablesize = ~0;
	hcd->self.no_sg_constraint = 1;
	return 0;
}

static int vhci_start(struct usb_hcd *hcd)
{
	hcd->power_budget = 0;	/* no limit */
	hcd->uses_new_polling = 1;
	hcd->state = HC_STATE_RUNNING;
	return 0;
}

static void vhci_stop(struct usb_hcd *hcd)
{
}

static int vhci_get_frame_number(struct usb_hcd *hcd)
{
	return jiffies_to_msecs(jiffies) % 2048;
}

/* Streams (UAS) are not carried over USB/IP by this driver. */
static int vhci_alloc_streams(struct usb_hcd *hcd, struct usb_device *udev,
			      struct usb_host_endpoint **eps, unsigned int num_eps,
			      unsigned int num_streams, gfp_t mem_flags)
{
	return -EOPNOTSUPP;
}

static int vhci_free_streams(struct usb_hcd *hcd, struct usb_device *udev,
			     struct usb_host_endpoint **eps, unsigned int num_eps,
			     gfp_t mem_flags)
{
	return -EOPNOTSUPP;
}

const struct hc_driver vhci_hc_driver = {
	.description = VHCI_DRV_NAME,
	.product_desc = "USB/IP virtual host controller",
	.hcd_priv_size = sizeof(struct vhci_hcd),
	.flags = HCD_USB3 | HCD_SHARED,

	.reset = vhci_setup,
	.start = vhci_start,
	.stop = vhci_stop,

	.urb_enqueue = vhci_urb_enqueue,
	.urb_dequeue = vhci_urb_dequeue,
	.get_frame_number = vhci_get_frame_number,

	.hub_status_data = vhci_hub_status_data,
	.hub_control = vhci_hub_control,
	.bus_suspend = vhci_bus_suspend,
	.bus_resume = vhci_bus_resume,

	.alloc_streams = vhci_alloc_streams,
	.free_streams = vhci_free_streams,
};
