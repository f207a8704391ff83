/* The backend op table as data: names of the ops, which entries a table
 * fills, and the refusal of an op a backend leaves out. */
#include <stdbool.h>

#include "runtime/op_check.h"

#define OP_NAME_(ret, name, params, args) #name,
static const char *const op_names[DT_OP_COUNT] = {DT_DEVICE_OPS(OP_NAME_)};
#undef OP_NAME_

_Static_assert(DT_OP_COUNT <= 64, "dt_device_info's op masks hold 64 ops");

int dt_op_count(void) {
    return DT_OP_COUNT;
}

const char *dt_op_name(int op) {
    return op >= 0 && op < DT_OP_COUNT ? op_names[op] : NULL;
}

bool dt_device_ops_has(const dt_device_ops *ops, dt_op_id op) {
    if (!ops) return false;
    switch (op) {
#define OP_CASE_(ret, name, params, args)                                                          \
    case DT_OP_##name:                                                                             \
        return ops->name != NULL;
        DT_DEVICE_OPS(OP_CASE_)
#undef OP_CASE_
    case DT_OP_COUNT:
        break;
    }
    return false;
}

void dt_device_info_set_ops(dt_device_info *info, const dt_device_ops *ops) {
    info->ops_on_device = info->ops_on_host = 0;
    if (!ops) return;
    for (int op = 0; op < DT_OP_COUNT; op++) {
        uint64_t bit = (uint64_t)1 << op;
        bool present = dt_device_ops_has(ops, (dt_op_id)op);
        if (op == DT_OP_demo_apply && (!present || info->canonical_on_host))
            info->ops_on_host |= bit;
        else if (present)
            info->ops_on_device |= bit;
    }
}

dt_status op_unsupported(const op_ctx *c, dt_op_id op) {
    const dt_device_info *in = &c->dev->info;
    return dt_error(DT_ERR_UNSUPPORTED,
                    "%s: device %s (%s) does not support this op: the %s backend provides no "
                    "'%s' entry",
                    c->op, in->spec, in->name, in->backend, op_names[op]);
}
