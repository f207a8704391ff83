/* Can a GPU run what this build compiled? The architectures come in CMake's
 * CUDA_ARCHITECTURES syntax, comma-separated ("75-real,80-real,90"):
 *   NN or NN-real   machine code for sm_NN, which runs on compute
 *                   capability N.x with x >= the last digit (same major);
 *   NN or NN-virtual PTX for compute_NN, which the driver compiles for any
 *                   capability at or above NN;
 *   NNa             machine code for exactly N.N (architecture-specific
 *                   features, no forward compatibility);
 *   NNf             machine code for the family: same major, minor >= N.
 * Machine code moves across minor revisions on desktop GPUs only: on Tegra
 * (Jetson, integrated) it runs on exactly its own capability. (CUDA C++
 * Programming Guide, "Binary Compatibility" and "PTX Compatibility".)
 * CUDA 13 no longer compiles for compute capabilities below 7.5, while
 * current drivers still list such GPUs (Pascal and Volta cards): without
 * this check `auto` would pick one and fail at its first kernel. */
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cuda/cuda_arch.h"

/* One entry's verdict: 1 runs, 0 does not, -1 not understood. */
static int entry_runs(const char *e, size_t len, int cc, bool tegra) {
    char buf[32];
    if (len == 0 || len >= sizeof buf) return -1;
    memcpy(buf, e, len);
    buf[len] = '\0';
    if (!isdigit((unsigned char)buf[0])) return -1; /* "all", "native", ... */
    char *end;
    const long nn = strtol(buf, &end, 10);
    if (nn < 10 || nn > 9999) return -1;
    const int major = (int)(nn / 10), minor = (int)(nn % 10);
    const int dev_major = cc / 10, dev_minor = cc % 10;
    const bool same_family = tegra ? cc == nn : dev_major == major && dev_minor >= minor;
    if (*end == 'a') return end[1] == '\0' || !strcmp(end + 1, "-real") ? cc == nn : -1;
    if (*end == 'f') return end[1] == '\0' || !strcmp(end + 1, "-real") ? same_family : -1;
    if (!strcmp(end, "-real")) return same_family;
    if (!strcmp(end, "-virtual")) return cc >= nn;
    if (*end == '\0') return same_family || cc >= nn; /* both */
    return -1;
}

int cuda_arch_runs(const char *archs, int major, int minor, bool tegra) {
    if (!archs || major < 0 || minor < 0 || minor > 9) return -1;
    const int cc = major * 10 + minor;
    int unknown = 0, entries = 0;
    for (const char *p = archs; *p;) {
        const size_t len = strcspn(p, ",;");
        const int r = entry_runs(p, len, cc, tegra);
        if (r == 1) return 1;
        if (r < 0) unknown = 1;
        entries++;
        p += len;
        if (*p) p++;
    }
    return unknown || !entries ? -1 : 0;
}
