#!/usr/bin/env python3
"""Optuna's NSGAIISampler on NAS-Bench-201 CIFAR-10: maximise validation accuracy, minimise
latency. Same protocol as `bench/src/bin/mo_nb201.rs`: each trial sees one random seed's
validation accuracy (latency is the same for every seed). Writes every run's trials as JSON for
the Rust program, which scores Optuna's runs and its own with one hypervolume routine:

    python bench/mo_nb201.py --seeds 50 --trials 200 --out bench/results/mo_nb201_optuna.json

With `--max-latency S`, trials slower than S seconds are infeasible (`constraints_func`).
"""
import argparse
import csv
import json
import random
import time

import optuna

OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
EDGES = ["edge_1_0", "edge_2_0", "edge_2_1", "edge_3_0", "edge_3_1", "edge_3_2"]


def load_table(path):
    table = {}
    with open(path) as f:
        for row in csv.DictReader(f):
            key = tuple(row[e] for e in EDGES)
            table.setdefault(key, []).append((float(row["val_acc"]), float(row["latency"])))
    return table


def run(table, trials, seed, population, max_latency):
    rng = random.Random(seed)

    def objective(trial):
        key = tuple(trial.suggest_categorical(e, OPS) for e in EDGES)
        runs = table[key]
        acc, lat = runs[rng.randrange(len(runs))]
        trial.set_user_attr("latency", lat)
        return acc, lat

    constraints = None
    if max_latency is not None:
        def constraints(trial):
            return [trial.user_attrs["latency"] - max_latency]

    sampler = optuna.samplers.NSGAIISampler(
        seed=seed, population_size=population, constraints_func=constraints
    )
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    start = time.perf_counter()
    study.optimize(objective, n_trials=trials)
    secs = time.perf_counter() - start
    rows = [
        {"arch": [t.params[e] for e in EDGES], "values": list(t.values)}
        for t in sorted(study.trials, key=lambda t: t.number)
    ]
    return rows, secs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=50)
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--population", type=int, default=50)
    ap.add_argument("--max-latency", type=float, default=None)
    ap.add_argument("--table", default="data/nasbench201/cifar10.csv")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    table = load_table(a.table)
    runs = []
    total = 0.0
    for seed in range(a.seeds):
        rows, secs = run(table, a.trials, seed, a.population, a.max_latency)
        total += secs
        runs.append({"seed": seed, "trials": rows})
    out = {
        "framework": f"optuna {optuna.__version__}",
        "sampler": f"NSGAIISampler(population_size={a.population})",
        "max_latency": a.max_latency,
        "seconds_per_trial": total / (a.seeds * a.trials),
        "runs": runs,
    }
    with open(a.out, "w") as f:
        json.dump(out, f)
    print(f"{a.seeds} runs of {a.trials} trials, {out['seconds_per_trial'] * 1e3:.2f} ms per trial")


if __name__ == "__main__":
    main()
