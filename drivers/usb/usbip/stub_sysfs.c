// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * usbip-host: sysfs.
 *
 * Driver attributes (/sys/bus/usb/drivers/usbip-host/):
 *   match_busid  (read/write) the bus ids usbip-host may bind to, one a
 *                line; "add BUSID" and "del BUSID" change the table
 *   rebind       (write) BUSID: give the device back to the drivers of
 *                this host (after it left the table)
 * Device attributes (of each bound USB device):
 *   usbip_status (read)  SDEV_ST_AVAILABLE / _USED / _ERROR, decimal
 *   usbip_sockfd (write) a connected TCP socket fd starts serving the
 *                device to the client at the other end; -1 stops it
 *   usbip_debug  (read/write) the usbip-core debug mask
 */
#define pr_fmt(fmt) "usbip-host: " fmt

#include <linux/ctype.h>
#include <linux/device.h>
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/sysfs.h>

#include "stub.h"

/* ------------------------------------------------------------------ */
/* Bus id table                                                        */
/* ------------------------------------------------------------------ */

#define STUB_BUSID_SIZE		32

struct stub_busid {
	struct list_head list;
	char name[STUB_BUSID_SIZE];
};

static LIST_HEAD(stub_busids);
static DEFINE_SPINLOCK(stub_busid_lock);

static struct stub_busid *stub_busid_find(const char *name)
{
	struct stub_busid *b;

	lockdep_assert_held(&stub_busid_lock);
	list_for_each_entry(b, &stub_busids, list)
		if (!strcmp(b->name, name))
			return b;
	return NULL;
}

/**
 * stub_busid_listed() - is a bus id in the table (match_busid)
 * @name: the bus id of a device
 *
 * Return: true if usbip-host may bind to the device.
 */
bool stub_busid_listed(const char *name)
{
	bool found;

	spin_lock(&stub_busid_lock);
	found = stub_busid_find(name);
	spin_unlock(&stub_busid_lock);
	return found;
}

static int stub_busid_add(const char *name)
{
	struct stub_busid *b;

	b = kzalloc(sizeof(*b), GFP_KERNEL);
	if (!b)
		return -ENOMEM;
	strscpy(b->name, name, sizeof(b->name));

	spin_lock(&stub_busid_lock);
	if (stub_busid_find(name)) {
		spin_unlock(&stub_busid_lock);
		kfree(b);
		return 0;
	}
	list_add_tail(&b->list, &stub_busids);
	spin_unlock(&stub_busid_lock);
	return 0;
}

static int stub_busid_del(const char *name)
{
	struct stub_busid *b;

	spin_lock(&stub_busid_lock);
	b = stub_busid_find(name);
	if (b)
		list_del(&b->list);
	spin_unlock(&stub_busid_lock);
	if (!b)
		return -ENODEV;
	kfree(b);
	return 0;
}

/**
 * stub_busid_clear() - empty the bus id table (module exit)
 */
void stub_busid_clear(void)
{
	struct stub_busid *b, *tmp;
	LIST_HEAD(all);

	spin_lock(&stub_busid_lock);
	list_splice_init(&stub_busids, &all);
	spin_unlock(&stub_busid_lock);
	list_for_each_entry_safe(b, tmp, &all, list)
		kfree(b);
}

/*
 * Copies the next blank-separated word of @*pos into @out (size @size).
 * Return: its length, 0 at the end, -EINVAL if it does not fit.
 */
static int stub_next_word(const char **pos, char *out, size_t size)
{
	const char *p = skip_spaces(*pos);
	size_t n = 0;

	while (p[n] && !isspace(p[n]))
		n++;
	if (n >= size)
		return -EINVAL;
	memcpy(out, p, n);
	out[n] = '\0';
	*pos = p + n;
	return n;
}

/* ------------------------------------------------------------------ */
/* Driver attributes                                                   */
/* ------------------------------------------------------------------ */

static ssize_t match_busid_show(struct device_driver *drv, char *buf)
{
	struct stub_busid *b;
	int len = 0;

	spin_lock(&stub_busid_lock);
	list_for_each_entry(b, &stub_busids, list)
		len += sysfs_emit_at(buf, len, "%s\n", b->name);
	spin_unlock(&stub_busid_lock);
	return len;
}

static ssize_t match_busid_store(struct device_driver *drv, const char *buf, size_t count)
{
	char cmd[4], busid[STUB_BUSID_SIZE], rest[2];
	const char *pos = buf;
	int ret;

	if (stub_next_word(&pos, cmd, sizeof(cmd)) <= 0 ||
	    stub_next_word(&pos, busid, sizeof(busid)) <= 0 ||
	    stub_next_word(&pos, rest, sizeof(rest)) != 0)
		return -EINVAL;

	if (!strcmp(cmd, "add"))
		ret = stub_busid_add(busid);
	else if (!strcmp(cmd, "del"))
		ret = stub_busid_del(busid);
	else
		return -EINVAL;
	if (ret)
		return ret;
	usbip_dbg(USBIP_DBG_STUB_SYSFS, "match_busid: %s %s\n", cmd, busid);
	return count;
}
static DRIVER_ATTR_RW(match_busid);

static ssize_t rebind_store(struct device_driver *drv, const char *buf, size_t count)
{
	char busid[STUB_BUSID_SIZE], rest[2];
	const char *pos = buf;
	struct device *dev;
	int ret;

	if (stub_next_word(&pos, busid, sizeof(busid)) <= 0 ||
	    stub_next_word(&pos, rest, sizeof(rest)) != 0)
		return -EINVAL;

	stub_busid_del(busid);	/* usbip unbind normally did this already */

	dev = bus_find_device_by_name(stub_driver.driver.bus, NULL, busid);
	if (!dev)
		return -ENODEV;
	if (dev->driver == &stub_driver.driver)
		device_release_driver(dev);
	ret = device_attach(dev);
	put_device(dev);
	if (ret < 0)
		return ret;
	usbip_dbg(USBIP_DBG_STUB_SYSFS, "rebind %s: %s\n", busid,
		  ret ? "driver bound" : "no driver");
	return count;
}
static DRIVER_ATTR_WO(rebind);

/* ------------------------------------------------------------------ */
/* Device attributes                                                   */
/* ------------------------------------------------------------------ */

static struct usbip_server *stub_dev_to_srv(struct device *dev)
{
	struct stub_device *sdev = dev_get_drvdata(dev);

	return &sdev->srv;
}

/* usbip_status, usbip_sockfd, usbip_debug */
USBIP_SERVER_DEVICE_ATTRS(stub_dev_to_srv);

static struct attribute *stub_dev_attrs[] = {
	&dev_attr_usbip_status.attr,
	&dev_attr_usbip_sockfd.attr,
	&dev_attr_usbip_ext_caps.attr,
	&dev_attr_usbip_session.attr,
	&dev_attr_usbip_debug.attr,
	NULL,
};

static const struct attribute_group stub_dev_group = {
	.attrs = stub_dev_attrs,
};

const struct attribute_group *stub_dev_groups[] = {
	&stub_dev_group,
	NULL,
};

/**
 * stub_sysfs_driver_add() - create the driver attributes
 * @drv: usbip-host's driver, registered
 *
 * Return: 0 or the error of sysfs.
 */
int stub_sysfs_driver_add(struct device_driver *drv)
{
	int ret;

	ret = driver_create_file(drv, &driver_attr_match_busid);
	if (ret)
		return ret;
	ret = driver_create_file(drv, &driver_attr_rebind);
	if (ret)
		goto err_rebind;
	return 0;

err_rebind:
	driver_remove_file(drv, &driver_attr_match_busid);
	return ret;
}

/**
 * stub_sysfs_driver_remove() - remove the driver attributes
 * @drv: usbip-host's driver
 */
void stub_sysfs_driver_remove(struct device_driver *drv)
{
	driver_remove_file(drv, &driver_attr_rebind);
	driver_remove_file(drv, &driver_attr_match_busid);
}
