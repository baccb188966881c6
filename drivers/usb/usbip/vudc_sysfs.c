// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * usbip-vudc: attributes of the platform device usbip-vudc.N.
 *
 *   usbip_sockfd  (write) a connected TCP socket fd starts serving the
 *                 gadget to the client at the other end; -1 stops it
 *   usbip_status  (read)  SDEV_ST_AVAILABLE / _USED / _ERROR, decimal
 *   dev_desc      (read, binary) the 18-byte device descriptor of the
 *                 bound gadget (struct usb_device_descriptor as on the
 *                 bus), kept from when the gadget gave it: reading it
 *                 sends the gadget nothing
 *   usbip_debug   (read/write) the usbip-core debug mask
 *   selftest_setups (read, test builds only) setups handed to the gadget
 *                 driver so far
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

static ssize_t usbip_sockfd_store(struct device *dev, struct device_attribute *attr,
				  const char *buf, size_t count)
{
	struct vudc *vudc = dev_get_drvdata(dev);
	struct socket *sock;
	bool ready;
	int fd, ret;

	ret = kstrtoint(buf, 10, &fd);
	if (ret)
		return ret;

	if (fd == -1) {
		if (usbip_conn_state(&vudc->conn) != USBIP_CONN_RUNNING)
			return -EINVAL;
		ret = usbip_conn_event(&vudc->conn, USBIP_EV_DETACH, 0,
				       "detach requested through usbip_sockfd");
		return ret ? ret : count;
	}
	if (fd < 0)
		return -EINVAL;

	sock = usbip_sockfd_get(fd);
	if (IS_ERR(sock))
		return PTR_ERR(sock);

	mutex_lock(&vudc->lock);
	if (vudc->status != SDEV_ST_AVAILABLE) {
		ret = vudc->status == SDEV_ST_USED ? -EBUSY : -EIO;
		goto err_unlock;
	}
	/* the descriptor request of a gadget that just connected goes first */
	flush_work(&vudc->desc_work);
	mutex_lock(&vudc->desc_lock);
	spin_lock_irq(&vudc->slock);
	ready = vudc->driver && vudc->pulled_up;
	if (ready)
		vudc->serving = true;
	spin_unlock_irq(&vudc->slock);
	mutex_unlock(&vudc->desc_lock);
	if (!ready) {
		ret = -ENODEV;
		goto err_unlock;
	}

	vudc_gadget_connect(vudc);
	usbip_budget_set_limits(&vudc->budget, READ_ONCE(vudc_max_urbs),
				READ_ONCE(vudc_max_bytes));
	ret = usbip_conn_start(&vudc->conn, sock);
	if (ret)
		goto err_serving;
	WRITE_ONCE(vudc->status, SDEV_ST_USED);
	mutex_unlock(&vudc->lock);

	dev_info(dev, "exported to a client (%s)\n", usb_speed_string(vudc->gadget.speed));
	return count;

err_serving:
	vudc_stop_io(vudc);
err_unlock:
	mutex_unlock(&vudc->lock);
	usbip_sock_release(sock);
	return ret;
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

#if IS_ENABLED(CONFIG_USBIP_SELFTEST)
/* Test builds: the number of setups handed to the gadget driver so far. */
static ssize_t selftest_setups_show(struct device *dev, struct device_attribute *attr,
				    char *buf)
{
	struct vudc *vudc = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%d\n", atomic_read(&vudc->selftest_setups));
}
static DEVICE_ATTR_RO(selftest_setups);
#endif

static ssize_t dev_desc_read(struct file *file, struct kobject *kobj,
			     struct bin_attribute *attr, char *buf, loff_t off, size_t count)
{
	struct vudc *vudc = dev_get_drvdata(kobj_to_dev(kobj));
	struct usb_device_descriptor desc;
	int ret;

	if (off >= sizeof(desc))
		return 0;
	ret = vudc_dev_desc_get(vudc, &desc);
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
#if IS_ENABLED(CONFIG_USBIP_SELFTEST)
	&dev_attr_selftest_setups.attr,
#endif
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
