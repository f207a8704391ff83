/* Keys files: parse, validate, write atomically (format in keys.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "net/keys.h"
#include "runtime/text.h"

/* The Z85 alphabet (ZeroMQ RFC 32). Checked here, character by character,
 * so an error can say which character is wrong; zmq_z85_decode then does
 * the arithmetic. */
static const char z85_alphabet[] = "0123456789abcdefghijklmnopqrstuvwxyz"
                                   "ABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

dt_status net_key_decode(const char *z85, uint8_t out[NET_KEY_BYTES]) {
    if (!z85) return dt_error(DT_ERR_FORMAT, "key is missing");
    size_t n = strnlen(z85, NET_KEY_Z85 + 1);
    if (n != NET_KEY_Z85)
        return dt_error(DT_ERR_FORMAT, "key has %s%zu characters, a Z85 key has %d",
                        n > NET_KEY_Z85 ? "more than " : "", n > NET_KEY_Z85 ? (size_t)40 : n,
                        NET_KEY_Z85);
    for (size_t i = 0; i < n; i++)
        if (!memchr(z85_alphabet, z85[i], sizeof z85_alphabet - 1))
            return dt_error(DT_ERR_FORMAT, "key character %zu ('%c') is not in the Z85 alphabet",
                            i + 1, z85[i]);
    /* Each group of 5 characters encodes a 32-bit word; a group above
     * 0xFFFFFFFF ("%%%%%" would be) does not decode to 32 bytes. */
    for (size_t g = 0; g < n; g += 5) {
        uint64_t v = 0;
        for (size_t i = 0; i < 5; i++)
            v = v * 85 + (uint64_t)(strchr(z85_alphabet, z85[g + i]) - z85_alphabet);
        if (v > 0xFFFFFFFFull)
            return dt_error(DT_ERR_FORMAT,
                            "key characters %zu..%zu encode a value above 32 bits: not Z85", g + 1,
                            g + 5);
    }
    uint8_t tmp[NET_KEY_BYTES];
    if (!zmq_z85_decode(out ? out : tmp, z85))
        return dt_error(DT_ERR_FORMAT, "key does not decode as Z85");
    return DT_OK;
}

static dt_status need_curve(void) {
    if (!zmq_has("curve"))
        return dt_error(DT_ERR_UNSUPPORTED,
                        "this libzmq was built without CURVE (libsodium); keys cannot be used");
    return DT_OK;
}

dt_status net_keys_generate(net_keys *out) {
    memset(out, 0, sizeof *out);
    dt_status st = need_curve();
    if (st != DT_OK) return st;
    if (zmq_curve_keypair(out->public_key, out->secret_key) != 0)
        return dt_error(DT_ERR_UNSUPPORTED, "zmq_curve_keypair: %s", zmq_strerror(zmq_errno()));
    out->has_keypair = true;
    return DT_OK;
}

void net_keys_free(net_keys *k) {
    if (!k) return;
    free(k->peers);
    memset(k, 0, sizeof *k);
}

int net_keys_find_peer(const net_keys *k, const char *key) {
    for (int i = 0; i < k->n_peers; i++)
        if (strcmp(k->peers[i].key, key) == 0) return i;
    return -1;
}

static dt_status check_name(const char *name) {
    size_t n = strlen(name);
    if (n > NET_NAME_MAX)
        return dt_error(DT_ERR_INVALID, "peer name of %zu characters (at most %d)", n,
                        NET_NAME_MAX);
    /* By position, never echoing the name: it may hold an escape sequence. */
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] <= ' ' || name[i] == 0x7f)
            return dt_error(DT_ERR_INVALID,
                            "peer name: byte %zu (0x%02x) is whitespace or a control character", i,
                            (unsigned)(unsigned char)name[i]);
    dt_status st = dt_check_printable(DT_ERR_INVALID, "peer name", name); /* UTF-8, C1 */
    if (st != DT_OK) return st;
    if (name[0] == '#')
        return dt_error(DT_ERR_INVALID, "peer name '%s' starts with '#' (a comment)", name);
    return DT_OK;
}

dt_status net_keys_add_peer(net_keys *k, const char *key, const char *name) {
    dt_status st = net_key_decode(key, NULL);
    if (st != DT_OK) return dt_error_wrap(DT_ERR_INVALID, "peer key: ");
    if (!name) name = "";
    if ((st = check_name(name)) != DT_OK) return st;
    if (net_keys_find_peer(k, key) >= 0)
        return dt_error(DT_ERR_INVALID, "peer key %s is listed twice", key);
    net_peer_key *p = realloc(k->peers, sizeof *p * (size_t)(k->n_peers + 1));
    if (!p) return dt_error(DT_ERR_OOM, "keys: out of memory for %d peers", k->n_peers + 1);
    k->peers = p;
    memset(&p[k->n_peers], 0, sizeof p[k->n_peers]);
    memcpy(p[k->n_peers].key, key, NET_KEY_Z85);
    memcpy(p[k->n_peers].name, name, strlen(name));
    k->n_peers++;
    return DT_OK;
}

/* ---- parsing ------------------------------------------------------------- */

#define KEYS_MAX_TOKENS 4

/* Splits a line into whitespace-separated tokens, in place, up to a
 * comment: a token that starts with '#'. ('#' is a Z85 character, but no
 * valid key starts with it: that 5-character group would exceed 32 bits.)
 * Returns the count, or KEYS_MAX_TOKENS + 1 when there are more. */
static int tokenize(char *line, char **tok) {
    int n = 0;
    char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\r') p++;
        if (*p == '\0' || *p == '#') return n;
        if (n == KEYS_MAX_TOKENS) return n + 1;
        tok[n++] = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\r') p++;
        if (*p) *p++ = '\0';
    }
}

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static dt_status
line_error(net_keys *out, const char *origin, int line, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    net_keys_free(out);
    return dt_error(DT_ERR_FORMAT, "%s:%d: %s", origin, line, msg);
}

dt_status net_keys_parse(const char *text, const char *origin, net_keys *out) {
    memset(out, 0, sizeof *out);
    int public_line = 0, secret_line = 0;
    int line_no = 0;
    const char *p = text;
    while (*p) {
        line_no++;
        const char *end = strchr(p, '\n');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char line[1024];
        if (n >= sizeof line)
            return line_error(out, origin, line_no, "line of %zu characters is too long", n);
        memcpy(line, p, n);
        line[n] = '\0';
        p += n + (end ? 1 : 0);

        char *tok[KEYS_MAX_TOKENS];
        int nt = tokenize(line, tok);
        if (nt == 0) continue;
        if (nt > KEYS_MAX_TOKENS)
            return line_error(out, origin, line_no, "too many fields on the line");
        const char *kind = tok[0];
        bool is_public = strcmp(kind, "public") == 0, is_secret = strcmp(kind, "secret") == 0;
        bool is_peer = strcmp(kind, "peer") == 0;
        if (!is_public && !is_secret && !is_peer)
            return line_error(out, origin, line_no,
                              "unknown entry '%.40s' (expected public, secret or peer)", kind);
        if (nt < 2) return line_error(out, origin, line_no, "%s: the key is missing", kind);
        if (net_key_decode(tok[1], NULL) != DT_OK)
            return line_error(out, origin, line_no, "%s: %s", kind, dt_last_error());
        if (is_peer) {
            if (nt > 3)
                return line_error(out, origin, line_no,
                                  "peer: expected 'peer KEY [NAME]', found extra fields");
            if (net_keys_add_peer(out, tok[1], nt == 3 ? tok[2] : "") != DT_OK) {
                char msg[512];
                snprintf(msg, sizeof msg, "%s", dt_last_error());
                return line_error(out, origin, line_no, "peer: %s", msg);
            }
            continue;
        }
        if (nt > 2)
            return line_error(out, origin, line_no, "%s: expected '%s KEY', found extra fields",
                              kind, kind);
        int *seen = is_public ? &public_line : &secret_line;
        if (*seen)
            return line_error(out, origin, line_no, "a second '%s' line (the first is line %d)",
                              kind, *seen);
        *seen = line_no;
        memcpy(is_public ? out->public_key : out->secret_key, tok[1], NET_KEY_Z85 + 1);
    }
    if (public_line && !secret_line)
        return line_error(out, origin, public_line, "public key without a 'secret' line");
    if (secret_line && !public_line)
        return line_error(out, origin, secret_line, "secret key without a 'public' line");
    if (public_line) {
        dt_status st = need_curve();
        if (st != DT_OK) {
            net_keys_free(out);
            return dt_error_wrap(st, "%s: ", origin);
        }
        char derived[NET_KEY_Z85 + 1];
        if (zmq_curve_public(derived, out->secret_key) != 0)
            return line_error(out, origin, secret_line, "zmq_curve_public: %s",
                              zmq_strerror(zmq_errno()));
        if (strcmp(derived, out->public_key) != 0)
            return line_error(out, origin, public_line,
                              "public key does not belong to the secret key on line %d "
                              "(it derives %s)",
                              secret_line, derived);
        out->has_keypair = true;
    }
    return DT_OK;
}

dt_status net_keys_load(const char *path, net_keys *out) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return dt_error(DT_ERR_NOT_FOUND, "%s: %s", path, strerror(errno));
    /* A keys file is a few lines; a large one is a wrong path, not keys. */
    const size_t limit = 4u << 20;
    char *text = malloc(limit + 1);
    if (!text) {
        fclose(f);
        return dt_error(DT_ERR_OOM, "%s: out of memory", path);
    }
    size_t n = fread(text, 1, limit + 1, f);
    int read_err = ferror(f);
    fclose(f);
    if (read_err) {
        free(text);
        return dt_error(DT_ERR_IO, "%s: read error", path);
    }
    if (n > limit) {
        free(text);
        return dt_error(DT_ERR_FORMAT, "%s: larger than %zu bytes, not a keys file", path, limit);
    }
    if (memchr(text, '\0', n)) {
        /* Name the line: count newlines up to the NUL. */
        int line = 1;
        for (const char *q = text; *q; q++) line += *q == '\n';
        free(text);
        return dt_error(DT_ERR_FORMAT, "%s:%d: line contains a NUL byte", path, line);
    }
    text[n] = '\0';
    dt_status st = net_keys_parse(text, path, out);
    free(text);
    return st;
}

/* ---- saving -------------------------------------------------------------- */

static dt_status write_all(int fd, const char *buf, size_t n, const char *path) {
    while (n) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return dt_error(DT_ERR_IO, "%s: write: %s", path, strerror(errno));
        buf += w;
        n -= (size_t)w;
    }
    return DT_OK;
}

static void fsync_parent(const char *path) {
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd); /* best effort: the rename itself already happened */
        close(fd);
    }
}

dt_status net_keys_save(const char *path, const net_keys *k, bool overwrite) {
    if (k->has_keypair) {
        dt_status st = net_key_decode(k->public_key, NULL);
        if (st == DT_OK) st = net_key_decode(k->secret_key, NULL);
        if (st != DT_OK) return dt_error_wrap(DT_ERR_INVALID, "%s: not saved: ", path);
    }
    size_t cap = 256 + (size_t)k->n_peers * (NET_KEY_Z85 + NET_NAME_MAX + 8);
    char *text = malloc(cap);
    if (!text) return dt_error(DT_ERR_OOM, "%s: out of memory", path);
    size_t n = (size_t)snprintf(text, cap,
                                "# distro keys file (distro-cli keygen). Keep it private: it "
                                "holds a secret key.\n");
    if (k->has_keypair)
        n += (size_t)snprintf(text + n, cap - n, "public %s\nsecret %s\n", k->public_key,
                              k->secret_key);
    for (int i = 0; i < k->n_peers; i++)
        n += (size_t)snprintf(text + n, cap - n, "peer %s%s%s\n", k->peers[i].key,
                              k->peers[i].name[0] ? " " : "", k->peers[i].name);

    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) {
        free(text);
        return dt_error(DT_ERR_OOM, "%s: out of memory", path);
    }
    snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp); /* created 0600: the secret is never readable by others */
    if (fd < 0) {
        dt_status st =
            dt_error(DT_ERR_IO, "%s: cannot create a temporary file: %s", path, strerror(errno));
        free(text);
        free(tmp);
        return st;
    }
    dt_status st = DT_OK;
    if (fchmod(fd, 0600) != 0) st = dt_error(DT_ERR_IO, "%s: chmod: %s", tmp, strerror(errno));
    if (st == DT_OK) st = write_all(fd, text, n, tmp);
    if (st == DT_OK && fsync(fd) != 0)
        st = dt_error(DT_ERR_IO, "%s: fsync: %s", tmp, strerror(errno));
    if (close(fd) != 0 && st == DT_OK)
        st = dt_error(DT_ERR_IO, "%s: close: %s", tmp, strerror(errno));
    if (st == DT_OK) {
        if (overwrite) {
            if (rename(tmp, path) != 0)
                st = dt_error(DT_ERR_IO, "%s: rename: %s", path, strerror(errno));
        } else if (link(tmp, path) != 0) {
            st = errno == EEXIST
                     ? dt_error(DT_ERR_IO, "%s: exists; not overwritten", path)
                     : dt_error(DT_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        }
    }
    unlink(tmp); /* after rename: ENOENT, harmless; after link: drops the temp name */
    if (st == DT_OK) fsync_parent(path);
    free(text);
    free(tmp);
    return st;
}
