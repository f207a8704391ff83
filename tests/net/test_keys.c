/* net/keys: generate, save (0600, atomic, no silent overwrite), load back;
 * every kind of bad keys file refused with "file:line" and the reason. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

#include "net/keys.h"
#include "net_test_util.h"

static char dir[512];

static const char *path_in(const char *name) {
    static char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

static int count_files(void) {
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | wc -l", dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p) {
        if (fscanf(p, "%d", &n) != 1) n = -1;
        pclose(p);
    }
    return n;
}

static void test_generate_save_load(void) {
    net_keys k, other, loaded;
    if (!CHECK_OK(net_keys_generate(&k))) return;
    CHECK(k.has_keypair && strlen(k.public_key) == 40 && strlen(k.secret_key) == 40,
          "generated keypair");
    char derived[41];
    CHECK(zmq_curve_public(derived, k.secret_key) == 0 && strcmp(derived, k.public_key) == 0,
          "public key derives from the secret");
    CHECK_OK(net_keys_generate(&other));
    CHECK_OK(net_keys_add_peer(&k, other.public_key, "laptop"));
    CHECK_OK(net_keys_add_peer(&k, "%bcdefghijklmnopqrstuvwxyz0123456789ABCD", NULL));
    CHECK_STATUS(net_keys_add_peer(&k, other.public_key, "again"), DT_ERR_INVALID, "twice");
    CHECK_STATUS(net_keys_add_peer(&k, "short", NULL), DT_ERR_INVALID, "peer key", "characters");
    CHECK_STATUS(net_keys_add_peer(&k, k.public_key, "two words"), DT_ERR_INVALID, "whitespace");
    /* Named by position, never echoed (an escape sequence would reach the
     * terminal); UTF-8 names are fine, malformed ones are not. */
    CHECK_STATUS(net_keys_add_peer(&k, k.public_key, "red\x1b[31m"), DT_ERR_INVALID,
                 "byte 3 (0x1b)");
    CHECK(!strchr(dt_last_error(), 0x1b), "the error echoes the escape: %s", dt_last_error());
    CHECK_STATUS(net_keys_add_peer(&k, k.public_key, "caf\xc3"), DT_ERR_INVALID,
                 "byte 3 (0xc3) starts no printable UTF-8");
    net_keys utf8;
    if (CHECK_OK(net_keys_generate(&utf8))) {
        CHECK_OK(net_keys_add_peer(&utf8, other.public_key, "Zo\xc3\xab"));
        net_keys_free(&utf8);
    }

    const char *path = path_in("node.keys");
    if (!CHECK_OK(net_keys_save(path, &k, false))) return;
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "mode %o, expected 0600",
          (unsigned)(st.st_mode & 0777));
    CHECK(count_files() == 1, "a temporary file was left behind (%d files)", count_files());
    if (CHECK_OK(net_keys_load(path, &loaded))) {
        CHECK(loaded.has_keypair && strcmp(loaded.public_key, k.public_key) == 0 &&
                  strcmp(loaded.secret_key, k.secret_key) == 0,
              "loaded keypair differs");
        CHECK(loaded.n_peers == 2 && strcmp(loaded.peers[0].key, other.public_key) == 0 &&
                  strcmp(loaded.peers[0].name, "laptop") == 0 && loaded.peers[1].name[0] == '\0',
              "loaded peers differ");
        CHECK(net_keys_find_peer(&loaded, other.public_key) == 0 &&
                  net_keys_find_peer(&loaded, k.public_key) == -1,
              "net_keys_find_peer");
        CHECK(strcmp(loaded.peers[1].key, "%bcdefghijklmnopqrstuvwxyz0123456789ABCD") == 0,
              "a key starting with '%%' survives the round trip");
        net_keys_free(&loaded);
    }
    /* No overwrite without asking; the old file is intact. */
    CHECK_STATUS(net_keys_save(path, &other, false), DT_ERR_IO, path, "exists");
    if (CHECK_OK(net_keys_load(path, &loaded))) {
        CHECK(strcmp(loaded.public_key, k.public_key) == 0, "refused save changed the file");
        net_keys_free(&loaded);
    }
    CHECK(count_files() == 1, "a refused save left a file behind");
    CHECK_OK(net_keys_save(path, &other, true));
    if (CHECK_OK(net_keys_load(path, &loaded))) {
        CHECK(strcmp(loaded.public_key, other.public_key) == 0 && loaded.n_peers == 0,
              "overwrite did not replace the file");
        net_keys_free(&loaded);
    }
    CHECK_STATUS(net_keys_load(path_in("missing.keys"), &loaded), DT_ERR_NOT_FOUND, "missing.keys");
    CHECK_STATUS(net_keys_save(path_in("no/such/dir.keys"), &k, false), DT_ERR_IO, "dir.keys");
    net_keys_free(&k);
    net_keys_free(&other);
}

static void test_key_decode(void) {
    uint8_t raw[32];
    net_keys k;
    if (net_keys_generate(&k) != DT_OK) return;
    CHECK_OK(net_key_decode(k.public_key, raw));
    char back[41];
    CHECK(zmq_z85_encode(back, raw, 32) && strcmp(back, k.public_key) == 0, "decode/encode");
    CHECK_STATUS(net_key_decode("", raw), DT_ERR_FORMAT, "0 characters");
    CHECK_STATUS(net_key_decode("0123456789012345678901234567890123456789x", raw), DT_ERR_FORMAT,
                 "more than 40");
    CHECK_STATUS(net_key_decode("012345678901234567890123456789012345678~", raw), DT_ERR_FORMAT,
                 "character 40", "alphabet");
    CHECK_STATUS(net_key_decode("%####01234567890123456789012345678901234", raw), DT_ERR_FORMAT,
                 "characters 1..5", "32 bits");
    net_keys_free(&k);
}

/* One bad file: its text, the line the error must name, and a phrase. */
typedef struct bad_file {
    const char *text;
    int line;
    const char *phrase;
} bad_file;

static void test_bad_files(void) {
    net_keys a, b;
    if (net_keys_generate(&a) != DT_OK || net_keys_generate(&b) != DT_OK) return;
    char pair[200], mismatch[200], twice[300], peer_twice[300], long_name[300], good[400];
    snprintf(pair, sizeof pair, "public %s\nsecret %s\n", a.public_key, a.secret_key);
    snprintf(mismatch, sizeof mismatch, "# mine\n\npublic %s\nsecret %s\n", b.public_key,
             a.secret_key);
    snprintf(twice, sizeof twice, "%spublic %s\n", pair, a.public_key);
    snprintf(peer_twice, sizeof peer_twice, "peer %s x\npeer %s y\n", b.public_key, b.public_key);
    snprintf(long_name, sizeof long_name, "peer %s %065d\n", b.public_key, 0);
    const bad_file bad[] = {
        {"bogus line\n", 1, "unknown entry 'bogus'"},
        {"\n# comment\npublic\n", 3, "key is missing"},
        {"peer 0123456789\n", 1, "10 characters"},
        {"peer 012345678901234567890123456789012345678~\n", 1, "alphabet"},
        {"peer %####01234567890123456789012345678901234\n", 1, "32 bits"},
        {"peer # a comment, not a key\n", 1, "key is missing"},
        {pair, 0, NULL}, /* valid: checked below */
        {mismatch, 3, "does not belong to the secret key on line 4"},
        {twice, 3, "second 'public' line (the first is line 1)"},
        {peer_twice, 2, "listed twice"},
        {long_name, 1, "at most 64"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (!bad[i].phrase) continue;
        char name[32], where[1100];
        snprintf(name, sizeof name, "bad%zu.keys", i);
        const char *path = path_in(name);
        nt_write_file(path, bad[i].text);
        snprintf(where, sizeof where, "%s:%d: ", path, bad[i].line);
        net_keys k;
        CHECK_STATUS(net_keys_load(path, &k), DT_ERR_FORMAT, where, bad[i].phrase);
        CHECK(k.n_peers == 0 && !k.has_keypair && !k.peers, "a refused load left data behind");
    }
    /* Half a keypair. */
    char half[100];
    snprintf(half, sizeof half, "public %s\n", a.public_key);
    net_keys k;
    CHECK_STATUS(net_keys_parse(half, "half", &k), DT_ERR_FORMAT, "half:1:", "without a 'secret'");
    snprintf(half, sizeof half, "\nsecret %s\n", a.secret_key);
    CHECK_STATUS(net_keys_parse(half, "half", &k), DT_ERR_FORMAT, "half:2:", "without a 'public'");
    CHECK_STATUS(net_keys_parse("public a b c d e\n", "many", &k), DT_ERR_FORMAT,
                 "many:1:", "too many fields");
    snprintf(half, sizeof half, "secret %s extra\n", a.secret_key);
    CHECK_STATUS(net_keys_parse(half, "extra", &k), DT_ERR_FORMAT, "extra:1:", "extra fields");
    /* A NUL byte inside a file. */
    const char *path = path_in("nul.keys");
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite("# ok\npeer \0x\n", 1, 13, f);
        fclose(f);
    }
    CHECK_STATUS(net_keys_load(path, &k), DT_ERR_FORMAT, "nul.keys:2:", "NUL");

    /* Valid variety: CRLF, comments after fields, a name, blank lines. */
    snprintf(good, sizeof good,
             "# coordinator\r\n\r\npublic %s   # me\r\nsecret %s\r\n  peer %s home-pc # bob\n"
             "\tpeer %%bcdefghijklmnopqrstuvwxyz0123456789ABCD\n",
             a.public_key, a.secret_key, b.public_key);
    if (CHECK_OK(net_keys_parse(good, "good", &k))) {
        CHECK(k.has_keypair && k.n_peers == 2 && strcmp(k.peers[0].name, "home-pc") == 0 &&
                  strcmp(k.peers[1].key, "%bcdefghijklmnopqrstuvwxyz0123456789ABCD") == 0,
              "valid file parsed wrong");
        net_keys_free(&k);
    }
    /* Peers only (no keypair) is a valid file: the caller decides. */
    snprintf(good, sizeof good, "peer %s\n", b.public_key);
    if (CHECK_OK(net_keys_parse(good, "peers", &k))) {
        CHECK(!k.has_keypair && k.n_peers == 1, "peers-only file");
        net_keys_free(&k);
    }
    net_keys_free(&a);
    net_keys_free(&b);
}

int main(void) {
    if (!zmq_has("curve")) {
        printf("skipped: this libzmq has no CURVE support\n");
        return 77;
    }
    if (nt_make_temp_dir(dir, sizeof dir) != 0) {
        printf("cannot create a temporary directory\n");
        return 1;
    }
    test_generate_save_load();
    test_key_decode();
    test_bad_files();
    nt_remove_dir(dir);
    return nt_finish("test_keys");
}
