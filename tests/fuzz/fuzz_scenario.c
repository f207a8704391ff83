/* libFuzzer target: scenario files for `distro-cli run` (scenario_load).
 *
 * scenario_load only takes a path (NULL: the embedded default), so the
 * input goes to an in-memory file (see fuzz_file.h). An accepted scenario
 * hands its "run" object to the coordinator as text, which must parse as a
 * run config again; its peers must be within the documented limits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/scenario.h"
#include "fuzz_file.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    /* The embedded default must load, or every seed mutation means little. */
    scenario s;
    if (scenario_load(NULL, &s) != DT_OK) {
        fprintf(stderr, "the default scenario does not load: %s\n", dt_last_error());
        abort();
    }
    scenario_free(&s);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    scenario s;
    if (scenario_load(fuzz_file_path(data, size), &s) != DT_OK) return 0;
    net_run_config run;
    if (!s.run_json || net_run_config_parse(s.run_json, &run) != DT_OK) {
        fprintf(stderr, "accepted scenario's run config does not parse: %s\n", dt_last_error());
        abort();
    }
    if (s.n_peers < 1 || s.n_peers > SCENARIO_MAX_PEERS) abort();
    for (int i = 0; i < s.n_peers; i++)
        if (strchr(s.peers[i].name, ' ')) abort(); /* the parser's own rule */
    scenario_free(&s);
    return 0;
}
