/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * usbip-host: the USB/IP server side for real USB devices.
 *
 * The server itself (receive and transmit threads, answer queues,
 * usbip_sockfd, budget) is usbip-core's struct usbip_server; usbip-host
 * only says how a request reaches the device, with usb_submit_urb().
 *
 * stub_main.c  module, probe/disconnect, the server ops of the connection
 * stub_sysfs.c bus id table, driver attributes (match_busid, rebind),
 *              device attributes (usbip_status, usbip_sockfd, usbip_debug)
 * stub_rx.c    CMD_SUBMIT to an URB: endpoint, buffer, URB, submission;
 *              the requests the server carries out itself; CMD_UNLINK
 * stub_tx.c    URB completion, the RET_SUBMIT fields of an URB, request
 *              teardown
 *
 * Locking (in this order, see also usbip_server.h):
 *  - stub_device.lock is the usbip_conn lock: sysfs usbip_sockfd writes and
 *    the event worker (shutdown/reset) hold it.  Disconnect does not take
 *    it; it calls usbip_conn_destroy(), which waits for the worker.
 *  - stub_device.req_lock (irq-safe spinlock) is the server's lock: it
 *    protects the in-flight index and answer queues of stub_device.srv,
 *    @stopping and the per-request fields marked so below; URB
 *    completions run under it, and wake the tx thread (tx_wq's lock nests
 *    inside) before they drop it: an unbind may free the device as soon
 *    as it is dropped.
 *  - the budget lock (usbip-core) is innermost; the rx thread waits for
 *    budget with no lock held.
 *  - The device lock of the usb_device is only ever taken with a trylock
 *    loop that gives up when the device is being unbound
 *    (stub_udev_lock()), because unbind holds it while it waits for the
 *    threads and the event worker.
 */
#ifndef USBIP_STUB_H
#define USBIP_STUB_H

#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/rbtree.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/usb.h>
#include <linux/wait.h>

#include "usbip_server.h"

#define STUB_DRIVER_NAME	"usbip-host"

/* Bulk transfers above this size use a page list instead of kmalloc. */
#define STUB_LINEAR_MAX		(16U * 1024)
/* Largest kmalloc'd transfer buffer (control, interrupt, isochronous). */
#define STUB_KMALLOC_MAX	(4U * 1024 * 1024)
/* Page order of the pieces of a split transfer (16 KiB with 4 KiB pages). */
#define STUB_PIECE_ORDER	2

extern bool stub_use_sg;
#if IS_ENABLED(CONFIG_USBIP_SELFTEST)
extern unsigned int stub_fail_alloc;	/* test hooks, see stub_main.c */
extern unsigned int stub_selftest_complete_delay_ms;
#endif

/**
 * struct stub_device - one USB device bound to usbip-host
 * @udev: the device (a reference is held)
 * @srv: its USB/IP server side; srv.devid is (busnum << 16) | devnum,
 *	checked in every command
 * @lock: attach/detach mutex, the connection's lock
 * @unbinding: set once disconnect started; device-lock waiters give up
 * @port_claimed: the parent hub port is claimed, so no interface driver of
 *	the server binds to the device's interfaces
 * @req_lock: the server's lock (see above)
 * @stopping: connection shutdown in progress: no piece is resubmitted
 */
struct stub_device {
	struct usb_device *udev;
	struct usbip_server srv;
	struct mutex lock;
	bool unbinding;
	bool port_claimed;

	spinlock_t req_lock;
	bool stopping;
};

/**
 * enum stub_buf_kind - how a request's transfer buffer is held
 * @STUB_BUF_NONE: no buffer (zero length)
 * @STUB_BUF_LINEAR: one kmalloc'd buffer in @data
 * @STUB_BUF_SG: page list submitted as one scatter-gather URB
 * @STUB_BUF_SPLIT: list of 16 KiB pieces submitted one after the other
 *	with the same URB (host controllers without usable SG support)
 */
enum stub_buf_kind {
	STUB_BUF_NONE,
	STUB_BUF_LINEAR,
	STUB_BUF_SG,
	STUB_BUF_SPLIT,
};

/**
 * struct stub_req - one CMD_SUBMIT being served
 * @su: the server's part: seqnum (in the in-flight index while the URB is
 *	submitted), endpoint, directions, length, status, iso descriptors,
 *	unlink state
 * @sdev: owner
 * @urb: the URB, NULL for requests the server carries out itself
 * @kind: see enum stub_buf_kind
 * @data: linear buffer
 * @sgl: page list (SG and SPLIT)
 * @nents: entries of @sgl
 * @order: page order of @sgl's entries
 * @piece: SPLIT: index of the piece the URB carries (req_lock)
 * @urb_flags: URB flags of the request (SPLIT applies ZERO_PACKET only to
 *	the last piece)
 */
struct stub_req {
	struct usbip_server_urb su;
	struct stub_device *sdev;
	struct urb *urb;

	enum stub_buf_kind kind;
	void *data;
	struct scatterlist *sgl;
	unsigned int nents;
	unsigned int order;

	unsigned int piece;
	unsigned int urb_flags;
};

static inline struct stub_device *srv_to_stub(struct usbip_server *srv)
{
	return container_of(srv, struct stub_device, srv);
}

static inline struct stub_req *su_to_stub_req(struct usbip_server_urb *su)
{
	return container_of(su, struct stub_req, su);
}

/* stub_main.c */
extern struct usb_device_driver stub_driver;
int stub_udev_lock(struct stub_device *sdev, bool rx_thread);

/* stub_sysfs.c */
extern const struct attribute_group *stub_dev_groups[];
bool stub_busid_listed(const char *name);
void stub_busid_clear(void);
int stub_sysfs_driver_add(struct device_driver *drv);
void stub_sysfs_driver_remove(struct device_driver *drv);

/* stub_rx.c */
int stub_rx_ep_find(struct usbip_server *srv, struct usbip_server_cmd *cmd,
		    const char **reason);
int stub_req_alloc(struct usbip_server *srv, const struct usbip_server_cmd *cmd,
		   struct usbip_server_urb **out, const char **reason);
int stub_req_submit(struct usbip_server *srv, struct usbip_server_urb *su,
		    const struct usbip_server_cmd *cmd, const char **reason);
bool stub_req_unlink(struct usbip_server *srv, const struct usbip_pdu *pdu);

/* stub_tx.c */
void stub_urb_complete(struct urb *urb);
void stub_req_ret_fill(struct usbip_server *srv, struct usbip_server_urb *su,
		       struct usbip_pdu *pdu);
void stub_req_free(struct usbip_server *srv, struct usbip_server_urb *su);
/* stub_in_flight_kill(): every endpoint */
#define STUB_EP_ALL	(-1)
unsigned int stub_in_flight_kill(struct stub_device *sdev, int epaddr);
void stub_io_stop(struct usbip_server *srv);

#endif /* USBIP_STUB_H */
