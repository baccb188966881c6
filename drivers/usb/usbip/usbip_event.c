// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * usbip-core: connection life cycle and event handler.
 *
 * A connection goes IDLE -> RUNNING (usbip_conn_start) -> CLOSING (first
 * usbip_conn_event) -> IDLE (event worker done), and finally DEAD
 * (usbip_conn_destroy).  One incident is everything between the first
 * report and the return to IDLE: reports made meanwhile (from the rx/tx
 * threads noticing the closed socket, from the ops themselves, from a
 * detach request) are merged into it, so the worker runs shutdown and
 * then reset or unusable exactly once per incident.  Reports while IDLE
 * or DEAD are ignored: after the shutdown step no thread of the old
 * connection is left to make them.
 *
 * The worker holds the driver's attach/detach mutex for the whole
 * incident, which serializes it with usbip_conn_start() and with the
 * driver's own detach code.
 *
 * Sessions.  A connection with a session (resume_window set, ->suspend
 * given) whose incident consists only of link failures (USBIP_EV_LINK) is
 * suspended instead: the worker closes the socket and stops the threads
 * (step CLOSE), calls ->suspend (step SUSPEND) and leaves the connection
 * SUSPENDED, its I/O still with the driver.  usbip_conn_resume() brings
 * it back on a new socket; any other report, or the end of the window
 * (window_work), starts an incident that ends the session: ->shutdown,
 * then ->reset, as for a connection that closed.
 */
#define pr_fmt(fmt) "usbip-core: " fmt

#include <linux/kthread.h>
#include <linux/lockdep.h>
#include <linux/net.h>
#include <linux/sched.h>
#include <linux/string.h>

#include "usbip_common.h"

static struct workqueue_struct *usbip_event_wq;

static int __usbip_conn_event(struct usbip_conn *conn, unsigned long events, int err,
			      const char *reason);

/* Sleeps until kthread_stop() is called on the current thread. */
static void usbip_wait_for_stop(void)
{
	for (;;) {
		set_current_state(TASK_INTERRUPTIBLE);
		if (kthread_should_stop())
			break;
		schedule();
	}
	__set_current_state(TASK_RUNNING);
}

static void usbip_conn_thread_body(struct usbip_conn *conn,
				   int (*fn)(struct usbip_conn *conn), const char *why)
{
	int ret = fn(conn);

	/*
	 * A thread that ends on its own without having reported why ends the
	 * connection.  One that reported (a link failure, say) must not add
	 * a report of its own, which would end a session it suspends.
	 */
	spin_lock_irq(&conn->ev_lock);
	if (conn->state == USBIP_CONN_RUNNING && !kthread_should_stop())
		__usbip_conn_event(conn, USBIP_EV_ERROR, ret ? ret : -ECONNRESET, why);
	spin_unlock_irq(&conn->ev_lock);
	usbip_wait_for_stop();
}

static int usbip_conn_rx_thread(void *data)
{
	struct usbip_conn *conn = data;

	usbip_conn_thread_body(conn, conn->ops->rx, "rx thread ended");
	return 0;
}

static int usbip_conn_tx_thread(void *data)
{
	struct usbip_conn *conn = data;

	usbip_conn_thread_body(conn, conn->ops->tx, "tx thread ended");
	return 0;
}

/* A connection whose link failure would suspend it; ev_lock held. */
static bool usbip_conn_may_suspend(struct usbip_conn *conn, unsigned long events)
{
	lockdep_assert_held(&conn->ev_lock);
	return !(events & (USBIP_EV_FINAL | USBIP_EV_UNUSABLE)) && conn->resume_window &&
	       conn->ops->suspend;
}

/* Next step of the current incident; called with ev_lock held. */
static unsigned long usbip_conn_next_step(struct usbip_conn *conn)
{
	unsigned long want = conn->events & ~conn->done;

	lockdep_assert_held(&conn->ev_lock);
	if (want & USBIP_EV_CLOSE)
		return USBIP_EV_CLOSE;
	if (usbip_conn_may_suspend(conn, conn->events))
		return (conn->done & USBIP_EV_SUSPEND) ? 0 : USBIP_EV_SUSPEND;
	if (want & USBIP_EV_SHUTDOWN)
		return USBIP_EV_SHUTDOWN;
	if (conn->done & USBIP_EV_UNUSABLE)
		return 0;
	if (want & USBIP_EV_UNUSABLE)
		return USBIP_EV_UNUSABLE;
	if (want & USBIP_EV_RESET)
		return USBIP_EV_RESET;
	return 0;
}

/* Step CLOSE: the socket and the threads (none left if suspended). */
static void usbip_conn_close(struct usbip_conn *conn, unsigned long events, int err,
			     const char *reason, bool suspend)
{
	lockdep_assert_held(conn->lock);

	if (suspend)
		pr_warn("%s: connection lost: %s (%d); session kept for %u ms\n", conn->name,
			reason, err, conn->resume_window);
	else if (!conn->sock && !conn->rx_task && !conn->tx_task)
		pr_info("%s: session ended: %s\n", conn->name, reason);
	else if (events & USBIP_EV_QUIET)
		pr_info("%s: connection closed: %s\n", conn->name, reason);
	else
		pr_err("%s: connection closed: %s (%d)\n", conn->name, reason, err);

	/*
	 * Wakes threads blocked in recvmsg/sendmsg.  A suspended session's
	 * connection is reset rather than closed: its peer must take it for
	 * a failed link, not for the end of the session.
	 */
	if (conn->sock && suspend)
		usbip_sock_abort(conn->sock);
	else if (conn->sock)
		kernel_sock_shutdown(conn->sock, SHUT_RDWR);
	if (conn->rx_task) {
		kthread_stop(conn->rx_task);
		conn->rx_task = NULL;
	}
	if (conn->tx_task) {
		kthread_stop(conn->tx_task);
		conn->tx_task = NULL;
	}
	if (conn->sock)
		usbip_sock_release(conn->sock);
	conn->sock = NULL;
}

static void usbip_conn_work(struct work_struct *work)
{
	struct usbip_conn *conn = container_of(work, struct usbip_conn, work);
	unsigned long step, events;
	const char *reason;
	bool suspend;
	int err;

	mutex_lock(conn->lock);
	spin_lock_irq(&conn->ev_lock);
	while ((step = usbip_conn_next_step(conn))) {
		events = conn->events;
		err = conn->err;
		reason = conn->reason;
		suspend = usbip_conn_may_suspend(conn, events);
		spin_unlock_irq(&conn->ev_lock);

		usbip_dbg(USBIP_DBG_EVENT, "%s: events %#lx, step %#lx\n", conn->name,
			  events, step);
		switch (step) {
		case USBIP_EV_CLOSE:
			usbip_conn_close(conn, events, err, reason, suspend);
			break;
		case USBIP_EV_SUSPEND:
			conn->ops->suspend(conn);
			break;
		case USBIP_EV_SHUTDOWN:
			if (conn->ops->shutdown)
				conn->ops->shutdown(conn);
			break;
		case USBIP_EV_UNUSABLE:
			if (conn->ops->unusable)
				conn->ops->unusable(conn);
			break;
		case USBIP_EV_RESET:
			if (conn->ops->reset)
				conn->ops->reset(conn);
			break;
		}

		spin_lock_irq(&conn->ev_lock);
		conn->done |= step;
	}
	suspend = (conn->done & USBIP_EV_SUSPEND) && !(conn->done & USBIP_EV_SHUTDOWN);
	if (!suspend)
		conn->resume_window = 0;	/* the session, if any, is over */
	conn->events = 0;
	conn->done = 0;
	conn->incidents++;
	if (suspend) {
		conn->suspended_at = jiffies;
		WRITE_ONCE(conn->state, USBIP_CONN_SUSPENDED);
		mod_delayed_work(usbip_event_wq, &conn->window_work,
				 msecs_to_jiffies(conn->resume_window));
	} else {
		WRITE_ONCE(conn->state, USBIP_CONN_IDLE);
	}
	spin_unlock_irq(&conn->ev_lock);
	mutex_unlock(conn->lock);

	/* usbip_conn_destroy() flushes this work, so conn is still valid */
	wake_up_all(&conn->wq);
}

/* The resume window of a suspended session has passed. */
static void usbip_conn_window_work(struct work_struct *work)
{
	struct usbip_conn *conn = container_of(to_delayed_work(work), struct usbip_conn,
					       window_work);

	unsigned long end;

	spin_lock_irq(&conn->ev_lock);
	end = conn->suspended_at + msecs_to_jiffies(conn->resume_window);
	/* nothing to do if a resume or a detach came first */
	if (conn->state == USBIP_CONN_SUSPENDED && !time_before(jiffies, end))
		__usbip_conn_event(conn, USBIP_EV_ERROR | USBIP_EV_QUIET, -ETIMEDOUT,
				   "resume window expired");
	spin_unlock_irq(&conn->ev_lock);
}

/**
 * usbip_conn_init() - initialize a connection (state IDLE)
 * @conn: the connection, embedded in a driver structure
 * @name: short name for log lines and threads ("<name>-rx"), e.g. "vhci3"
 *	or a bus id; copied
 * @ops: the driver's callbacks; must outlive @conn
 * @lock: the driver's mutex serializing attach/detach of this connection;
 *	held by the caller of usbip_conn_start() and by the event worker
 */
void usbip_conn_init(struct usbip_conn *conn, const char *name,
		     const struct usbip_conn_ops *ops, struct mutex *lock)
{
	strscpy(conn->name, name, sizeof(conn->name));
	conn->ops = ops;
	conn->lock = lock;
	conn->sock = NULL;
	conn->rx_task = NULL;
	conn->tx_task = NULL;
	spin_lock_init(&conn->ev_lock);
	conn->state = USBIP_CONN_IDLE;
	conn->events = 0;
	conn->done = 0;
	conn->err = 0;
	conn->reason = NULL;
	INIT_WORK(&conn->work, usbip_conn_work);
	init_waitqueue_head(&conn->wq);
	conn->incidents = 0;
	conn->resume_window = 0;
	conn->suspended_at = 0;
	INIT_DELAYED_WORK(&conn->window_work, usbip_conn_window_work);
}
EXPORT_SYMBOL_GPL(usbip_conn_init);

/*
 * Starts the threads of @conn on @sock and makes it RUNNING, if it is in
 * state @from.  Caller holds @conn->lock.
 */
static int usbip_conn_run(struct usbip_conn *conn, struct socket *sock,
			  enum usbip_conn_state from)
{
	struct task_struct *rx = NULL, *tx = NULL;
	enum usbip_conn_state state;
	int ret;

	lockdep_assert_held(conn->lock);

	state = usbip_conn_state(conn);
	if (state == USBIP_CONN_DEAD)
		return -ENODEV;
	if (state != from)
		return from == USBIP_CONN_SUSPENDED ? -ESTALE : -EBUSY;

	conn->sock = sock;
	if (conn->ops->rx) {
		rx = kthread_create(usbip_conn_rx_thread, conn, "%.12s-rx", conn->name);
		if (IS_ERR(rx)) {
			ret = PTR_ERR(rx);
			goto err_rx;
		}
	}
	if (conn->ops->tx) {
		tx = kthread_create(usbip_conn_tx_thread, conn, "%.12s-tx", conn->name);
		if (IS_ERR(tx)) {
			ret = PTR_ERR(tx);
			goto err_tx;
		}
	}

	spin_lock_irq(&conn->ev_lock);
	if (conn->state != from) {	/* destroyed or expired meanwhile */
		spin_unlock_irq(&conn->ev_lock);
		ret = from == USBIP_CONN_SUSPENDED ? -ESTALE : -ENODEV;
		goto err_state;
	}
	conn->rx_task = rx;
	conn->tx_task = tx;
	conn->events = 0;
	conn->done = 0;
	conn->err = 0;
	conn->reason = NULL;
	WRITE_ONCE(conn->state, USBIP_CONN_RUNNING);
	spin_unlock_irq(&conn->ev_lock);

	if (rx)
		wake_up_process(rx);
	if (tx)
		wake_up_process(tx);
	usbip_dbg(USBIP_DBG_EVENT, "%s: connection %s\n", conn->name,
		  from == USBIP_CONN_SUSPENDED ? "resumed" : "started");
	return 0;

err_state:
	if (tx)
		kthread_stop(tx);	/* never woken: exits without running */
err_tx:
	if (rx)
		kthread_stop(rx);
err_rx:
	conn->sock = NULL;
	return ret;
}

/**
 * usbip_conn_start() - bring up a connection on a connected socket
 * @conn: an IDLE connection
 * @sock: the socket (from usbip_sockfd_get()); on success the connection
 *	owns this reference and releases it when the connection closes
 *
 * Starts the rx and tx threads of @conn->ops.  The caller holds
 * @conn->lock and has set up whatever the threads use before calling
 * (and @conn->resume_window, for a connection with a session).
 *
 * Return: 0; -EBUSY if the connection is running, suspended or still
 * closing (usbip_conn_wait() first); -ENODEV after usbip_conn_destroy();
 * or the error of kthread creation.  On error the caller keeps @sock.
 */
int usbip_conn_start(struct usbip_conn *conn, struct socket *sock)
{
	return usbip_conn_run(conn, sock, USBIP_CONN_IDLE);
}
EXPORT_SYMBOL_GPL(usbip_conn_start);

/**
 * usbip_conn_resume() - resume a suspended session on a new socket
 * @conn: a SUSPENDED connection
 * @sock: the new socket; on success the connection owns this reference
 *
 * Starts the threads again, with the driver's I/O as ->suspend left it;
 * the resume window no longer runs.  The caller holds @conn->lock and has
 * checked that the peer may resume (its token).
 *
 * Return: 0; -ESTALE if the connection is not suspended (the window
 * ended, or there was no session); -ENODEV after usbip_conn_destroy(); or
 * the error of kthread creation.  On error the caller keeps @sock.
 */
int usbip_conn_resume(struct usbip_conn *conn, struct socket *sock)
{
	int ret = usbip_conn_run(conn, sock, USBIP_CONN_SUSPENDED);

	if (!ret)
		cancel_delayed_work(&conn->window_work);	/* no-op if running late */
	return ret;
}
EXPORT_SYMBOL_GPL(usbip_conn_resume);

/**
 * usbip_conn_window_left() - milliseconds left of a suspended session
 * @conn: the connection
 *
 * Return: what is left of the resume window if @conn is SUSPENDED (at
 * least 1), else 0.
 */
unsigned int usbip_conn_window_left(struct usbip_conn *conn)
{
	unsigned long end, now = jiffies;
	unsigned int left = 0;

	spin_lock_irq(&conn->ev_lock);
	if (conn->state == USBIP_CONN_SUSPENDED) {
		end = conn->suspended_at + msecs_to_jiffies(conn->resume_window);
		left = time_before(now, end) ? jiffies_to_msecs(end - now) : 0;
		left = max(left, 1U);
	}
	spin_unlock_irq(&conn->ev_lock);
	return left;
}
EXPORT_SYMBOL_GPL(usbip_conn_window_left);

/* Starts an incident or merges into the current one; ev_lock held. */
static int __usbip_conn_event(struct usbip_conn *conn, unsigned long events, int err,
			      const char *reason)
{
	lockdep_assert_held(&conn->ev_lock);

	if (!(events & USBIP_EV_LINK))
		events |= USBIP_EV_FINAL;
	switch (conn->state) {
	case USBIP_CONN_SUSPENDED:
		if (!(events & USBIP_EV_FINAL))
			return -ENOTCONN;	/* no link to fail */
		fallthrough;
	case USBIP_CONN_RUNNING:
		conn->events = events | USBIP_EV_SHUTDOWN | USBIP_EV_CLOSE;
		conn->err = err;
		conn->reason = reason ? reason : "unknown";
		WRITE_ONCE(conn->state, USBIP_CONN_CLOSING);
		queue_work(usbip_event_wq, &conn->work);
		return 0;
	case USBIP_CONN_CLOSING:
		/*
		 * The connection's own threads, once it is closing, only see
		 * the consequences of the close (a socket shut down or
		 * reset under them): what they report must not end a
		 * session being suspended.
		 */
		if (current == conn->rx_task || current == conn->tx_task)
			return 0;
		/* the first report decides how the incident is logged */
		conn->events |= events & ~USBIP_EV_QUIET;
		return 0;
	default:
		return -ENOTCONN;
	}
}

/**
 * usbip_conn_event() - report an event on a connection
 * @conn: the connection
 * @events: USBIP_EV_ERROR, USBIP_EV_FATAL, USBIP_EV_DETACH, or a
 *	combination of USBIP_EV_* bits (SHUTDOWN is always implied)
 * @err: negative errno for the log line
 * @reason: short static string for the log line (kept by pointer)
 *
 * The first report on a running connection starts an incident: the event
 * worker shuts the socket down, stops the threads, calls ->shutdown and
 * then ->unusable if any report of the incident asked for it, else
 * ->reset if asked.  If every report had USBIP_EV_LINK and the connection
 * has a session, ->suspend runs instead of the rest.  Later reports until
 * the worker is done only add their bits.  On a SUSPENDED connection a
 * report without USBIP_EV_LINK ends the session.  Any context; never
 * sleeps.
 *
 * Return: 0 if the report started or joined an incident, -ENOTCONN if
 * the connection was not running (nothing to do).
 */
int usbip_conn_event(struct usbip_conn *conn, unsigned long events, int err,
		     const char *reason)
{
	unsigned long flags;
	int ret;

	spin_lock_irqsave(&conn->ev_lock, flags);
	ret = __usbip_conn_event(conn, events, err, reason);
	spin_unlock_irqrestore(&conn->ev_lock, flags);

	usbip_dbg(USBIP_DBG_EVENT, "%s: event %#lx (%d, %s)%s\n", conn->name, events, err,
		  reason ? reason : "", ret ? " ignored" : "");
	return ret;
}
EXPORT_SYMBOL_GPL(usbip_conn_event);

/**
 * usbip_conn_state() - current state of a connection
 * @conn: the connection
 *
 * Return: the state at the time of the call; only IDLE with @conn->lock
 * held is stable.
 */
enum usbip_conn_state usbip_conn_state(struct usbip_conn *conn)
{
	return READ_ONCE(conn->state);
}
EXPORT_SYMBOL_GPL(usbip_conn_state);

/**
 * usbip_conn_wait() - wait until the current incident has been handled
 * @conn: the connection
 *
 * Returns at once if no incident is in progress.  Must not be called with
 * @conn->lock held, nor from the connection's own threads or ops.
 */
void usbip_conn_wait(struct usbip_conn *conn)
{
	might_sleep();
	lockdep_assert_not_held(conn->lock);
	wait_event(conn->wq, usbip_conn_state(conn) != USBIP_CONN_CLOSING);
}
EXPORT_SYMBOL_GPL(usbip_conn_wait);

/**
 * usbip_conn_destroy() - close a connection for good
 * @conn: the connection
 *
 * Closes it if running or suspended (as a quiet detach, so ->reset runs), waits for
 * the incident to be handled, then makes it DEAD: further reports are
 * ignored and usbip_conn_start() fails.  When this returns, the event
 * worker no longer touches @conn, which may be freed, and the driver
 * module may go away.  Must not be called with @conn->lock held.
 */
void usbip_conn_destroy(struct usbip_conn *conn)
{
	for (;;) {
		spin_lock_irq(&conn->ev_lock);
		if (conn->state == USBIP_CONN_IDLE || conn->state == USBIP_CONN_DEAD) {
			WRITE_ONCE(conn->state, USBIP_CONN_DEAD);
			spin_unlock_irq(&conn->ev_lock);
			break;
		}
		__usbip_conn_event(conn, USBIP_EV_DETACH, 0, "device removed");
		spin_unlock_irq(&conn->ev_lock);
		usbip_conn_wait(conn);
	}
	/* the worker may still be between setting IDLE and returning */
	flush_work(&conn->work);
	cancel_delayed_work_sync(&conn->window_work);
}
EXPORT_SYMBOL_GPL(usbip_conn_destroy);

int usbip_event_init(void)
{
	usbip_event_wq = alloc_workqueue("usbip_event", WQ_UNBOUND | WQ_MEM_RECLAIM, 0);
	return usbip_event_wq ? 0 : -ENOMEM;
}

void usbip_event_exit(void)
{
	destroy_workqueue(usbip_event_wq);
}
