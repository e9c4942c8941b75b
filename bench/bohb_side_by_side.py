"""BOHB vs TPE+Hyperband vs random+Hyperband (modnas) and Optuna TPE+HyperbandPruner on the
multi-fidelity Hartmann-6 of `crates/modnas-optim/examples/bohb_multi_fidelity.rs`.

    cargo build --release -p modnas-optim --example bohb_multi_fidelity
    /work/main/.venv/bin/python bench/bohb_side_by_side.py --seeds 30 --budget 1080

Same function (Optuna's evaluations go through `bohb_multi_fidelity serve`, so the bias and the
noise of each (seed, trial, step) are the very ones the Rust side sees), same protocol: trials one
after the other, up to 27 steps each, Hyperband (min_resource 1, max_resource 27, eta 3) stops
them, a search ends once it has spent `--budget` steps; the figure is the best full-budget value
(smaller is better; the minimum is -3.32237).
"""

import argparse
import json
import os
import subprocess
import time

import numpy as np
import optuna

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
BIN = os.path.join(ROOT, "target/release/examples/bohb_multi_fidelity")
FULL = 27
RUST = [
    ("BOHB", "{type: BOHB, args: {max_resource: 27}}"),
    ("TPE+Hyperband", "TPE"),
    ("Random+Hyperband", "RandomSearch"),
]


def rust(spec, seeds, budget):
    out = subprocess.run(
        [BIN, "run", "--optim", spec, "--seeds", str(seeds), "--budget", str(budget)],
        check=True,
        capture_output=True,
        text=True,
    )
    return [json.loads(line)["best"] for line in out.stdout.splitlines() if line.strip()]


def optuna_search(seed, budget, server):
    spent = [0]
    best = [float("inf")]

    def ask(trial_number, step, x):
        line = " ".join([str(seed), str(trial_number), str(step)] + [repr(v) for v in x])
        server.stdin.write(line + "\n")
        server.stdin.flush()
        return float(server.stdout.readline())

    def objective(trial):
        x = [trial.suggest_float(f"x{i + 1}", 0.0, 1.0) for i in range(6)]
        v = None
        for s in range(1, FULL + 1):
            v = ask(trial.number, s, x)
            spent[0] += 1
            if s == FULL:
                best[0] = min(best[0], v)
            trial.report(v, s)
            if spent[0] >= budget:
                break
            if trial.should_prune():
                raise optuna.TrialPruned()
        return v

    def stop(study, _trial):
        if spent[0] >= budget:
            study.stop()

    study = optuna.create_study(
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.HyperbandPruner(min_resource=1, max_resource=FULL, reduction_factor=3),
    )
    study.optimize(objective, callbacks=[stop])
    return best[0]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, default=30)
    p.add_argument("--budget", type=int, default=1080)
    a = p.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    results = {}
    for name, spec in RUST:
        t = time.time()
        results[name] = rust(spec, a.seeds, a.budget)
        print(f"{name}: {time.time() - t:.1f} s", flush=True)
    t = time.time()
    server = subprocess.Popen([BIN, "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    results["Optuna TPE+HyperbandPruner"] = [optuna_search(s, a.budget, server) for s in range(a.seeds)]
    server.stdin.close()
    server.wait()
    print(f"Optuna: {time.time() - t:.1f} s", flush=True)
    ref = np.mean(results["BOHB"]) - (-3.32237)
    print(f"\n{a.seeds} seeds, {a.budget} steps each; best full-budget value (min -3.32237)")
    print(f"{'method':28s} {'mean':>8s} {'std':>7s} {'regret':>8s} {'regret/BOHB':>12s}")
    for name, v in results.items():
        v = np.array(v)
        regret = v.mean() + 3.32237
        print(f"{name:28s} {v.mean():8.4f} {v.std():7.4f} {regret:8.4f} {regret / ref:12.2f}")


if __name__ == "__main__":
    main()
