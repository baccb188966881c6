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

/* max_urbs, max_bytes: what one connection may hold (struct usbip_server) */
USBIP_SERVER_BUDGET_PARAMS(stub_limits);

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
/* Server ops                                                          */
/* ------------------------------------------------------------------ */

/**
 * stub_udev_lock() - take the device lock of an exported device
 * @sdev: the device
 * @rx_thread: the caller is the rx thread (also give up when it is stopped)
 *
 * Unbind and disconnect hold the device lock while they wait for the
 * connection to close, so the threads and the event worker never sleep on
 * it: they poll with a trylock and give up once the device is unbinding.
 *
 * Return: 0 with the lock held, or -ENODEV.
 */
int stub_udev_lock(struct stub_device *sdev, bool rx_thread)
{
	while (!usb_trylock_device(sdev->udev)) {
		if (READ_ONCE(sdev->unbinding) || (rx_thread && kthread_should_stop()))
			return -ENODEV;
		usleep_range(1000, 2000);
	}
	return 0;
}

static void stub_srv_reset(struct usbip_server *srv)
{
	struct stub_device *sdev = srv_to_stub(srv);
	int ret;

	lockdep_assert_held(&sdev->lock);
	if (!stub_udev_lock(sdev, false)) {
		ret = usb_reset_device(sdev->udev);
		usb_unlock_device(sdev->udev);
		if (ret && ret != -ENODEV)
			dev_info(&sdev->udev->dev, "reset after the connection failed: %d\n",
				 ret);
	}
}

/* A client is about to be served: completions may resubmit pieces again. */
static int stub_srv_attach(struct usbip_server *srv)
{
	struct stub_device *sdev = srv_to_stub(srv);

	lockdep_assert_held(&sdev->lock);
	spin_lock_irq(&sdev->req_lock);
	sdev->stopping = false;
	spin_unlock_irq(&sdev->req_lock);
	return 0;
}

static void stub_srv_attached(struct usbip_server *srv)
{
	dev_info(srv->dev, "exported to a client (devid %#010x)\n", srv->devid);
}

static const struct usbip_server_ops stub_srv_ops = {
	/*
	 * usbip_sockfd must not sleep on the lock: the event worker holds it
	 * while it may wait for the device lock, which an unbind in progress
	 * holds while it waits for that write to finish.
	 */
	.flags = USBIP_SERVER_CHECK_DEVID | USBIP_SERVER_SOCKFD_TRYLOCK,
	.ep_find = stub_rx_ep_find,
	.urb_alloc = stub_req_alloc,
	.submit = stub_req_submit,
	.unlink = stub_req_unlink,
	.ret_fill = stub_req_ret_fill,
	.urb_free = stub_req_free,
	.attach = stub_srv_attach,
	.attached = stub_srv_attached,
	.shutdown = stub_io_stop,
	.reset = stub_srv_reset,
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
	mutex_init(&sdev->lock);
	spin_lock_init(&sdev->req_lock);
	usbip_server_init(&sdev->srv, dev_name(dev), dev, &stub_srv_ops, &sdev->lock,
			  &sdev->req_lock, &stub_limits);
	sdev->srv.devid = (u32)udev->bus->busnum << 16 | udev->devnum;
	sdev->srv.dbg_rx = USBIP_DBG_STUB_RX;
	sdev->srv.dbg_tx = USBIP_DBG_STUB_TX;

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
		 le16_to_cpu(udev->descriptor.idProduct), sdev->srv.devid);
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
	usbip_conn_destroy(&sdev->srv.conn);

	if (sdev->port_claimed)
		usb_hub_release_port(udev->parent, udev->portnum,
				     (struct usb_dev_state *)sdev);
	dev_set_drvdata(&udev->dev, NULL);
	usb_put_dev(sdev->udev);
	kfree(sdev);
	dev_info(&udev->dev, "released by usbip-host\n");
}

struct usb_device_driver stub_driver = {
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
	ret = stub_sysfs_driver_add(&stub_driver.driver);
	if (ret)
		goto err_sysfs;
	return 0;

err_sysfs:
	usb_deregister_device_driver(&stub_driver);
	return ret;
}

static void __exit stub_exit(void)
{
	stub_sysfs_driver_remove(&stub_driver.driver);
	usb_deregister_device_driver(&stub_driver);
	stub_busid_clear();
}

module_init(stub_init);
module_exit(stub_exit);

MODULE_DESCRIPTION("USB/IP server stub driver: exports USB devices of this host");
MODULE_LICENSE("GPL");
