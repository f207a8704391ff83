/* On-disk cache of compiled program binaries, so the second start of a
 * device skips the OpenCL C compiler (seconds per program on PoCL, more on
 * some GPU drivers).
 *
 * Location: $DISTRO_CACHE_DIR, else $XDG_CACHE_HOME/distro/opencl, else
 * ~/.cache/distro/opencl; DISTRO_OPENCL_CACHE=0 turns it off.
 *
 * One file per (program, device identity, source+options hash):
 *   opencl-<program>-<16 hex: hash of key>.bin
 * File layout, little or big endian as the host writes it (a cache is never
 * moved between machines; a foreign file simply fails the checks):
 *   char     magic[8]      "DTOCLBIN"
 *   uint32   format        OCL_CACHE_FORMAT
 *   uint32   key_len       bytes of the key text that follows
 *   uint64   payload_len   bytes of the program binary
 *   uint64   payload_hash  FNV-1a 64 of the binary
 *   uint64   header_hash   FNV-1a 64 of everything above plus the key text
 *   char     key[key_len]  the full key (device, driver, options, source hash)
 *   byte     payload[payload_len]
 * A file is used only if every field checks out and its key equals ours
 * byte for byte; anything else (truncated, corrupt, another driver version
 * that happened to hash to the same name) is rebuilt and overwritten. A
 * binary that passes the checks but that the driver then rejects is
 * rebuilt too (opencl_program.c).
 *
 * (Whether a device's canonical DeMo update passed the runtime's exactness
 * probe is cached by the runtime, runtime/canonical_probe.c.) */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/opencl/opencl_backend.h"
#include "runtime/file_io.h"

#define OCL_CACHE_FORMAT 1u
#define OCL_CACHE_MAGIC  "DTOCLBIN"
/* Refuse absurd sizes before allocating for them. */
#define OCL_CACHE_MAX_PAYLOAD ((uint64_t)1 << 30)

typedef struct cache_header {
    char magic[8];
    uint32_t format;
    uint32_t key_len;
    uint64_t payload_len;
    uint64_t payload_hash;
    uint64_t header_hash;
} cache_header;

static uint64_t fnv1a(uint64_t h, const void *data, size_t len) {
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

#define FNV_SEED 0xcbf29ce484222325ULL

static uint64_t header_hash(const cache_header *h, const char *key) {
    cache_header copy = *h;
    copy.header_hash = 0;
    uint64_t x = fnv1a(FNV_SEED, &copy, sizeof copy);
    return fnv1a(x, key, h->key_len);
}

static int cache_dir(char *out, size_t len) {
    const char *off = getenv("DISTRO_OPENCL_CACHE");
    if (off && strcmp(off, "0") == 0) return 0;
    return dt_cache_dir("opencl", out, len);
}

void ocl_cache_key_make(ocl_cache_key *key, cl_platform_id platform_id, cl_device_id device_id,
                        const char *program, const char *options, const char *prelude,
                        size_t prelude_len, const char *source, size_t source_len) {
    char platform[128], platform_version[128], device[128], vendor[128], driver[128], version[128];
    ocl_platform_string(platform_id, CL_PLATFORM_NAME, platform, sizeof platform);
    ocl_platform_string(platform_id, CL_PLATFORM_VERSION, platform_version,
                        sizeof platform_version);
    ocl_device_string(device_id, CL_DEVICE_NAME, device, sizeof device);
    ocl_device_string(device_id, CL_DEVICE_VENDOR, vendor, sizeof vendor);
    ocl_device_string(device_id, CL_DRIVER_VERSION, driver, sizeof driver);
    ocl_device_string(device_id, CL_DEVICE_VERSION, version, sizeof version);
    uint64_t src = fnv1a(fnv1a(FNV_SEED, prelude, prelude_len), source, source_len);
    snprintf(key->text, sizeof key->text, "distro-opencl-cache/%u|%s|%s|%s|%s|%s|%s|%s|%s|%016llx",
             OCL_CACHE_FORMAT, program, platform, platform_version, device, vendor, driver, version,
             options, (unsigned long long)src);

    key->file[0] = '\0';
    char dir[384];
    if (!cache_dir(dir, sizeof dir)) return;
    /* The name changes with the source and options; the driver version is
     * only in the key inside, so a driver update overwrites the stale file
     * instead of leaving it behind. */
    char ident[512];
    snprintf(ident, sizeof ident, "%s|%s|%s|%s|%016llx", platform, device, vendor, options,
             (unsigned long long)src);
    uint64_t name = fnv1a(FNV_SEED, ident, strlen(ident));
    int n = snprintf(key->file, sizeof key->file, "%s/opencl-%s-%016llx.bin", dir, program,
                     (unsigned long long)name);
    if (n < 0 || (size_t)n >= sizeof key->file) key->file[0] = '\0';
}

static int read_exact(FILE *f, void *buf, size_t len) {
    return fread(buf, 1, len, f) == len;
}

int ocl_cache_load(const ocl_cache_key *key, unsigned char **bin, size_t *len) {
    *bin = NULL;
    *len = 0;
    if (!key->file[0]) return 0;
    FILE *f = fopen(key->file, "rb");
    if (!f) return 0;
    cache_header h;
    char stored_key[sizeof key->text];
    unsigned char *payload = NULL;
    int ok = read_exact(f, &h, sizeof h) && memcmp(h.magic, OCL_CACHE_MAGIC, 8) == 0 &&
             h.format == OCL_CACHE_FORMAT && h.key_len < sizeof stored_key && h.payload_len > 0 &&
             h.payload_len <= OCL_CACHE_MAX_PAYLOAD && read_exact(f, stored_key, h.key_len);
    if (ok) {
        stored_key[h.key_len] = '\0';
        ok = header_hash(&h, stored_key) == h.header_hash && strcmp(stored_key, key->text) == 0;
    }
    if (ok) ok = (payload = malloc((size_t)h.payload_len)) != NULL;
    if (ok) ok = read_exact(f, payload, (size_t)h.payload_len) && fgetc(f) == EOF;
    if (ok) ok = fnv1a(FNV_SEED, payload, (size_t)h.payload_len) == h.payload_hash;
    fclose(f);
    if (!ok) {
        free(payload);
        return 0;
    }
    *bin = payload;
    *len = (size_t)h.payload_len;
    return 1;
}

static int write_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return 0;
        p += n;
        len -= (size_t)n;
    }
    return 1;
}

void ocl_cache_store(const ocl_cache_key *key, const unsigned char *bin, size_t len) {
    if (!key->file[0] || !bin || !len) return;
    char dir[512];
    dt_strlcpy(dir, key->file, sizeof dir);
    char *slash = strrchr(dir, '/');
    if (!slash) return;
    *slash = '\0';
    if (dt_make_dirs(dir) != 0) return;

    cache_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, OCL_CACHE_MAGIC, 8);
    h.format = OCL_CACHE_FORMAT;
    h.key_len = (uint32_t)strlen(key->text);
    h.payload_len = len;
    h.payload_hash = fnv1a(FNV_SEED, bin, len);
    h.header_hash = header_hash(&h, key->text);

    /* Several processes may open the same device at once: each writes its
     * own temp file, and rename() makes whichever finishes last the entry,
     * never a mix of two. */
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", key->file, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return;
    int ok = write_all(fd, &h, sizeof h) && write_all(fd, key->text, h.key_len) &&
             write_all(fd, bin, len) && fsync(fd) == 0;
    if (close(fd) != 0) ok = 0;
    if (!ok || rename(tmp, key->file) != 0) unlink(tmp);
}
