// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * usbip-vudc: USB/IP virtual USB device controller.
 *
 * The module creates "num" platform devices usbip-vudc.0 .. num-1.  Each
 * one registers a UDC of the same name, to which a configfs gadget binds,
 * and serves that gadget over one USB/IP connection once a socket is
 * written to its usbip_sockfd attribute.
 */
#define pr_fmt(fmt) "usbip-vudc: " fmt

#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/platform_device.h>
#include <linux/slab.h>
#include <linux/version.h>

#include "vudc.h"

#define VUDC_MAX_NUM	32

static unsigned int vudc_num = 1;
module_param_named(num, vudc_num, uint, 0444);
MODULE_PARM_DESC(num, "number of usbip-vudc devices (UDCs) to create, 1-32 (default 1)");

/* max_urbs, max_bytes: what one connection may hold, as for usbip-host */
USBIP_SERVER_BUDGET_PARAMS(vudc_limits);

static struct platform_device *vudc_pdevs[VUDC_MAX_NUM];

/* ------------------------------------------------------------------ */
/* Server ops                                                          */
/* ------------------------------------------------------------------ */

/* A client is about to be served: the gadget sees a bus reset. */
static int vudc_srv_attach(struct usbip_server *srv)
{
	struct vudc *vudc = srv_to_vudc(srv);
	bool ready;

	lockdep_assert_held(&vudc->lock);
	/* the descriptor request of a gadget that just connected goes first */
	flush_work(&vudc->desc_work);
	mutex_lock(&vudc->desc_lock);
	spin_lock_irq(&vudc->slock);
	ready = vudc->driver && vudc->pulled_up;
	if (ready)
		vudc->serving = true;
	spin_unlock_irq(&vudc->slock);
	mutex_unlock(&vudc->desc_lock);
	if (!ready)
		return -ENODEV;
	vudc_gadget_connect(vudc);
	return 0;
}

static void vudc_srv_attached(struct usbip_server *srv)
{
	dev_info(srv->dev, "exported to a client (%s)\n",
		 usb_speed_string(srv_to_vudc(srv)->gadget.speed));
}

static void vudc_srv_shutdown(struct usbip_server *srv)
{
	struct vudc *vudc = srv_to_vudc(srv);

	lockdep_assert_held(&vudc->lock);
	vudc_io_stop(vudc);
}

static void vudc_srv_reset(struct usbip_server *srv)
{
	lockdep_assert_held(&srv_to_vudc(srv)->lock);
	/* available before it says so: a test reads the status after the line */
	WRITE_ONCE(srv->status, SDEV_ST_AVAILABLE);
	dev_info(srv->dev, "client gone, available again\n");
}

static const struct usbip_server_ops vudc_srv_ops = {
	.flags = USBIP_SERVER_DETACH_RUNNING,
	.ep_find = vudc_rx_ep_find,
	.urb_alloc = vudc_urb_alloc,
	.submit_early = vudc_urb_submit_early,
	.received = vudc_urb_rx_piece,
	.submit = vudc_urb_submit,
	.unlink = vudc_urb_unlink,
	.ret_fill = vudc_urb_ret_fill,
	.urb_free = vudc_urb_srv_free,
	.attach = vudc_srv_attach,
	.attached = vudc_srv_attached,
	.shutdown = vudc_srv_shutdown,
	.reset = vudc_srv_reset,
};

/* ------------------------------------------------------------------ */
/* Platform driver                                                     */
/* ------------------------------------------------------------------ */

static int vudc_probe(struct platform_device *pdev)
{
	struct vudc *vudc;
	int ret;

	vudc = kzalloc(sizeof(*vudc), GFP_KERNEL);
	if (!vudc)
		return -ENOMEM;
	vudc->pdev = pdev;
	mutex_init(&vudc->lock);
	mutex_init(&vudc->gadget_lock);
	mutex_init(&vudc->desc_lock);
	spin_lock_init(&vudc->slock);
	INIT_LIST_HEAD(&vudc->in_flight);
	usbip_server_init(&vudc->srv, dev_name(&pdev->dev), &pdev->dev, &vudc_srv_ops,
			  &vudc->lock, &vudc->slock, &vudc_limits);
	vudc->srv.dbg_rx = USBIP_DBG_VUDC_RX;
	vudc->srv.dbg_tx = USBIP_DBG_VUDC_TX;
	vudc_udc_init(vudc);
	platform_set_drvdata(pdev, vudc);

	ret = usb_add_gadget_udc(&pdev->dev, &vudc->gadget);
	if (ret) {
		dev_err(&pdev->dev, "cannot register the UDC: %d\n", ret);
		goto err_udc;
	}
	return 0;

err_udc:
	platform_set_drvdata(pdev, NULL);
	kfree(vudc);
	return ret;
}

static void vudc_remove(struct platform_device *pdev)
{
	struct vudc *vudc = platform_get_drvdata(pdev);

	/* unbinds the gadget driver; its pull-up going away ends the connection */
	usb_del_gadget_udc(&vudc->gadget);
	usbip_conn_destroy(&vudc->srv.conn);
	cancel_work_sync(&vudc->desc_work);
	cancel_work_sync(&vudc->ep0_work);
	cancel_work_sync(&vudc->xfer_work);
	platform_set_drvdata(pdev, NULL);
	kfree(vudc);
}

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 11, 0)
static int vudc_remove_int(struct platform_device *pdev)
{
	vudc_remove(pdev);
	return 0;
}
#endif

static struct platform_driver vudc_driver = {
	.probe = vudc_probe,
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 11, 0)
	.remove = vudc_remove_int,
#else
	.remove = vudc_remove,
#endif
	.driver = {
		.name = VUDC_DRIVER_NAME,
		.dev_groups = vudc_groups,
	},
};

static void vudc_del_devices(void)
{
	int i;

	for (i = VUDC_MAX_NUM - 1; i >= 0; i--) {
		if (vudc_pdevs[i])
			platform_device_unregister(vudc_pdevs[i]);
		vudc_pdevs[i] = NULL;
	}
}

static int __init vudc_init(void)
{
	unsigned int i;
	int ret;

	if (vudc_num < 1 || vudc_num > VUDC_MAX_NUM) {
		pr_err("num=%u is out of range 1-%d\n", vudc_num, VUDC_MAX_NUM);
		return -EINVAL;
	}
	ret = platform_driver_register(&vudc_driver);
	if (ret)
		return ret;

	for (i = 0; i < vudc_num; i++) {
		struct platform_device *pdev;

		pdev = platform_device_alloc(VUDC_DRIVER_NAME, i);
		if (!pdev) {
			ret = -ENOMEM;
			goto err_devices;
		}
		ret = platform_device_add(pdev);
		if (ret) {
			platform_device_put(pdev);
			goto err_devices;
		}
		vudc_pdevs[i] = pdev;
	}
	pr_info("%u virtual device controller(s) ready\n", vudc_num);
	return 0;

err_devices:
	vudc_del_devices();
	platform_driver_unregister(&vudc_driver);
	return ret;
}

static void __exit vudc_exit(void)
{
	vudc_del_devices();
	platform_driver_unregister(&vudc_driver);
}

module_init(vudc_init);
module_exit(vudc_exit);

MODULE_DESCRIPTION("USB/IP virtual USB device controller: exports gadgets of this host");
MODULE_LICENSE("GPL");
