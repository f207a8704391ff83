# Damaged checkpoints are refused, never trusted (issue 11): one flipped
# byte in the weights of a checkpoint makes `sample` and `train --resume`
# fail with an error saying the file is damaged, and makes a coordinator's
# --resume fall back to the previous checkpoint it kept (with a log line),
# after which the run finishes with every hash agreeing.
source "$(dirname "$0")/e2e_lib.sh"

flip() { # FILE: one byte of the weights (tensor tok_emb, 64 bytes in) inverted
    local f=$1 at byte
    at=$(python3 - "$f" <<'PY'
import json, struct, sys
b = open(sys.argv[1], "rb").read(8)
n = struct.unpack("<Q", b)[0]
h = json.loads(open(sys.argv[1], "rb").read(8 + n)[8:])
print(8 + n + h["tok_emb"]["data_offsets"][0] + 64)
PY
) || fail "cannot find tok_emb in $f"
    byte=$(od -An -tu1 -j "$at" -N1 "$f" | tr -d ' ')
    printf "$(printf '\\%03o' $((255 - byte)))" | dd of="$f" bs=1 seek="$at" conv=notrunc status=none
}

# train --resume and sample
"$CLI" train --preset tiny --device cpu --steps 4 --batch 2 --eval-every 0 --eval-batches 1 \
    --save "$WORK/t.safetensors" >"$WORK/train.out" 2>&1 || fail "train --save failed"
flip "$WORK/t.safetensors"
"$CLI" train --preset tiny --device cpu --steps 8 --batch 2 --resume "$WORK/t.safetensors" \
    >"$WORK/resume.out" 2>&1
expect_eq "train --resume of a damaged file: exit status" "$?" 1
expect_grep "train --resume names the damage" "the file is damaged" "$WORK/resume.out"
"$CLI" sample --checkpoint "$WORK/t.safetensors" --tokens 4 >"$WORK/sample.out" 2>&1
expect_eq "sample of a damaged file: exit status" "$?" 1
expect_grep "sample names the damage" "the file is damaged" "$WORK/sample.out"

# the coordinator: checkpoints every 2 rounds, the latest damaged after the run
CK=$WORK/ck
run_config 12 '"min_peers": 1' '"checkpoint_every": 2' >"$WORK/run.json"
start_coordinator first --config "$WORK/run.json" --open --checkpoint-dir "$CK"
start p1 "$CLI" join "$ADDR" --device cpu --name p1 --json
wait_exit "$COORD_PID" 120
expect_eq "the first coordinator's exit status" "$?" 0
wait_exit "$E2E_PID" 30
[ -s "$CK/coordinator.previous.safetensors" ] || fail "no previous checkpoint was kept"
flip "$CK/coordinator.safetensors"
run_config 16 '"min_peers": 1' '"checkpoint_every": 2' >"$WORK/run2.json"
start_coordinator second --config "$WORK/run2.json" --open --checkpoint-dir "$CK" --resume \
    --summary "$WORK/summary.json"
start p2 "$CLI" join "$ADDR" --device cpu --name p2 --json
wait_exit "$COORD_PID" 120
expect_eq "the resumed coordinator's exit status" "$?" 0
wait_exit "$E2E_PID" 30
expect_grep "the damaged latest checkpoint is named" \
    "the latest checkpoint cannot be used .*the file is damaged.*falling back to the previous one" \
    "$WORK/second.out"
expect_grep "it resumed from the previous checkpoint" \
    "resuming run [0-9a-f]+ at step 10 from .*coordinator.previous.safetensors" "$WORK/second.out"
jv agreeing "$WORK/summary.json" .steps_hash_agreeing
jv checked "$WORK/summary.json" .steps_hash_checked
expect_eq "every checked round after the resume agreed" "$agreeing" "$checked"
expect_eq "rounds checked after the resume (10 to 16)" "$checked" 6
note "pass"
