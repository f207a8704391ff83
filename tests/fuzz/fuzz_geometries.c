/* See fuzz_geometries.h. */
#include <stdio.h>

#include "fuzz_geometries.h"
#include "model/config.h"
#include "model/layout.h"

int fuzz_geometries_build(fuzz_geometries *f) {
    model_config cfg;
    model_layout layout;
    if (model_config_preset("tiny", &cfg) != DT_OK || model_layout_build(&cfg, &layout) != DT_OK) {
        fprintf(stderr, "fuzz: tiny layout: %s\n", dt_last_error());
        return -1;
    }
    static const int64_t chunks[2] = {64, 32};
    f->max_entries = 0;
    for (int i = 0; i < FUZZ_N_GEOMETRY; i++) {
        demo_values v = (demo_values)(i % 3);
        if (demo_geometry_build(&layout, chunks[i / 3], FUZZ_TOPK, v, &f->g[i]) != DT_OK) {
            fprintf(stderr, "fuzz: geometry: %s\n", dt_last_error());
            model_layout_free(&layout);
            return -1;
        }
        if (f->g[i].total_entries > f->max_entries) f->max_entries = f->g[i].total_entries;
    }
    model_layout_free(&layout);
    return 0;
}

const demo_geometry *fuzz_geometry_for(const fuzz_geometries *f, const uint8_t *payload,
                                       size_t len) {
    int values = len > 6 ? payload[6] % 3 : 0; /* byte 6: the header's value encoding */
    const demo_geometry *first = &f->g[values];
    for (int i = values; i < FUZZ_N_GEOMETRY; i += 3)
        if (f->g[i].payload_bytes == len) return &f->g[i];
    return first;
}
