/* The device option profile=on (vulkan:N:profile=on): run every op to completion as it is issued
 * and add its host-measured time to a per-op table, printed to stderr when the device closes. It
 * defeats batching, so it is for finding slow shaders, not for measuring a training step. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backends/vulkan/vulkan_backend.h"

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

void vk_profile_begin(vk_device *d) {
    if (d->profile) d->profile_t0 = seconds();
}

dt_status vk_profile_end(vk_device *d, const char *op) {
    if (!d->profile) return DT_OK;
    dt_status st = vk_wait(d, d->next_serial - 1, op);
    double dt = seconds() - d->profile_t0;
    int i = 0;
    while (i < d->n_profile && strcmp(d->profile_ops[i].op, op) != 0) i++;
    if (i == d->n_profile) {
        if (i == VK_PROFILE_OPS) return st;
        d->profile_ops[d->n_profile++] = (vk_profile_entry){op, 0, 0.0};
    }
    d->profile_ops[i].calls++;
    d->profile_ops[i].seconds += dt;
    return st;
}

void vk_profile_report(const vk_device *d) {
    if (!d->profile || !d->n_profile) return;
    double total = 0.0;
    for (int i = 0; i < d->n_profile; i++) total += d->profile_ops[i].seconds;
    fprintf(stderr, "distro vulkan profile for %s (%s), ops run one at a time:\n",
            d->base.info.spec, d->base.info.name);
    for (int i = 0; i < d->n_profile; i++) {
        const vk_profile_entry *e = &d->profile_ops[i];
        fprintf(stderr, "  %-18s %8ld calls %10.3f ms %6.1f%%  %9.1f us/call\n", e->op, e->calls,
                e->seconds * 1e3, total > 0 ? 100.0 * e->seconds / total : 0.0,
                e->seconds * 1e6 / (double)e->calls);
    }
}
