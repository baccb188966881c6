// SPDX-License-Identifier: GPL-2.0
/*
 * Device mode of libusbip: gadgets bound to usbip-vudc.
 *
 * Each usbip-vudc.N platform device is a virtual USB device controller.  A
 * configfs gadget bound to it is exported as one device whose bus id is the
 * platform device's name.  The driver's interface:
 *
 *   bus/platform/drivers/usbip-vudc/usbip-vudc.N   link to the device
 *   devices/platform/usbip-vudc.N/dev_desc        the gadget's 18-byte USB
 *                                                 device descriptor (ENODEV
 *                                                 while no gadget is bound)
 *   devices/platform/usbip-vudc.N/usbip_status    1 available, 2 in use,
 *                                                 3 error
 *   devices/platform/usbip-vudc.N/usbip_sockfd    fd of a connected socket
 *                                                 (and a session's parameters,
 *                                                 or a resume: see usbip_host.c)
 *   devices/platform/usbip-vudc.N/usbip_ext_caps  extension capabilities (ours)
 *   class/udc/usbip-vudc.N/current_speed          speed of the connection
 *   class/udc/usbip-vudc.N/maximum_speed          speed of the controller
 *
 * A gadget has no bus of its own: the device record carries bus and device
 * number 0, no active configuration and no interface records, which is what
 * the in-tree server sends and what clients expect.
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/usb/ch9.h>

#include "usbip_devices.h"
#include "usbip_host.h"
#include "usbip_internal.h"
#include "usbip_vudc.h"

/**
 * usbip_speed_from_udc() - map a UDC's speed text to enum usb_device_speed
 * @text: current_speed or maximum_speed of /sys/class/udc/NAME, as written
 *        by the gadget core ("full-speed", "high-speed", "super-speed", ...)
 *
 * Return: the speed, USB_SPEED_UNKNOWN for NULL, "UNKNOWN" or other text.
 */
uint32_t usbip_speed_from_udc(const char *text)
{
	static const struct usbip_speed_name map[] = {
		{ "low-speed", USB_SPEED_LOW },
		{ "full-speed", USB_SPEED_FULL },
		{ "high-speed", USB_SPEED_HIGH },
		{ "wireless", USB_SPEED_WIRELESS },
		{ "super-speed", USB_SPEED_SUPER },
		{ "super-speed-plus", USB_SPEED_SUPER_PLUS },
	};

	return usbip_speed_lookup(text, map, sizeof(map) / sizeof(map[0]));
}

/**
 * usbip_vudc_parse_desc() - fill a device record from a device descriptor
 * @desc: the descriptor as read from dev_desc (little-endian fields)
 * @len: bytes read
 * @dev: ids, class and number of configurations are set
 * @err: reason on failure, may be NULL
 *
 * Return: 0, or -EINVAL when @desc is not an 18-byte device descriptor.
 */
int usbip_vudc_parse_desc(const uint8_t *desc, size_t len, struct usbip_devinfo *dev,
			  struct usbip_error *err)
{
	if (len != USBIP_VUDC_DESC_SIZE || desc[0] != USBIP_VUDC_DESC_SIZE ||
	    desc[1] != USB_DT_DEVICE) {
		usbip_set_error(err, "%s: dev_desc is not a device descriptor (%zu bytes, "
				"bLength %u, bDescriptorType %u)", dev->busid, len,
				len > 0 ? desc[0] : 0, len > 1 ? desc[1] : 0);
		return -EINVAL;
	}
	dev->bDeviceClass = desc[4];
	dev->bDeviceSubClass = desc[5];
	dev->bDeviceProtocol = desc[6];
	dev->idVendor = desc[8] | desc[9] << 8;
	dev->idProduct = desc[10] | desc[11] << 8;
	dev->bcdDevice = desc[12] | desc[13] << 8;
	dev->bNumConfigurations = desc[17];
	return 0;
}

/**
 * usbip_vudc_driver_loaded() - is the usbip-vudc driver registered?
 * @err: reason when it is not, may be NULL
 *
 * Return: 0, or -ENOENT with a message telling to load the module.
 */
int usbip_vudc_driver_loaded(struct usbip_error *err)
{
	char path[PATH_MAX];
	struct stat st;
	int ret;

	ret = usbip_sysfs_path(path, err, "bus/platform/drivers/%s", USBIP_VUDC_DRIVER);
	if (ret)
		return ret;
	if (stat(path, &st) || !S_ISDIR(st.st_mode)) {
		usbip_set_error(err, "the %s driver is not loaded (no %s); "
				"load it with 'modprobe %s'", USBIP_VUDC_DRIVER, path,
				USBIP_VUDC_DRIVER);
		return -ENOENT;
	}
	return 0;
}

/* The directory of a usbip-vudc device, through its driver's link. */
static int vudc_dir(const char *busid, char *dir, struct usbip_error *err)
{
	char attr[PATH_MAX + 16];
	struct stat st;
	int ret;

	if (strlen(busid) >= USBIP_BUSID_SIZE) {
		usbip_set_error(err, "bus id \"%.40s\" is longer than %d characters", busid,
				USBIP_BUSID_SIZE - 1);
		return -EINVAL;
	}
	ret = usbip_check_busid(busid, strlen(busid) + 1, err);
	if (ret)
		return ret;
	ret = usbip_vudc_driver_loaded(err);
	if (ret)
		return -ENODEV;
	ret = usbip_sysfs_path(dir, err, "bus/platform/drivers/%s/%s", USBIP_VUDC_DRIVER, busid);
	if (ret)
		return ret;
	snprintf(attr, sizeof(attr), "%s/usbip_status", dir);
	if (stat(dir, &st) || !S_ISDIR(st.st_mode) || access(attr, F_OK)) {
		usbip_set_error(err, "no %s device named %s", USBIP_VUDC_DRIVER, busid);
		return -ENODEV;
	}
	return 0;
}

/* Reads dev_desc: -ENODEV when no gadget is bound (the driver says so). */
static int read_desc(const char *dir, struct usbip_devinfo *dev, struct usbip_error *err)
{
	uint8_t desc[64];
	char path[PATH_MAX + 16];
	ssize_t n;
	int fd, ret;

	snprintf(path, sizeof(path), "%s/dev_desc", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		usbip_set_error(err, "cannot open %s: %s", path, strerror(-ret));
		return ret == -ENOENT ? -ENODEV : ret;
	}
	n = read(fd, desc, sizeof(desc));
	ret = n < 0 ? -errno : 0;
	close(fd);
	if (ret == -ENODEV || n == 0) {
		usbip_set_error(err, "no gadget is bound to %s", dev->busid);
		return -ENODEV;
	}
	if (ret) {
		usbip_set_error(err, "cannot read %s: %s", path, strerror(-ret));
		return ret;
	}
	return usbip_vudc_parse_desc(desc, n, dev, err);
}

/* The gadget's speed: the connection's, else the controller's best. */
static uint32_t read_speed(const char *busid)
{
	static const char *const attrs[] = { "current_speed", "maximum_speed" };
	char path[PATH_MAX], text[32];
	uint32_t speed;
	size_t i;

	for (i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++) {
		if (usbip_sysfs_path(path, NULL, "class/udc/%s/%s", busid, attrs[i]) ||
		    usbip_sysfs_read_text(path, text, sizeof(text)))
			continue;
		speed = usbip_speed_from_udc(text);
		if (speed != USB_SPEED_UNKNOWN)
			return speed;
	}
	return USB_SPEED_UNKNOWN;
}

/**
 * usbip_vudc_read_device() - describe the gadget bound to a usbip-vudc device
 * @busid: the device's name, "usbip-vudc.N"
 * @dev: the record: path and bus id of the platform device, ids and class
 *       from the gadget's device descriptor, the UDC's speed, bus and device
 *       number 0 and no interfaces
 * @err: reason on failure, may be NULL
 *
 * Return: 0, -EINVAL for a malformed bus id or descriptor, -ENODEV when
 * there is no such device or no gadget is bound to it, or another negative
 * errno.
 */
int usbip_vudc_read_device(const char *busid, struct usbip_devinfo *dev,
			   struct usbip_error *err)
{
	char dir[PATH_MAX];
	int ret;

	ret = vudc_dir(busid, dir, err);
	if (ret)
		return ret;
	memset(dev, 0, sizeof(*dev));
	strcpy(dev->busid, busid);
	ret = usbip_sysfs_device_path(dir, dev, err);
	if (!ret)
		ret = read_desc(dir, dev, err);
	if (ret)
		return ret;
	dev->speed = read_speed(busid);
	return 0;
}

/**
 * usbip_vudc_status() - export status of a usbip-vudc device
 * @busid: its name
 * @status: SDEV_ST_AVAILABLE, SDEV_ST_USED or SDEV_ST_ERROR
 * @err: reason on failure, may be NULL
 *
 * Return: 0, -ENODEV (no such device) or -EINVAL (unreadable value).
 */
int usbip_vudc_status(const char *busid, int *status, struct usbip_error *err)
{
	char dir[PATH_MAX];
	int ret;

	ret = vudc_dir(busid, dir, err);
	if (ret)
		return ret;
	return usbip_sysfs_read_status(dir, busid, status, err);
}

/**
 * usbip_vudc_export_fd() - hand a connected socket to usbip-vudc
 * @busid: name of an available usbip-vudc device with a gadget bound
 * @sockfd: the socket; the driver holds its own reference afterwards
 * @err: reason on failure, may be NULL
 *
 * Return: 0, or the negative errno of the write.
 */
int usbip_vudc_export_fd(const char *busid, int sockfd, struct usbip_error *err)
{
	char dir[PATH_MAX];
	int ret;

	ret = vudc_dir(busid, dir, err);
	if (ret)
		return ret;
	return usbip_sysfs_write_sockfd(dir, sockfd, err);
}

/**
 * usbip_vudc_ext_caps() - extension capabilities usbip-vudc has for a device
 * @busid: its name
 * @caps: USBIP_EXT_CAP_*, 0 for a driver without usbip_ext_caps
 * @err: reason on failure, may be NULL
 *
 * Return: 0 or a negative errno (-ENODEV: no such device).
 */
int usbip_vudc_ext_caps(const char *busid, uint32_t *caps, struct usbip_error *err)
{
	char dir[PATH_MAX];
	int ret;

	*caps = 0;
	ret = vudc_dir(busid, dir, err);
	if (ret)
		return ret;
	return usbip_sysfs_read_ext_caps(dir, caps, err);
}

/**
 * usbip_vudc_write_sockfd() - write a line to a device's usbip_sockfd
 * @busid: its name
 * @line: "FD ..." or "resume FD ..." (usbip_sockfd_line_*())
 * @shown: @line without its tokens, for messages
 * @err: reason on failure, may be NULL
 *
 * Return: 0, or the negative errno of the write.
 */
int usbip_vudc_write_sockfd(const char *busid, const char *line, const char *shown,
			    struct usbip_error *err)
{
	char dir[PATH_MAX];
	int ret;

	ret = vudc_dir(busid, dir, err);
	if (ret)
		return ret;
	return usbip_sysfs_write_sockfd_line(dir, line, shown, err);
}

/* usbip-vudc's directory holds links named after its platform devices. */
static bool vudc_entry(const char *dir, const char *name)
{
	(void)dir;
	return !strncmp(name, USBIP_VUDC_DRIVER ".", strlen(USBIP_VUDC_DRIVER) + 1) &&
	       strlen(name) < USBIP_BUSID_SIZE;
}

/**
 * usbip_vudc_devices() - the usbip-vudc devices that have a gadget bound
 * @devs: on success a malloc()ed array sorted by name, NULL when empty
 * @ndev: on success the number of devices
 * @err: reason on failure, may be NULL
 *
 * Controllers without a gadget are left out with a debug message, in any
 * export state; callers filter on usbip_vudc_status().
 *
 * Return: 0, -ENOENT when usbip-vudc is not loaded, or a negative errno.
 */
int usbip_vudc_devices(struct usbip_devinfo **devs, size_t *ndev, struct usbip_error *err)
{
	char path[PATH_MAX];
	int ret;

	*devs = NULL;
	*ndev = 0;
	ret = usbip_vudc_driver_loaded(err);
	if (!ret)
		ret = usbip_sysfs_path(path, err, "bus/platform/drivers/%s", USBIP_VUDC_DRIVER);
	if (ret)
		return ret;
	return usbip_driver_devices(path, vudc_entry, usbip_vudc_read_device, "gadgets",
				    devs, ndev, err);
}
