/* JSON from outside (run configs, model configs, scenarios) parsed
 * strictly: cJSON accepts trailing text after the value and keeps every
 * duplicate key (GetObjectItem then silently returns the first), so a file
 * that says "steps" twice would mean different things to different
 * readers. Both are refused here with an error naming `what`. */
#ifndef DISTRO_MODEL_JSON_STRICT_H
#define DISTRO_MODEL_JSON_STRICT_H

#include <cjson/cJSON.h>

#include "distro/distro.h"

/* *out is the parsed value (cJSON_Delete it) or NULL with the error set. */
dt_status json_parse_strict(const char *text, const char *what, cJSON **out);

#endif
