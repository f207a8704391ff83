/* distro-cli devices: every device on every compiled backend, and for a
 * backend that found none, why. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli_args.h"
#include "cli/commands.h"
#include "distro/distro.h"

static const cli_opt devices_opts[] = {
    {"json", NULL, "print one JSON document instead of a table"},
    {NULL, NULL, NULL},
};

static const cli_cmd devices_cmd = {
    "devices",
    "",
    "List every device on every backend compiled into this build.",
    "The SPEC column is what --device takes (\"auto\" picks the best device). UPDATE says\n"
    "where the canonical DeMo update runs for that device: on the device, or on the host\n"
    "when the device cannot reproduce it bit for bit.",
    devices_opts,
    0,
    0,
};

static void format_bytes(uint64_t b, char *out, size_t len) {
    if (b >= (1ull << 30))
        snprintf(out, len, "%.1f GiB", (double)b / (double)(1ull << 30));
    else
        snprintf(out, len, "%.0f MiB", (double)b / (double)(1ull << 20));
}

static cJSON *info_json(const dt_device_info *in) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "spec", in->spec);
    cJSON_AddStringToObject(o, "backend", in->backend);
    cJSON_AddStringToObject(o, "name", in->name);
    cJSON_AddStringToObject(o, "vendor", in->vendor);
    cJSON_AddStringToObject(o, "driver", in->driver);
    cJSON_AddStringToObject(o, "platform", in->platform);
    cJSON_AddStringToObject(o, "type", dt_device_type_name(in->type));
    cJSON_AddNumberToObject(o, "memory_bytes", (double)in->memory_bytes);
    cJSON_AddNumberToObject(o, "compute_units", in->compute_units);
    cJSON_AddNumberToObject(o, "subgroup_size", in->subgroup_size);
    cJSON_AddBoolToObject(o, "fp16", in->fp16);
    cJSON_AddBoolToObject(o, "fp64", in->fp64);
    cJSON_AddStringToObject(o, "canonical_update", in->canonical_on_host ? "host" : "device");
    cJSON_AddStringToObject(o, "note", in->note);
    return o;
}

int cmd_devices(int argc, char **argv) {
    cli_args args;
    int rc = cli_parse(&devices_cmd, argc, argv, &args);
    if (rc) return rc == 1 ? 0 : rc;
    bool json = cli_flag(&args, "json");

    cJSON *root = json ? cJSON_CreateObject() : NULL;
    cJSON *jdevs = json ? cJSON_AddArrayToObject(root, "devices") : NULL;
    cJSON *jnone = json ? cJSON_AddArrayToObject(root, "backends_without_devices") : NULL;
    if (!json)
        printf("%-10s %-15s %-36s %10s %5s %4s %4s %4s %s\n", "SPEC", "TYPE", "NAME", "MEMORY",
               "CUs", "SG", "FP16", "FP64", "UPDATE");
    int failures = 0;
    for (int b = 0; b < dt_backend_count(); b++) {
        const char *bname = dt_backend_name(b);
        int count = 0;
        char why[256] = "";
        if (dt_backend_devices(b, &count, why, sizeof why) != DT_OK) {
            snprintf(why, sizeof why, "%s", dt_last_error());
            count = 0;
            failures++;
        }
        if (count == 0) {
            if (json) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "backend", bname);
                cJSON_AddStringToObject(o, "reason", why);
                cJSON_AddItemToArray(jnone, o);
            } else {
                printf("%-10s no devices: %s\n", bname, why);
            }
            continue;
        }
        for (int d = 0; d < count; d++) {
            dt_device_info in;
            if (dt_backend_device_info(b, d, &in) != DT_OK) {
                fprintf(stderr, "distro-cli devices: %s:%d: %s\n", bname, d, dt_last_error());
                failures++;
                continue;
            }
            if (json) {
                cJSON_AddItemToArray(jdevs, info_json(&in));
                continue;
            }
            char mem[32], sg[16];
            format_bytes(in.memory_bytes, mem, sizeof mem);
            snprintf(sg, sizeof sg, "%d", in.subgroup_size);
            printf("%-10s %-15s %-36.36s %10s %5d %4s %4s %4s %s\n", in.spec,
                   dt_device_type_name(in.type), in.name, mem, in.compute_units,
                   in.subgroup_size ? sg : "-", in.fp16 ? "yes" : "no", in.fp64 ? "yes" : "no",
                   in.canonical_on_host ? "host" : "device");
            printf("%-10s vendor %s; driver %s%s%s%s%s\n", "", in.vendor, in.driver,
                   in.platform[0] ? "; platform " : "", in.platform, in.note[0] ? "; " : "",
                   in.note);
        }
    }
    if (json) {
        char *text = cJSON_Print(root);
        if (text) printf("%s\n", text);
        free(text);
        cJSON_Delete(root);
    }
    return failures ? 1 : 0;
}
