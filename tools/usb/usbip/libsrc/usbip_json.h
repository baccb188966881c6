/* SPDX-License-Identifier: GPL-2.0 */
/*
 * JSON output of "usbip list --json" and "usbip port --json".  The schema
 * is doc/usbip-json.schema.json; USBIP_JSON_VERSION changes only when a
 * change could break a reader (fields are only ever added otherwise).
 */
#ifndef USBIP_JSON_H
#define USBIP_JSON_H

#include <stdio.h>

#include "usbip_proto.h"

#define USBIP_JSON_VERSION	1

struct usbip_names;

void usbip_json_string(FILE *out, const char *s);
void usbip_json_string_or_null(FILE *out, const char *s);
const char *usbip_json_speed(uint32_t speed);
void usbip_json_device(FILE *out, const struct usbip_devinfo *dev,
		       const struct usbip_names *names);
struct usbip_session;
void usbip_json_device_session(FILE *out, const struct usbip_devinfo *dev,
			       const struct usbip_names *names,
			       const struct usbip_session *session);

#endif /* USBIP_JSON_H */
