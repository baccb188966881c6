// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vhci-hcd: the sysfs interface, all on /sys/devices/platform/vhci_hcd.0/:
 *
 *   attach       (write) "PORT SOCKFD DEVID SPEED", decimal numbers,
 *                        optionally followed by "caps=HEX window=MS
 *                        heartbeat=MS" for an import that agreed
 *                        extensions (Documentation/usb/usbip_ext.rst)
 *   resume       (write) "PORT SOCKFD": a suspended session goes on over a
 *                        new connection
 *   ext_caps     (read)  the extension capabilities supported, hex
 *   session      (read)  one line per port with a session: "PORT active"
 *                        or "PORT reconnecting LEFT_MS"
 *   detach       (write) "PORT"
 *   status       (read)  ports of controller 0
 *   status.N     (read)  ports of controller N, for N = 1 .. controllers-1
 *   nports       (read)  total number of ports of all controllers
 *   usbip_debug  (read/write) the usbip-core debug mask
 *
 * A status file is a header line, then one line per port, USB 2.0 hub
 * first: hub ("hs"/"ss"), port, status (VDEV_ST_*), speed, devid (hex),
 * sockfd, and the local bus id of the device ("0-0" if none), with the
 * field widths userspace (usbip port, usbip attach) parses.
 */
#define pr_fmt(fmt) "vhci-hcd: " fmt

#include <linux/delay.h>
#include <linux/device.h>
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/sysfs.h>

#include "vhci.h"

struct vhci_status_attr {
	struct device_attribute attr;
	unsigned int ctrl;
	char name[16];
};

static struct vhci_status_attr *vhci_status_attrs;
static struct attribute **vhci_attrs;
static struct attribute_group vhci_attr_group;

static int vhci_status_port(char *buf, int at, struct vhci_port *port)
{
	const char *busid = port->udev ? dev_name(&port->udev->dev) : "0-0";

	lockdep_assert_held(&port->vhci->lock);
	return sysfs_emit_at(buf, at, "%s  %04u %03u %03u %08x %06u %s\n",
			     port->vh->ss ? "ss" : "hs", port->number, port->status,
			     port->speed, port->devid, port->sockfd, busid);
}

static ssize_t vhci_status_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct vhci_status_attr *sa = container_of(attr, struct vhci_status_attr, attr);
	struct vhci *vhci;
	unsigned long flags;
	unsigned int i;
	int len;

	len = sysfs_emit(buf, "hub port sta spd dev      sockfd local_busid\n");

	mutex_lock(&vhci_conn_mutex);
	vhci = vhci_ctrls[sa->ctrl];
	if (vhci) {
		spin_lock_irqsave(&vhci->lock, flags);
		for (i = 0; i < 2 * vhci_hc_ports; i++)
			len += vhci_status_port(buf, len, &vhci->ports[i]);
		spin_unlock_irqrestore(&vhci->lock, flags);
	}
	mutex_unlock(&vhci_conn_mutex);
	return len;
}

static ssize_t nports_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", 2 * vhci_hc_ports * vhci_nr_hcs);
}
static DEVICE_ATTR_RO(nports);

static ssize_t vhci_debug_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return usbip_debug_show(buf);
}

static ssize_t vhci_debug_store(struct device *dev, struct device_attribute *attr,
				const char *buf, size_t count)
{
	return usbip_debug_store(buf, count);
}

static struct device_attribute dev_attr_usbip_debug =
	__ATTR(usbip_debug, 0644, vhci_debug_show, vhci_debug_store);

static bool vhci_speed_valid(u32 speed)
{
	switch (speed) {
	case USB_SPEED_LOW:
	case USB_SPEED_FULL:
	case USB_SPEED_HIGH:
	case USB_SPEED_SUPER:
	case USB_SPEED_SUPER_PLUS:
		return true;
	default:
		return false;
	}
}

static ssize_t attach_store(struct device *dev, struct device_attribute *attr,
			    const char *buf, size_t count)
{
	struct vhci_session_args sa;
	u32 number, devid, speed;
	struct vhci_port *port;
	struct socket *sock;
	int sockfd, ret, end = 0;
	bool ss_speed;
	char *rest;

	if (sscanf(buf, "%u %d %u %u%n", &number, &sockfd, &devid, &speed, &end) != 4)
		return -EINVAL;
	rest = kmemdup_nul(buf + end, count - end, GFP_KERNEL);
	if (!rest)
		return -ENOMEM;
	ret = vhci_session_args_parse(rest, &sa);
	kfree(rest);
	if (ret) {
		dev_err_ratelimited(dev, "attach: bad extension words (%d)\n", ret);
		return ret;
	}
	if (!vhci_speed_valid(speed)) {
		dev_err_ratelimited(dev, "attach: invalid speed %u\n", speed);
		return -EINVAL;
	}
	ss_speed = speed >= USB_SPEED_SUPER;

	sock = usbip_sockfd_get(sockfd);
	if (IS_ERR(sock)) {
		dev_err_ratelimited(dev, "attach: sockfd %d is not a connected TCP socket (%ld)\n",
				    sockfd, PTR_ERR(sock));
		return PTR_ERR(sock);
	}

	mutex_lock(&vhci_conn_mutex);
	port = vhci_port_by_number(number);
	if (!port) {
		ret = -EINVAL;
		dev_err_ratelimited(dev, "attach: no port %u\n", number);
		goto err_unlock;
	}
	if (port->vh->ss != ss_speed) {
		ret = -EINVAL;
		dev_err_ratelimited(dev, "attach: port %u is on the %s hub, device speed is %s\n",
				    number, port->vh->ss ? "USB 3" : "USB 2.0",
				    usb_speed_string(speed));
		goto err_unlock;
	}
	ret = vhci_port_attach(port, sock, sockfd, devid, speed, &sa);
	if (ret) {
		/* a tool that loses a port race may retry dozens of times */
		dev_err_ratelimited(dev, "attach: port %u: %s (%d)\n", number,
				    ret == -EBUSY ? "in use" : "cannot start", ret);
		goto err_unlock;
	}
	mutex_unlock(&vhci_conn_mutex);
	return count;

err_unlock:
	mutex_unlock(&vhci_conn_mutex);
	usbip_sock_release(sock);
	return ret;
}
static DEVICE_ATTR_WO(attach);

static ssize_t resume_store(struct device *dev, struct device_attribute *attr,
			    const char *buf, size_t count)
{
	struct vhci_port *port;
	struct socket *sock;
	u32 number;
	int sockfd, ret;

	if (sscanf(buf, "%u %d", &number, &sockfd) != 2)
		return -EINVAL;
	sock = usbip_sockfd_get(sockfd);
	if (IS_ERR(sock))
		return PTR_ERR(sock);

	mutex_lock(&vhci_conn_mutex);
	port = vhci_port_by_number(number);
	ret = port ? vhci_session_resume(port, sock, sockfd) : -EINVAL;
	mutex_unlock(&vhci_conn_mutex);
	if (ret) {
		dev_err_ratelimited(dev, "resume: port %u: %s (%d)\n", number,
				    ret == -ESTALE ? "no session waiting" : "cannot resume", ret);
		usbip_sock_release(sock);
		return ret;
	}
	return count;
}
static DEVICE_ATTR_WO(resume);

static ssize_t ext_caps_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%x\n", VHCI_EXT_CAPS);
}
static DEVICE_ATTR_RO(ext_caps);

static ssize_t session_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	enum usbip_conn_state state;
	struct vhci_port *port;
	unsigned int i, nr;
	int at = 0;

	mutex_lock(&vhci_conn_mutex);
	nr = 2 * vhci_hc_ports * vhci_nr_hcs;
	for (i = 0; i < nr; i++) {
		port = vhci_port_by_number(i);
		if (!port || !port->session)
			continue;
		state = usbip_conn_state(&port->conn);
		if (state == USBIP_CONN_SUSPENDED)
			at += sysfs_emit_at(buf, at, "%u reconnecting %u\n", i,
					    usbip_conn_window_left(&port->conn));
		else if (state == USBIP_CONN_RUNNING)
			at += sysfs_emit_at(buf, at, "%u active\n", i);
	}
	mutex_unlock(&vhci_conn_mutex);
	return at;
}
static DEVICE_ATTR_RO(session);

static ssize_t detach_store(struct device *dev, struct device_attribute *attr,
			    const char *buf, size_t count)
{
	struct vhci_port *port;
	struct vhci *vhci;
	u32 number;

	if (kstrtou32(buf, 10, &number))
		return -EINVAL;

	mutex_lock(&vhci_conn_mutex);
	port = vhci_port_by_number(number);
	if (!port || port->status == VDEV_ST_NULL) {
		mutex_unlock(&vhci_conn_mutex);
		dev_err_ratelimited(dev, "detach: port %u has no device\n", number);
		return -EINVAL;
	}
	if (usbip_conn_event(&port->conn, USBIP_EV_DETACH, 0, "detached by the user")) {
		/* not running: a port left in error is just freed */
		if (port->status != VDEV_ST_NULL)
			vhci_port_release(port, VDEV_ST_NULL);
		mutex_unlock(&vhci_conn_mutex);
		return count;
	}
	/* the controller may be unbound as soon as the mutex is dropped */
	vhci = port->vhci;
	kref_get(&vhci->kref);
	mutex_unlock(&vhci_conn_mutex);
#if IS_ENABLED(CONFIG_USBIP_SELFTEST)
	if (READ_ONCE(vhci_selftest_detach_delay_ms))
		msleep(READ_ONCE(vhci_selftest_detach_delay_ms));
#endif

	/* the event worker shuts the connection down and frees the port */
	usbip_conn_wait(&port->conn);
	vhci_put(vhci);
	return count;
}
static DEVICE_ATTR_WO(detach);

/**
 * vhci_sysfs_init() - create the attributes on vhci_hcd.0
 * @dev: vhci_hcd.0's device
 *
 * Return: 0 or -ENOMEM / the error of sysfs_create_group().
 */
int vhci_sysfs_init(struct device *dev)
{
	unsigned int i, n = 0;
	int ret;

	vhci_status_attrs = kcalloc(vhci_nr_hcs, sizeof(*vhci_status_attrs), GFP_KERNEL);
	vhci_attrs = kcalloc(vhci_nr_hcs + 8, sizeof(*vhci_attrs), GFP_KERNEL);
	if (!vhci_status_attrs || !vhci_attrs) {
		ret = -ENOMEM;
		goto err_alloc;
	}

	for (i = 0; i < vhci_nr_hcs; i++) {
		struct vhci_status_attr *sa = &vhci_status_attrs[i];

		if (i)
			snprintf(sa->name, sizeof(sa->name), "status.%u", i);
		else
			strscpy(sa->name, "status", sizeof(sa->name));
		sysfs_attr_init(&sa->attr.attr);
		sa->attr.attr.name = sa->name;
		sa->attr.attr.mode = 0444;
		sa->attr.show = vhci_status_show;
		sa->ctrl = i;
		vhci_attrs[n++] = &sa->attr.attr;
	}
	vhci_attrs[n++] = &dev_attr_nports.attr;
	vhci_attrs[n++] = &dev_attr_attach.attr;
	vhci_attrs[n++] = &dev_attr_detach.attr;
	vhci_attrs[n++] = &dev_attr_resume.attr;
	vhci_attrs[n++] = &dev_attr_ext_caps.attr;
	vhci_attrs[n++] = &dev_attr_session.attr;
	vhci_attrs[n++] = &dev_attr_usbip_debug.attr;
	vhci_attrs[n] = NULL;
	vhci_attr_group.attrs = vhci_attrs;

	ret = sysfs_create_group(&dev->kobj, &vhci_attr_group);
	if (ret)
		goto err_alloc;
	return 0;

err_alloc:
	kfree(vhci_attrs);
	kfree(vhci_status_attrs);
	vhci_attrs = NULL;
	vhci_status_attrs = NULL;
	return ret;
}

/**
 * vhci_sysfs_exit() - remove what vhci_sysfs_init() created
 * @dev: vhci_hcd.0's device
 */
void vhci_sysfs_exit(struct device *dev)
{
	sysfs_remove_group(&dev->kobj, &vhci_attr_group);
	kfree(vhci_attrs);
	kfree(vhci_status_attrs);
}
