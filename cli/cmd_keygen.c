/* distro-cli keygen: a CURVE keypair for a coordinator or a peer, written
 * to a keys file (format in net/keys.h). The public key is printed on
 * stdout, alone, so scripts can capture it; the guidance goes to stderr. */
#include <stdio.h>

#include "cli/cli_args.h"
#include "cli/commands.h"
#include "net/keys.h"

static const cli_opt keygen_opts[] = {
    {"out", "FILE", "where to write the keys file (required; created with mode 0600)"},
    {"force", NULL, "replace FILE if it exists (its keys and peer lines are lost)"},
    {NULL, NULL, NULL},
};

static const cli_cmd keygen_cmd = {
    "keygen",
    "",
    "Generate a CURVE keypair for a coordinator or a peer.",
    "The keys file holds 'public' and 'secret' lines; keep it private. A coordinator admits\n"
    "a peer when its keys file has a line 'peer <the peer's public key> [name]'; a peer\n"
    "joins with --keys FILE and --server-key <the coordinator's public key>.",
    keygen_opts,
    0,
    0,
};

int cmd_keygen(int argc, char **argv) {
    cli_args args;
    int rc = cli_parse(&keygen_cmd, argc, argv, &args);
    if (rc) return rc == 1 ? 0 : rc;
    const char *out = cli_get(&args, "out");
    if (!out || !out[0]) return cli_fail(&keygen_cmd, "--out FILE is required");

    net_keys keys;
    if (net_keys_generate(&keys) != DT_OK) {
        fprintf(stderr, "distro-cli keygen: %s\n", dt_last_error());
        return 1;
    }
    dt_status st = net_keys_save(out, &keys, cli_flag(&args, "force"));
    if (st != DT_OK) {
        fprintf(stderr, "distro-cli keygen: %s%s\n", dt_last_error(),
                cli_flag(&args, "force") ? "" : " (--force replaces it)");
        net_keys_free(&keys);
        return 1;
    }
    printf("%s\n", keys.public_key);
    fprintf(stderr,
            "wrote %s (mode 0600). The line above is its public key:\n"
            "  on a coordinator, peers pass it as --server-key (in single quotes: Z85 keys\n"
            "  contain shell characters such as & and $);\n"
            "  on a peer, the coordinator's keys file needs 'peer %s [name]'.\n",
            out, keys.public_key);
    net_keys_free(&keys);
    return 0;
}
