// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vhci-hcd: the client side of sessions (Documentation/usb/usbip_ext.rst).
 *
 * A port whose attach agreed SESSION counts the commands it sends (C)
 * and the answers it receives (A), acknowledges answers with EXT_ACK
 * every VHCI_ACK_ANSWERS answers or VHCI_ACK_BYTES bytes of answered
 * transfers, and pings an idle server every heartbeat.  A failed link
 * (a socket error, an unanswered ping) suspends the connection
 * (vhci_session_suspend()): the device stays on the root hub, URBs stay
 * pending, new ones queue, and URBs unlinked meanwhile are given back at
 * once and remembered on port->lost.  Userspace reconnects and writes
 * the new socket to the resume file (vhci_session_resume()); the tx
 * thread sends EXT_RESUME with every seqnum the server may still answer,
 * the rx thread takes EXT_RESUME_REP (vhci_session_rx_ext()) and queues
 * again, in their order, the commands the server did not count; for an
 * URB on port->lost whose CMD_SUBMIT the server did count, a CMD_UNLINK
 * goes out and its late RET_SUBMIT is dropped (port->gone).
 *
 * Everything here runs under vhci->lock, except the parts marked as
 * running with vhci_conn_mutex held (attach, suspend, resume, end).
 */
#define pr_fmt(fmt) "vhci-hcd: " fmt

#include <linux/jiffies.h>
#include <linux/list_sort.h>
#include <linux/slab.h>
#include <linux/tcp.h>
#include <linux/workqueue.h>
#include <net/sock.h>

#include "vhci.h"

/**
 * vhci_session_args_parse() - parse the extension words of an attach
 * @text: "caps=HEX window=MS heartbeat=MS" (any order, any subset), cut up
 * @a: output; zeroed first
 *
 * Return: 0; -EOPNOTSUPP for a capability vhci-hcd does not have;
 * -EINVAL for anything else it does not understand or out of range.
 */
int vhci_session_args_parse(char *text, struct vhci_session_args *a)
{
	struct usbip_ext_words w;
	int ret;

	memset(a, 0, sizeof(*a));
	ret = usbip_ext_words_parse(text, USBIP_EXT_W_CAPS | USBIP_EXT_W_WINDOW |
				    USBIP_EXT_W_HEARTBEAT, &w, NULL);
	if (ret)
		return ret;
	a->caps = w.caps;
	a->window = w.window;
	a->heartbeat = w.heartbeat;
	if (a->caps & ~VHCI_EXT_CAPS)
		return -EOPNOTSUPP;
	if (!(a->caps & VHCI_EXT_CAP_SESSION))
		return a->window || a->heartbeat ? -EINVAL : 0;
	if (!a->window || a->window > 3600U * 1000)
		return -EINVAL;
	if (a->heartbeat && (a->heartbeat < VHCI_HEARTBEAT_MIN_MS ||
			     a->heartbeat > VHCI_HEARTBEAT_MAX_MS))
		return -EINVAL;
	return 0;
}

static void vhci_session_hb_arm(struct vhci_port *port)
{
	unsigned int ms = READ_ONCE(port->heartbeat_ms);

	/* without heartbeats, only to time a resume out */
	if (!ms && (READ_ONCE(port->resume_send) || READ_ONCE(port->resume_wait)))
		ms = VHCI_RESUME_POLL_MS * 4;
	if (ms)
		mod_delayed_work(system_wq, &port->hb_work, msecs_to_jiffies(max(ms / 4, 25U)));
}

/* The heartbeat's reference to the connection's sock (vhci_conn_mutex). */
static void vhci_session_hb_sk(struct vhci_port *port, struct socket *sock)
{
	lockdep_assert_held(&vhci_conn_mutex);
	if (port->hb_sk)
		sock_put(port->hb_sk);
	port->hb_sk = NULL;
	if (sock) {
		sock_hold(sock->sk);
		port->hb_sk = sock->sk;
	}
	port->hb_una = 0;
	port->hb_una_at = jiffies;
}

/**
 * vhci_session_resuming() - is the port between a failed link and the
 *	server's EXT_RESUME_REP
 * @port: the port
 *
 * Then nothing can be cancelled on the server and no answer may come:
 * an URB unlinked meanwhile is given back at once (vhci_session_lose_urb()).
 *
 * Return: true while suspended or resuming.
 */
bool vhci_session_resuming(struct vhci_port *port)
{
	return READ_ONCE(port->link_down) || READ_ONCE(port->resume_send) ||
	       READ_ONCE(port->resume_wait);
}

/**
 * vhci_session_start() - set up the session of a port being attached
 * @port: the port; its threads are not started yet
 * @a: the parsed extension words (no SESSION: a plain connection)
 * @sock: the connection
 *
 * vhci_conn_mutex held.
 */
void vhci_session_start(struct vhci_port *port, const struct vhci_session_args *a,
			struct socket *sock)
{
	unsigned long flags;

	lockdep_assert_held(&vhci_conn_mutex);
	spin_lock_irqsave(&port->vhci->lock, flags);
	port->session = a->caps & VHCI_EXT_CAP_SESSION;
	port->heartbeat_ms = port->session ? a->heartbeat : 0;
	port->link_down = false;
	port->resume_send = false;
	port->resume_wait = false;
	port->cmds = 0;
	port->answers = 0;
	port->acked = 0;
	port->ack_bytes = 0;
	port->ack_at = jiffies;
	port->ack_due = false;
	port->ping_due = false;
	port->ping_out = false;
	port->rx_at = jiffies;
	port->srv_cmds = 0;
	spin_unlock_irqrestore(&port->vhci->lock, flags);
	port->conn.resume_window = port->session ? a->window : 0;
	if (port->session) {
		vhci_session_hb_sk(port, sock);
		vhci_session_hb_arm(port);
	}
}

/**
 * vhci_session_answered() - the rx thread took a whole answer
 * @port: the port; vhci->lock held
 * @bytes: size of the transfer it answered (for the acknowledgement pace)
 *
 * Counts it, and has the tx thread acknowledge when enough came in.
 *
 * Return: nothing; wakes the tx thread itself when an EXT_ACK is due.
 */
void vhci_session_answered(struct vhci_port *port, u32 bytes)
{
	lockdep_assert_held(&port->vhci->lock);
	port->answers++;
	if (!port->session)
		return;
	port->ack_bytes = min_t(u64, (u64)port->ack_bytes + bytes, U32_MAX);
	if (port->answers - port->acked >= VHCI_ACK_ANSWERS ||
	    port->ack_bytes >= VHCI_ACK_BYTES) {
		port->ack_due = true;
		wake_up(&port->tx_wq);
	}
}

/*
 * Which URB came first in the session's stream: for list_sort() of the
 * commands to send again.
 */
static int vhci_session_cmp_priv(void *unused, const struct list_head *a,
				 const struct list_head *b)
{
	const struct vhci_priv *x = list_entry(a, struct vhci_priv, txnode);
	const struct vhci_priv *y = list_entry(b, struct vhci_priv, txnode);

	return (s32)(x->cmd_no - y->cmd_no) > 0;
}

/* Frees a record of port->lost and its spare CMD_UNLINK. */
static void vhci_session_lost_free(struct vhci_unlink *rec)
{
	kfree(rec->cancel);
	kfree(rec);
}

/*
 * EXT_RESUME_REP: the server counted @count commands.  Queues again
 * what it did not get, cancels on it what was given back meanwhile, and
 * lets the tx thread go on.  vhci->lock held.
 */
static int vhci_session_resumed(struct vhci_port *port, u32 count, const char **reason,
				struct list_head *giveback)
{
	struct vhci_unlink *unlink, *utmp, *cancel;
	struct vhci_priv *priv, *ptmp;
	LIST_HEAD(again);
	LIST_HEAD(unlinks);
	LIST_HEAD(doomed);

	lockdep_assert_held(&port->vhci->lock);
	if ((s32)(port->cmds - count) < 0) {
		*reason = "EXT_RESUME_REP counts commands never sent";
		return -EPROTO;
	}
	if ((s32)(count - port->srv_cmds) < 0) {
		*reason = "EXT_RESUME_REP counts fewer commands than an EXT_ACK_REP did";
		return -EPROTO;
	}

	/*
	 * CMD_SUBMITs sent after the server's count: again, in their order;
	 * one being unlinked never reached the server, so it comes back now.
	 */
	list_for_each_entry_safe(priv, ptmp, &port->privs, node) {
		if (priv->finished || !priv->sent || (s32)(priv->cmd_no - count) <= 0)
			continue;
		priv->sent = false;
		if (priv->unlinking || priv->unlink_due)
			vhci_priv_finish(priv, -ECONNRESET, giveback);
		else
			list_add_tail(&priv->txnode, &again);
	}
	list_sort(NULL, &again, vhci_session_cmp_priv);
	list_splice(&again, &port->tx_queue);

	/* CMD_UNLINKs the server did not get: again (unlink_rx is in send order) */
	list_for_each_entry_safe(unlink, utmp, &port->unlink_rx, node) {
		if ((s32)(unlink->cmd_no - count) <= 0)
			continue;
		unlink->sent = false;
		unlink->cmd_no = 0;
		list_move_tail(&unlink->node, &unlinks);
	}
	list_splice(&unlinks, &port->unlink_tx);
	/* answered URBs' CMD_UNLINKs it did not get: no RET_UNLINK comes */
	list_for_each_entry_safe(unlink, utmp, &port->orphans, node) {
		if ((s32)(unlink->cmd_no - count) <= 0)
			continue;
		list_move_tail(&unlink->node, &doomed);
		hash_del(&unlink->seq.hnode);
		port->n_orphans--;
	}

	/*
	 * URBs given back while the link was down (those not decided by an
	 * earlier resume): the server never had it, or it is cancelled now
	 * and its answer, which may still come, dropped (the record stays,
	 * as VHCI_SEQ_GONE, until that answer or the cancel's RET_UNLINK).
	 */
	list_for_each_entry_safe(unlink, utmp, &port->lost, node) {
		if (!unlink->cancel)
			continue;
		hash_del(&unlink->seq.hnode);
		if ((s32)(unlink->cmd_no - count) > 0) {
			list_move_tail(&unlink->node, &doomed);
			continue;
		}
		vhci_seq_add(port, &unlink->seq, unlink->target, VHCI_SEQ_GONE);
		cancel = unlink->cancel;
		unlink->cancel = NULL;
		cancel->seqnum = vhci_next_seqnum(port);
		vhci_seq_add(port, &cancel->seq, cancel->seqnum, VHCI_SEQ_UNLINK);
		cancel->target = unlink->target;
		cancel->dir_in = unlink->dir_in;
		cancel->no_target = true;
		list_add_tail(&cancel->node, &port->unlink_tx);
	}

	port->cmds = count;
	port->srv_cmds = count;
	port->resume_wait = false;
	port->rx_at = jiffies;
	wake_up(&port->tx_wq);

	list_for_each_entry_safe(unlink, utmp, &doomed, node) {
		list_del(&unlink->node);
		vhci_session_lost_free(unlink);
	}
	return 0;
}

/**
 * vhci_session_lost_answered() - the cancel of a lost URB was answered
 * @port: the port; vhci->lock held
 * @target: the seqnum of the URB
 *
 * No RET_SUBMIT of it follows its cancel's RET_UNLINK on the stream: the
 * record that would have dropped one goes.
 */
void vhci_session_lost_answered(struct vhci_port *port, u32 target)
{
	struct vhci_unlink *rec;
	struct vhci_seq *seq;

	lockdep_assert_held(&port->vhci->lock);
	seq = vhci_seq_find(port, target, VHCI_SEQ_GONE);
	if (!seq)
		return;
	rec = container_of(seq, struct vhci_unlink, seq);
	if (!rec->lost)
		return;
	list_del(&rec->node);
	hash_del(&rec->seq.hnode);
	vhci_session_lost_free(rec);
}

/**
 * vhci_session_rx_ext() - a session message from the server
 * @port: the port
 * @pdu: an EXT_* header (checked by usbip_pdu_check())
 * @reason: set on error
 *
 * Called by the rx thread.  EXT_ACK_REP answers a ping; EXT_RESUME_REP
 * must be the first message of a resumed connection, and only that.
 *
 * Return: 0, or -EPROTO with *@reason set.
 */
int vhci_session_rx_ext(struct vhci_port *port, const struct usbip_pdu *pdu,
			const char **reason)
{
	LIST_HEAD(giveback);
	unsigned long flags;
	int ret = 0;

	spin_lock_irqsave(&port->vhci->lock, flags);
	if (!port->session) {
		*reason = "session message without a session";
		ret = -EPROTO;
	} else if (pdu->command == USBIP_EXT_RESUME_REP && port->resume_wait) {
		ret = vhci_session_resumed(port, pdu->seqnum, reason, &giveback);
	} else if (pdu->command == USBIP_EXT_ACK_REP && !vhci_session_resuming(port)) {
		if ((s32)(port->cmds - pdu->seqnum) < 0 ||
		    (s32)(pdu->seqnum - port->srv_cmds) < 0) {
			*reason = "EXT_ACK_REP count out of range";
			ret = -EPROTO;
		}
		port->srv_cmds = pdu->seqnum;
		port->ping_out = false;
	} else {
		*reason = "session message out of place";
		ret = -EPROTO;
	}
	spin_unlock_irqrestore(&port->vhci->lock, flags);
	vhci_giveback(&giveback);
	if (!ret && pdu->command == USBIP_EXT_RESUME_REP)
		dev_info(port_dev(port),
			 "port %u: session resumed: server had %u commands, sends %u answers again\n",
			 port->number, pdu->seqnum, pdu->ext.arg);
	return ret;
}

/**
 * vhci_session_lose_urb() - give an URB back while the link is down
 * @port: the port; vhci->lock held
 * @priv: the URB, being unlinked, not finished
 * @status: its unlink status
 * @giveback: where vhci_priv_finish() collects it
 *
 * Nobody can cancel it on the server now, and whoever unlinks it (a SCSI
 * timeout, a close) must not wait for the link.  If its CMD_SUBMIT went
 * out, a record goes on port->lost: on resume, a CMD_UNLINK cancels it if
 * the server counted it, and its answer is dropped.
 *
 * Return: false if the record could not be allocated (the URB is then
 * left alone).
 */
bool vhci_session_lose_urb(struct vhci_port *port, struct vhci_priv *priv, int status,
			   struct list_head *giveback)
{
	struct vhci_unlink *rec = NULL;

	lockdep_assert_held(&port->vhci->lock);
	if (priv->sent) {
		rec = kzalloc(sizeof(*rec), GFP_ATOMIC);
		if (rec)
			rec->cancel = kzalloc(sizeof(*rec->cancel), GFP_ATOMIC);
		if (!rec || !rec->cancel) {
			kfree(rec);
			return false;
		}
		rec->target = priv->seq.seqnum;
		rec->dir_in = usb_pipein(priv->urb->pipe);
		rec->cmd_no = priv->cmd_no;
		rec->lost = true;
		vhci_seq_add(port, &rec->seq, rec->target, VHCI_SEQ_LOST);
		list_add_tail(&rec->node, &port->lost);
	}
	priv->unlink_due = false;
	vhci_priv_finish(priv, status, giveback);
	return true;
}

/**
 * vhci_session_suspend() - usbip_conn ->suspend of a port
 * @conn: the port's connection; its threads are stopped, its socket gone
 *
 * The port stays connected and accepting; URBs already being unlinked are
 * given back now.  vhci_conn_mutex held (event worker).
 */
void vhci_session_suspend(struct usbip_conn *conn)
{
	struct vhci_port *port = conn_to_port(conn);
	struct vhci_priv *priv, *tmp;
	LIST_HEAD(giveback);
	unsigned long flags;

	lockdep_assert_held(&vhci_conn_mutex);
	cancel_delayed_work_sync(&port->hb_work);
	vhci_session_hb_sk(port, NULL);

	spin_lock_irqsave(&port->vhci->lock, flags);
	port->link_down = true;
	port->resume_send = false;
	port->resume_wait = false;
	port->ack_due = false;
	port->ping_due = false;
	port->ping_out = false;
	list_for_each_entry_safe(priv, tmp, &port->privs, node) {
		/* no thread is left in the middle of it */
		priv->sending = false;
		priv->receiving = false;
		if (priv->finished)
			vhci_priv_finish(priv, priv->status, &giveback);
		else if (priv->unlinking || priv->unlink_due)
			vhci_session_lose_urb(port, priv, -ECONNRESET, &giveback);
	}
	spin_unlock_irqrestore(&port->vhci->lock, flags);
	kvfree(port->resume_list);
	port->resume_list = NULL;
	vhci_giveback(&giveback);
	dev_warn(port_dev(port), "port %u: connection lost; reconnecting for up to %u ms\n",
		 port->number, conn->resume_window);
}

/* Seqnums the server may still answer, for EXT_RESUME; vhci->lock held. */
static u32 vhci_session_seqs(struct vhci_port *port, __be32 *out, u32 max)
{
	struct vhci_seq *seq;
	unsigned int bkt;
	u32 n = 0;

	lockdep_assert_held(&port->vhci->lock);
	hash_for_each(port->seqs, bkt, seq, hnode) {
		/* only what the server may have: commands that went out */
		if (seq->kind == VHCI_SEQ_SUBMIT &&
		    !container_of(seq, struct vhci_priv, seq)->sent)
			continue;
		if (seq->kind == VHCI_SEQ_UNLINK &&
		    !container_of(seq, struct vhci_unlink, seq)->sent)
			continue;
		if (out && n < max)
			out[n] = cpu_to_be32(seq->seqnum);
		n++;
	}
	return n;
}

/**
 * vhci_session_resume() - resume a suspended session on a new socket
 * @port: the port
 * @sock: the new connection (usbip attach --persistent made it and had the
 *	server accept the token); owned by the port on success
 * @sockfd: its fd number in the writer, for the status file
 *
 * vhci_conn_mutex held.
 *
 * Return: 0; -ESTALE if the port has no suspended session; -E2BIG if it
 * waits for more answers than an EXT_RESUME can list; -ENOMEM, or the
 * error of usbip_conn_resume().
 */
int vhci_session_resume(struct vhci_port *port, struct socket *sock, int sockfd)
{
	spinlock_t *lock = &port->vhci->lock;
	__be32 *list = NULL;
	unsigned long flags;
	u32 n, cap = 0;
	int ret;

	lockdep_assert_held(&vhci_conn_mutex);
	if (!port->session || usbip_conn_state(&port->conn) != USBIP_CONN_SUSPENDED)
		return -ESTALE;

	for (;;) {
		spin_lock_irqsave(lock, flags);
		n = vhci_session_seqs(port, list, cap);
		if (n <= cap || n > USBIP_EXT_RESUME_MAX)
			break;
		spin_unlock_irqrestore(lock, flags);
		kvfree(list);
		cap = n + 16;
		list = kvmalloc_array(cap, sizeof(*list), GFP_KERNEL);
		if (!list)
			return -ENOMEM;
	}
	if (n > USBIP_EXT_RESUME_MAX) {
		spin_unlock_irqrestore(lock, flags);
		kvfree(list);
		return -E2BIG;
	}
	port->resume_list = list;
	port->resume_n = n;
	port->resume_send = true;
	port->resume_wait = false;
	port->link_down = false;
	port->ping_out = false;
	port->rx_at = jiffies;
	port->resume_at = jiffies;
	port->sockfd = sockfd;
	spin_unlock_irqrestore(lock, flags);

	vhci_session_hb_sk(port, sock);
	ret = usbip_conn_resume(&port->conn, sock);
	if (ret) {
		spin_lock_irqsave(lock, flags);
		port->link_down = true;
		port->resume_send = false;
		port->resume_list = NULL;
		spin_unlock_irqrestore(lock, flags);
		vhci_session_hb_sk(port, NULL);
		kvfree(list);
		return ret;
	}
	vhci_session_hb_arm(port);
	dev_info(port_dev(port), "port %u: reconnected; resuming the session (%u waited for)\n",
		 port->number, n);
	return 0;
}

/**
 * vhci_session_end() - forget a port's session (the connection ended)
 * @port: the port; its threads are stopped
 *
 * Frees what a suspended session kept.  vhci_conn_mutex held.
 */
void vhci_session_end(struct vhci_port *port)
{
	struct vhci_unlink *rec, *tmp;
	LIST_HEAD(lost);
	unsigned long flags;

	lockdep_assert_held(&vhci_conn_mutex);
	cancel_delayed_work_sync(&port->hb_work);
	vhci_session_hb_sk(port, NULL);
	spin_lock_irqsave(&port->vhci->lock, flags);
	list_splice_init(&port->lost, &lost);
	list_for_each_entry(rec, &lost, node)
		hash_del(&rec->seq.hnode);
	port->session = false;
	port->link_down = false;
	port->resume_send = false;
	port->resume_wait = false;
	port->ack_due = false;
	port->ping_due = false;
	port->ping_out = false;
	spin_unlock_irqrestore(&port->vhci->lock, flags);
	port->heartbeat_ms = 0;
	kvfree(port->resume_list);
	port->resume_list = NULL;
	list_for_each_entry_safe(rec, tmp, &lost, node) {
		list_del(&rec->node);
		vhci_session_lost_free(rec);
	}
}

/**
 * vhci_session_hb_fn() - a port's heartbeat
 * @work: port->hb_work
 *
 * While the link is up: ping a server that sent nothing for a heartbeat,
 * take the link for failed when a ping stays unanswered for a heartbeat,
 * and acknowledge at least every heartbeat.
 */
void vhci_session_hb_fn(struct work_struct *work)
{
	struct vhci_port *port = container_of(to_delayed_work(work), struct vhci_port,
					      hb_work);
	unsigned long flags, now = jiffies, hb;
	bool dead = false, wake = false, run, resuming;
	const char *why = "heartbeat not answered";
	struct sock *sk = port->hb_sk;
	u32 una, nxt;

	spin_lock_irqsave(&port->vhci->lock, flags);
	hb = msecs_to_jiffies(port->heartbeat_ms);
	resuming = port->resume_send || port->resume_wait;
	run = port->session && (port->heartbeat_ms || resuming) && !port->link_down;
	/*
	 * TCP's own progress: the server's kernel acknowledged what was sent
	 * (or nothing is in flight).  A server that stopped reading for its
	 * budget answers no ping but is alive; the TCP timers judge the rest.
	 */
	if (run && sk) {
		una = READ_ONCE(tcp_sk(sk)->snd_una);
		nxt = READ_ONCE(tcp_sk(sk)->snd_nxt);
		if (una != port->hb_una || una == nxt) {
			port->hb_una = una;
			port->hb_una_at = now;
		}
	}
	if (run && resuming) {
		/* the server answers EXT_RESUME at once */
		if (time_after(now, port->resume_at +
			       (hb ? max(2 * hb, 2UL * HZ) : VHCI_RESUME_TIMEOUT_S * HZ))) {
			dead = true;
			why = "no EXT_RESUME_REP from the server";
		}
	} else if (run) {
		if (port->ping_out && time_after(now, port->ping_at + hb) &&
		    time_after(now, port->hb_una_at + hb)) {
			dead = true;
		} else if (!port->ping_out && time_after(now, port->rx_at + hb)) {
			port->ping_due = true;
			wake = true;
		} else if (port->answers != port->acked && time_after(now, port->ack_at + hb)) {
			port->ack_due = true;
			wake = true;
		}
	}
	spin_unlock_irqrestore(&port->vhci->lock, flags);

	if (dead) {
		vhci_session_link_event(port, -ETIMEDOUT, false, why);
		return;
	}
	if (wake)
		wake_up(&port->tx_wq);
	if (run)
		vhci_session_hb_arm(port);
}

/**
 * vhci_session_link_event() - report a failed send or receive
 * @port: the port
 * @err: the error
 * @send: it came from a send
 * @reason: for the log
 *
 * With a session, a failure of the link suspends it; anything else (and
 * everything without a session) ends the connection.
 *
 * Return: @err.
 */
int vhci_session_link_event(struct vhci_port *port, int err, bool send, const char *reason)
{
	unsigned long events = USBIP_EV_ERROR;

	/* a send that failed after the server's FIN: the server ended it */
	if (READ_ONCE(port->session) && (usbip_sock_err_is_link(err, send) || err == -ETIMEDOUT) &&
	    !(send && usbip_sock_peer_closed(port->conn.sock)))
		events = USBIP_EV_LINK_ERROR;
	usbip_conn_event(&port->conn, events, err, reason);
	return err;
}
