/* The payload size against the dense weights, from the geometry every
 * replica derives (model/demo_payload.c), so the figure is the real one. */
#include <stdio.h>

#include "cli/payload_check.h"
#include "model/layout.h"

bool cli_warn_large_payload(const char *who, const model_config *c, int64_t chunk, int64_t topk,
                            demo_values values) {
    model_layout l;
    if (model_layout_build(c, &l) != DT_OK) {
        dt_error_clear(); /* a bad config is reported where it is used */
        return false;
    }
    demo_geometry g;
    bool warned = false;
    if (demo_geometry_build(&l, chunk, topk, values, &g) == DT_OK) {
        double dense = 4.0 * (double)l.total;
        if ((double)g.payload_bytes > dense) {
            fprintf(stderr,
                    "distro-cli %s: warning: each payload is %zu bytes (top-k %lld of %lld x %lld "
                    "tiles, %s values), %.1fx the dense fp32 weights (%.0f bytes): sending "
                    "the weights would be smaller; lower the top-k or use 1bit or bf16 values\n",
                    who, g.payload_bytes, (long long)topk, (long long)chunk, (long long)chunk,
                    demo_values_name(values), (double)g.payload_bytes / dense, dense);
            warned = true;
        }
        demo_geometry_free(&g);
    } else {
        dt_error_clear();
    }
    model_layout_free(&l);
    return warned;
}
