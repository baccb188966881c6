// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * usbip-core: the seqnum index of a server's requests in flight.
 *
 * A server looks up a command's seqnum twice per command: a CMD_SUBMIT
 * must not reuse the seqnum of a request still in flight, and a CMD_UNLINK
 * names its target by seqnum.  The peer decides how many requests are in
 * flight (up to the connection's budget), so a list walk would make every
 * command cost O(n) and a flood of them O(n^2): this red-black tree keeps
 * each lookup O(log n).  The caller's lock protects the tree.
 */
#include <linux/export.h>
#include <linux/rbtree.h>

#include "usbip_common.h"

/**
 * usbip_seq_find() - the entry with a seqnum
 * @root: the index
 * @seqnum: the seqnum to look up
 *
 * Return: the entry, or NULL if no entry has @seqnum.
 */
struct usbip_seq_node *usbip_seq_find(struct rb_root *root, u32 seqnum)
{
	struct rb_node *n = root->rb_node;
	struct usbip_seq_node *e;

	while (n) {
		e = rb_entry(n, struct usbip_seq_node, rb);
		if (seqnum < e->seqnum)
			n = n->rb_left;
		else if (seqnum > e->seqnum)
			n = n->rb_right;
		else
			return e;
	}
	return NULL;
}
EXPORT_SYMBOL_GPL(usbip_seq_find);

/**
 * usbip_seq_insert() - enter an entry in the index
 * @root: the index
 * @node: an entry in no index, its seqnum set by usbip_seq_node_init()
 *
 * Return: false, and @node not entered, if its seqnum is in the index
 * already.
 */
bool usbip_seq_insert(struct rb_root *root, struct usbip_seq_node *node)
{
	struct rb_node **link = &root->rb_node, *parent = NULL;
	struct usbip_seq_node *e;

	while (*link) {
		parent = *link;
		e = rb_entry(parent, struct usbip_seq_node, rb);
		if (node->seqnum < e->seqnum)
			link = &parent->rb_left;
		else if (node->seqnum > e->seqnum)
			link = &parent->rb_right;
		else
			return false;
	}
	rb_link_node(&node->rb, parent, link);
	rb_insert_color(&node->rb, root);
	return true;
}
EXPORT_SYMBOL_GPL(usbip_seq_insert);

/**
 * usbip_seq_erase() - take an entry out of the index
 * @root: the index @node is in, if it is in one
 * @node: the entry; nothing happens if it is in no index
 */
void usbip_seq_erase(struct rb_root *root, struct usbip_seq_node *node)
{
	if (RB_EMPTY_NODE(&node->rb))
		return;
	rb_erase(&node->rb, root);
	RB_CLEAR_NODE(&node->rb);
}
EXPORT_SYMBOL_GPL(usbip_seq_erase);
