// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * usbip-core: the per-connection budget of a server.
 *
 * A peer's commands make a server allocate: a transfer buffer and an URB
 * per CMD_SUBMIT, an answer per CMD_UNLINK.  Each of these is charged to
 * the connection's struct usbip_budget before it is allocated and given
 * back once its answer has been handed to the socket (or the connection
 * dropped it).  While the budget is spent, the receive thread waits in
 * usbip_budget_charge() instead of reading on: the socket's receive
 * buffer fills, TCP's flow control stops the peer, and a well-behaved
 * peer sees nothing but a slower connection.  Answers the peer does not
 * read keep their requests charged, so a peer that stops reading stops
 * being read as well.
 *
 * The wait ends when the budget has room, when the thread is told to stop
 * (kthread_stop()), or when the socket can deliver no more commands: shut
 * down by the connection's own teardown, reset by the peer, or closed by
 * it (a FIN the peer could still send).
 */
#define pr_fmt(fmt) "usbip-core: " fmt

#include <linux/kthread.h>
#include <linux/lockdep.h>
#include <linux/net.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <net/sock.h>

#include "usbip_common.h"

/**
 * usbip_budget_init() - initialize an empty budget without limits
 * @b: the budget, embedded in a driver structure
 *
 * Set the limits with usbip_budget_set_limits() before the connection
 * starts.
 */
void usbip_budget_init(struct usbip_budget *b)
{
	spin_lock_init(&b->lock);
	b->urbs = 0;
	b->bytes = 0;
	b->max_urbs = U32_MAX;
	b->max_bytes = U64_MAX;
	init_waitqueue_head(&b->wq);
}
EXPORT_SYMBOL_GPL(usbip_budget_init);

/**
 * usbip_budget_set_limits() - set the limits of a budget
 * @b: the budget
 * @max_urbs: requests (URBs, pending answers) the connection may hold
 * @max_bytes: bytes (transfer buffers) it may hold
 *
 * Normally called before a connection starts, when the budget is empty;
 * a charge that is waiting sees the new limits at its next wakeup.
 */
void usbip_budget_set_limits(struct usbip_budget *b, u32 max_urbs, u64 max_bytes)
{
	unsigned long flags;

	spin_lock_irqsave(&b->lock, flags);
	b->max_urbs = max_urbs;
	b->max_bytes = max_bytes;
	spin_unlock_irqrestore(&b->lock, flags);
	wake_up(&b->wq);
}
EXPORT_SYMBOL_GPL(usbip_budget_set_limits);

/* Charges @urbs and @bytes if they fit; false if not. */
static bool usbip_budget_try(struct usbip_budget *b, u32 urbs, u64 bytes)
{
	unsigned long flags;
	bool ok;

	spin_lock_irqsave(&b->lock, flags);
	lockdep_assert_held(&b->lock);
	ok = usbip_budget_admits(b->urbs, b->bytes, b->max_urbs, b->max_bytes, urbs, bytes);
	if (ok) {
		b->urbs += urbs;
		b->bytes += bytes;
	}
	spin_unlock_irqrestore(&b->lock, flags);
	return ok;
}

/* The socket will deliver no further commands. */
static bool usbip_sock_ended(struct socket *sock)
{
	struct sock *sk = sock->sk;

	return !sk || READ_ONCE(sk->sk_err) || (READ_ONCE(sk->sk_shutdown) & RCV_SHUTDOWN);
}

/**
 * usbip_budget_charge() - charge a request, waiting for room
 * @b: the connection's budget
 * @sock: the connection's socket (its wakeups end the wait when it closes)
 * @urbs: requests to charge (normally 1)
 * @bytes: bytes to charge
 *
 * Called by the connection's receive thread (a kthread), before it
 * allocates for a command, with no lock held.  While the budget has no
 * room it does not read the socket, which is the backpressure on the
 * peer.  The wait is interruptible, so a stalled peer never trips the
 * hung-task detector.
 *
 * Return: 0 once charged (give it back with usbip_budget_release());
 * -EINTR if the thread is being stopped; -ECONNRESET if the peer closed
 * the connection meanwhile, -ENETRESET if it ended otherwise (reset,
 * timed out, shut down locally).
 */
int usbip_budget_charge(struct usbip_budget *b, struct socket *sock, u32 urbs, u64 bytes)
{
	struct wait_queue_entry on_budget, on_sock;
	wait_queue_head_t *sock_wq = &sock->wq.wait;
	int ret = 0;

	might_sleep();
	if (usbip_budget_try(b, urbs, bytes))
		return 0;

	usbip_dbg(USBIP_DBG_CORE, "budget full (%u URBs, %llu bytes): not reading\n",
		  READ_ONCE(b->urbs), (unsigned long long)READ_ONCE(b->bytes));
	init_waitqueue_entry(&on_budget, current);
	init_waitqueue_entry(&on_sock, current);
	add_wait_queue(&b->wq, &on_budget);
	add_wait_queue(sock_wq, &on_sock);
	for (;;) {
		set_current_state(TASK_INTERRUPTIBLE);
		if (usbip_budget_try(b, urbs, bytes))
			break;
		if (kthread_should_stop() || signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		if (usbip_sock_ended(sock)) {
			ret = usbip_sock_eof_err(sock);
			break;
		}
		schedule();
	}
	__set_current_state(TASK_RUNNING);
	remove_wait_queue(sock_wq, &on_sock);
	remove_wait_queue(&b->wq, &on_budget);
	return ret;
}
EXPORT_SYMBOL_GPL(usbip_budget_charge);

/**
 * usbip_budget_release() - give back what a request was charged
 * @b: the budget
 * @urbs: as charged
 * @bytes: as charged
 *
 * Any context; wakes a receive thread waiting for room.
 */
void usbip_budget_release(struct usbip_budget *b, u32 urbs, u64 bytes)
{
	unsigned long flags;

	spin_lock_irqsave(&b->lock, flags);
	b->urbs -= min(urbs, b->urbs);
	b->bytes -= min(bytes, b->bytes);
	spin_unlock_irqrestore(&b->lock, flags);
	wake_up(&b->wq);
}
EXPORT_SYMBOL_GPL(usbip_budget_release);

/**
 * usbip_budget_used() - what a budget holds now
 * @b: the budget
 * @urbs: set to the requests charged
 * @bytes: set to the bytes charged
 */
void usbip_budget_used(struct usbip_budget *b, u32 *urbs, u64 *bytes)
{
	unsigned long flags;

	spin_lock_irqsave(&b->lock, flags);
	*urbs = b->urbs;
	*bytes = b->bytes;
	spin_unlock_irqrestore(&b->lock, flags);
}
EXPORT_SYMBOL_GPL(usbip_budget_used);
