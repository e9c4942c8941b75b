#!/usr/bin/env python3
"""Per-trial overhead: modnas against Optuna's RandomSampler, same NAS-Bench-201 table, same script.

Run `bench/run-overhead` (it prepares the Python environment and builds modnas), or directly:
    python bench/overhead.py --trials 1000 --modnas target/release/overhead

Optuna runs in this process (in-memory storage and an SQLite file); modnas runs its `overhead`
benchmark binary (in-memory and SQLite journals). Each side evaluates the same objective: look
up the architecture in the table and return one seed's validation accuracy.
"""
import argparse
import csv
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

import optuna

OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
EDGES = ["edge_1_0", "edge_2_0", "edge_2_1", "edge_3_0", "edge_3_1", "edge_3_2"]


def load_table(path):
    table = {}
    with open(path) as f:
        for row in csv.DictReader(f):
            table.setdefault(tuple(row[e] for e in EDGES), []).append(float(row["val_acc"]))
    return table


def optuna_run(table, trials, seed, storage):
    rng = random.Random(seed)

    def objective(trial):
        key = tuple(trial.suggest_categorical(e, OPS) for e in EDGES)
        runs = table[key]
        return runs[rng.randrange(len(runs))]

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=seed), storage=storage)
    start = time.perf_counter()
    study.optimize(objective, n_trials=trials)
    return (time.perf_counter() - start) / trials * 1e6


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--table", default=os.path.join(here, "..", "data", "nasbench201", "cifar10.csv"))
    ap.add_argument("--modnas", default=os.path.join(here, "..", "target", "release", "overhead"))
    a = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    table = load_table(a.table)
    rows = []
    for storage in ["memory", "sqlite"]:
        per = []
        for r in range(a.repeats):
            with tempfile.TemporaryDirectory() as d:
                url = None if storage == "memory" else f"sqlite:///{d}/optuna.db"
                per.append(optuna_run(table, a.trials, r, url))
        rows.append({"framework": f"optuna {optuna.__version__}", "optimizer": "random", "storage": storage, "us_per_trial": statistics.median(per)})
    out = subprocess.run([a.modnas, "--trials", str(a.trials), "--repeats", str(a.repeats)], check=True, capture_output=True, text=True).stdout
    modnas = [json.loads(line) for line in out.splitlines() if line.strip()]
    rows += modnas
    print(f"NAS-Bench-201 table lookups, {a.trials} trials per run, median of {a.repeats} runs, one thread each side")
    print("storage: memory; sqlite = modnas default (crash-safe, WAL, synchronous=NORMAL) / Optuna's SQLAlchemy defaults;")
    print("sqlite-power = modnas with an fsync per commit (synchronous=FULL)")
    print()
    print("| framework | optimizer | storage | µs per trial | Optuna RandomSampler / this |")
    print("|---|---|---|---|---|")
    optuna_by_storage = {r["storage"]: r["us_per_trial"] for r in rows if r["framework"].startswith("optuna")}
    for r in rows:
        ratio = optuna_by_storage[r["storage"].split("-")[0]] / r["us_per_trial"]
        print(f"| {r['framework']} | {r['optimizer']} | {r['storage']} | {r['us_per_trial']:.1f} | {ratio:.1f}× |")


if __name__ == "__main__":
    main()
