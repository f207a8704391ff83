#!/usr/bin/env python3
"""Hand-written sample state documents (web/STATE.md) for the page test.

    make_sample_state.py                  report mode: 2 finished runs, 3 and 5 peers,
                                          200 steps (sample_state.json)
    make_sample_state.py --live STEP      live mode: 1 coordinator run at STEP

Deterministic (seeded); python3 stdlib only. serve_sample.py imports
make_state() to answer api/state.json with a step that advances.
"""
import json
import math
import random
import sys

DENSE = 4762346.0  # dense all-reduce bytes per peer per step (sample value)


def _round(x, nd=4):
    return None if x is None else round(x, nd)


def make_run(idx, label, optimizer, steps_total, step, finished, peers,
             baseline, seed, live=False):
    rng = random.Random(seed)
    n = step + 1  # steps 0..step applied
    s = {k: [] for k in ("train_loss", "val_loss", "baseline_train_loss",
                         "baseline_val_loss", "tokens_per_s", "bytes_up",
                         "bytes_down", "allreduce_bytes", "hash_agree")}
    floor = 1.45 + 0.1 * idx
    peer_tps = {p["name"]: [] for p in peers}
    for i in range(n):
        base = floor + (5.55 - floor) * math.exp(-i / (35.0 + 10 * idx))
        s["train_loss"].append([i, _round(base + rng.gauss(0, 0.05))])
        if baseline:
            b = floor - 0.05 + (5.55 - floor) * math.exp(-i / 30.0)
            s["baseline_train_loss"].append([i, _round(b + rng.gauss(0, 0.04))])
        total = 0.0
        for p in peers:
            if p.get("join_step", 0) > i or p.get("leave_step", 10**9) <= i:
                continue
            v = p["tps"] * (1 + rng.gauss(0, 0.06))
            peer_tps[p["name"]].append([i, round(v, 1)])
            total += v
        s["tokens_per_s"].append([i, round(total, 1)])
        up = 1650.0 * (1 + rng.gauss(0, 0.02))
        s["bytes_up"].append([i, round(up, 1)])
        s["bytes_down"].append([i, round(up * 3, 1)])
        s["allreduce_bytes"].append([i, DENSE])
        if i % 5 == 4 or i == 0:
            reported = sum(1 for p in peers if p.get("join_step", 0) <= i
                           and p.get("leave_step", 10**9) > i)
            agreed = reported - (1 if (idx == 1 and i == 124) else 0)
            s["hash_agree"].append([i, reported, agreed])
        if (i + 1) % 50 == 0:
            s["val_loss"].append([i, _round(base + 0.08)])
            if baseline:
                s["baseline_val_loss"].append([i, _round(base + 0.02)])
    if not baseline:
        s["baseline_train_loss"] = []
    agree = s["hash_agree"]
    checked = len(agree)
    agreeing = sum(1 for h in agree if h[1] == h[2])
    out_peers = []
    for p in peers:
        series = peer_tps[p["name"]]
        state = p.get("state", "training" if not finished else "left")
        out_peers.append({
            "name": p["name"], "device": p["device"], "backend": p["backend"],
            "state": state, "steps": len(series),
            "tokens_per_s": series[-1][1] if series else None,
            "misses": p.get("misses", 0), "link": p.get("link", ""),
            "last_hash": p.get("last_hash", "agree" if checked else ""),
            "tokens_per_s_series": series,
        })
    timeline = []
    for i in range(max(0, n - 30), n):
        pr = []
        rs = 0.0
        for p in peers:
            if p.get("join_step", 0) > i or p.get("leave_step", 10**9) <= i:
                continue
            c = 0.25 * 400.0 / p["tps"] * (1 + rng.gauss(0, 0.05))
            rs = max(rs, c)
            pr.append({"name": p["name"], "compute_s": round(c, 3),
                       "submitted": not (p.get("misses", 0) and i % 7 == 3)})
        rs += 0.04
        for q in pr:
            q["wait_s"] = round(rs - q["compute_s"], 3)
        timeline.append({"step": i, "seconds": round(rs, 3), "peers": pr})
    events = []
    t = 0.4
    for p in peers:
        js = p.get("join_step", 0)
        if js <= step:
            events.append({"t": round(t + js * 0.3, 2), "event": "joined",
                           "name": p["name"],
                           "text": "peer %d '%s' joined at step %d" % (len(events) + 1, p["name"], js)})
        if p.get("leave_step", 10**9) <= step:
            events.append({"t": round(t + p["leave_step"] * 0.3, 2),
                           "event": p.get("state", "left"), "name": p["name"],
                           "text": "peer '%s' %s at step %d" % (p["name"], p.get("state", "left"), p["leave_step"])})
    for k in range(50, n, 50):
        events.append({"t": round(k * 0.3, 2), "event": "checkpoint", "name": None,
                       "text": "checkpoint ck/step-%06d.ckpt written" % k})
    if step >= 60:
        events.append({"t": 18.2, "event": "resync", "name": peers[1]["name"],
                       "text": "peer '%s' resynced from step 57 to 60" % peers[1]["name"]})
        events.append({"t": 19.0, "event": "refused", "name": peers[-1]["name"],
                       "text": "refused payload from '%s': <b id=pwned2>bold</b><script>document.title=2</script> bad index" % peers[-1]["name"]})
    events.sort(key=lambda e: e["t"])
    val = s["val_loss"][-1][1] if (finished and s["val_loss"]) else None
    sent = sum(v for _, v in s["bytes_up"])
    dense = sum(v for _, v in s["allreduce_bytes"])
    return {
        "label": label, "kind": "coordinator",
        "run_id": "%016x" % rng.getrandbits(64),
        "model": "shakespeare", "params": 893440, "optimizer": optimizer,
        "steps_total": steps_total, "step": step, "finished": finished,
        "val_loss": val, "elapsed_s": round(n * 0.3, 1),
        "tokens_per_s": s["tokens_per_s"][-1][1] if n else None,
        "reduction": round(dense / sent, 1) if sent else None,
        "hash": {"checked": checked, "agreeing": agreeing,
                 "mismatches": checked - agreeing},
        "series": s, "peers": out_peers, "timeline": timeline,
        "events": events[-200:],
    }


PEERS_A = [
    {"name": "cpu-0", "device": "cpu", "backend": "cpu", "tps": 410.0},
    {"name": "opencl-0", "device": "opencl:0", "backend": "opencl", "tps": 620.0,
     "link": "20ms 50Mbit", "misses": 2},
    {"name": "vulkan-0", "device": "vulkan:0", "backend": "vulkan", "tps": 540.0,
     "join_step": 40},
]
# The second run has a peer whose name is markup: the page must show it as
# text (no alert(): a dialog would hang headless Chromium); and peers named
# like an object's properties, which a name-keyed map must not trip on.
PEERS_B = [
    {"name": "cpu-a", "device": "cpu", "backend": "cpu", "tps": 380.0},
    {"name": "cpu-b", "device": "cpu", "backend": "cpu", "tps": 395.0,
     "leave_step": 150, "state": "dropped", "misses": 5},
    {"name": "<img src=x id=pwned onerror=document.title=1>", "device": "cuda:0",
     "backend": "cuda", "tps": 900.0, "last_hash": "mismatch"},
    # Names that are also the names of an object's own properties.
    {"name": "hasOwnProperty", "device": "cpu", "backend": "cpu", "tps": 300.0},
    {"name": "__proto__", "device": "cpu", "backend": "cpu", "tps": 310.0},
]


def make_state(live_step=None):
    if live_step is not None:
        run = make_run(0, "run live-demo", "demo", 300, live_step, False,
                       PEERS_A, baseline=False, seed=7, live=True)
        return {"live": True, "generated": "2026-12-06T07:30:00Z", "runs": [run]}
    runs = [
        make_run(0, "demo k=32 (3 peers)", "demo", 200, 199, True, PEERS_A,
                 baseline=True, seed=1),
        make_run(1, "demo k=16 (5 peers, one dropped)", "demo", 200, 199, True,
                 PEERS_B, baseline=False, seed=2),
    ]
    return {"live": False, "generated": "2026-12-06T08:00:00Z", "runs": runs}


def main(argv):
    if len(argv) >= 2 and argv[0] == "--live":
        doc = make_state(int(argv[1]))
    else:
        doc = make_state()
    json.dump(doc, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
