/* distro-cli coordinator: runs a networked DeMo training run. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_args.h"
#include "cli/commands.h"
#include "cli/event_printer.h"
#include "cli/payload_check.h"
#include "cli/live_view.h"
#include "net/coordinator.h"

static const cli_opt coordinator_opts[] = {
    {"config", "FILE", "the run config (JSON; see --help below)"},
    {"validate", "FILE", "check a run config, print the effective config, and exit"},
    {"listen", "ENDPOINT", "where peers connect (default tcp://*:7070; port 0 picks one)"},
    {"keys", "FILE", "own keypair and admitted peers (distro-cli keygen); enables CURVE"},
    {"open", NULL, "run without authentication (anyone reaching the port may join)"},
    {"device", "SPEC", "device of the coordinator's replica (default cpu)"},
    {"checkpoint-dir", "DIR",
     "write checkpoints here (every checkpoint_every steps and at the end)"},
    {"resume", NULL, "continue from the checkpoint in --checkpoint-dir"},
    {"summary", "FILE", "write a JSON summary of the run at the end"},
    {"ready-file", "FILE", "write the bound endpoint and public key here once listening"},
    {"record", "FILE", "append every applied round (for replaying the run elsewhere)"},
    {"json", NULL,
     "one JSON object per event: started, log, joined, left, resync, refused, rejected, "
     "checkpoint, step, peer_step, hash, eval, resumed, missed, finished"},
    {"http", "[HOST:]PORT",
     "serve a live dashboard (/), its state (/api/state.json) and Prometheus /metrics; "
     "loopback unless HOST says otherwise ('*': every interface)"},
    {"max-peers-per-key", "N", "peer slots one admitted key may hold at once (default 4)"},
    {"max-peers-per-address", "N",
     "with --open: peer slots one IP address may hold at once (default 64)"},
    {NULL, NULL, NULL},
};

static const cli_cmd coordinator_cmd = {
    "coordinator",
    "",
    "Coordinate a networked training run (DeMo or local steps).",
    "The run config is JSON; only \"model\" is required (a preset name or a model config\n"
    "object). Fields and defaults: data \"builtin:tinyshakespeare\", steps 500 (rounds),\n"
    "micro_batch 12, tokens_per_round 3072 (per optimizer step), split \"throughput\" (or\n"
    "\"even\"), seed 1, optimizer {name \"demo\", lr 3e-3, warmup 50, final_lr_frac 0.1,\n"
    "weight_decay 0.1, clip 1.0, beta 0.999, chunk 64, topk 32, values \"fp32\", aggregate\n"
    "\"chosen\"}; with name \"local\": lr 4e-3, beta 0.95 (error feedback), aggregate \"all\",\n"
    "inner_steps 32, outer_lr 2, outer \"scaled\" (or \"sign\"), warmup min(100, steps/10)\n"
    "counted in optimizer steps. round_deadline_s 60 (a whole round), min_peers 1,\n"
    "max_misses 3, hash_check_every 1, checkpoint_every 100, eval_batches 20, eval_every 0\n"
    "(the val loss every N steps; 0: at the end only).\n"
    "Unknown fields are errors; --validate prints the effective config.\n"
    "Ctrl-C writes a checkpoint (with --checkpoint-dir) and stops; --resume continues and\n"
    "peers reconnect by themselves.\n"
    "Admission: a closed connection frees its slot at once, a joiner whose pull of the\n"
    "weights makes no progress for join_timeout_s (30 s) loses it, at most 16 peers join at\n"
    "once (others are told to retry), and a key or address that was ejected, abused the\n"
    "protocol or left mid-join is refused for 2 s, 4 s, 8 s, ... up to 10 minutes; one\n"
    "applied payload clears its record.",
    coordinator_opts,
    0,
    0,
};

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

int cmd_coordinator(int argc, char **argv) {
    cli_args args;
    int rc = cli_parse(&coordinator_cmd, argc, argv, &args);
    if (rc) return rc == 1 ? 0 : rc;
    net_run_config cfg;
    const char *validate = cli_get(&args, "validate");
    if (validate) {
        if (net_run_config_load(validate, &cfg) != DT_OK) {
            fprintf(stderr, "distro-cli coordinator: %s\n", dt_last_error());
            return 1;
        }
        if (cfg.optimizer != MODEL_OPT_ADAMW)
            cli_warn_large_payload("coordinator", &cfg.model, cfg.demo.chunk, cfg.demo.topk,
                                   cfg.demo.values);
        char *text = net_run_config_to_json(&cfg, 1);
        printf("%s\n", text ? text : "");
        printf("%s: valid; %s, %lld rounds of %lld optimizer step%s, each %lld micro-batches of "
               "%lld x %lld tokens; %lld parameters\n",
               validate, model_optimizer_name(cfg.optimizer), (long long)cfg.steps,
               (long long)cfg.inner_steps, cfg.inner_steps == 1 ? "" : "s",
               (long long)net_run_micro_batches(&cfg), (long long)cfg.micro_batch,
               (long long)cfg.model.seq_len, (long long)model_config_param_count(&cfg.model));
        free(text);
        return 0;
    }
    const char *config = cli_get(&args, "config"), *keys_file = cli_get(&args, "keys");
    if (!config) return cli_fail(&coordinator_cmd, "--config FILE is required");
    if (!keys_file && !cli_flag(&args, "open"))
        return cli_fail(&coordinator_cmd, "give --keys FILE (CURVE, admitted peers only) or an "
                                          "explicit --open (no authentication)");
    if (keys_file && cli_flag(&args, "open"))
        return cli_fail(&coordinator_cmd, "--keys and --open are alternatives");
    if (cli_flag(&args, "resume") && !cli_get(&args, "checkpoint-dir"))
        return cli_fail(&coordinator_cmd, "--resume needs --checkpoint-dir DIR");
    if (net_run_config_load(config, &cfg) != DT_OK) {
        fprintf(stderr, "distro-cli coordinator: %s\n", dt_last_error());
        return 1;
    }
    if (cfg.optimizer != MODEL_OPT_ADAMW)
        cli_warn_large_payload("coordinator", &cfg.model, cfg.demo.chunk, cfg.demo.topk,
                               cfg.demo.values);
    net_keys keys;
    memset(&keys, 0, sizeof keys);
    if (keys_file) {
        if (net_keys_load(keys_file, &keys) != DT_OK) {
            fprintf(stderr, "distro-cli coordinator: %s\n", dt_last_error());
            return 1;
        }
        if (!keys.has_keypair) {
            net_keys_free(&keys);
            return cli_fail(&coordinator_cmd,
                            "%s has no keypair (public/secret lines); create "
                            "one with distro-cli keygen",
                            keys_file);
        }
    }
    int64_t per_key = 0, per_address = 0;
    if (!cli_get_int(&args, "max-peers-per-key", 1, NET_MAX_PEERS, NET_COORDINATOR_MAX_PER_KEY,
                     &per_key) ||
        !cli_get_int(&args, "max-peers-per-address", 1, NET_MAX_PEERS,
                     NET_COORDINATOR_MAX_PER_ADDRESS, &per_address)) {
        net_keys_free(&keys);
        return 2;
    }
    const char *device = cli_get(&args, "device");
    const char *listen = cli_get(&args, "listen");
    cli_event_printer printer;
    cli_event_printer_init(&printer, "coordinator", false, cli_flag(&args, "json"));
    cli_live_view live = {0};
    const char *http = cli_get(&args, "http");
    if (http && !cli_live_view_start(&live, "coordinator", http, &printer)) {
        net_keys_free(&keys);
        return 1;
    }
    net_event_sink events = {cli_print_event, &printer};
    if (http) events = (net_event_sink){cli_live_event, &live};
    net_coordinator_options o = {
        .config = &cfg,
        .listen = listen ? listen : "tcp://*:7070",
        .keys = keys_file ? &keys : NULL,
        .open = cli_flag(&args, "open"),
        .device = device ? device : "cpu",
        .checkpoint_dir = cli_get(&args, "checkpoint-dir"),
        .resume = cli_flag(&args, "resume"),
        .ready_file = cli_get(&args, "ready-file"),
        .summary_file = cli_get(&args, "summary"),
        .record_file = cli_get(&args, "record"),
        .events = events,
        .max_per_key = (int)per_key,
        .max_per_address = (int)per_address,
        .stop = &stop_requested,
    };
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    dt_status st = net_coordinator_run(&o);
    net_keys_free(&keys);
    if (http) cli_live_view_stop(&live);
    if (st != DT_OK) {
        fprintf(stderr, "distro-cli coordinator: %s\n", dt_last_error());
        return 1;
    }
    return stop_requested ? 130 : 0;
}
