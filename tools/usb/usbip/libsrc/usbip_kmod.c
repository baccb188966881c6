// SPDX-License-Identifier: GPL-2.0
/*
 * On-demand loading of vhci-hcd, usbip-host and usbip-vudc through libkmod.
 *
 * What is checked, in order:
 *   1. the module's state as libkmod reads it from /sys/module (live or
 *      built in: nothing to do);
 *   2. the module modprobe would load, looked up in modules.dep/alias of
 *      the running kernel (nothing found: "not installed");
 *   3. for that module and every module it depends on that is already
 *      loaded, whether the loaded copy is the same build as the file:
 *      their srcversion (/sys/module/NAME/srcversion against the file's
 *      modinfo) when both have one, and whether both are in-tree or both
 *      out-of-tree (taint flag "O" in /sys/module/NAME/taint against the
 *      file's "intree" modinfo tag).  A mismatch is a conflict: the new
 *      module would not link against the loaded one;
 *   4. the insertion itself; EPERM/EACCES mean "not root".
 */
#include <config.h>

#include <errno.h>
#include <libkmod.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "usbip_kmod.h"

/**
 * usbip_kmod_explain() - the text of a failed load
 * @err: report to fill
 * @why: the reason
 * @module: the module the command needed
 * @kver: the kernel release modules are looked up for
 * @detail: for USBIP_KMOD_CONFLICT which copies differ; for
 *	USBIP_KMOD_OTHER the kernel's error; may be NULL
 */
void usbip_kmod_explain(struct usbip_error *err, enum usbip_kmod_failure why,
			const char *module, const char *kver, const char *detail)
{
	switch (why) {
	case USBIP_KMOD_NOT_ROOT:
		usbip_set_error(err, "the %s module is not loaded, and loading it needs root: "
				"run this as root, or load it first with 'modprobe %s'",
				module, module);
		break;
	case USBIP_KMOD_NOT_INSTALLED:
		usbip_set_error(err, "the %s module is not loaded and not installed for kernel "
				"%s (modprobe finds no %s): install the usbip modules for this "
				"kernel ('make install' or DKMS)", module, kver, module);
		break;
	case USBIP_KMOD_CONFLICT:
		usbip_set_error(err, "cannot load %s: a conflicting copy is already loaded: %s",
				module, detail ? detail : "unknown");
		break;
	default:
		usbip_set_error(err, "loading the %s module failed: %s (see dmesg)", module,
				detail ? detail : "unknown error");
		break;
	}
}

static void kmod_log_quiet(void *data, int priority, const char *file, int line,
			   const char *fn, const char *format, va_list args)
{
	char text[512];

	(void)data;
	(void)priority;
	(void)file;
	(void)line;
	(void)fn;
	if (!usbip_debug_enabled)
		return;
	vsnprintf(text, sizeof(text), format, args);
	text[strcspn(text, "\n")] = '\0';
	usbip_dbg("libkmod: %s", text);
}

/* Reads /sys/module/@name/@attr into @buf without the newline; "" if absent. */
static void loaded_attr(const char *name, const char *attr, char *buf, size_t size)
{
	char path[512];
	FILE *f;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "/sys/module/%s/%s", name, attr);
	f = fopen(path, "re");
	if (!f)
		return;
	if (!fgets(buf, size, f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
}

/*
 * Compares the loaded copy of @mod with its file; returns true and fills
 * @detail when they are different builds.
 */
static bool loaded_differs(struct kmod_module *mod, char *detail, size_t size)
{
	const char *name = kmod_module_get_name(mod);
	const char *path = kmod_module_get_path(mod);
	char src_loaded[64], taint[32], src_file[64] = "";
	struct kmod_list *info = NULL, *l;
	bool file_intree = false, loaded_intree;

	if (kmod_module_get_initstate(mod) != KMOD_MODULE_LIVE || !path)
		return false;
	if (kmod_module_get_info(mod, &info) < 0)
		return false;
	kmod_list_foreach(l, info) {
		const char *key = kmod_module_info_get_key(l);
		const char *val = kmod_module_info_get_value(l);

		if (!key || !val)
			continue;
		if (!strcmp(key, "srcversion"))
			snprintf(src_file, sizeof(src_file), "%s", val);
		else if (!strcmp(key, "intree") && !strcmp(val, "Y"))
			file_intree = true;
	}
	kmod_module_info_free_list(info);

	loaded_attr(name, "srcversion", src_loaded, sizeof(src_loaded));
	loaded_attr(name, "taint", taint, sizeof(taint));
	loaded_intree = !strchr(taint, 'O');
	usbip_dbg("%s: file %s srcversion '%s' %s; loaded srcversion '%s' taint '%s'", name,
		  path, src_file, file_intree ? "in-tree" : "out-of-tree", src_loaded, taint);
	if (src_file[0] && src_loaded[0] && strcmp(src_file, src_loaded)) {
		snprintf(detail, size, "loaded %s has srcversion %s, %s has %s; run 'modprobe -r "
			 "%s' first", name, src_loaded, path, src_file, name);
		return true;
	}
	if (file_intree != loaded_intree) {
		snprintf(detail, size, "loaded %s is %s (taint '%s'), modprobe resolves it to %s "
			 "%s; run 'modprobe -r %s' first", name,
			 loaded_intree ? "in-tree" : "out-of-tree", taint,
			 file_intree ? "in-tree" : "out-of-tree", path, name);
		return true;
	}
	return false;
}

/* Checks @mod and its dependencies; returns true with @detail on a conflict. */
static bool find_conflict(struct kmod_module *mod, char *detail, size_t size)
{
	struct kmod_list *deps, *l;
	bool found = loaded_differs(mod, detail, size);

	deps = kmod_module_get_dependencies(mod);
	kmod_list_foreach(l, deps) {
		struct kmod_module *dep = kmod_module_get_module(l);

		if (!found)
			found = loaded_differs(dep, detail, size);
		kmod_module_unref(dep);
	}
	kmod_module_unref_list(deps);
	return found;
}

/**
 * usbip_kmod_need() - make sure a kernel module is loaded
 * @module: its name as modprobe takes it, e.g. "vhci-hcd"
 * @err: why it could not be loaded
 *
 * Does nothing when the module is loaded or built in, or when
 * $USBIP_NO_AUTOLOAD is set to anything but "" or "0".
 *
 * Return: 0 when the module is (now) there, a negative errno otherwise.
 */
int usbip_kmod_need(const char *module, struct usbip_error *err)
{
	const char *noload = getenv(USBIP_NO_AUTOLOAD_ENV);
	const char *dir = getenv(USBIP_KMOD_DIR_ENV);
	struct kmod_module *mod = NULL;
	struct kmod_list *list = NULL;
	char kver[128], detail[256];
	struct kmod_ctx *ctx;
	struct utsname uts;
	int state, ret;

	if (noload && *noload && strcmp(noload, "0")) {
		usbip_dbg("%s=%s: not loading %s", USBIP_NO_AUTOLOAD_ENV, noload, module);
		return 0;
	}
	/* A fake sysfs tree (test hook) never loads real modules by itself. */
	if (getenv("USBIP_SYSFS_ROOT") && !(dir && *dir)) {
		usbip_dbg("USBIP_SYSFS_ROOT is set: not loading %s", module);
		return 0;
	}
	if (dir && *dir) {
		const char *slash = strrchr(dir, '/');

		snprintf(kver, sizeof(kver), "%s", slash && slash[1] ? slash + 1 : dir);
	} else {
		dir = NULL;
		snprintf(kver, sizeof(kver), "%s", uname(&uts) ? "(unknown)" : uts.release);
	}

	ctx = kmod_new(dir, NULL);
	if (!ctx) {
		usbip_kmod_explain(err, USBIP_KMOD_OTHER, module, kver,
				   "libkmod could not be initialised");
		return -ENOMEM;
	}
	kmod_set_log_fn(ctx, kmod_log_quiet, NULL);

	ret = kmod_module_new_from_name(ctx, module, &mod);
	if (ret < 0) {
		usbip_kmod_explain(err, USBIP_KMOD_OTHER, module, kver, strerror(-ret));
		goto out_ctx;
	}
	state = kmod_module_get_initstate(mod);
	kmod_module_unref(mod);
	mod = NULL;
	if (state == KMOD_MODULE_LIVE || state == KMOD_MODULE_BUILTIN ||
	    state == KMOD_MODULE_COMING) {
		usbip_dbg("%s is %s", module, kmod_module_initstate_str(state));
		ret = 0;
		goto out_ctx;
	}

	ret = kmod_module_new_from_lookup(ctx, module, &list);
	if (ret < 0 || !list) {
		usbip_kmod_explain(err, USBIP_KMOD_NOT_INSTALLED, module, kver, NULL);
		ret = -ENOENT;
		goto out_ctx;
	}
	mod = kmod_module_get_module(list);
	kmod_module_unref_list(list);
	if (!kmod_module_get_path(mod) &&
	    kmod_module_get_initstate(mod) != KMOD_MODULE_BUILTIN) {
		usbip_kmod_explain(err, USBIP_KMOD_NOT_INSTALLED, module, kver, NULL);
		ret = -ENOENT;
		goto out_mod;
	}
	if (find_conflict(mod, detail, sizeof(detail))) {
		usbip_kmod_explain(err, USBIP_KMOD_CONFLICT, module, kver, detail);
		ret = -EEXIST;
		goto out_mod;
	}

	usbip_dbg("loading %s from %s", module, kmod_module_get_path(mod));
	ret = kmod_module_probe_insert_module(mod, 0, NULL, NULL, NULL, NULL);
	if (ret == -EPERM || ret == -EACCES || (ret < 0 && geteuid() != 0)) {
		usbip_kmod_explain(err, USBIP_KMOD_NOT_ROOT, module, kver, NULL);
		ret = -EPERM;
	} else if (ret < 0) {
		usbip_kmod_explain(err, USBIP_KMOD_OTHER, module, kver, strerror(-ret));
	} else {
		usbip_info("loaded the %s module", module);
		ret = 0;
	}
out_mod:
	kmod_module_unref(mod);
out_ctx:
	kmod_unref(ctx);
	return ret;
}
