// SPDX-License-Identifier: GPL-2.0
/*
 * Enumeration of the local USB devices.
 *
 * Devices are the "usb" subsystem entries of devtype "usb_device"; their
 * interfaces are the child entries of devtype "usb_interface".  Everything
 * is read from sysfs attributes, so no udev daemon is needed.
 */
#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <libudev.h>
#include <limits.h>
#include <linux/usb/ch9.h>
#include <stdlib.h>
#include <string.h>

#include "usbip_devices.h"
#include "usbip_host.h"
#include "usbip_internal.h"
#include "usbip_names.h"

/**
 * usbip_parse_sysfs_uint() - parse a numeric sysfs attribute
 * @text: attribute value; surrounding blanks are allowed
 * @base: 10 or 16
 * @max: largest acceptable value
 * @val: parsed value
 *
 * Return: 0, or -EINVAL when @text is NULL, empty, not a number in @base or
 * above @max.
 */
int usbip_parse_sysfs_uint(const char *text, int base, unsigned long max, unsigned long *val)
{
	const char *p = text;
	unsigned long v;
	char *end;

	if (!p)
		return -EINVAL;
	while (isspace((unsigned char)*p))
		p++;
	if (!isxdigit((unsigned char)*p))
		return -EINVAL;
	errno = 0;
	v = strtoul(p, &end, base);
	if (errno || end == p)
		return -EINVAL;
	while (isspace((unsigned char)*end))
		end++;
	if (*end || v > max)
		return -EINVAL;
	*val = v;
	return 0;
}

/**
 * usbip_speed_from_sysfs() - map the sysfs "speed" text to enum usb_device_speed
 * @text: the attribute, in Mbit/s ("1.5", "12", "480", "5000", ...)
 *
 * Return: the speed, USB_SPEED_UNKNOWN for NULL or unrecognised text.
 */
uint32_t usbip_speed_from_sysfs(const char *text)
{
	static const struct usbip_speed_name map[] = {
		{ "1.5", USB_SPEED_LOW },
		{ "12", USB_SPEED_FULL },
		{ "480", USB_SPEED_HIGH },
		{ "53.3-480", USB_SPEED_WIRELESS },
		{ "5000", USB_SPEED_SUPER },
		{ "10000", USB_SPEED_SUPER_PLUS },
		{ "20000", USB_SPEED_SUPER_PLUS },
	};

	return usbip_speed_lookup(text, map, sizeof(map) / sizeof(map[0]));
}

/**
 * usbip_speed_lookup() - map a sysfs speed text through a table
 * @text: the attribute; it ends at the first blank or newline
 * @map: the texts and their enum usb_device_speed values
 * @n: entries in @map
 *
 * Return: the speed of the entry equal to @text, USB_SPEED_UNKNOWN for NULL
 * or text not in @map.
 */
uint32_t usbip_speed_lookup(const char *text, const struct usbip_speed_name *map, size_t n)
{
	size_t i, len;

	if (!text)
		return USB_SPEED_UNKNOWN;
	len = strcspn(text, " \t\n");
	for (i = 0; i < n; i++)
		if (strlen(map[i].text) == len && !strncmp(text, map[i].text, len))
			return map[i].speed;
	return USB_SPEED_UNKNOWN;
}

/**
 * usbip_speed_str() - describe an enum usb_device_speed value
 * @speed: the value
 *
 * Return: a static string, never NULL.
 */
const char *usbip_speed_str(uint32_t speed)
{
	switch (speed) {
	case USB_SPEED_LOW:
		return "low speed (1.5 Mbit/s)";
	case USB_SPEED_FULL:
		return "full speed (12 Mbit/s)";
	case USB_SPEED_HIGH:
		return "high speed (480 Mbit/s)";
	case USB_SPEED_WIRELESS:
		return "wireless (480 Mbit/s)";
	case USB_SPEED_SUPER:
		return "SuperSpeed (5 Gbit/s)";
	case USB_SPEED_SUPER_PLUS:
		return "SuperSpeed Plus (10 Gbit/s or more)";
	default:
		return "unknown speed";
	}
}

/**
 * usbip_busid_cmp() - order bus ids naturally ("1-2" < "1-10" < "2-1")
 * @a: bus id
 * @b: bus id
 *
 * Runs of digits compare by value, everything else byte by byte.
 *
 * Return: <0, 0 or >0 like strcmp().
 */
int usbip_busid_cmp(const char *a, const char *b)
{
	while (*a && *b) {
		if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
			const char *sa = a, *sb = b;
			size_t la, lb;

			while (*sa == '0' && isdigit((unsigned char)sa[1]))
				sa++;
			while (*sb == '0' && isdigit((unsigned char)sb[1]))
				sb++;
			for (a = sa; isdigit((unsigned char)*a); a++)
				;
			for (b = sb; isdigit((unsigned char)*b); b++)
				;
			la = a - sa;
			lb = b - sb;
			if (la != lb)
				return la < lb ? -1 : 1;
			if (memcmp(sa, sb, la))
				return memcmp(sa, sb, la);
			continue;
		}
		if (*a != *b)
			return (unsigned char)*a - (unsigned char)*b;
		a++;
		b++;
	}
	return (unsigned char)*a - (unsigned char)*b;
}

static int cmp_devinfo(const void *x, const void *y)
{
	const struct usbip_devinfo *a = x, *b = y;

	return usbip_busid_cmp(a->busid, b->busid);
}

/**
 * usbip_sort_devices() - sort devices by bus id, naturally
 * @devs: devices
 * @ndev: number of devices
 */
void usbip_sort_devices(struct usbip_devinfo *devs, size_t ndev)
{
	if (ndev > 1)
		qsort(devs, ndev, sizeof(*devs), cmp_devinfo);
}

/* Reads a numeric attribute; a missing or malformed one is an error. */
static int read_attr(struct udev_device *udev, const char *attr, int base, unsigned long max,
		     unsigned long *val, struct usbip_error *err)
{
	const char *text = udev_device_get_sysattr_value(udev, attr);

	if (usbip_parse_sysfs_uint(text, base, max, val)) {
		usbip_set_error(err, "%s: attribute %s is %s%s%s", udev_device_get_sysname(udev),
				attr, text ? "\"" : "missing", text ? text : "", text ? "\"" : "");
		return -EINVAL;
	}
	return 0;
}

/* usbip_attr_reader over libudev: @ctx is the struct udev_device. */
static int udev_attr_reader(void *ctx, const char *attr, int base, unsigned long max,
			    bool optional, unsigned long *val, struct usbip_error *err)
{
	struct udev_device *udev = ctx;
	const char *text = udev_device_get_sysattr_value(udev, attr);

	if (optional && (!text || !text[strspn(text, " \t\n")])) {
		*val = 0;
		return 0;
	}
	return read_attr(udev, attr, base, max, val, err);
}

/**
 * usbip_read_device_numbers() - fill the numeric fields of a device record
 * @read: reads one attribute of the device's sysfs directory
 * @ctx: passed to @read
 * @dev: the record; busnum to bNumInterfaces are set
 * @err: reason on failure
 *
 * The one list of which attributes a device record is made of, in which
 * base and with which bounds; libudev enumeration and the plain-sysfs
 * reader of usbip_host.c both go through it.
 *
 * Return: 0 or the first error of @read.
 */
int usbip_read_device_numbers(usbip_attr_reader read, void *ctx, struct usbip_devinfo *dev,
			      struct usbip_error *err)
{
	static const struct {
		const char *name;
		int base;
		unsigned long max;
		bool optional;
	} attrs[] = {
		{ "busnum", 10, 0xffff, false },
		{ "devnum", 10, 0xffff, false },
		{ "idVendor", 16, 0xffff, false },
		{ "idProduct", 16, 0xffff, false },
		{ "bcdDevice", 16, 0xffff, true },
		{ "bDeviceClass", 16, 0xff, true },
		{ "bDeviceSubClass", 16, 0xff, true },
		{ "bDeviceProtocol", 16, 0xff, true },
		/* Empty while the device is unconfigured. */
		{ "bConfigurationValue", 10, 0xff, true },
		{ "bNumConfigurations", 10, 0xff, true },
		{ "bNumInterfaces", 10, 0xff, true },
	};
	unsigned long v[sizeof(attrs) / sizeof(attrs[0])];
	size_t i;
	int ret;

	for (i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++) {
		ret = read(ctx, attrs[i].name, attrs[i].base, attrs[i].max, attrs[i].optional,
			   &v[i], err);
		if (ret)
			return ret;
	}
	dev->busnum = v[0];
	dev->devnum = v[1];
	dev->idVendor = v[2];
	dev->idProduct = v[3];
	dev->bcdDevice = v[4];
	dev->bDeviceClass = v[5];
	dev->bDeviceSubClass = v[6];
	dev->bDeviceProtocol = v[7];
	dev->bConfigurationValue = v[8];
	dev->bNumConfigurations = v[9];
	dev->bNumInterfaces = v[10];
	return 0;
}

static int cmp_intf(const void *x, const void *y)
{
	const struct usbip_intf_slot *a = x, *b = y;

	return (a->number > b->number) - (a->number < b->number);
}

/**
 * usbip_read_interface() - read the number and class triple of an interface
 * @read: reads one attribute of the interface's sysfs directory
 * @ctx: passed to @read
 * @slot: filled
 * @err: reason on failure, may be NULL
 *
 * Return: 0, or the negative errno of the first attribute that is missing or
 * not a hexadecimal byte.
 */
int usbip_read_interface(usbip_attr_reader read, void *ctx, struct usbip_intf_slot *slot,
			 struct usbip_error *err)
{
	unsigned long cls, sub, proto;
	int ret;

	ret = read(ctx, "bInterfaceNumber", 16, 0xff, false, &slot->number, err);
	if (!ret)
		ret = read(ctx, "bInterfaceClass", 16, 0xff, false, &cls, err);
	if (!ret)
		ret = read(ctx, "bInterfaceSubClass", 16, 0xff, false, &sub, err);
	if (!ret)
		ret = read(ctx, "bInterfaceProtocol", 16, 0xff, false, &proto, err);
	if (ret)
		return ret;
	slot->info.bInterfaceClass = cls;
	slot->info.bInterfaceSubClass = sub;
	slot->info.bInterfaceProtocol = proto;
	return 0;
}

/**
 * usbip_set_interfaces() - store the interfaces read in a device record
 * @dev: dev->intf is set in interface number order, dev->bNumInterfaces to
 *       @n (a differing count from the device's attribute is logged)
 * @slots: the interfaces as read, at most USBIP_MAX_INTERFACES; sorted
 * @n: entries in @slots
 */
void usbip_set_interfaces(struct usbip_devinfo *dev, struct usbip_intf_slot *slots, size_t n)
{
	size_t i;

	qsort(slots, n, sizeof(slots[0]), cmp_intf);
	for (i = 0; i < n; i++)
		dev->intf[i] = slots[i].info;
	if (n != dev->bNumInterfaces)
		usbip_dbg("%s: bNumInterfaces says %u, sysfs has %zu interfaces; using %zu",
			  dev->busid, dev->bNumInterfaces, n, n);
	dev->bNumInterfaces = n;
}

/* Fills dev->intf and dev->bNumInterfaces from the interface children. */
static int read_interfaces(struct udev *udev, struct udev_device *parent,
			   struct usbip_devinfo *dev, struct usbip_error *err)
{
	struct usbip_intf_slot slots[USBIP_MAX_INTERFACES];
	const char *parent_path = udev_device_get_syspath(parent);
	struct udev_list_entry *entry;
	struct udev_enumerate *en;
	size_t n = 0;
	int ret;

	en = udev_enumerate_new(udev);
	if (!en) {
		usbip_set_error(err, "%s: cannot allocate a udev enumeration", dev->busid);
		return -ENOMEM;
	}
	ret = udev_enumerate_add_match_parent(en, parent);
	if (!ret)
		ret = udev_enumerate_add_match_subsystem(en, "usb");
	if (!ret)
		ret = udev_enumerate_scan_devices(en);
	if (ret < 0) {
		usbip_set_error(err, "%s: cannot enumerate interfaces: %s", dev->busid,
				strerror(-ret));
		goto out_unref;
	}

	udev_list_entry_foreach(entry, udev_enumerate_get_list_entry(en)) {
		struct udev_device *child, *up;
		const char *devtype;

		child = udev_device_new_from_syspath(udev, udev_list_entry_get_name(entry));
		if (!child)
			continue;
		devtype = udev_device_get_devtype(child);
		up = udev_device_get_parent(child);
		/* Only direct children: not the interfaces of devices behind a hub. */
		if (!devtype || strcmp(devtype, "usb_interface") || !up ||
		    strcmp(udev_device_get_syspath(up), parent_path)) {
			udev_device_unref(child);
			continue;
		}
		if (n == USBIP_MAX_INTERFACES) {
			usbip_set_error(err, "%s: more than %d interfaces", dev->busid,
					USBIP_MAX_INTERFACES);
			udev_device_unref(child);
			ret = -E2BIG;
			goto out_unref;
		}
		ret = usbip_read_interface(udev_attr_reader, child, &slots[n], err);
		udev_device_unref(child);
		if (ret)
			goto out_unref;
		n++;
	}

	usbip_set_interfaces(dev, slots, n);
	ret = 0;

out_unref:
	udev_enumerate_unref(en);
	return ret;
}

/* Fills @dev from one usb_device entry. */
static int read_device(struct udev *udev, struct udev_device *udev_dev,
		       struct usbip_devinfo *dev, struct usbip_error *err)
{
	const char *busid = udev_device_get_sysname(udev_dev);
	const char *path = udev_device_get_syspath(udev_dev);
	int ret;

	memset(dev, 0, sizeof(*dev));
	if (!busid || strlen(busid) >= sizeof(dev->busid)) {
		usbip_set_error(err, "bus id \"%s\" is longer than %zu characters",
				busid ? busid : "(none)", sizeof(dev->busid) - 1);
		return -ENAMETOOLONG;
	}
	if (!path || strlen(path) >= sizeof(dev->path)) {
		usbip_set_error(err, "%s: sysfs path longer than %zu characters", busid,
				sizeof(dev->path) - 1);
		return -ENAMETOOLONG;
	}
	strcpy(dev->busid, busid);
	strcpy(dev->path, path);

	ret = usbip_read_device_numbers(udev_attr_reader, udev_dev, dev, err);
	if (ret)
		return ret;
	dev->speed = usbip_speed_from_sysfs(udev_device_get_sysattr_value(udev_dev, "speed"));

	return read_interfaces(udev, udev_dev, dev, err);
}

static bool is_usb_device(struct udev_device *udev_dev)
{
	const char *devtype = udev_device_get_devtype(udev_dev);

	return devtype && !strcmp(devtype, "usb_device");
}

/* The entries of bus/usb/devices that are devices, not interfaces ("1-1:1.0"). */
static bool sysfs_device_entry(const char *dir, const char *name)
{
	(void)dir;
	return name[0] != '.' && !strchr(name, ':') && strlen(name) < USBIP_BUSID_SIZE;
}

/*
 * With the USBIP_SYSFS_ROOT test hook, libudev (which knows only /sys) is
 * left aside: the devices are read from the plain files of the tree, as
 * the server side reads them.
 */
static int local_devices_under_root(struct usbip_devinfo **devs, size_t *ndev,
				    struct usbip_error *err)
{
	char path[PATH_MAX];
	int ret;

	ret = usbip_sysfs_path(path, err, "bus/usb/devices");
	if (!ret)
		ret = usbip_driver_devices(path, sysfs_device_entry, usbip_host_read_device,
					   "USB devices", devs, ndev, err);
	return ret == -ENOENT ? 0 : ret;
}

/**
 * usbip_local_devices() - list the USB devices of this host
 * @devs: on success a malloc()ed array, sorted by bus id, NULL when empty
 * @ndev: on success the number of devices
 * @err: reason on failure, may be NULL
 *
 * Hubs are included; callers filter them.  A device whose attributes cannot
 * be read (it may be disappearing) is skipped with a warning.  A host
 * without USB support yields an empty list, not an error.  When
 * $USBIP_SYSFS_ROOT is set (a test hook), the devices of that tree are
 * listed instead, without libudev.
 *
 * Return: 0, or a negative errno when libudev itself fails.
 */
int usbip_local_devices(struct usbip_devinfo **devs, size_t *ndev, struct usbip_error *err)
{
	struct usbip_devinfo *list = NULL, *grown;
	struct udev_list_entry *entry;
	struct udev_enumerate *en;
	size_t count = 0, cap = 0;
	struct udev *udev;
	int ret;

	*devs = NULL;
	*ndev = 0;
	if (getenv(USBIP_SYSFS_ROOT_ENV) && *getenv(USBIP_SYSFS_ROOT_ENV))
		return local_devices_under_root(devs, ndev, err);
	udev = udev_new();
	if (!udev) {
		usbip_set_error(err, "cannot initialise libudev");
		return -ENOMEM;
	}
	en = udev_enumerate_new(udev);
	if (!en) {
		usbip_set_error(err, "cannot allocate a udev enumeration");
		ret = -ENOMEM;
		goto err_udev;
	}
	ret = udev_enumerate_add_match_subsystem(en, "usb");
	if (!ret)
		ret = udev_enumerate_scan_devices(en);
	if (ret < 0) {
		usbip_set_error(err, "cannot enumerate USB devices: %s", strerror(-ret));
		goto err_enum;
	}

	udev_list_entry_foreach(entry, udev_enumerate_get_list_entry(en)) {
		struct udev_device *udev_dev;
		struct usbip_error why;

		udev_dev = udev_device_new_from_syspath(udev, udev_list_entry_get_name(entry));
		if (!udev_dev)
			continue;
		if (!is_usb_device(udev_dev)) {
			udev_device_unref(udev_dev);
			continue;
		}
		if (count == cap) {
			cap = cap ? cap * 2 : 16;
			grown = realloc(list, cap * sizeof(*list));
			if (!grown) {
				udev_device_unref(udev_dev);
				usbip_set_error(err, "out of memory listing USB devices");
				ret = -ENOMEM;
				goto err_list;
			}
			list = grown;
		}
		ret = read_device(udev, udev_dev, &list[count], &why);
		udev_device_unref(udev_dev);
		if (ret == -ENOMEM) {
			usbip_set_error(err, "%s", why.msg);
			goto err_list;
		}
		if (ret) {
			usbip_warn("skipping device: %s", why.msg);
			continue;
		}
		count++;
	}
	udev_enumerate_unref(en);
	udev_unref(udev);

	usbip_sort_devices(list, count);
	if (!count) {
		free(list);
		list = NULL;
	}
	usbip_dbg("%zu USB devices found", count);
	*devs = list;
	*ndev = count;
	return 0;

err_list:
	free(list);
err_enum:
	udev_enumerate_unref(en);
err_udev:
	udev_unref(udev);
	return ret;
}

/**
 * usbip_local_device() - read one local USB device by bus id
 * @busid: its bus id, e.g. "1-1"
 * @dev: the device
 * @err: reason on failure, may be NULL
 *
 * Return: 0, -ENODEV when no USB device has that bus id, or another
 * negative errno when it cannot be read.
 */
int usbip_local_device(const char *busid, struct usbip_devinfo *dev, struct usbip_error *err)
{
	struct udev_device *udev_dev;
	struct udev *udev;
	int ret;

	if (strlen(busid) >= USBIP_BUSID_SIZE) {
		usbip_set_error(err, "bus id \"%.40s\" is longer than %d characters", busid,
				USBIP_BUSID_SIZE - 1);
		return -EINVAL;
	}
	if (usbip_check_busid(busid, strlen(busid) + 1, err))
		return -EINVAL;
	udev = udev_new();
	if (!udev) {
		usbip_set_error(err, "cannot initialise libudev");
		return -ENOMEM;
	}
	udev_dev = udev_device_new_from_subsystem_sysname(udev, "usb", busid);
	if (!udev_dev || !is_usb_device(udev_dev)) {
		usbip_set_error(err, "no USB device with bus id %s", busid);
		ret = -ENODEV;
		goto out_unref;
	}
	ret = read_device(udev, udev_dev, dev, err);

out_unref:
	udev_device_unref(udev_dev);
	udev_unref(udev);
	return ret;
}

/**
 * usbip_print_local_device() - print one device the way "usbip list -l" does
 * @out: stream
 * @dev: the device
 * @names: usb.ids database, may be NULL
 * @parsable: one "busid=BUSID#usbid=VVVV:PPPP#" line instead of two lines
 *
 * The format is an interface: scripts parse it.
 */
void usbip_print_local_device(FILE *out, const struct usbip_devinfo *dev,
			      const struct usbip_names *names, bool parsable)
{
	usbip_print_local_device_session(out, dev, names, parsable, NULL);
}

/**
 * usbip_print_local_device_session() - usbip_print_local_device() with a session
 * @out: stream
 * @dev: the device
 * @names: usb.ids database, may be NULL
 * @parsable: as for usbip_print_local_device(), which shows no session
 * @session: the device's session state (usbip_host_session()), or NULL
 *
 * An active session adds the line "   session: active", a suspended one
 * "   session: resumable, N s left" (N rounded up), before the blank line.
 */
void usbip_print_local_device_session(FILE *out, const struct usbip_devinfo *dev,
				      const struct usbip_names *names, bool parsable,
				      const struct usbip_session *session)
{
	char product[256];

	if (parsable) {
		fprintf(out, "busid=%s#usbid=%04x:%04x#\n", dev->busid, dev->idVendor,
			dev->idProduct);
		return;
	}
	usbip_names_product_str(names, product, sizeof(product), dev->idVendor, dev->idProduct);
	fprintf(out, " - busid %s (%04x:%04x)\n   %s\n", dev->busid, dev->idVendor,
		dev->idProduct, product);
	if (session && session->state == USBIP_SESSION_ACTIVE)
		fprintf(out, "   session: active\n");
	else if (session && session->state == USBIP_SESSION_RESUMABLE)
		fprintf(out, "   session: resumable, %u s left\n",
			usbip_session_left_s(session));
	fputc('\n', out);
}

/**
 * usbip_print_remote_device() - print one device the way "usbip list -r" does
 * @out: stream
 * @dev: the device, as received from a server, interfaces included
 * @names: usb.ids database, may be NULL
 *
 * Prints the bus id right-aligned in 11 columns with the product, then the
 * path, the device class and one line per interface, then a blank line.
 * The format is an interface: scripts parse it.
 */
void usbip_print_remote_device(FILE *out, const struct usbip_devinfo *dev,
			       const struct usbip_names *names)
{
	char text[512];
	unsigned int i;

	usbip_names_product_str(names, text, sizeof(text), dev->idVendor, dev->idProduct);
	fprintf(out, "%11s: %s\n", dev->busid, text);
	fprintf(out, "%11s: %s\n", "", dev->path);
	if (!dev->bDeviceClass && !dev->bDeviceSubClass && !dev->bDeviceProtocol) {
		const char *cls = usbip_names_class(names, 0);

		/* Class 0: the interfaces say what the device is. */
		fprintf(out, "%11s: %s (00/00/00)\n", "", cls ? cls : "unknown class");
	} else {
		usbip_names_class_str(names, text, sizeof(text), dev->bDeviceClass,
				      dev->bDeviceSubClass, dev->bDeviceProtocol);
		fprintf(out, "%11s: %s\n", "", text);
	}
	for (i = 0; i < dev->bNumInterfaces && i < USBIP_MAX_INTERFACES; i++) {
		usbip_names_class_str(names, text, sizeof(text), dev->intf[i].bInterfaceClass,
				      dev->intf[i].bInterfaceSubClass,
				      dev->intf[i].bInterfaceProtocol);
		fprintf(out, "%11s: %2u - %s\n", "", i, text);
	}
	fputc('\n', out);
}
