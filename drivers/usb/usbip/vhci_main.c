// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vhci-hcd: USB/IP client virtual host controller.
 *
 * This file: module parameters, the platform devices vhci_hcd.0 ...
 * vhci_hcd.(N-1) and their driver, and the life cycle of a port's
 * connection (attach, and the usbip_conn ops that end it).
 *
 * Global port numbers: controller i has ports i * 2P ... i * 2P + 2P - 1,
 * the first P on its USB 2.0 root hub and the next P on its USB 3 root
 * hub, P being the "nports" module parameter.
 */
#define pr_fmt(fmt) "vhci-hcd: " fmt

#include <linux/delay.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/platform_device.h>
#include <linux/slab.h>
#include <linux/usb.h>
#include <linux/usb/hcd.h>
#include <linux/version.h>

#include "vhci.h"

unsigned int vhci_hc_ports = CONFIG_USBIP_VHCI_HC_PORTS;
module_param_named(nports, vhci_hc_ports, uint, 0444);
MODULE_PARM_DESC(nports, "ports per root hub, 1-15 (a controller has a USB 2.0 and a USB 3 hub)");

unsigned int vhci_nr_hcs = CONFIG_USBIP_VHCI_NR_HCS;
module_param_named(num_controllers, vhci_nr_hcs, uint, 0444);
MODULE_PARM_DESC(num_controllers, "number of virtual host controllers (1-128)");

unsigned int vhci_unlink_timeout = 10;
module_param_named(unlink_timeout, vhci_unlink_timeout, uint, 0644);
MODULE_PARM_DESC(unlink_timeout,
		 "seconds an unlinked URB may take to come back from the server before the connection is considered broken (default 10, 0: no limit)");

#if IS_ENABLED(CONFIG_USBIP_SELFTEST)
unsigned int vhci_selftest_seqnum;
module_param_named(selftest_seqnum, vhci_selftest_seqnum, uint, 0600);
MODULE_PARM_DESC(selftest_seqnum,
		 "testing: if not 0, the next command of any port is numbered after this value (to test the wrap at 2^32)");

unsigned int vhci_selftest_unlink_delay_ms;
module_param_named(selftest_unlink_delay_ms, vhci_selftest_unlink_delay_ms, uint, 0600);
MODULE_PARM_DESC(selftest_unlink_delay_ms,
		 "testing: the tx thread waits this long between taking a CMD_UNLINK off its queue and sending it");

unsigned int vhci_selftest_detach_delay_ms;
module_param_named(selftest_detach_delay_ms, vhci_selftest_detach_delay_ms, uint, 0600);
MODULE_PARM_DESC(selftest_detach_delay_ms,
		 "testing: a detach write waits this long after requesting the detach, before waiting for it");

/*
 * Setting it back to N lets every root hub report the port changes it
 * held back meanwhile.
 */
static int vhci_selftest_hold_set(const char *val, const struct kernel_param *kp)
{
	unsigned int i;
	int ret;

	ret = param_set_bool(val, kp);
	if (ret || READ_ONCE(vhci_selftest_hub_hold))
		return ret;
	mutex_lock(&vhci_conn_mutex);
	for (i = 0; vhci_ctrls && i < vhci_nr_hcs; i++) {
		if (!vhci_ctrls[i])
			continue;
		usb_hcd_poll_rh_status(vhci_ctrls[i]->hs->hcd);
		usb_hcd_poll_rh_status(vhci_ctrls[i]->ss->hcd);
	}
	mutex_unlock(&vhci_conn_mutex);
	return 0;
}

static const struct kernel_param_ops vhci_selftest_hold_ops = {
	.set = vhci_selftest_hold_set,
	.get = param_get_bool,
};

bool vhci_selftest_hub_hold;
module_param_cb(selftest_hub_hold, &vhci_selftest_hold_ops, &vhci_selftest_hub_hold, 0600);
MODULE_PARM_DESC(selftest_hub_hold,
		 "testing: while Y, the root hubs report no port change to the hub driver, as if it were slow to see them");
#endif

/* The usbip_conn lock of every port; see vhci.h. */
DEFINE_MUTEX(vhci_conn_mutex);

/* Probed controllers by id (vhci_conn_mutex), and the platform devices. */
struct vhci **vhci_ctrls;
struct platform_device **vhci_pdevs;

/**
 * vhci_port_by_number() - find a port by its global number
 * @number: the PORT of the attach and detach files
 *
 * vhci_conn_mutex held.
 *
 * Return: the port, or NULL if the number is out of range or its
 * controller is not probed.
 */
struct vhci_port *vhci_port_by_number(unsigned int number)
{
	unsigned int per_hc = 2 * vhci_hc_ports;
	struct vhci *vhci;

	lockdep_assert_held(&vhci_conn_mutex);
	if (number >= per_hc * vhci_nr_hcs)
		return NULL;
	vhci = vhci_ctrls[number / per_hc];
	return vhci ? &vhci->ports[number % per_hc] : NULL;
}

static void vhci_free(struct kref *kref)
{
	kfree(container_of(kref, struct vhci, kref));
}

/**
 * vhci_put() - drop a reference to a controller's structure
 * @vhci: the controller
 *
 * A detach write takes one (kref_get() with vhci_conn_mutex held, while
 * the controller is registered) to wait on a port's connection after
 * dropping the mutex; the platform driver holds one from probe to remove.
 */
void vhci_put(struct vhci *vhci)
{
	kref_put(&vhci->kref, vhci_free);
}

/**
 * vhci_port_attach() - start using a remote device on a port
 * @port: a free port (status VDEV_ST_NULL, connection idle)
 * @sock: the connected socket; owned by the port on success
 * @sockfd: the fd number userspace gave, for the status file
 * @devid: the device id on the server
 * @speed: the device's speed; matches the port's hub (checked by caller)
 * @sa: the extensions agreed (a session: SESSION in @sa->caps)
 *
 * Starts the rx/tx threads, then reports the connection on the root hub
 * port so the hub driver enumerates the device.  vhci_conn_mutex held.
 *
 * Return: 0, -EBUSY if the port is in use, or -ENOMEM / a thread error.
 */
int vhci_port_attach(struct vhci_port *port, struct socket *sock, int sockfd, u32 devid,
		     enum usb_device_speed speed, const struct vhci_session_args *sa)
{
	struct vhci *vhci = port->vhci;
	struct usbip_iso_desc *rx_iso;
	unsigned long flags;
	int ret;

	lockdep_assert_held(&vhci_conn_mutex);
	if (port->status != VDEV_ST_NULL || usbip_conn_state(&port->conn) != USBIP_CONN_IDLE)
		return -EBUSY;

	rx_iso = kvmalloc_array(USBIP_MAX_ISO_PACKETS, sizeof(*rx_iso), GFP_KERNEL);
	if (!rx_iso)
		return -ENOMEM;

	spin_lock_irqsave(&vhci->lock, flags);
	port->rx_iso = rx_iso;
	port->speed = speed;
	port->devid = devid;
	port->sockfd = sockfd;
	port->seqnum = 0;
	port->status = VDEV_ST_USED;
	spin_unlock_irqrestore(&vhci->lock, flags);

	vhci_session_start(port, sa, sock);
	ret = usbip_conn_start(&port->conn, sock);
	if (ret)
		goto err_start;

	spin_lock_irqsave(&vhci->lock, flags);
	port->accepting = true;
	vhci_port_connect(port);
	spin_unlock_irqrestore(&vhci->lock, flags);

	dev_info(port_dev(port), "port %u: attached devid %#x (%s) over sockfd %d%s\n",
		 port->number, devid, usb_speed_string(speed), sockfd,
		 port->session ? ", with a session" : "");
	usb_hcd_poll_rh_status(port->vh->hcd);
	return 0;

err_start:
	vhci_session_end(port);
	port->conn.resume_window = 0;
	spin_lock_irqsave(&vhci->lock, flags);
	port->rx_iso = NULL;
	port->speed = USB_SPEED_UNKNOWN;
	port->devid = 0;
	port->sockfd = 0;
	port->status = VDEV_ST_NULL;
	spin_unlock_irqrestore(&vhci->lock, flags);
	kvfree(rx_iso);
	return ret;
}

/**
 * vhci_port_release() - disconnect a port's device and set its status
 * @port: the port, with its connection idle or being shut down (threads
 *	stopped, URBs given back)
 * @status: VDEV_ST_NULL (free for a new attach) or VDEV_ST_ERROR
 *
 * vhci_conn_mutex held.
 */
void vhci_port_release(struct vhci_port *port, int status)
{
	struct vhci *vhci = port->vhci;
	struct usbip_iso_desc *rx_iso;
	struct usb_device *udev;
	unsigned long flags;

	lockdep_assert_held(&vhci_conn_mutex);

	spin_lock_irqsave(&vhci->lock, flags);
	port->accepting = false;
	/* refused from now on, even once the next server is attached */
	udev = port->udev;
	port->udev = NULL;
	if (udev)
		swap(udev, port->gone_udev);
	rx_iso = port->rx_iso;
	port->rx_iso = NULL;
	port->status = status;
	if (status == VDEV_ST_NULL) {
		port->speed = USB_SPEED_UNKNOWN;
		port->devid = 0;
		port->sockfd = 0;
	}
	vhci_port_disconnect(port);
	spin_unlock_irqrestore(&vhci->lock, flags);

	usb_put_dev(udev);
	kvfree(rx_iso);
	usb_hcd_poll_rh_status(port->vh->hcd);
}

/* usbip_conn ->shutdown: threads are stopped; give every URB back. */
static void vhci_conn_shutdown(struct usbip_conn *conn)
{
	struct vhci_port *port = conn_to_port(conn);
	struct vhci_priv *priv, *tmp;
	struct vhci_unlink *unlink, *utmp;
	LIST_HEAD(giveback);
	LIST_HEAD(unlinks);
	unsigned long flags;

	lockdep_assert_held(&vhci_conn_mutex);

	spin_lock_irqsave(&port->vhci->lock, flags);
	port->accepting = false;
	list_for_each_entry_safe(priv, tmp, &port->privs, node) {
		/* no thread is left to finish them */
		priv->sending = false;
		priv->receiving = false;
		vhci_priv_finish(priv, -ESHUTDOWN, &giveback);
	}
	list_splice_init(&port->unlink_tx, &unlinks);
	list_splice_init(&port->unlink_rx, &unlinks);
	list_splice_init(&port->gone, &unlinks);
	list_splice_init(&port->orphans, &unlinks);
	list_for_each_entry(unlink, &unlinks, node)
		hash_del(&unlink->seq.hnode);
	port->n_gone = 0;
	port->n_orphans = 0;
	spin_unlock_irqrestore(&port->vhci->lock, flags);

	/* not accepting: nothing sets it again until the next attach */
	del_timer_sync(&port->unlink_timer);
	vhci_session_end(port);

	vhci_giveback(&giveback);
	list_for_each_entry_safe(unlink, utmp, &unlinks, node) {
		list_del(&unlink->node);
		kfree(unlink);
	}
}

/* usbip_conn ->reset: the device goes away, the port is free again. */
static void vhci_conn_reset(struct usbip_conn *conn)
{
	struct vhci_port *port = conn_to_port(conn);

	vhci_port_release(port, VDEV_ST_NULL);
	dev_info(port_dev(port), "port %u: detached\n", port->number);
}

/* usbip_conn ->unusable: the device goes away, the port stays in error. */
static void vhci_conn_unusable(struct usbip_conn *conn)
{
	struct vhci_port *port = conn_to_port(conn);

	vhci_port_release(port, VDEV_ST_ERROR);
	dev_err(port_dev(port), "port %u: unusable until detached\n", port->number);
}

static const struct usbip_conn_ops vhci_conn_ops = {
	.rx = vhci_rx_loop,
	.tx = vhci_tx_loop,
	.shutdown = vhci_conn_shutdown,
	.reset = vhci_conn_reset,
	.unusable = vhci_conn_unusable,
	.suspend = vhci_session_suspend,
};

static void vhci_init_port(struct vhci *vhci, unsigned int index)
{
	struct vhci_port *port = &vhci->ports[index];
	char name[32];

	port->vhci = vhci;
	port->vh = index < vhci_hc_ports ? vhci->hs : vhci->ss;
	port->rhport = index % vhci_hc_ports;
	port->number = vhci->id * 2 * vhci_hc_ports + index;
	port->status = VDEV_ST_NULL;
	INIT_LIST_HEAD(&port->privs);
	INIT_LIST_HEAD(&port->tx_queue);
	INIT_LIST_HEAD(&port->unlink_tx);
	INIT_LIST_HEAD(&port->unlink_rx);
	INIT_LIST_HEAD(&port->gone);
	INIT_LIST_HEAD(&port->orphans);
	INIT_LIST_HEAD(&port->lost);
	INIT_DELAYED_WORK(&port->hb_work, vhci_session_hb_fn);
	init_waitqueue_head(&port->tx_wq);
	hash_init(port->seqs);
	timer_setup(&port->unlink_timer, vhci_unlink_timer_fn, 0);
	snprintf(name, sizeof(name), "vhci port %u", port->number);
	usbip_conn_init(&port->conn, name, &vhci_conn_ops, &vhci_conn_mutex);
}

/* Creates one of the two hcds of a controller and its hcd_priv. */
static struct usb_hcd *vhci_create_hcd(struct vhci *vhci, struct usb_hcd *primary)
{
	struct device *dev = &vhci->pdev->dev;
	struct usb_hcd *hcd;
	struct vhci_hcd *vh;

	if (primary)
		hcd = usb_create_shared_hcd(&vhci_hc_driver, dev, dev_name(dev), primary);
	else
		hcd = usb_create_hcd(&vhci_hc_driver, dev, dev_name(dev));
	if (!hcd)
		return NULL;
	vh = hcd_to_vh(hcd);
	vh->vhci = vhci;
	vh->hcd = hcd;
	vh->ss = primary != NULL;
	vh->ports = &vhci->ports[vh->ss ? vhci_hc_ports : 0];
	if (vh->ss)
		vhci->ss = vh;
	else
		vhci->hs = vh;
	return hcd;
}

static int vhci_probe(struct platform_device *pdev)
{
	struct usb_hcd *hs, *ss;
	struct vhci *vhci;
	unsigned int i;
	int ret;

	if (pdev->id < 0 || pdev->id >= vhci_nr_hcs)
		return -ENODEV;

	vhci = kzalloc(struct_size(vhci, ports, 2 * vhci_hc_ports), GFP_KERNEL);
	if (!vhci)
		return -ENOMEM;
	vhci->pdev = pdev;
	vhci->id = pdev->id;
	kref_init(&vhci->kref);
	spin_lock_init(&vhci->lock);

	hs = vhci_create_hcd(vhci, NULL);
	if (!hs) {
		ret = -ENOMEM;
		goto err_create_hs;
	}
	ss = vhci_create_hcd(vhci, hs);
	if (!ss) {
		ret = -ENOMEM;
		goto err_create_ss;
	}
	for (i = 0; i < 2 * vhci_hc_ports; i++)
		vhci_init_port(vhci, i);

	ret = usb_add_hcd(hs, 0, 0);
	if (ret)
		goto err_add_hs;
	ret = usb_add_hcd(ss, 0, 0);
	if (ret)
		goto err_add_ss;

	platform_set_drvdata(pdev, vhci);
	mutex_lock(&vhci_conn_mutex);
	vhci_ctrls[vhci->id] = vhci;
	mutex_unlock(&vhci_conn_mutex);
	return 0;

err_add_ss:
	usb_remove_hcd(hs);
err_add_hs:
	usb_put_hcd(ss);
err_create_ss:
	usb_put_hcd(hs);
err_create_hs:
	vhci_put(vhci);
	/* no USB bus number left: vhci_init() logs it once, the driver core need not */
	return ret == -E2BIG ? -ENODEV : ret;
}

static void vhci_remove(struct platform_device *pdev)
{
	struct vhci *vhci = platform_get_drvdata(pdev);
	struct usb_hcd *hs = vhci->hs->hcd, *ss = vhci->ss->hcd;
	struct usb_device *gone;
	unsigned long flags;
	unsigned int i;

	mutex_lock(&vhci_conn_mutex);
	vhci_ctrls[vhci->id] = NULL;
	mutex_unlock(&vhci_conn_mutex);

	for (i = 0; i < 2 * vhci_hc_ports; i++) {
		struct vhci_port *port = &vhci->ports[i];

		usbip_conn_destroy(&port->conn);
		mutex_lock(&vhci_conn_mutex);
		if (port->status != VDEV_ST_NULL)
			vhci_port_release(port, VDEV_ST_NULL);
		mutex_unlock(&vhci_conn_mutex);
		del_timer_sync(&port->unlink_timer);
		spin_lock_irqsave(&vhci->lock, flags);
		gone = port->gone_udev;
		port->gone_udev = NULL;
		spin_unlock_irqrestore(&vhci->lock, flags);
		usb_put_dev(gone);
	}

	usb_remove_hcd(ss);
	usb_put_hcd(ss);
	usb_remove_hcd(hs);
	usb_put_hcd(hs);
	/* a detach write may still wait on one of the ports */
	vhci_put(vhci);
}

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 11, 0)
static int vhci_remove_int(struct platform_device *pdev)
{
	vhci_remove(pdev);
	return 0;
}
#endif

static struct platform_driver vhci_driver = {
	.probe = vhci_probe,
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 11, 0)
	.remove = vhci_remove_int,
#else
	.remove = vhci_remove,
#endif
	.driver = {
		.name = VHCI_DRV_NAME,
	},
};

static void vhci_unregister_devices(void)
{
	int i;

	for (i = vhci_nr_hcs - 1; i >= 0; i--) {
		if (vhci_pdevs[i])
			platform_device_unregister(vhci_pdevs[i]);
		vhci_pdevs[i] = NULL;
	}
}

static int __init vhci_init(void)
{
	unsigned int i;
	int ret;

	if (usb_disabled())
		return -ENODEV;
	if (vhci_hc_ports < 1 || vhci_hc_ports > VHCI_MAX_PORTS) {
		pr_err("nports=%u out of range 1..%d\n", vhci_hc_ports, VHCI_MAX_PORTS);
		return -EINVAL;
	}
	if (vhci_nr_hcs < 1 || vhci_nr_hcs > VHCI_MAX_HCS) {
		pr_err("num_controllers=%u out of range 1..%d\n", vhci_nr_hcs, VHCI_MAX_HCS);
		return -EINVAL;
	}

	vhci_ctrls = kcalloc(vhci_nr_hcs, sizeof(*vhci_ctrls), GFP_KERNEL);
	vhci_pdevs = kcalloc(vhci_nr_hcs, sizeof(*vhci_pdevs), GFP_KERNEL);
	if (!vhci_ctrls || !vhci_pdevs) {
		ret = -ENOMEM;
		goto err_alloc;
	}

	ret = platform_driver_register(&vhci_driver);
	if (ret)
		goto err_driver;

	for (i = 0; i < vhci_nr_hcs; i++) {
		struct platform_device *pdev;

		pdev = platform_device_register_simple(VHCI_DRV_NAME, i, NULL, 0);
		if (IS_ERR(pdev)) {
			ret = PTR_ERR(pdev);
			goto err_devices;
		}
		vhci_pdevs[i] = pdev;
		if (!vhci_ctrls[i])
			break;
	}
	if (i < vhci_nr_hcs) {
		/*
		 * vhci_hcd.i did not probe, most likely because the 63 USB bus
		 * numbers are used up (two per controller): keep the ones before
		 * it, so that nports, the status files and the platform devices
		 * all describe the same, usable controllers.
		 */
		platform_device_unregister(vhci_pdevs[i]);
		vhci_pdevs[i] = NULL;
		if (!i) {
			ret = -ENODEV;
			goto err_devices;
		}
		pr_warn("only %u of %u controllers registered (no USB bus number left?), %u ports\n",
			i, vhci_nr_hcs, 2 * vhci_hc_ports * i);
		vhci_nr_hcs = i;
	}

	ret = vhci_sysfs_init(&vhci_pdevs[0]->dev);
	if (ret)
		goto err_devices;

	pr_info("%u controller(s), %u + %u ports each\n", vhci_nr_hcs, vhci_hc_ports,
		vhci_hc_ports);
	return 0;

err_devices:
	vhci_unregister_devices();
	platform_driver_unregister(&vhci_driver);
err_driver:
err_alloc:
	kfree(vhci_pdevs);
	kfree(vhci_ctrls);
	return ret;
}

static void __exit vhci_exit(void)
{
	vhci_sysfs_exit(&vhci_pdevs[0]->dev);
	vhci_unregister_devices();
	platform_driver_unregister(&vhci_driver);
	kfree(vhci_pdevs);
	kfree(vhci_ctrls);
}

module_init(vhci_init);
module_exit(vhci_exit);

MODULE_DESCRIPTION("USB/IP client virtual host controller");
MODULE_LICENSE("GPL");
