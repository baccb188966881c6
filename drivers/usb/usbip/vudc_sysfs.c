// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * usbip-vudc: attributes of the platform device usbip-vudc.N.
 *
 *   usbip_sockfd  (write) a connected TCP socket fd starts serving the
 *                 gadget to the client at the other end; -1 stops it
 *   usbip_status  (read)  SDEV_ST_AVAILABLE / _USED / _ERROR, decimal
 *   dev_desc      (read, binary) the 18-byte device descriptor of the
 *                 bound gadget
 *   usbip_debug   (read/write) the usbip-core debug mask
 */
#define pr_fmt(fmt) "usbip-vudc: " fmt

#include <linux/device.h>
#include <linux/kernel.h>
#include <linux/string.h>
#include <linux/sysfs.h>

#include "vudc.h"

static ssize_t usbip_status_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct vudc *vudc = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%d\n", READ_ONCE(vudc->status));
}
static DEVICE_ATTR_RO(usbip_status);

/* Starts serving the gadget through @sock (struct usbip_server_ops.attach). */
static int vudc_attach(struct usbip_conn *conn, struct socket *sock)
{
	struct vudc *vudc = conn_to_vudc(conn);
	bool ready;
	int ret;

	mutex_lock(&vudc->lock);
	ret = usbip_server_check_available(conn, vudc->status);
	if (ret)
		goto err_unlock;
	spin_lock_irq(&vudc->slock);
	ready = vudc->driver && vudc->pulled_up;
	if (ready)
		vudc->serving = true;
	spin_unlock_irq(&vudc->slock);
	if (!ready) {
		ret = -ENODEV;
		goto err_unlock;
	}

	vudc_gadget_connect(vudc);
	ret = usbip_server_start(conn, sock, &vudc->status);
	if (ret)
		goto err_serving;
	mutex_unlock(&vudc->lock);

	dev_info(vudc_dev(vudc), "exported to a client (%s)\n",
		 usb_speed_string(vudc->gadget.speed));
	return 0;

err_serving:
	vudc_stop_io(vudc);
err_unlock:
	mutex_unlock(&vudc->lock);
	return ret;
}

const struct usbip_server_ops vudc_server_ops = {
	.submit = vudc_serve_submit,
	.unlink = vudc_serve_unlink,
	.attach = vudc_attach,
	.detach_needs_running = true,
};

static ssize_t usbip_sockfd_store(struct device *dev, struct device_attribute *attr,
				  const char *buf, size_t count)
{
	struct vudc *vudc = dev_get_drvdata(dev);

	return usbip_server_sockfd_store(&vudc->conn, buf, count, &vudc_server_ops);
}
static DEVICE_ATTR_WO(usbip_sockfd);

static ssize_t vudc_debug_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return usbip_debug_show(buf);
}

static ssize_t vudc_debug_store(struct device *dev, struct device_attribute *attr,
				const char *buf, size_t count)
{
	return usbip_debug_store(buf, count);
}
static struct device_attribute dev_attr_usbip_debug =
	__ATTR(usbip_debug, 0644, vudc_debug_show, vudc_debug_store);

static ssize_t dev_desc_read(struct file *file, struct kobject *kobj,
			     struct bin_attribute *attr, char *buf, loff_t off, size_t count)
{
	struct vudc *vudc = dev_get_drvdata(kobj_to_dev(kobj));
	struct usb_device_descriptor desc;
	int ret;

	if (off >= sizeof(desc))
		return 0;
	ret = vudc_read_dev_desc(vudc, &desc);
	if (ret)
		return ret;
	count = min_t(size_t, count, sizeof(desc) - off);
	memcpy(buf, (u8 *)&desc + off, count);
	return count;
}
static BIN_ATTR_RO(dev_desc, sizeof(struct usb_device_descriptor));

static struct attribute *vudc_attrs[] = {
	&dev_attr_usbip_status.attr,
	&dev_attr_usbip_sockfd.attr,
	&dev_attr_usbip_debug.attr,
	NULL,
};

static struct bin_attribute *vudc_bin_attrs[] = {
	&bin_attr_dev_desc,
	NULL,
};

static const struct attribute_group vudc_group = {
	.attrs = vudc_attrs,
	.bin_attrs = vudc_bin_attrs,
};

const struct attribute_group *vudc_groups[] = {
	&vudc_group,
	NULL,
};
