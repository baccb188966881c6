// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * usbip-host: USB/IP server stub driver.
 *
 * A USB device driver that binds only to devices whose bus id was added to
 * its table (match_busid), claims the device's hub port so that no
 * interface driver of the server touches it, and serves one USB/IP
 * connection per device once usbipd writes a socket to usbip_sockfd.
 */
#define pr_fmt(fmt) "usbip-host: " fmt

#include <linux/ctype.h>
#include <linux/delay.h>
#include <linux/device.h>
#include <linux/kernel.h>
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/sysfs.h>

#include "stub.h"

bool stub_use_sg = true;
module_param_named(use_sg, stub_use_sg, bool, 0644);
MODULE_PARM_DESC(use_sg,
		 "submit large bulk transfers as one scatter-gather URB when the host controller allows it (default Y); N always splits them");

/*
 * What one connection may hold (struct stub_device.budget): requests from
 * their CMD_SUBMIT until their RET_SUBMIT is sent, and their transfer
 * buffers (defaults: see USBIP_BUDGET_URBS).  Over either, the rx thread
 * stops reading the socket until answers have gone out.
 */
unsigned int stub_max_urbs = USBIP_BUDGET_URBS;
module_param_named(max_urbs, stub_max_urbs, uint, 0644);
MODULE_PARM_DESC(max_urbs,
		 "requests one connection may hold before the server stops reading it (default 1024; read when a connection starts)");

unsigned long stub_max_bytes = USBIP_BUDGET_BYTES;
module_param_named(max_bytes, stub_max_bytes, ulong, 0644);
MODULE_PARM_DESC(max_bytes,
		 "transfer buffer bytes one connection may hold before the server stops reading it (default 64 MiB; read when a connection starts)");

#if IS_ENABLED(CONFIG_USBIP_SELFTEST)
unsigned int stub_fail_alloc;
module_param_named(fail_alloc, stub_fail_alloc, uint, 0600);
MODULE_PARM_DESC(fail_alloc,
		 "testing: the next N transfer buffer allocations fail as if memory ran out (default 0)");

unsigned int stub_selftest_complete_delay_ms;
module_param_named(selftest_complete_delay_ms, stub_selftest_complete_delay_ms, uint, 0600);
MODULE_PARM_DESC(selftest_complete_delay_ms,
		 "testing: the next URB completion busy-waits N ms (N > 1) after handing its request on; reads 1 meanwhile, then 0 (default 0)");
#endif

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

static bool stub_busid_listed(const char *name)
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

static void stub_busid_clear(void)
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

static struct usb_device_driver stub_driver;

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

static ssize_t usbip_status_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct stub_device *sdev = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%d\n", READ_ONCE(sdev->status));
}
static DEVICE_ATTR_RO(usbip_status);

static ssize_t usbip_sockfd_store(struct device *dev, struct device_attribute *attr,
				  const char *buf, size_t count)
{
	struct stub_device *sdev = dev_get_drvdata(dev);
	struct socket *sock;
	int fd, ret;

	ret = kstrtoint(buf, 10, &fd);
	if (ret)
		return ret;

	if (fd == -1) {
		ret = usbip_conn_event(&sdev->conn, USBIP_EV_DETACH, 0,
				       "detach requested through usbip_sockfd");
		return ret ? ret : count;
	}
	if (fd < 0)
		return -EINVAL;

	sock = usbip_sockfd_get(fd);
	if (IS_ERR(sock))
		return PTR_ERR(sock);

	/*
	 * The event worker holds the lock while it may wait for the device
	 * lock, which an unbind in progress holds while it waits for this
	 * write to finish: never block here.
	 */
	if (!mutex_trylock(&sdev->lock)) {
		usbip_sock_release(sock);
		return restart_syscall();
	}
	if (sdev->status != SDEV_ST_AVAILABLE) {
		ret = sdev->status == SDEV_ST_USED ? -EBUSY : -EIO;
		goto err_unlock;
	}

	spin_lock_irq(&sdev->req_lock);
	sdev->stopping = false;
	spin_unlock_irq(&sdev->req_lock);
	usbip_budget_set_limits(&sdev->budget, READ_ONCE(stub_max_urbs),
				READ_ONCE(stub_max_bytes));

	ret = usbip_conn_start(&sdev->conn, sock);
	if (ret)
		goto err_unlock;
	WRITE_ONCE(sdev->status, SDEV_ST_USED);
	mutex_unlock(&sdev->lock);

	dev_info(dev, "exported to a client (devid %#010x)\n", sdev->devid);
	return count;

err_unlock:
	mutex_unlock(&sdev->lock);
	usbip_sock_release(sock);
	return ret;
}
static DEVICE_ATTR_WO(usbip_sockfd);

static ssize_t stub_debug_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return usbip_debug_show(buf);
}

static ssize_t stub_debug_store(struct device *dev, struct device_attribute *attr,
				const char *buf, size_t count)
{
	return usbip_debug_store(buf, count);
}
static struct device_attribute dev_attr_usbip_debug =
	__ATTR(usbip_debug, 0644, stub_debug_show, stub_debug_store);

static struct attribute *stub_dev_attrs[] = {
	&dev_attr_usbip_status.attr,
	&dev_attr_usbip_sockfd.attr,
	&dev_attr_usbip_debug.attr,
	NULL,
};
ATTRIBUTE_GROUPS(stub_dev);

/* ------------------------------------------------------------------ */
/* Connection ops                                                      */
/* ------------------------------------------------------------------ */

/**
 * stub_lock_udev() - take the device lock of an exported device
 * @sdev: the device
 * @rx_thread: the caller is the rx thread (also give up when it is stopped)
 *
 * Unbind and disconnect hold the device lock while they wait for the
 * connection to close, so the threads and the event worker never sleep on
 * it: they poll with a trylock and give up once the device is unbinding.
 *
 * Return: 0 with the lock held, or -ENODEV.
 */
int stub_lock_udev(struct stub_device *sdev, bool rx_thread)
{
	while (!usb_trylock_device(sdev->udev)) {
		if (READ_ONCE(sdev->unbinding) || (rx_thread && kthread_should_stop()))
			return -ENODEV;
		usleep_range(1000, 2000);
	}
	return 0;
}

static void stub_conn_shutdown(struct usbip_conn *conn)
{
	struct stub_device *sdev = conn_to_stub(conn);

	lockdep_assert_held(&sdev->lock);
	stub_kill_all(sdev);
}

static void stub_conn_reset(struct usbip_conn *conn)
{
	struct stub_device *sdev = conn_to_stub(conn);
	int ret;

	lockdep_assert_held(&sdev->lock);
	if (!stub_lock_udev(sdev, false)) {
		ret = usb_reset_device(sdev->udev);
		usb_unlock_device(sdev->udev);
		if (ret && ret != -ENODEV)
			dev_info(&sdev->udev->dev, "reset after the connection failed: %d\n",
				 ret);
	}
	WRITE_ONCE(sdev->status, SDEV_ST_AVAILABLE);
}

static void stub_conn_unusable(struct usbip_conn *conn)
{
	struct stub_device *sdev = conn_to_stub(conn);

	lockdep_assert_held(&sdev->lock);
	WRITE_ONCE(sdev->status, SDEV_ST_ERROR);
}

static const struct usbip_conn_ops stub_conn_ops = {
	.rx = stub_rx_loop,
	.tx = stub_tx_loop,
	.shutdown = stub_conn_shutdown,
	.reset = stub_conn_reset,
	.unusable = stub_conn_unusable,
};

/* ------------------------------------------------------------------ */
/* USB device driver                                                   */
/* ------------------------------------------------------------------ */

static bool stub_match(struct usb_device *udev)
{
	return stub_busid_listed(dev_name(&udev->dev));
}

static int stub_probe(struct usb_device *udev)
{
	struct device *dev = &udev->dev;
	struct stub_device *sdev;
	int ret;

	if (!udev->parent) {
		dev_info(dev, "root hubs cannot be exported\n");
		return -ENODEV;
	}
	if (udev->descriptor.bDeviceClass == USB_CLASS_HUB) {
		dev_info(dev, "hubs cannot be exported\n");
		return -ENODEV;
	}

	sdev = kzalloc(sizeof(*sdev), GFP_KERNEL);
	if (!sdev)
		return -ENOMEM;
	sdev->udev = usb_get_dev(udev);
	sdev->devid = (u32)udev->bus->busnum << 16 | udev->devnum;
	sdev->status = SDEV_ST_AVAILABLE;
	mutex_init(&sdev->lock);
	spin_lock_init(&sdev->req_lock);
	sdev->in_flight = RB_ROOT;
	INIT_LIST_HEAD(&sdev->tx_reqs);
	INIT_LIST_HEAD(&sdev->tx_unlinks);
	init_waitqueue_head(&sdev->tx_wq);
	usbip_budget_init(&sdev->budget);
	usbip_conn_init(&sdev->conn, dev_name(dev), &stub_conn_ops, &sdev->lock);

	/*
	 * An owned port keeps the interface drivers of this host away from
	 * the interfaces the client's SET_CONFIGURATION will create.  The
	 * owner is only compared, never dereferenced: any unique pointer will
	 * do.
	 */
	ret = usb_hub_claim_port(udev->parent, udev->portnum, (struct usb_dev_state *)sdev);
	if (ret) {
		dev_err(dev, "cannot claim hub port %d: %d\n", udev->portnum, ret);
		goto err_claim;
	}
	sdev->port_claimed = true;

	dev_set_drvdata(dev, sdev);
	dev_info(dev, "%04x:%04x ready to export (devid %#010x)\n",
		 le16_to_cpu(udev->descriptor.idVendor),
		 le16_to_cpu(udev->descriptor.idProduct), sdev->devid);
	return 0;

err_claim:
	usb_put_dev(sdev->udev);
	kfree(sdev);
	return ret;
}

static void stub_disconnect(struct usb_device *udev)
{
	struct stub_device *sdev = dev_get_drvdata(&udev->dev);

	if (!sdev)
		return;

	/* Holds the device lock: the worker and rx must not wait for it. */
	WRITE_ONCE(sdev->unbinding, true);
	usbip_conn_destroy(&sdev->conn);

	if (sdev->port_claimed)
		usb_hub_release_port(udev->parent, udev->portnum,
				     (struct usb_dev_state *)sdev);
	dev_set_drvdata(&udev->dev, NULL);
	usb_put_dev(sdev->udev);
	kfree(sdev);
	dev_info(&udev->dev, "released by usbip-host\n");
}

static struct usb_device_driver stub_driver = {
	.name = STUB_DRIVER_NAME,
	.match = stub_match,
	.probe = stub_probe,
	.disconnect = stub_disconnect,
	.dev_groups = stub_dev_groups,
	.supports_autosuspend = 0,
};

static int __init stub_init(void)
{
	int ret;

	ret = usb_register_device_driver(&stub_driver, THIS_MODULE);
	if (ret) {
		pr_err("cannot register the driver: %d\n", ret);
		return ret;
	}
	ret = driver_create_file(&stub_driver.driver, &driver_attr_match_busid);
	if (ret)
		goto err_match;
	ret = driver_create_file(&stub_driver.driver, &driver_attr_rebind);
	if (ret)
		goto err_rebind;
	return 0;

err_rebind:
	driver_remove_file(&stub_driver.driver, &driver_attr_match_busid);
err_match:
	usb_deregister_device_driver(&stub_driver);
	return ret;
}

static void __exit stub_exit(void)
{
	driver_remove_file(&stub_driver.driver, &driver_attr_rebind);
	driver_remove_file(&stub_driver.driver, &driver_attr_match_busid);
	usb_deregister_device_driver(&stub_driver);
	stub_busid_clear();
}

module_init(stub_init);
module_exit(stub_exit);

MODULE_DESCRIPTION("USB/IP server stub driver: exports USB devices of this host");
MODULE_LICENSE("GPL");
