// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * usbip-core: translation between the kernel's URB_* transfer flags and
 * the USBIP_URB_* bits of the wire protocol.
 *
 * The kernel's values are an internal API that may change between
 * versions, so nothing is passed through numerically.  Only flags that
 * mean something to the other end cross the wire; DMA mapping and buffer
 * ownership flags are local to each host and are dropped.
 */
#include <linux/export.h>
#include <linux/kernel.h>
#include <linux/usb.h>

#include "usbip_common.h"

static const struct {
	unsigned int urb;
	u32 wire;
} usbip_flag_map[] = {
	{ URB_SHORT_NOT_OK,	USBIP_URB_SHORT_NOT_OK },
	{ URB_ISO_ASAP,		USBIP_URB_ISO_ASAP },
	{ URB_ZERO_PACKET,	USBIP_URB_ZERO_PACKET },
	{ URB_NO_INTERRUPT,	USBIP_URB_NO_INTERRUPT },
	{ URB_DIR_IN,		USBIP_URB_DIR_IN },
};

/**
 * usbip_urb_flags_to_wire() - kernel URB flags to wire flags
 * @urb_flags: urb->transfer_flags
 *
 * Return: the USBIP_URB_* bits for SHORT_NOT_OK, ISO_ASAP, ZERO_PACKET,
 * NO_INTERRUPT and DIR_IN; all other flags are dropped.
 */
u32 usbip_urb_flags_to_wire(unsigned int urb_flags)
{
	u32 wire = 0;
	int i;

	for (i = 0; i < ARRAY_SIZE(usbip_flag_map); i++)
		if (urb_flags & usbip_flag_map[i].urb)
			wire |= usbip_flag_map[i].wire;
	return wire;
}
EXPORT_SYMBOL_GPL(usbip_urb_flags_to_wire);

/**
 * usbip_urb_flags_from_wire() - wire flags to kernel URB flags
 * @wire_flags: transfer_flags of a CMD_SUBMIT
 *
 * Return: the URB_* flags for SHORT_NOT_OK, ISO_ASAP, ZERO_PACKET,
 * NO_INTERRUPT and DIR_IN; all other bits (DMA mapping, buffer
 * ownership, unknown bits) are ignored.
 */
unsigned int usbip_urb_flags_from_wire(u32 wire_flags)
{
	unsigned int urb = 0;
	int i;

	for (i = 0; i < ARRAY_SIZE(usbip_flag_map); i++)
		if (wire_flags & usbip_flag_map[i].wire)
			urb |= usbip_flag_map[i].urb;
	return urb;
}
EXPORT_SYMBOL_GPL(usbip_urb_flags_from_wire);
