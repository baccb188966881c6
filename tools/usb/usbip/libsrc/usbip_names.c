// SPDX-License-Identifier: GPL-2.0
/*
 * usb.ids reader.
 *
 * The file is a text database maintained at linux-usb.org.  The parts used
 * here look like:
 *
 *   vvvv  Vendor name            (4 hex digits at column 0)
 *   <TAB>pppp  Product name      (products of the vendor above)
 *   C cc  Class name             (device classes)
 *   <TAB>ss  Subclass name       (subclasses of the class above)
 *   <TAB><TAB>pp  Protocol name  (protocols of the subclass above)
 *
 * Lines starting with '#' are comments.  Any other line at column 0 (the
 * file has further sections: AT, HID, R, L, ...) ends the current vendor
 * or class section, so its indented lines are not mistaken for ours.
 *
 * The whole file is read into memory once; names point into that buffer.
 * Entries are sorted by a 64-bit key and looked up by binary search.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "usbip_common.h"
#include "usbip_names.h"

/* A sanity bound; the real file is below 1.5 MiB. */
#define USB_IDS_MAX_SIZE	(32u << 20)

enum names_kind {
	KIND_VENDOR = 1,
	KIND_PRODUCT,
	KIND_CLASS,
	KIND_SUBCLASS,
	KIND_PROTOCOL,
};

struct names_entry {
	uint64_t key;		/* kind << 32 | ids */
	uint32_t seq;		/* file order, so the first duplicate wins */
	const char *name;
};

/**
 * struct usbip_names - a loaded usb.ids database
 * @source: path of the file that was read, NULL if none could be
 * @text: file contents; entry names point into it
 * @entries: sorted entries
 * @count: number of entries
 * @cap: allocated entries
 */
struct usbip_names {
	char *source;
	char *text;
	struct names_entry *entries;
	size_t count;
	size_t cap;
};

static uint64_t make_key(enum names_kind kind, uint32_t ids)
{
	return (uint64_t)kind << 32 | ids;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Parses exactly @digits hex digits at *@p followed by blanks and a
 * non-empty name.  On success advances *@p to the name and returns 0.
 */
static int parse_id_name(char **p, int digits, uint32_t *id)
{
	char *s = *p;
	uint32_t v = 0;
	int i, d;

	for (i = 0; i < digits; i++) {
		d = hexval(s[i]);
		if (d < 0)
			return -1;
		v = v << 4 | d;
	}
	s += digits;
	if (*s != ' ' && *s != '\t')
		return -1;
	while (*s == ' ' || *s == '\t')
		s++;
	if (!*s)
		return -1;
	*id = v;
	*p = s;
	return 0;
}

static int add_entry(struct usbip_names *names, enum names_kind kind, uint32_t ids,
		     const char *name)
{
	struct names_entry *e;

	if (names->count == names->cap) {
		size_t cap = names->cap ? names->cap * 2 : 1024;

		e = realloc(names->entries, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		names->entries = e;
		names->cap = cap;
	}
	e = &names->entries[names->count];
	e->key = make_key(kind, ids);
	e->seq = names->count;
	e->name = name;
	names->count++;
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct names_entry *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

enum section { SEC_NONE, SEC_VENDOR, SEC_CLASS };

static int parse_text(struct usbip_names *names)
{
	enum section sec = SEC_NONE;
	uint32_t vendor = 0, cls = 0, subclass = 0, id;
	bool have_subclass = false;
	char *line = names->text, *next, *end, *p;
	size_t i, out;
	int ret;

	for (; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		/* Strip trailing blanks and a CR of DOS line ends. */
		end = line + strlen(line);
		while (end > line && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
			*--end = '\0';
		if (!*line || *line == '#')
			continue;

		p = line;
		if (p[0] != '\t') {
			sec = SEC_NONE;
			have_subclass = false;
			if (!parse_id_name(&p, 4, &id)) {
				vendor = id;
				sec = SEC_VENDOR;
				ret = add_entry(names, KIND_VENDOR, vendor, p);
			} else if (!strncmp(p, "C ", 2)) {
				p += 2;
				if (parse_id_name(&p, 2, &id))
					continue;
				cls = id;
				sec = SEC_CLASS;
				ret = add_entry(names, KIND_CLASS, cls, p);
			} else {
				continue;
			}
		} else if (p[1] != '\t') {
			p++;
			if (sec == SEC_VENDOR && !parse_id_name(&p, 4, &id)) {
				ret = add_entry(names, KIND_PRODUCT, vendor << 16 | id, p);
			} else if (sec == SEC_CLASS && !parse_id_name(&p, 2, &id)) {
				subclass = id;
				have_subclass = true;
				ret = add_entry(names, KIND_SUBCLASS, cls << 8 | subclass, p);
			} else {
				continue;
			}
		} else {
			p += 2;
			/* Double-indented lines under a vendor are not used. */
			if (sec != SEC_CLASS || !have_subclass || parse_id_name(&p, 2, &id))
				continue;
			ret = add_entry(names, KIND_PROTOCOL, cls << 16 | subclass << 8 | id, p);
		}
		if (ret)
			return ret;
	}

	qsort(names->entries, names->count, sizeof(*names->entries), cmp_entry);
	/* Keep the first of duplicate keys. */
	for (i = 0, out = 0; i < names->count; i++) {
		if (out && names->entries[out - 1].key == names->entries[i].key)
			continue;
		names->entries[out++] = names->entries[i];
	}
	names->count = out;
	return 0;
}

/* Reads @path into names->text.  Returns 0, or -errno (-ENOENT if absent). */
static int read_file(struct usbip_names *names, const char *path)
{
	struct stat st;
	size_t got = 0;
	FILE *f;
	int ret;

	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (fstat(fileno(f), &st)) {
		ret = -errno;
		goto err_close;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > (off_t)USB_IDS_MAX_SIZE) {
		usbip_warn("ignoring %s: not a regular file of at most %u bytes", path,
			   USB_IDS_MAX_SIZE);
		ret = -EINVAL;
		goto err_close;
	}
	names->text = malloc((size_t)st.st_size + 1);
	if (!names->text) {
		ret = -ENOMEM;
		goto err_close;
	}
	got = fread(names->text, 1, (size_t)st.st_size, f);
	if (ferror(f)) {
		ret = -EIO;
		usbip_warn("cannot read %s: %s", path, strerror(EIO));
		goto err_free;
	}
	names->text[got] = '\0';
	fclose(f);
	return 0;

err_free:
	free(names->text);
	names->text = NULL;
err_close:
	fclose(f);
	return ret;
}

/**
 * usbip_names_load() - load the first readable usb.ids of a path list
 * @pathlist: colon-separated paths, tried in order
 *
 * Missing files are skipped silently (logged with --debug).  When none can
 * be read the returned database is empty and every lookup returns NULL.
 *
 * Return: the database, to free with usbip_names_free(), or NULL when out
 * of memory.
 */
struct usbip_names *usbip_names_load(const char *pathlist)
{
	struct usbip_names *names;
	char *list, *path, *save = NULL;
	int ret;

	names = calloc(1, sizeof(*names));
	if (!names)
		return NULL;
	list = strdup(pathlist ? pathlist : "");
	if (!list)
		goto err_names;

	for (path = strtok_r(list, ":", &save); path; path = strtok_r(NULL, ":", &save)) {
		ret = read_file(names, path);
		if (ret == -ENOMEM)
			goto err_list;
		if (ret) {
			usbip_dbg("usb.ids: %s: %s", path, strerror(-ret));
			continue;
		}
		names->source = strdup(path);
		if (!names->source)
			goto err_list;
		ret = parse_text(names);
		if (ret)
			goto err_list;
		usbip_dbg("usb.ids: %zu names from %s", names->count, path);
		break;
	}
	if (!names->source)
		usbip_dbg("usb.ids: no database in \"%s\", names will be numeric",
			  pathlist ? pathlist : "");
	free(list);
	return names;

err_list:
	free(list);
err_names:
	usbip_names_free(names);
	return NULL;
}

/**
 * usbip_names_load_default() - load usb.ids from $USBIP_USB_IDS or the built-in list
 *
 * Return: as usbip_names_load().
 */
struct usbip_names *usbip_names_load_default(void)
{
	const char *env = getenv(USBIP_USB_IDS_ENV);

	return usbip_names_load(env ? env : USBIP_USB_IDS_PATH);
}

/**
 * usbip_names_free() - release a database
 * @names: database, may be NULL
 */
void usbip_names_free(struct usbip_names *names)
{
	if (!names)
		return;
	free(names->entries);
	free(names->text);
	free(names->source);
	free(names);
}

/**
 * usbip_names_source() - path the names were read from
 * @names: database, may be NULL
 *
 * Return: the path, or NULL when no usb.ids was found.
 */
const char *usbip_names_source(const struct usbip_names *names)
{
	return names ? names->source : NULL;
}

/**
 * usbip_names_count() - number of distinct names loaded
 * @names: database, may be NULL
 *
 * Return: the count, 0 without a database.
 */
size_t usbip_names_count(const struct usbip_names *names)
{
	return names ? names->count : 0;
}

static const char *lookup(const struct usbip_names *names, enum names_kind kind, uint32_t ids)
{
	uint64_t key = make_key(kind, ids);
	size_t lo = 0, hi, mid;

	if (!names)
		return NULL;
	hi = names->count;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (names->entries[mid].key == key)
			return names->entries[mid].name;
		if (names->entries[mid].key < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/**
 * usbip_names_vendor() - vendor name
 * @names: database, may be NULL
 * @vendor: idVendor
 *
 * Return: the name, or NULL when unknown.
 */
const char *usbip_names_vendor(const struct usbip_names *names, uint16_t vendor)
{
	return lookup(names, KIND_VENDOR, vendor);
}

/**
 * usbip_names_product() - product name
 * @names: database, may be NULL
 * @vendor: idVendor
 * @product: idProduct
 *
 * Return: the name, or NULL when unknown.
 */
const char *usbip_names_product(const struct usbip_names *names, uint16_t vendor,
				uint16_t product)
{
	return lookup(names, KIND_PRODUCT, (uint32_t)vendor << 16 | product);
}

/**
 * usbip_names_class() - class name
 * @names: database, may be NULL
 * @cls: class code
 *
 * Return: the name, or NULL when unknown.
 */
const char *usbip_names_class(const struct usbip_names *names, uint8_t cls)
{
	return lookup(names, KIND_CLASS, cls);
}

/**
 * usbip_names_subclass() - subclass name
 * @names: database, may be NULL
 * @cls: class code
 * @subclass: subclass code
 *
 * Return: the name, or NULL when unknown.
 */
const char *usbip_names_subclass(const struct usbip_names *names, uint8_t cls, uint8_t subclass)
{
	return lookup(names, KIND_SUBCLASS, (uint32_t)cls << 8 | subclass);
}

/**
 * usbip_names_protocol() - protocol name
 * @names: database, may be NULL
 * @cls: class code
 * @subclass: subclass code
 * @protocol: protocol code
 *
 * Return: the name, or NULL when unknown.
 */
const char *usbip_names_protocol(const struct usbip_names *names, uint8_t cls, uint8_t subclass,
				 uint8_t protocol)
{
	return lookup(names, KIND_PROTOCOL, (uint32_t)cls << 16 | (uint32_t)subclass << 8 | protocol);
}

/**
 * usbip_names_product_str() - "<vendor> : <product> (vvvv:pppp)"
 * @names: database, may be NULL
 * @buf: output
 * @len: size of @buf
 * @vendor: idVendor
 * @product: idProduct
 *
 * Unknown names read "unknown vendor" and "unknown product".
 */
void usbip_names_product_str(const struct usbip_names *names, char *buf, size_t len,
			     uint16_t vendor, uint16_t product)
{
	const char *v = usbip_names_vendor(names, vendor);
	const char *p = usbip_names_product(names, vendor, product);

	snprintf(buf, len, "%s : %s (%04x:%04x)", v ? v : "unknown vendor",
		 p ? p : "unknown product", vendor, product);
}

/**
 * usbip_names_class_str() - "<class> / <subclass> / <protocol> (cc/ss/pp)"
 * @names: database, may be NULL
 * @buf: output
 * @len: size of @buf
 * @cls: class code
 * @subclass: subclass code
 * @protocol: protocol code
 *
 * Unknown names read "unknown class", "unknown subclass", "unknown protocol".
 */
void usbip_names_class_str(const struct usbip_names *names, char *buf, size_t len,
			   uint8_t cls, uint8_t subclass, uint8_t protocol)
{
	const char *c = usbip_names_class(names, cls);
	const char *s = usbip_names_subclass(names, cls, subclass);
	const char *p = usbip_names_protocol(names, cls, subclass, protocol);

	snprintf(buf, len, "%s / %s / %s (%02x/%02x/%02x)", c ? c : "unknown class",
		 s ? s : "unknown subclass", p ? p : "unknown protocol", cls, subclass, protocol);
}
