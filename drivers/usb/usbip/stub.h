/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * usbip-host: the USB/IP server side for real USB devices.
 *
 * stub_main.c  module, bus id table, driver attributes, probe/disconnect,
 *              device attributes and the connection ops
 * stub_rx.c    receive thread: CMD_SUBMIT / CMD_UNLINK, URB submission,
 *              the requests the server carries out itself
 * stub_tx.c    URB completion, transmit thread: RET_SUBMIT / RET_UNLINK,
 *              request teardown
 *
 * Locking:
 *  - stub_device.lock is the usbip_conn lock: sysfs usbip_sockfd writes and
 *    the event worker (shutdown/reset) hold it.  Disconnect does not take
 *    it; it calls usbip_conn_destroy(), which waits for the worker.
 *  - stub_device.req_lock (irq-safe spinlock) protects the request lists,
 *    the in-flight tree and the per-request fields marked so below; URB
 *    completions run under it, and wake the tx thread (tx_wq's lock nests
 *    inside) before they drop it: an unbind may free the device as soon
 *    as it is dropped.
 *  - stub_device.budget.lock (usbip-core) is innermost; the rx thread
 *    waits for budget with no lock held.
 *  - The device lock of the usb_device is only ever taken with a trylock
 *    loop that gives up when the device is being unbound
 *    (stub_lock_udev()), because unbind holds it while it waits for the
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

#include "usbip_common.h"

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
extern unsigned int stub_max_urbs;
extern unsigned long stub_max_bytes;

/**
 * struct stub_device - one USB device bound to usbip-host
 * @udev: the device (a reference is held)
 * @conn: its USB/IP connection
 * @lock: attach/detach mutex, @conn's lock
 * @devid: (busnum << 16) | devnum, checked in every CMD_SUBMIT
 * @status: SDEV_ST_*; written under @lock, read locklessly by sysfs
 * @unbinding: set once disconnect started; device-lock waiters give up
 * @port_claimed: the parent hub port is claimed, so no interface driver of
 *	the server binds to the device's interfaces
 * @req_lock: protects the lists below and @stopping
 * @stopping: connection shutdown in progress: no piece is resubmitted
 * @in_flight: requests whose URB is submitted, by seqnum (struct
 *	stub_req.seq), so a command's seqnum is found in O(log n)
 * @tx_reqs: completed requests waiting for the tx thread
 * @tx_unlinks: RET_UNLINK answers waiting for the tx thread
 * @tx_wq: the tx thread waits here for work
 * @budget: what the connection holds: every request from its CMD_SUBMIT
 *	until its RET_SUBMIT is sent, every RET_UNLINK of our own until it
 *	is sent; limits from the max_urbs and max_bytes parameters
 */
struct stub_device {
	struct usb_device *udev;
	struct usbip_conn conn;
	struct mutex lock;
	u32 devid;
	int status;
	bool unbinding;
	bool port_claimed;

	spinlock_t req_lock;
	bool stopping;
	struct rb_root in_flight;
	struct list_head tx_reqs;
	struct list_head tx_unlinks;
	wait_queue_head_t tx_wq;

	struct usbip_budget budget;
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
 * @list: in stub_device.tx_reqs (req_lock)
 * @seq: seqnum of the CMD_SUBMIT; in stub_device.in_flight while the URB
 *	is submitted (req_lock)
 * @sdev: owner
 * @urb: the URB, NULL for requests the server carries out itself
 * @ep: endpoint number, echoed in RET_SUBMIT
 * @wire_dir: direction field of the CMD_SUBMIT, echoed in RET_SUBMIT
 * @dir_in: the data stage really is IN (payload goes into RET_SUBMIT)
 * @kind: see enum stub_buf_kind
 * @len: transfer_buffer_length
 * @charged: bytes charged to stub_device.budget (with one URB)
 * @data: linear buffer
 * @sgl: page list (SG and SPLIT)
 * @nents: entries of @sgl
 * @order: page order of @sgl's entries
 * @piece: SPLIT: index of the piece the URB carries (req_lock)
 * @urb_flags: URB flags of the request (SPLIT applies ZERO_PACKET only to
 *	the last piece)
 * @actual: bytes transferred so far (req_lock)
 * @status: final status (req_lock)
 * @iso: CMD_SUBMIT iso descriptors, reused for the RET_SUBMIT ones
 * @n_iso: number of iso packets
 * @unlinking: a CMD_UNLINK for this request arrived (req_lock)
 * @unlinked: the unlink took effect: answer RET_UNLINK -ECONNRESET only
 * @unlink_seqnum: seqnum of that CMD_UNLINK
 */
struct stub_req {
	struct list_head list;
	struct usbip_seq_node seq;
	struct stub_device *sdev;
	struct urb *urb;
	u32 ep;
	u32 wire_dir;
	bool dir_in;

	enum stub_buf_kind kind;
	u32 len;
	u32 charged;
	void *data;
	struct scatterlist *sgl;
	unsigned int nents;
	unsigned int order;

	unsigned int piece;
	unsigned int urb_flags;
	u32 actual;
	int status;

	struct usbip_iso_desc *iso;
	int n_iso;

	bool unlinking;
	bool unlinked;
	u32 unlink_seqnum;
};

/**
 * struct stub_unlink - a RET_UNLINK to send
 * @list: in stub_device.tx_unlinks
 * @seqnum: of the CMD_UNLINK
 * @status: 0 or -ECONNRESET
 */
struct stub_unlink {
	struct list_head list;
	u32 seqnum;
	int status;
};

static inline struct stub_device *conn_to_stub(struct usbip_conn *conn)
{
	return container_of(conn, struct stub_device, conn);
}

/* stub_main.c */
int stub_lock_udev(struct stub_device *sdev, bool rx_thread);

/* stub_rx.c */
int stub_rx_loop(struct usbip_conn *conn);

/* stub_tx.c */
int stub_tx_loop(struct usbip_conn *conn);
void stub_complete(struct urb *urb);
void stub_req_free(struct stub_req *req);
void stub_unlink_free(struct stub_device *sdev, struct stub_unlink *ul);
void stub_queue_done(struct stub_device *sdev, struct stub_req *req);
struct stub_req *stub_in_flight_find(struct stub_device *sdev, u32 seqnum);
bool stub_in_flight_add(struct stub_device *sdev, struct stub_req *req);
void stub_in_flight_del(struct stub_device *sdev, struct stub_req *req);
/* stub_kill_in_flight(): every endpoint */
#define STUB_EP_ALL	(-1)
unsigned int stub_kill_in_flight(struct stub_device *sdev, int epaddr);
void stub_kill_all(struct stub_device *sdev);

#endif /* USBIP_STUB_H */
