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

/*
 * What one connection may hold (struct vudc.budget), as for usbip-host:
 * over either limit the rx thread stops reading the socket until answers
 * have gone out.
 */
unsigned int vudc_max_urbs = USBIP_BUDGET_URBS;
module_param_named(max_urbs, vudc_max_urbs, uint, 0644);
MODULE_PARM_DESC(max_urbs,
		 "requests one connection may hold before the server stops reading it (default 1024; read when a connection starts)");

unsigned long vudc_max_bytes = USBIP_BUDGET_BYTES;
module_param_named(max_bytes, vudc_max_bytes, ulong, 0644);
MODULE_PARM_DESC(max_bytes,
		 "transfer buffer bytes one connection may hold before the server stops reading it (default 64 MiB; read when a connection starts)");

static struct platform_device *vudc_pdevs[VUDC_MAX_NUM];

/* ------------------------------------------------------------------ */
/* Connection ops                                                      */
/* ------------------------------------------------------------------ */

static void vudc_conn_shutdown(struct usbip_conn *conn)
{
	struct vudc *vudc = conn_to_vudc(conn);

	lockdep_assert_held(&vudc->lock);
	vudc_stop_io(vudc);
}

static void vudc_conn_reset(struct usbip_conn *conn)
{
	struct vudc *vudc = conn_to_vudc(conn);

	lockdep_assert_held(&vudc->lock);
	WRITE_ONCE(vudc->status, SDEV_ST_AVAILABLE);
	dev_info(vudc_dev(vudc), "client gone, available again\n");
}

static void vudc_conn_unusable(struct usbip_conn *conn)
{
	struct vudc *vudc = conn_to_vudc(conn);

	lockdep_assert_held(&vudc->lock);
	WRITE_ONCE(vudc->status, SDEV_ST_ERROR);
}

static const struct usbip_conn_ops vudc_conn_ops = {
	.rx = vudc_rx_loop,
	.tx = vudc_tx_loop,
	.shutdown = vudc_conn_shutdown,
	.reset = vudc_conn_reset,
	.unusable = vudc_conn_unusable,
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
	vudc->status = SDEV_ST_AVAILABLE;
	mutex_init(&vudc->lock);
	mutex_init(&vudc->gadget_lock);
	mutex_init(&vudc->desc_lock);
	spin_lock_init(&vudc->slock);
	INIT_LIST_HEAD(&vudc->in_flight);
	vudc->in_flight_seq = RB_ROOT;
	usbip_budget_init(&vudc->budget);
	INIT_LIST_HEAD(&vudc->tx_urbs);
	INIT_LIST_HEAD(&vudc->tx_unlinks);
	init_waitqueue_head(&vudc->tx_wq);
	usbip_conn_init(&vudc->conn, dev_name(&pdev->dev), &vudc_conn_ops, &vudc->lock);
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
	usbip_conn_destroy(&vudc->conn);
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
