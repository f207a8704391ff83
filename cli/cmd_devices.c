/* distro-cli devices: every device on every compiled backend, and for a
 * backend that found none, why. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    "when the device cannot reproduce it bit for bit. A device with ops that do not run\n"
    "on it gets a line naming them (on the host, or unsupported: refused). --json lists\n"
    "every op under \"ops\": \"device\", \"host\" and \"unsupported\".\n"
    "A device this build cannot use (a GPU older than the CUDA architectures it was\n"
    "compiled for) is listed as unusable, with why (--json: \"unusable_devices\");\n"
    "\"auto\" passes over it.\n"
    "\n"
    "A spec may carry options of its backend, each as :OPTION=VALUE after the device\n"
    "number (cpu:threads=2:gemm=own, vulkan:0:kernels=gpu:staging=on); the list\n"
    "ends with every option of every compiled backend (--json: \"device_options\").",
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
    /* Where each backend op runs: on the device, on the host (the runtime
     * does it for this device) or nowhere (refused). */
    if (in->ops_on_device | in->ops_on_host) {
        cJSON *ops = cJSON_AddObjectToObject(o, "ops");
        cJSON *dev = cJSON_AddArrayToObject(ops, "device");
        cJSON *host = cJSON_AddArrayToObject(ops, "host");
        cJSON *none = cJSON_AddArrayToObject(ops, "unsupported");
        for (int op = 0; op < dt_op_count(); op++) {
            uint64_t bit = (uint64_t)1 << op;
            cJSON *to = in->ops_on_device & bit ? dev : in->ops_on_host & bit ? host : none;
            cJSON_AddItemToArray(to, cJSON_CreateString(dt_op_name(op)));
        }
    }
    return o;
}

/* "demo_apply, gemm" for the ops in `mask`, or "" when there are none. */
static void op_list(uint64_t mask, char *out, size_t len) {
    out[0] = '\0';
    size_t used = 0;
    for (int op = 0; op < dt_op_count() && used < len; op++)
        if (mask & ((uint64_t)1 << op))
            used +=
                (size_t)snprintf(out + used, len - used, "%s%s", used ? ", " : "", dt_op_name(op));
}

/* One device as two table lines, and a third naming the ops that do not run
 * on it, if any. */
static void print_device(const dt_device_info *in) {
    char mem[32], sg[16];
    format_bytes(in->memory_bytes, mem, sizeof mem);
    snprintf(sg, sizeof sg, "%d", in->subgroup_size);
    printf("%-10s %-15s %-36.36s %10s %5d %4s %4s %4s %s\n", in->spec,
           dt_device_type_name(in->type), in->name, mem, in->compute_units,
           in->subgroup_size ? sg : "-", in->fp16 ? "yes" : "no", in->fp64 ? "yes" : "no",
           in->canonical_on_host ? "host" : "device");
    printf("%-10s vendor %s; driver %s%s%s%s%s\n", "", in->vendor, in->driver,
           in->platform[0] ? "; platform " : "", in->platform, in->note[0] ? "; " : "", in->note);
    uint64_t all = dt_op_count() >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << dt_op_count()) - 1);
    char host[512], none[512];
    op_list(in->ops_on_host, host, sizeof host);
    op_list(all & ~(in->ops_on_device | in->ops_on_host), none, sizeof none);
    if ((in->ops_on_device | in->ops_on_host) && (host[0] || none[0]))
        printf("%-10s ops on the host: %s%s%s\n", "", host[0] ? host : "none",
               none[0] ? "; unsupported: " : "", none);
}

/* A device that is there but this build cannot use (a GPU older than the
 * architectures compiled for), with dt_last_error()'s reason: listed, not a
 * failure of the command. */
static void report_unusable(const char *backend, int d, cJSON *junusable) {
    char spec[48];
    snprintf(spec, sizeof spec, "%s:%d", backend, d);
    const char *why = dt_last_error();
    if (junusable) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "spec", spec);
        cJSON_AddStringToObject(o, "reason", why);
        cJSON_AddItemToArray(junusable, o);
        return;
    }
    /* The message names the device already. */
    const size_t n = strlen(spec);
    if (!strncmp(why, spec, n) && !strncmp(why + n, ": ", 2)) why += n + 2;
    printf("%-10s unusable: %s\n", spec, why);
}

/* A backend without devices, and why. */
static void report_no_devices(const char *backend, const char *why, cJSON *jnone) {
    if (!jnone) {
        printf("%-10s no devices: %s\n", backend, why);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "backend", backend);
    cJSON_AddStringToObject(o, "reason", why);
    cJSON_AddItemToArray(jnone, o);
}

/* The options each backend takes (SPEC:OPTION=VALUE...): a table, or the
 * "device_options" array of `root` when it is not NULL. */
static void list_device_options(cJSON *root) {
    cJSON *jopts = root ? cJSON_AddArrayToObject(root, "device_options") : NULL;
    bool header = false;
    for (int b = 0; b < dt_backend_count(); b++) {
        const char *name, *help;
        char values[64];
        for (int i = 0; dt_backend_option(b, i, &name, values, sizeof values, &help); i++) {
            if (jopts) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "backend", dt_backend_name(b));
                cJSON_AddStringToObject(o, "option", name);
                cJSON_AddStringToObject(o, "values", values);
                cJSON_AddStringToObject(o, "help", help);
                cJSON_AddItemToArray(jopts, o);
                continue;
            }
            if (!header)
                printf("\ndevice options: append :OPTION=VALUE to a spec (cpu:threads=2:gemm=own, "
                       "vulkan:0:kernels=gpu)\n");
            header = true;
            char opt[96];
            snprintf(opt, sizeof opt, "%s=%s", name, values);
            printf("  %-8s %-22s %s\n", i ? "" : dt_backend_name(b), opt, help);
        }
    }
}

int cmd_devices(int argc, char **argv) {
    cli_args args;
    int rc = cli_parse(&devices_cmd, argc, argv, &args);
    if (rc) return rc == 1 ? 0 : rc;
    bool json = cli_flag(&args, "json");

    cJSON *root = json ? cJSON_CreateObject() : NULL;
    cJSON *jdevs = json ? cJSON_AddArrayToObject(root, "devices") : NULL;
    cJSON *jnone = json ? cJSON_AddArrayToObject(root, "backends_without_devices") : NULL;
    cJSON *junusable = json ? cJSON_AddArrayToObject(root, "unusable_devices") : NULL;
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
        if (count == 0) report_no_devices(bname, why, jnone);
        for (int d = 0; d < count; d++) {
            dt_device_info in;
            const dt_status st = dt_backend_device_info(b, d, &in);
            if (st == DT_ERR_UNSUPPORTED) {
                report_unusable(bname, d, junusable);
            } else if (st != DT_OK) {
                fprintf(stderr, "distro-cli devices: %s:%d: %s\n", bname, d, dt_last_error());
                failures++;
            } else if (json) {
                cJSON_AddItemToArray(jdevs, info_json(&in));
            } else {
                print_device(&in);
            }
        }
    }
    list_device_options(root);
    if (json) {
        char *text = cJSON_Print(root);
        if (text) printf("%s\n", text);
        free(text);
        cJSON_Delete(root);
    }
    return failures ? 1 : 0;
}
