# A networked run with a peer on the emulated CUDA device beside a cpu peer
# (what scripts/gpu-check.sh does with cuda:0 on a GPU), through a distro-cli
# built with the emulated backend: 12 steps of DeMo, every replica's hash
# equal to the coordinator's at every step, so the CUDA backend's canonical
# update (its kernel under the CPU emulation, trusted once the runtime's
# probe found it exact) gives the cpu's bits. Arguments as every e2e script.
source "$(dirname "$0")/../e2e/e2e_lib.sh"
need_curve

STEPS=12
# A cache of our own: the exactness probe must run in this test, not be read.
export DISTRO_CACHE_DIR=$WORK/cache
have_device cudaemu:0 || fail "$CLI has no cudaemu:0: not the CLI built with the emulation"
{
    echo '{"run": '
    run_config $STEPS '"min_peers": 2' '"round_deadline_s": 120'
    echo ', "peers": [{"name": "cpu", "device": "cpu"}, {"name": "cuda", "device": "cudaemu:0"}]'
    echo ', "baseline": false, "sample_tokens": 0}'
} >"$WORK/scenario.json"

play_scenario

expect_all_steps_agree $STEPS
jv agreed "$S" '.step_records[*].hashes_agreeing'
expect_eq "hashes agreeing per step" "$(echo "$agreed" | sort -u)" 2
jv backend "$S" '.peers[name=cuda].backend'
expect_eq "the cuda peer's backend" "$backend" cudaemu
for name in cpu cuda; do
    peer_hashes_match "$KEEP/peer-$name.log" "$S"
    expect_eq "peer $name hashes equal to the coordinator's" "$MATCHED" $STEPS
done
# The runtime's probe ran and found the emulated kernel exact, so the cuda
# peer applied the canonical update on its device, not through the host.
ls "$WORK/cache" 2>/dev/null | grep -q canonical || fail "no exactness probe was cached in $WORK/cache"
"$CLI" devices --json >"$WORK/devices.json" || fail "devices --json failed"
jv where "$WORK/devices.json" '.devices[spec=cudaemu:0].canonical_update'
expect_eq "where cudaemu:0's canonical update runs after the probe" "$where" device
note "PASS"
