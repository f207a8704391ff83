/* distro-cli join: take part in a run as a peer. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_args.h"
#include "cli/commands.h"
#include "cli/event_printer.h"
#include "net/peer.h"

/* Long enough for a coordinator restart (--resume loads a checkpoint), short
 * enough that a typo or a dead coordinator does not keep a peer for ever. */
#define JOIN_DEFAULT_TIMEOUT_S 60.0

static const cli_opt join_opts[] = {
    {"device", "SPEC",
     "cpu, opencl:N, vulkan:N, cuda:N or auto (default auto), with :OPTION=VALUE device "
     "options (cpu:threads=2, vulkan:0:kernels=gpu; 'distro-cli devices' lists them)"},
    {"keys", "FILE", "this peer's keypair (distro-cli keygen); enables CURVE"},
    {"server-key", "KEY", "the coordinator's public key (Z85), with --keys"},
    {"name", "NAME",
     "shown in the coordinator's log: printable UTF-8, at most 64 bytes (default: the host "
     "name)"},
    {"up-mbit", "RATE", "shape the upload to RATE Mbit/s (replay a home link)"},
    {"down-mbit", "RATE", "shape the download to RATE Mbit/s"},
    {"latency-ms", "MS", "add MS milliseconds of latency in each direction"},
    {"connect-timeout", "S",
     "give up after S seconds without a connection, saying why (default 60; 0: wait for ever)"},
    {"json", NULL, "one JSON object per event on stdout (\"event\": log or step)"},
    {"state", "FILE", "keep my optimizer state in FILE and resume from it after a restart"},
    {"state-every", "N", "with --state: write it after every N applied rounds (default 10)"},
    {NULL, NULL, NULL},
};

static const cli_cmd join_cmd = {
    "join",
    "ADDRESS",
    "Join a run as a peer (ADDRESS: host:port or tcp://host:port).",
    "The peer measures its throughput, says HELLO, pulls the weights, then trains the\n"
    "micro-batches each round assigns it, sends its compressed momentum, and applies every\n"
    "round's result with the canonical update. It reconnects by itself after a coordinator\n"
    "restart; Ctrl-C leaves the run cleanly.\n"
    "\n"
    "A malformed address, a bad port or an unknown host fails at once. Without a connection\n"
    "for --connect-timeout seconds (default 60) join gives up and names the reason: nothing\n"
    "listening, this peer's key refused, a wrong --server-key, or a coordinator that stopped\n"
    "answering.",
    join_opts,
    1,
    1,
};

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

int cmd_join(int argc, char **argv) {
    cli_args args;
    int rc = cli_parse(&join_cmd, argc, argv, &args);
    if (rc) return rc == 1 ? 0 : rc;
    double up = 0, down = 0, latency = 0, timeout = JOIN_DEFAULT_TIMEOUT_S;
    int64_t state_every = 10;
    if (!cli_get_double(&args, "up-mbit", 0.001, 1e6, 0, &up) ||
        !cli_get_double(&args, "down-mbit", 0.001, 1e6, 0, &down) ||
        !cli_get_double(&args, "latency-ms", 0, 60000, 0, &latency) ||
        !cli_get_double(&args, "connect-timeout", 0, 1e6, JOIN_DEFAULT_TIMEOUT_S, &timeout) ||
        !cli_get_int(&args, "state-every", 1, 1000000, 10, &state_every))
        return 2;
    const char *keys_file = cli_get(&args, "keys"), *server_key = cli_get(&args, "server-key");
    if ((keys_file != NULL) != (server_key != NULL))
        return cli_fail(&join_cmd, "--keys and --server-key go together (CURVE needs both)");
    net_keys keys;
    memset(&keys, 0, sizeof keys);
    if (keys_file && net_keys_load(keys_file, &keys) != DT_OK) {
        fprintf(stderr, "distro-cli join: %s\n", dt_last_error());
        return 1;
    }
    if (keys_file && !keys.has_keypair) {
        net_keys_free(&keys);
        return cli_fail(&join_cmd, "%s has no keypair", keys_file);
    }
    if (server_key && net_key_decode(server_key, NULL) != DT_OK) {
        net_keys_free(&keys);
        return cli_fail(&join_cmd, "--server-key: %s", dt_last_error());
    }
    const char *state = cli_get(&args, "state");
    if (state) { /* a state that could never be written is refused now, not after a round */
        FILE *f = fopen(state, "ab");
        if (!f) {
            net_keys_free(&keys);
            return cli_fail(&join_cmd, "--state %s: cannot write there", state);
        }
        long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
        fclose(f);
        if (size == 0) remove(state);
    }
    char address[512], host[128] = "peer";
    const char *a = args.positional[0];
    snprintf(address, sizeof address, "%s%s", strstr(a, "://") ? "" : "tcp://", a);
    gethostname(host, sizeof host - 1);
    const char *name = cli_get(&args, "name");
    char who[96];
    snprintf(who, sizeof who, "peer %s", name ? name : host);
    cli_event_printer printer;
    cli_event_printer_init(&printer, who, true, cli_flag(&args, "json"));
    net_peer_options o = {
        .address = address,
        .device = cli_get(&args, "device"),
        .keys = keys_file ? &keys : NULL,
        .server_key = server_key,
        .name = name ? name : host,
        .shape = {up * 125000.0, latency / 1000.0, down * 125000.0, latency / 1000.0},
        .events = {cli_print_event, &printer},
        .connect_timeout_s = timeout,
        .state_file = state,
        .state_every = state_every,
        .stop = &stop_requested,
    };
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    dt_status st = net_peer_run(&o);
    net_keys_free(&keys);
    if (st != DT_OK) {
        fprintf(stderr, "distro-cli join: %s\n", dt_last_error());
        return 1;
    }
    return stop_requested ? 130 : 0;
}
