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

static struct usbip_server *vudc_dev_to_srv(struct device *dev)
{
	struct vudc *vudc = dev_get_drvdata(dev);

	return &vudc->srv;
}

/* usbip_status, usbip_sockfd, usbip_debug */
USBIP_SERVER_DEVICE_ATTRS(vudc_dev_to_srv);

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
	&dev_attr_usbip_ext_caps.attr,
	&dev_attr_usbip_session.attr,
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
