// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * usbip-core: self-test of the socket paths and the event handler, run by
 * "modprobe usbip-core selftest=1".  The module refuses to load if any
 * case fails.
 *
 * Messages go over a kernel TCP connection on 127.0.0.1 (or an AF_UNIX
 * stream pair if the loopback interface is down): a sender kthread writes
 * them with usbip_send_msg() while the loading task reads them back with
 * the receive helpers and compares every byte.
 */
#define pr_fmt(fmt) "usbip-core: selftest: " fmt

#include <linux/atomic.h>
#include <linux/delay.h>
#include <linux/fcntl.h>
#include <linux/fdtable.h>
#include <linux/file.h>
#include <linux/in.h>
#include <linux/kthread.h>
#include <linux/net.h>
#include <linux/random.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/tcp.h>
#include <linux/un.h>
#include <linux/vmalloc.h>
#include <net/inet_connection_sock.h>
#include <net/net_namespace.h>
#include <net/sock.h>

#include "usbip_common.h"

static bool st_ok;
static bool st_unix_only;

#define ST_CHECK(cond) do {						\
	if (!(cond)) {							\
		pr_err("check failed at line %d: %s\n", __LINE__, #cond); \
		st_ok = false;						\
	}								\
} while (0)

/* ---- socket pairs ---- */

static int st_pair_tcp(struct socket **a, struct socket **b)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	struct socket *lsk, *c, *s;
	int ret;

	ret = sock_create_kern(&init_net, AF_INET, SOCK_STREAM, IPPROTO_TCP, &lsk);
	if (ret)
		return ret;
	ret = kernel_bind(lsk, (struct sockaddr *)&sin, sizeof(sin));
	if (ret)
		goto err_listener;
	ret = kernel_listen(lsk, 1);
	if (ret)
		goto err_listener;
	ret = kernel_getsockname(lsk, (struct sockaddr *)&sin);
	if (ret < 0)
		goto err_listener;
	ret = sock_create_kern(&init_net, AF_INET, SOCK_STREAM, IPPROTO_TCP, &c);
	if (ret)
		goto err_listener;
	ret = kernel_connect(c, (struct sockaddr *)&sin, sizeof(sin), 0);
	if (ret)
		goto err_client;
	ret = kernel_accept(lsk, &s, 0);
	if (ret)
		goto err_client;
	sock_release(lsk);
	*a = c;
	*b = s;
	return 0;

err_client:
	sock_release(c);
err_listener:
	sock_release(lsk);
	return ret;
}

static int st_pair_unix(struct socket **a, struct socket **b)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct socket *lsk, *c, *s;
	int len, ret;

	/* abstract address: leading NUL */
	len = snprintf(sun.sun_path + 1, sizeof(sun.sun_path) - 1, "usbip-selftest-%08x",
		       get_random_u32());
	len += offsetof(struct sockaddr_un, sun_path) + 1;

	ret = sock_create_kern(&init_net, AF_UNIX, SOCK_STREAM, 0, &lsk);
	if (ret)
		return ret;
	ret = kernel_bind(lsk, (struct sockaddr *)&sun, len);
	if (ret)
		goto err_listener;
	ret = kernel_listen(lsk, 1);
	if (ret)
		goto err_listener;
	ret = sock_create_kern(&init_net, AF_UNIX, SOCK_STREAM, 0, &c);
	if (ret)
		goto err_listener;
	ret = kernel_connect(c, (struct sockaddr *)&sun, len, 0);
	if (ret)
		goto err_client;
	ret = kernel_accept(lsk, &s, 0);
	if (ret)
		goto err_client;
	sock_release(lsk);
	*a = c;
	*b = s;
	return 0;

err_client:
	sock_release(c);
err_listener:
	sock_release(lsk);
	return ret;
}

static int st_pair(struct socket **a, struct socket **b)
{
	static bool told;
	int ret = -EAFNOSUPPORT;

	if (!st_unix_only) {
		ret = st_pair_tcp(a, b);
		if (!ret)
			return 0;
	}
	if (!told) {
		if (st_unix_only)
			pr_info("using AF_UNIX socket pairs\n");
		else
			pr_info("no TCP loopback (%d), using AF_UNIX\n", ret);
		told = true;
	}
	ret = st_pair_unix(a, b);
	if (ret)
		pr_err("cannot create a socket pair: %d\n", ret);
	return ret;
}

/* ---- sender thread ---- */

struct st_msg {
	struct usbip_pdu pdu;
	const struct usbip_buf *buf;
	u32 len;
	const struct usbip_iso_desc *iso;
	int n_iso;
	unsigned int flags;
};

struct st_sender {
	struct socket *sock;
	const struct st_msg *msgs;
	int n;
	int ret;
	struct task_struct *task;
};

static void st_wait_for_stop(void)
{
	for (;;) {
		set_current_state(TASK_INTERRUPTIBLE);
		if (kthread_should_stop())
			break;
		schedule();
	}
	__set_current_state(TASK_RUNNING);
}

static int st_sender_thread(void *data)
{
	struct st_sender *s = data;
	int i;

	s->ret = 0;
	for (i = 0; i < s->n && !s->ret; i++)
		s->ret = usbip_send_msg(s->sock, &s->msgs[i].pdu, s->msgs[i].buf,
					s->msgs[i].len, s->msgs[i].iso, s->msgs[i].n_iso,
					s->msgs[i].flags);
	st_wait_for_stop();
	return 0;
}

static int st_sender_start(struct st_sender *s, struct socket *sock,
			   const struct st_msg *msgs, int n)
{
	s->sock = sock;
	s->msgs = msgs;
	s->n = n;
	s->ret = -EINPROGRESS;
	s->task = kthread_run(st_sender_thread, s, "usbip-selftest");
	if (IS_ERR(s->task))
		return PTR_ERR(s->task);
	return 0;
}

/* Shuts both sockets down (unblocking the sender) and reaps the thread. */
static int st_sender_stop(struct st_sender *s, struct socket *a, struct socket *b)
{
	kernel_sock_shutdown(a, SHUT_RDWR);
	kernel_sock_shutdown(b, SHUT_RDWR);
	kthread_stop(s->task);
	return s->ret;
}

/* ---- scatterlists with odd layouts ---- */

struct st_sg {
	struct scatterlist *sgl;
	struct page **pages;
	unsigned int *orders;
	unsigned int nents;
	u32 len;
};

static void st_sg_free(struct st_sg *s)
{
	unsigned int i;

	for (i = 0; s->pages && i < s->nents; i++)
		if (s->pages[i])
			__free_pages(s->pages[i], s->orders[i]);
	kfree(s->sgl);
	kfree(s->pages);
	kfree(s->orders);
	memset(s, 0, sizeof(*s));
}

/* Entry i holds lens[i] bytes at offs[i] of its own (compound) page. */
static int st_sg_alloc(struct st_sg *s, const u32 *lens, const u32 *offs, unsigned int n)
{
	unsigned int i;

	memset(s, 0, sizeof(*s));
	s->sgl = kcalloc(n, sizeof(*s->sgl), GFP_KERNEL);
	s->pages = kcalloc(n, sizeof(*s->pages), GFP_KERNEL);
	s->orders = kcalloc(n, sizeof(*s->orders), GFP_KERNEL);
	if (!s->sgl || !s->pages || !s->orders)
		goto err_free;
	s->nents = n;
	sg_init_table(s->sgl, n);
	for (i = 0; i < n; i++) {
		s->orders[i] = get_order(offs[i] + lens[i]);
		s->pages[i] = alloc_pages(GFP_KERNEL | __GFP_ZERO, s->orders[i]);
		if (!s->pages[i])
			goto err_free;
		sg_set_page(&s->sgl[i], s->pages[i], lens[i], offs[i]);
		s->len += lens[i];
	}
	return 0;

err_free:
	st_sg_free(s);
	return -ENOMEM;
}

/* Sender layout from the brief: 3584 + 7 x 4096 bytes. */
static const u32 st_a_lens[] = { 3584, 4096, 4096, 4096, 4096, 4096, 4096, 4096 };
static const u32 st_a_offs[] = { 512, 0, 0, 0, 0, 0, 0, 0 };
/* Receiver layout: unrelated boundaries, multi-page entries. */
static const u32 st_b_lens[] = { 100, 5000, 1, 12000, 4096, 20000 };
static const u32 st_b_offs[] = { 7, 3000, 0, 100, 0, 0 };
#define ST_A_LEN	(3584 + 7 * 4096)

struct st_bufs {
	struct st_sg a, b;
	u8 *ref;	/* contents of a, linear */
	u8 *lin;	/* a linear receive buffer */
	u8 *tmp;	/* contents of b, linear */
};

static void st_bufs_free(struct st_bufs *t)
{
	st_sg_free(&t->a);
	st_sg_free(&t->b);
	vfree(t->ref);
	vfree(t->lin);
	vfree(t->tmp);
}

static int st_bufs_alloc(struct st_bufs *t)
{
	memset(t, 0, sizeof(*t));
	if (st_sg_alloc(&t->a, st_a_lens, st_a_offs, ARRAY_SIZE(st_a_lens)) ||
	    st_sg_alloc(&t->b, st_b_lens, st_b_offs, ARRAY_SIZE(st_b_lens)))
		goto err_free;
	t->ref = vmalloc(ST_A_LEN);
	t->lin = vzalloc(ST_A_LEN);
	t->tmp = vzalloc(t->b.len);
	if (!t->ref || !t->lin || !t->tmp)
		goto err_free;
	get_random_bytes(t->ref, ST_A_LEN);
	if (sg_copy_from_buffer(t->a.sgl, t->a.nents, t->ref, ST_A_LEN) != ST_A_LEN)
		goto err_free;
	return 0;

err_free:
	st_bufs_free(t);
	return -ENOMEM;
}

/* Copies the receive scatterlist b into t->tmp. */
static void st_b_snapshot(struct st_bufs *t)
{
	sg_copy_to_buffer(t->b.sgl, t->b.nents, t->tmp, t->b.len);
}

/* ---- socket path cases ---- */

static void st_hdr(struct usbip_pdu *p, u32 command, u32 seqnum)
{
	memset(p, 0, sizeof(*p));
	p->command = command;
	p->seqnum = seqnum;
}

/* All four commands; a linear OUT payload. */
static void st_case_linear(struct socket *a, struct socket *b, struct st_bufs *t)
{
	struct usbip_buf src;
	struct st_msg m[3] = {};
	struct st_sender s;
	struct usbip_pdu p;
	const char *reason = "";
	int ret;

	usbip_buf_linear(&src, t->ref, 1000);
	st_hdr(&m[0].pdu, USBIP_CMD_SUBMIT, 1);
	m[0].pdu.devid = 0x00010002;
	m[0].pdu.direction = USBIP_DIR_OUT;
	m[0].pdu.ep = 2;
	m[0].pdu.submit.transfer_buffer_length = 1000;
	m[0].pdu.submit.transfer_flags = USBIP_URB_ZERO_PACKET;
	m[0].buf = &src;
	m[0].len = 1000;
	st_hdr(&m[1].pdu, USBIP_CMD_UNLINK, 2);
	m[1].pdu.unlink.seqnum = 1;
	st_hdr(&m[2].pdu, USBIP_RET_UNLINK, 2);
	m[2].pdu.ret_unlink.status = -ECONNRESET;

	if (st_sender_start(&s, a, m, ARRAY_SIZE(m))) {
		st_ok = false;
		return;
	}

	ret = usbip_recv_pdu(b, &p, &reason);
	ST_CHECK(ret == 0);
	ST_CHECK(p.command == USBIP_CMD_SUBMIT && p.seqnum == 1 && p.devid == 0x00010002);
	ST_CHECK(p.ep == 2 && p.direction == USBIP_DIR_OUT);
	ST_CHECK(p.submit.transfer_flags == USBIP_URB_ZERO_PACKET);
	ST_CHECK(usbip_cmd_payload_len(&p) == 1000);
	if (!ret) {
		struct usbip_buf dst;

		usbip_buf_linear(&dst, t->lin, ST_A_LEN);
		ST_CHECK(usbip_recv_buf(b, &dst, 0, 1000) == 0);
		ST_CHECK(memcmp(t->lin, t->ref, 1000) == 0);
	}
	ret = usbip_recv_pdu(b, &p, &reason);
	ST_CHECK(ret == 0 && p.command == USBIP_CMD_UNLINK && p.unlink.seqnum == 1);
	ret = usbip_recv_pdu(b, &p, &reason);
	ST_CHECK(ret == 0 && p.command == USBIP_RET_UNLINK && p.seqnum == 2 &&
		 p.ret_unlink.status == -ECONNRESET);

	ST_CHECK(st_sender_stop(&s, a, b) == 0);
}

/* RET_SUBMIT payloads gathered from an sg list into sg and linear buffers. */
static void st_case_sg(struct socket *a, struct socket *b, struct st_bufs *t)
{
	struct usbip_buf src, dst_sg, dst_lin;
	struct st_msg m[3] = {};
	struct st_sender s;
	struct usbip_pdu p;
	const char *reason = "";
	int i;

	usbip_buf_sg(&src, t->a.sgl, t->a.nents, ST_A_LEN);
	usbip_buf_sg(&dst_sg, t->b.sgl, t->b.nents, t->b.len);
	usbip_buf_linear(&dst_lin, t->lin, ST_A_LEN);
	for (i = 0; i < 3; i++) {
		st_hdr(&m[i].pdu, USBIP_RET_SUBMIT, 10 + i);
		m[i].buf = &src;
		m[i].len = i == 1 ? 10000 : ST_A_LEN;
		m[i].pdu.ret_submit.actual_length = m[i].len;
	}

	if (st_sender_start(&s, a, m, ARRAY_SIZE(m))) {
		st_ok = false;
		return;
	}

	/* 1: whole buffer into the other sg layout */
	ST_CHECK(usbip_recv_pdu(b, &p, &reason) == 0);
	ST_CHECK(p.seqnum == 10 && usbip_ret_payload_len(&p, true) == ST_A_LEN);
	ST_CHECK(usbip_check_ret_submit(&p, ST_A_LEN, 0, &reason) == 0);
	ST_CHECK(usbip_recv_buf(b, &dst_sg, 0, ST_A_LEN) == 0);
	st_b_snapshot(t);
	ST_CHECK(memcmp(t->tmp, t->ref, ST_A_LEN) == 0);

	/* 2: 10000 bytes at offset 777 of the sg buffer */
	ST_CHECK(usbip_recv_pdu(b, &p, &reason) == 0);
	ST_CHECK(p.seqnum == 11 && usbip_ret_payload_len(&p, true) == 10000);
	ST_CHECK(usbip_recv_buf(b, &dst_sg, 777, 10000) == 0);
	st_b_snapshot(t);
	ST_CHECK(memcmp(t->tmp + 777, t->ref, 10000) == 0);
	ST_CHECK(memcmp(t->tmp, t->ref, 777) == 0);	/* untouched */

	/* 3: into a linear buffer */
	ST_CHECK(usbip_recv_pdu(b, &p, &reason) == 0);
	ST_CHECK(p.seqnum == 12);
	memset(t->lin, 0, ST_A_LEN);
	ST_CHECK(usbip_recv_buf(b, &dst_lin, 0, ST_A_LEN) == 0);
	ST_CHECK(memcmp(t->lin, t->ref, ST_A_LEN) == 0);

	/* a range outside the buffer is refused before reading */
	ST_CHECK(usbip_recv_buf(b, &dst_lin, ST_A_LEN - 10, 11) == -EINVAL);

	ST_CHECK(st_sender_stop(&s, a, b) == 0);
}

#define ST_NISO 8
static const u32 st_iso_actual[ST_NISO] = { 4000, 0, 1, 3999, 2500, 4000, 17, 333 };
static const s32 st_iso_status[ST_NISO] = { 0, -EXDEV, 0, 0, -EPROTO, 0, 0, 0 };

/* IN iso RET_SUBMIT sent packed, unpacked into sg and linear buffers. */
static void st_case_iso_in(struct socket *a, struct socket *b, struct st_bufs *t)
{
	struct usbip_iso_desc iso[ST_NISO], got[ST_NISO];
	struct usbip_buf src, dst_sg, dst_lin;
	struct st_msg m[2] = {};
	struct st_sender s;
	struct usbip_pdu p;
	const char *reason = "";
	u32 total = 0;
	int i, k;

	for (i = 0; i < ST_NISO; i++) {
		iso[i].offset = i * 4000;
		iso[i].length = 4000;
		iso[i].actual_length = st_iso_actual[i];
		iso[i].status = st_iso_status[i];
		total += st_iso_actual[i];
	}
	usbip_buf_sg(&src, t->a.sgl, t->a.nents, ST_A_LEN);
	/* the receiving "URB" has the sender's length, whatever b's size */
	usbip_buf_sg(&dst_sg, t->b.sgl, t->b.nents, ST_A_LEN);
	usbip_buf_linear(&dst_lin, t->lin, ST_A_LEN);
	for (k = 0; k < 2; k++) {
		st_hdr(&m[k].pdu, USBIP_RET_SUBMIT, 20 + k);
		m[k].pdu.ret_submit.actual_length = total;
		m[k].pdu.ret_submit.number_of_packets = ST_NISO;
		m[k].pdu.ret_submit.error_count = 2;
		m[k].pdu.ret_submit.start_frame = 77;
		m[k].buf = &src;
		m[k].len = total;
		m[k].iso = iso;
		m[k].n_iso = ST_NISO;
		m[k].flags = USBIP_SEND_ISO_PACKED;
	}

	if (st_sender_start(&s, a, m, ARRAY_SIZE(m))) {
		st_ok = false;
		return;
	}

	for (k = 0; k < 2; k++) {
		const struct usbip_buf *dst = k ? &dst_lin : &dst_sg;
		u8 *out;

		memset(t->lin, 0, ST_A_LEN);
		ST_CHECK(usbip_recv_pdu(b, &p, &reason) == 0);
		ST_CHECK(p.seqnum == 20 + k && p.ret_submit.actual_length == total);
		ST_CHECK(usbip_pdu_packets(&p) == ST_NISO && p.ret_submit.start_frame == 77);
		ST_CHECK(usbip_check_ret_submit(&p, ST_A_LEN, ST_NISO, &reason) == 0);
		ST_CHECK(usbip_recv_buf(b, dst, 0, total) == 0);
		ST_CHECK(usbip_recv_iso_descs(b, got, ST_NISO) == 0);
		ST_CHECK(memcmp(got, iso, sizeof(iso)) == 0);
		ST_CHECK(usbip_iso_unpack_buf(dst, got, ST_NISO, total, &reason) == 0);
		if (k == 0) {
			st_b_snapshot(t);
			out = t->tmp;
		} else {
			out = t->lin;
		}
		for (i = 0; i < ST_NISO; i++)
			ST_CHECK(memcmp(out + iso[i].offset, t->ref + iso[i].offset,
					iso[i].actual_length) == 0);
	}

	ST_CHECK(st_sender_stop(&s, a, b) == 0);
}

/* OUT iso CMD_SUBMIT: the whole buffer, then the descriptors. */
static void st_case_iso_out(struct socket *a, struct socket *b, struct st_bufs *t)
{
	struct usbip_iso_desc iso[ST_NISO], got[ST_NISO];
	struct usbip_buf src, dst_sg;
	struct st_msg m = {};
	struct st_sender s;
	struct usbip_pdu p;
	const char *reason = "";
	int i;

	for (i = 0; i < ST_NISO; i++) {
		iso[i].offset = i * 4000;
		iso[i].length = 4000;
		iso[i].actual_length = 0;
		iso[i].status = 0;
	}
	usbip_buf_sg(&src, t->a.sgl, t->a.nents, ST_A_LEN);
	usbip_buf_sg(&dst_sg, t->b.sgl, t->b.nents, t->b.len);
	st_hdr(&m.pdu, USBIP_CMD_SUBMIT, 30);
	m.pdu.direction = USBIP_DIR_OUT;
	m.pdu.ep = 15;
	m.pdu.submit.transfer_buffer_length = ST_A_LEN;
	m.pdu.submit.number_of_packets = ST_NISO;
	m.pdu.submit.transfer_flags = USBIP_URB_ISO_ASAP;
	m.pdu.submit.interval = 1;
	m.buf = &src;
	m.len = ST_A_LEN;
	m.iso = iso;
	m.n_iso = ST_NISO;

	if (st_sender_start(&s, a, &m, 1)) {
		st_ok = false;
		return;
	}
	ST_CHECK(usbip_recv_pdu(b, &p, &reason) == 0);
	ST_CHECK(p.ep == 15 && usbip_pdu_packets(&p) == ST_NISO);
	ST_CHECK(usbip_cmd_payload_len(&p) == ST_A_LEN);
	ST_CHECK(usbip_recv_buf(b, &dst_sg, 0, ST_A_LEN) == 0);
	ST_CHECK(usbip_recv_iso_descs(b, got, ST_NISO) == 0);
	ST_CHECK(memcmp(got, iso, sizeof(iso)) == 0);
	ST_CHECK(usbip_iso_check(got, ST_NISO, ST_A_LEN, 0, USBIP_ISO_CHECK_ORDER, &reason) == 0);
	st_b_snapshot(t);
	ST_CHECK(memcmp(t->tmp, t->ref, ST_A_LEN) == 0);
	ST_CHECK(st_sender_stop(&s, a, b) == 0);
}

/* Bad messages are refused before anything is sent. */
static void st_case_send_rejects(struct socket *a, struct socket *b, struct st_bufs *t)
{
	struct usbip_iso_desc iso[2] = { { 0, 10, 10, 0 }, { 10, 10, 5, 0 } };
	struct usbip_buf src;
	struct usbip_pdu p;
	const char *reason = "";

	usbip_buf_linear(&src, t->ref, 20);
	st_hdr(&p, USBIP_RET_SUBMIT, 40);
	ST_CHECK(usbip_send_msg(a, &p, &src, 21, NULL, 0, 0) == -EINVAL);
	ST_CHECK(usbip_send_msg(a, &p, &src, 16, iso, 2, USBIP_SEND_ISO_PACKED) == -EINVAL);
	ST_CHECK(usbip_send_msg(a, &p, &src, 0, iso, USBIP_MAX_ISO_PACKETS + 1, 0) == -EINVAL);
	ST_CHECK(usbip_send_msg(a, &p, &src, 0, NULL, 2, 0) == -EINVAL);
	st_hdr(&p, 9, 41);
	ST_CHECK(usbip_send_msg(a, &p, NULL, 0, NULL, 0, 0) == -EINVAL);

	/* the stream holds only what follows */
	st_hdr(&p, USBIP_RET_SUBMIT, 42);
	p.ret_submit.actual_length = 15;
	p.ret_submit.number_of_packets = 2;
	ST_CHECK(usbip_send_msg(a, &p, &src, 15, iso, 2, USBIP_SEND_ISO_PACKED) == 0);
	memset(&p, 0, sizeof(p));
	ST_CHECK(usbip_recv_pdu(b, &p, &reason) == 0);
	ST_CHECK(p.seqnum == 42 && p.ret_submit.actual_length == 15);
	memset(t->lin, 0, 20);
	ST_CHECK(usbip_recv_data(b, t->lin, 15) == 0);
	ST_CHECK(memcmp(t->lin, t->ref, 15) == 0);
}

/* Malformed header, then end of stream in the middle of a header. */
static void st_case_errors(struct socket *a, struct socket *b, struct st_bufs *t)
{
	struct usbip_pdu p;
	const char *reason = "";
	u8 hdr[USBIP_HEADER_SIZE] = { 0, 0, 0, 7 };

	ST_CHECK(usbip_send_data(a, hdr, sizeof(hdr), false) == 0);
	ST_CHECK(usbip_recv_pdu(b, &p, &reason) == -EPROTO);
	ST_CHECK(!strcmp(reason, "unknown command"));

	ST_CHECK(usbip_send_data(a, hdr, 20, false) == 0);
	kernel_sock_shutdown(a, SHUT_WR);
	ST_CHECK(usbip_recv_pdu(b, &p, &reason) == -ECONNRESET);
	ST_CHECK(!strcmp(reason, "connection closed"));
	ST_CHECK(usbip_recv_data(b, hdr, 1) == -ECONNRESET);

	kernel_sock_shutdown(b, SHUT_RDWR);
	ST_CHECK(usbip_send_data(b, hdr, 1, false) == -EPIPE);
}

/* ---- connection / event handler cases ---- */

struct st_dev {
	struct mutex lock;
	struct usbip_conn conn;
	atomic_t shutdowns, resets, unusables, rx_msgs, suspends;
	bool rx_link;
	bool threads_gone_in_shutdown;
	int report_in_shutdown;
	wait_queue_head_t tx_wq;
};

static int st_dev_rx(struct usbip_conn *conn)
{
	struct st_dev *d = container_of(conn, struct st_dev, conn);
	struct usbip_pdu p;
	const char *reason;
	int ret;

	for (;;) {
		ret = usbip_recv_pdu(conn->sock, &p, &reason);
		if (ret) {
			usbip_conn_event(conn, d->rx_link ? USBIP_EV_LINK_ERROR : USBIP_EV_ERROR,
					 ret, reason);
			return ret;
		}
		atomic_inc(&d->rx_msgs);
	}
}

static int st_dev_tx(struct usbip_conn *conn)
{
	struct st_dev *d = container_of(conn, struct st_dev, conn);

	wait_event_interruptible(d->tx_wq, kthread_should_stop());
	return 0;
}

static void st_dev_shutdown(struct usbip_conn *conn)
{
	struct st_dev *d = container_of(conn, struct st_dev, conn);

	lockdep_assert_held(&d->lock);
	atomic_inc(&d->shutdowns);
	d->threads_gone_in_shutdown = !conn->rx_task && !conn->tx_task;
	/* a report during shutdown joins the running incident */
	d->report_in_shutdown = usbip_conn_event(conn, USBIP_EV_ERROR, -EIO,
						 "report during shutdown");
}

static void st_dev_reset(struct usbip_conn *conn)
{
	struct st_dev *d = container_of(conn, struct st_dev, conn);

	atomic_inc(&d->resets);
}

static void st_dev_unusable(struct usbip_conn *conn)
{
	struct st_dev *d = container_of(conn, struct st_dev, conn);

	atomic_inc(&d->unusables);
}

static void st_dev_suspend(struct usbip_conn *conn)
{
	struct st_dev *d = container_of(conn, struct st_dev, conn);

	lockdep_assert_held(&d->lock);
	atomic_inc(&d->suspends);
	d->threads_gone_in_shutdown = !conn->rx_task && !conn->tx_task && !conn->sock;
}

static const struct usbip_conn_ops st_dev_ops = {
	.rx = st_dev_rx,
	.tx = st_dev_tx,
	.shutdown = st_dev_shutdown,
	.reset = st_dev_reset,
	.unusable = st_dev_unusable,
	.suspend = st_dev_suspend,
};

/* A test device with an idle connection named @name, or NULL (st_ok false). */
static struct st_dev *st_dev_new(const char *name)
{
	struct st_dev *d = kzalloc(sizeof(*d), GFP_KERNEL);

	if (!d) {
		st_ok = false;
		return NULL;
	}
	mutex_init(&d->lock);
	init_waitqueue_head(&d->tx_wq);
	usbip_conn_init(&d->conn, name, &st_dev_ops, &d->lock);
	return d;
}

static void st_dev_free(struct st_dev *d)
{
	usbip_conn_destroy(&d->conn);
	mutex_destroy(&d->lock);
	kfree(d);
}

/* Starts d's connection on a fresh pair; *peer is the other end. */
static int st_dev_start(struct st_dev *d, struct socket **peer)
{
	struct socket *mine;
	int ret;

	ret = st_pair(peer, &mine);
	if (ret)
		return ret;
	mutex_lock(&d->lock);
	ret = usbip_conn_start(&d->conn, mine);
	mutex_unlock(&d->lock);
	if (ret) {
		sock_release(mine);
		sock_release(*peer);
		*peer = NULL;
	}
	return ret;
}

static int st_hammer_thread(void *data)
{
	struct usbip_conn *conn = data;
	int i;

	for (i = 0; i < 2000; i++)
		usbip_conn_event(conn, USBIP_EV_ERROR, -EIO, "hammer");
	st_wait_for_stop();
	return 0;
}

static void st_case_events(void)
{
	struct task_struct *hammer[4] = {};
	struct st_dev *d;
	struct socket *peer = NULL, *extra;
	struct usbip_pdu p;
	int i;

	d = st_dev_new("selftest");
	if (!d)
		return;
	ST_CHECK(usbip_conn_event(&d->conn, USBIP_EV_ERROR, -EIO, "idle") == -ENOTCONN);

	/* 1: reports from the test, from shutdown, from the rx thread: one incident */
	if (st_dev_start(d, &peer)) {
		st_ok = false;
		goto out;
	}
	ST_CHECK(usbip_conn_state(&d->conn) == USBIP_CONN_RUNNING);
	mutex_lock(&d->lock);
	ST_CHECK(usbip_conn_start(&d->conn, peer) == -EBUSY);
	mutex_unlock(&d->lock);
	st_hdr(&p, USBIP_CMD_UNLINK, 1);
	ST_CHECK(usbip_send_msg(peer, &p, NULL, 0, NULL, 0, 0) == 0);
	for (i = 0; i < 500 && atomic_read(&d->rx_msgs) < 1; i++)
		msleep(10);
	ST_CHECK(atomic_read(&d->rx_msgs) == 1);
	ST_CHECK(usbip_conn_event(&d->conn, USBIP_EV_ERROR, -EIO, "selftest error") == 0);
	usbip_conn_event(&d->conn, USBIP_EV_ERROR, -EIO, "selftest error again");
	usbip_conn_wait(&d->conn);
	ST_CHECK(usbip_conn_state(&d->conn) == USBIP_CONN_IDLE);
	ST_CHECK(atomic_read(&d->shutdowns) == 1 && atomic_read(&d->resets) == 1 &&
		 atomic_read(&d->unusables) == 0 && d->conn.incidents == 1);
	ST_CHECK(d->threads_gone_in_shutdown && d->report_in_shutdown == 0);
	ST_CHECK(!d->conn.sock && !d->conn.rx_task && !d->conn.tx_task);
	ST_CHECK(usbip_conn_event(&d->conn, USBIP_EV_ERROR, -EIO, "late") == -ENOTCONN);
	sock_release(peer);

	/* 2: the peer goes away; the rx thread reports it */
	if (st_dev_start(d, &peer)) {
		st_ok = false;
		goto out;
	}
	sock_release(peer);
	ST_CHECK(wait_event_timeout(d->conn.wq, d->conn.incidents == 2, 10 * HZ) > 0);
	usbip_conn_wait(&d->conn);
	ST_CHECK(atomic_read(&d->shutdowns) == 2 && atomic_read(&d->resets) == 2 &&
		 atomic_read(&d->unusables) == 0);

	/* 3: a fatal report, then a storm of reports from 4 threads */
	if (st_dev_start(d, &peer)) {
		st_ok = false;
		goto out;
	}
	ST_CHECK(usbip_conn_event(&d->conn, USBIP_EV_FATAL, -ENODEV, "selftest fatal") == 0);
	for (i = 0; i < ARRAY_SIZE(hammer); i++) {
		hammer[i] = kthread_run(st_hammer_thread, &d->conn, "usbip-st-ev%d", i);
		if (IS_ERR(hammer[i])) {
			hammer[i] = NULL;
			st_ok = false;
		}
	}
	for (i = 0; i < ARRAY_SIZE(hammer); i++)
		if (hammer[i])
			kthread_stop(hammer[i]);
	usbip_conn_wait(&d->conn);
	ST_CHECK(atomic_read(&d->shutdowns) == 3 && atomic_read(&d->unusables) == 1 &&
		 atomic_read(&d->resets) == 2 && d->conn.incidents == 3);
	sock_release(peer);

	/* 4: destroy while running: detach, then DEAD */
	if (st_dev_start(d, &peer)) {
		st_ok = false;
		goto out;
	}
	usbip_conn_destroy(&d->conn);
	ST_CHECK(usbip_conn_state(&d->conn) == USBIP_CONN_DEAD);
	ST_CHECK(atomic_read(&d->shutdowns) == 4 && atomic_read(&d->resets) == 3);
	ST_CHECK(usbip_conn_event(&d->conn, USBIP_EV_ERROR, -EIO, "dead") == -ENOTCONN);
	sock_release(peer);
	if (!st_pair(&peer, &extra)) {
		mutex_lock(&d->lock);
		ST_CHECK(usbip_conn_start(&d->conn, extra) == -ENODEV);
		mutex_unlock(&d->lock);
		sock_release(extra);
		sock_release(peer);
	}
out:
	st_dev_free(d);
}

/* ---- socket lookup from a file descriptor ---- */

/* Gives @sock a file and an fd in the loading task; consumes @sock. */
static int st_install_fd(struct socket *sock)
{
	struct file *file;
	int fd;

	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0) {
		sock_release(sock);
		return fd;
	}
	file = sock_alloc_file(sock, 0, NULL);	/* releases sock on failure */
	if (IS_ERR(file)) {
		put_unused_fd(fd);
		return PTR_ERR(file);
	}
	fd_install(fd, file);
	return fd;
}

/* Creates a socket, installs it as an fd and expects usbip_sockfd_get() to fail. */
static void st_sockfd_refused(int family, int type, int proto, int expect)
{
	struct socket *sock, *got;
	int fd;

	if (sock_create_kern(&init_net, family, type, proto, &sock)) {
		st_ok = false;
		return;
	}
	fd = st_install_fd(sock);
	ST_CHECK(fd >= 0);
	if (fd < 0)
		return;
	got = usbip_sockfd_get(fd);
	ST_CHECK(IS_ERR(got) && PTR_ERR(got) == expect);
	if (!IS_ERR(got))
		usbip_sock_release(got);
	close_fd(fd);
}

/* The dead-peer timers of usbip_sockfd_get() for a timeout of @secs. */
static void st_check_peer_timeout(struct sock *sk, unsigned int secs)
{
	struct tcp_sock *tp = tcp_sk(sk);

	if (!secs) {
		ST_CHECK(!inet_csk(sk)->icsk_user_timeout);
		return;
	}
	ST_CHECK(inet_csk(sk)->icsk_user_timeout == secs * 1000);
	ST_CHECK(sock_flag(sk, SOCK_KEEPOPEN));
	ST_CHECK(READ_ONCE(tp->keepalive_time) == max(1U, secs * 2 / 5) * HZ);
	ST_CHECK(READ_ONCE(tp->keepalive_intvl) == max(1U, secs / 10) * HZ);
	/* The probes after the first one reach the timeout. */
	ST_CHECK(max(1U, secs * 2 / 5) + max(1U, secs / 10) * (READ_ONCE(tp->keepalive_probes) - 1) >=
		 secs);
}

static bool st_dev_in(struct st_dev *d, enum usbip_conn_state state)
{
	return wait_event_timeout(d->conn.wq, usbip_conn_state(&d->conn) == state,
				  10 * HZ) > 0;
}

/* Sessions: a link failure suspends, a resume restarts, the rest ends. */
static void st_case_suspend(void)
{
	struct socket *peer = NULL, *mine;
	struct st_dev *d;
	unsigned int left;

	d = st_dev_new("selftest-s");
	if (!d)
		return;

	/* 1: the rx thread reports a link failure and ends: suspended, I/O kept */
	d->rx_link = true;
	d->conn.resume_window = 5000;
	if (st_dev_start(d, &peer))
		goto fail;
	sock_release(peer);
	ST_CHECK(st_dev_in(d, USBIP_CONN_SUSPENDED));
	ST_CHECK(atomic_read(&d->suspends) == 1 && atomic_read(&d->shutdowns) == 0 &&
		 atomic_read(&d->resets) == 0 && d->threads_gone_in_shutdown);
	left = usbip_conn_window_left(&d->conn);
	ST_CHECK(left > 0 && left <= 5000);
	ST_CHECK(usbip_conn_event(&d->conn, USBIP_EV_LINK_ERROR, -ETIMEDOUT, "again") ==
		 -ENOTCONN);

	/* 2: resume on a new pair; a second resume or a start is refused */
	if (st_pair(&peer, &mine))
		goto fail;
	mutex_lock(&d->lock);
	ST_CHECK(usbip_conn_start(&d->conn, mine) == -EBUSY);
	ST_CHECK(usbip_conn_resume(&d->conn, mine) == 0);
	mutex_unlock(&d->lock);
	ST_CHECK(usbip_conn_state(&d->conn) == USBIP_CONN_RUNNING);
	ST_CHECK(usbip_conn_window_left(&d->conn) == 0);
	mutex_lock(&d->lock);
	ST_CHECK(usbip_conn_resume(&d->conn, peer) == -ESTALE);
	mutex_unlock(&d->lock);

	/* 3: a link failure and a protocol error together end the session */
	usbip_conn_event(&d->conn, USBIP_EV_LINK_ERROR, -ETIMEDOUT, "selftest link");
	usbip_conn_event(&d->conn, USBIP_EV_ERROR, -EPROTO, "selftest protocol");
	ST_CHECK(st_dev_in(d, USBIP_CONN_IDLE));
	usbip_conn_wait(&d->conn);
	ST_CHECK(atomic_read(&d->shutdowns) == 1 && atomic_read(&d->resets) == 1 &&
		 d->conn.resume_window == 0);
	sock_release(peer);

	/* 4: the window passes: shutdown and reset, once */
	d->conn.resume_window = 200;
	if (st_dev_start(d, &peer))
		goto fail;
	usbip_conn_event(&d->conn, USBIP_EV_LINK_ERROR, -ECONNRESET, "selftest reset");
	ST_CHECK(st_dev_in(d, USBIP_CONN_SUSPENDED) || usbip_conn_state(&d->conn) ==
		 USBIP_CONN_IDLE);
	ST_CHECK(st_dev_in(d, USBIP_CONN_IDLE));
	usbip_conn_wait(&d->conn);
	ST_CHECK(atomic_read(&d->suspends) == 2 && atomic_read(&d->shutdowns) == 2 &&
		 atomic_read(&d->resets) == 2);
	sock_release(peer);

	/* 5: without a session a link failure is an error */
	d->rx_link = false;
	if (st_dev_start(d, &peer))
		goto fail;
	usbip_conn_event(&d->conn, USBIP_EV_LINK_ERROR, -ETIMEDOUT, "selftest no session");
	ST_CHECK(st_dev_in(d, USBIP_CONN_IDLE));
	usbip_conn_wait(&d->conn);
	ST_CHECK(atomic_read(&d->suspends) == 2 && atomic_read(&d->shutdowns) == 3);
	sock_release(peer);

	/* 6: destroy while suspended ends the session */
	d->conn.resume_window = 5000;
	if (st_dev_start(d, &peer))
		goto fail;
	usbip_conn_event(&d->conn, USBIP_EV_LINK_ERROR, -ETIMEDOUT, "selftest link");
	ST_CHECK(st_dev_in(d, USBIP_CONN_SUSPENDED));
	sock_release(peer);
	usbip_conn_destroy(&d->conn);
	ST_CHECK(usbip_conn_state(&d->conn) == USBIP_CONN_DEAD);
	ST_CHECK(atomic_read(&d->suspends) == 3 && atomic_read(&d->shutdowns) == 4 &&
		 atomic_read(&d->resets) == 4);
	goto out;

fail:
	st_ok = false;
out:
	st_dev_free(d);
}

static void st_case_sockfd(void)
{
	struct socket *a, *b, *got;
	int fd;

	got = usbip_sockfd_get(-1);
	ST_CHECK(IS_ERR(got) && PTR_ERR(got) == -EBADF);
	st_sockfd_refused(AF_INET, SOCK_DGRAM, IPPROTO_UDP, -EPROTONOSUPPORT);
	st_sockfd_refused(AF_UNIX, SOCK_STREAM, 0, -EPROTONOSUPPORT);
	st_sockfd_refused(AF_INET, SOCK_STREAM, IPPROTO_TCP, -ENOTCONN);

	if (st_pair_tcp(&a, &b)) {
		pr_info("no TCP loopback: connected socket lookup not tested\n");
		return;
	}
	fd = st_install_fd(a);
	ST_CHECK(fd >= 0);
	if (fd >= 0) {
		got = usbip_sockfd_get(fd);
		ST_CHECK(!IS_ERR(got) && got == a);
		if (!IS_ERR(got)) {
			ST_CHECK(got->sk->sk_allocation == GFP_NOIO);
			ST_CHECK(got->sk->sk_rcvtimeo == MAX_SCHEDULE_TIMEOUT);
			st_check_peer_timeout(got->sk, READ_ONCE(usbip_peer_timeout));
			usbip_sock_release(got);
		}
		close_fd(fd);
	}
	/* A user timeout set by userspace is kept, with no keepalive added. */
	tcp_sock_set_user_timeout(b->sk, 1234);
	fd = st_install_fd(b);
	ST_CHECK(fd >= 0);
	if (fd >= 0) {
		got = usbip_sockfd_get(fd);
		ST_CHECK(!IS_ERR(got) && got == b);
		if (!IS_ERR(got)) {
			ST_CHECK(inet_csk(got->sk)->icsk_user_timeout == 1234);
			ST_CHECK(!sock_flag(got->sk, SOCK_KEEPOPEN));
			usbip_sock_release(got);
		}
		close_fd(fd);
	}
}

/* ---- small pure-kernel cases ---- */

static void st_case_flags(void)
{
	u32 all_kernel = URB_SHORT_NOT_OK | URB_ISO_ASAP | URB_ZERO_PACKET |
			 URB_NO_INTERRUPT | URB_DIR_IN;

	ST_CHECK(usbip_urb_flags_to_wire(URB_SHORT_NOT_OK | URB_DIR_IN | URB_FREE_BUFFER |
					 URB_NO_TRANSFER_DMA_MAP) == 0x201);
	ST_CHECK(usbip_urb_flags_to_wire(URB_ISO_ASAP) == USBIP_URB_ISO_ASAP);
	ST_CHECK(usbip_urb_flags_to_wire(URB_ZERO_PACKET | URB_NO_INTERRUPT) == 0xc0);
	ST_CHECK(usbip_urb_flags_from_wire(0xffffffff) == all_kernel);
	ST_CHECK(usbip_urb_flags_from_wire(0x200) == URB_DIR_IN);
	ST_CHECK(usbip_urb_flags_from_wire(USBIP_URB_DMA_MAP_SG | USBIP_URB_FREE_BUFFER) == 0);
}

static void st_case_debug(void)
{
	unsigned long saved = usbip_debug_flags;
	char *page = (char *)__get_free_page(GFP_KERNEL);

	if (!page) {
		st_ok = false;
		return;
	}
	ST_CHECK(usbip_debug_store("0x9\n", 4) == 4);
	ST_CHECK(usbip_debug_flags == 9);
	ST_CHECK(usbip_dbg_on(USBIP_DBG_EVENT) && !usbip_dbg_on(USBIP_DBG_RX));
	ST_CHECK(usbip_debug_show(page) == 4 && !strcmp(page, "0x9\n"));
	ST_CHECK(usbip_debug_store("junk", 4) == -EINVAL);
	ST_CHECK(usbip_debug_flags == 9);
	usbip_debug_flags = saved;
	free_page((unsigned long)page);
}

/* ---- driver ---- */

struct st_sock_case {
	const char *name;
	void (*fn)(struct socket *a, struct socket *b, struct st_bufs *t);
};

static const struct st_sock_case st_sock_cases[] = {
	{ "header + linear payload, all commands", st_case_linear },
	{ "header + sg payload (3584 + 7x4096)", st_case_sg },
	{ "iso IN packed from sg, unpacked into sg and linear", st_case_iso_in },
	{ "iso OUT whole buffer + descriptors", st_case_iso_out },
	{ "inconsistent messages refused before sending", st_case_send_rejects },
	{ "malformed header, EOF, shutdown", st_case_errors },
};

static void st_report(const char *name, int *passed, int *failed)
{
	if (st_ok) {
		pr_info("PASS %s\n", name);
		(*passed)++;
	} else {
		pr_err("FAIL %s\n", name);
		(*failed)++;
	}
}

/**
 * usbip_selftest_run() - run every self-test case
 * @unix_only: use AF_UNIX socket pairs instead of TCP on 127.0.0.1
 *
 * Return: 0 if all passed, -EIO otherwise (after logging
 * "usbip-core: selftest: N passed, M failed").
 */
int usbip_selftest_run(bool unix_only)
{
	int passed = 0, failed = 0;
	struct socket *a, *b;
	struct st_bufs t;
	int i;

	st_unix_only = unix_only;
	if (st_bufs_alloc(&t)) {
		pr_err("out of memory\n");
		return -ENOMEM;
	}

	for (i = 0; i < ARRAY_SIZE(st_sock_cases); i++) {
		st_ok = true;
		if (st_pair(&a, &b)) {
			st_ok = false;
		} else {
			st_sock_cases[i].fn(a, b, &t);
			sock_release(a);
			sock_release(b);
		}
		st_report(st_sock_cases[i].name, &passed, &failed);
	}
	st_bufs_free(&t);

	st_ok = true;
	st_case_events();
	st_report("connection events: one incident per error, fatal, destroy", &passed, &failed);
	st_ok = true;
	st_case_suspend();
	st_report("sessions: suspend on a link failure, resume, window, destroy", &passed, &failed);
	st_ok = true;
	st_case_sockfd();
	st_report("socket lookup from an fd: TCP only, connected only", &passed, &failed);
	st_ok = true;
	st_case_flags();
	st_report("URB flag translation", &passed, &failed);
	st_ok = true;
	st_case_debug();
	st_report("debug mask show/store", &passed, &failed);

	pr_info("%d passed, %d failed\n", passed, failed);
	return failed ? -EIO : 0;
}
