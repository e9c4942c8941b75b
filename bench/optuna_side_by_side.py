"""Optuna's samplers on the problems of modnas's TPE side-by-side benchmark, and the report.

    # Optuna's side (appends JSON lines):
    /work/wt/pyvenv/bin/python bench/optuna_side_by_side.py run --seeds 30 \
        --out bench/results/tpe_vs_optuna.jsonl
    # modnas's side: cargo run --release -p modnas-optim --example tpe_vs_optuna -- run ...
    # The report over both sides:
    /work/wt/pyvenv/bin/python bench/optuna_side_by_side.py report bench/results/tpe_vs_optuna.jsonl

Both sides see identical problems: the NAS-Bench-201 table is read from the same CSV
(data/nasbench201/cifar10.csv), and the synthetic functions are evaluated by modnas's own code
through `tpe_vs_optuna serve` (one JSON line per evaluation), with the search space taken from
`tpe_vs_optuna describe`. Protocol (as bench/src/bin/nb201_conformance.rs): each NAS-Bench-201
trial sees one random seed's validation accuracy; a search returns its best observed
configuration; the figure is that configuration's seed-mean (for the noiseless functions, its
value). Budgets 50/100/200 are prefixes of one 200-trial search per seed. Proposal cost is the
time of `ask` plus `tell` (the evaluation excluded), averaged over the 200 trials.
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from collections import defaultdict

import numpy as np
import optuna

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
BIN = os.path.join(ROOT, "target/release/examples/tpe_vs_optuna")
BUDGETS = [50, 100, 200]
PROBLEMS = ["nb201", "mixed_branin", "mixed_hartmann", "hpo_like"]


def describe(problem):
    out = subprocess.run(
        [BIN, "describe", "--problem", problem], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout)


def distributions(space):
    dists = {}
    for p in space:
        (kind, d), = p["domain"].items()
        if kind == "categorical":
            dists[p["name"]] = optuna.distributions.CategoricalDistribution(d["choices"])
        elif kind == "int":
            dists[p["name"]] = optuna.distributions.IntDistribution(
                d["low"], d["high"], log=d.get("log", False)
            )
        else:
            dists[p["name"]] = optuna.distributions.FloatDistribution(
                d["low"], d["high"], log=d.get("log", False)
            )
    return dists


class Nb201:
    """The table: runs per configuration (in file order), maximise validation accuracy."""

    maximize = True

    def __init__(self, space):
        self.names = [p["name"] for p in space]
        self.runs = defaultdict(list)
        with open(os.path.join(ROOT, "data/nasbench201/cifar10.csv")) as f:
            for row in csv.DictReader(f):
                self.runs[tuple(row[n] for n in self.names)].append(float(row["val_acc"]))

    def observe(self, params, rng):
        runs = self.runs[tuple(str(params[n]) for n in self.names)]
        return runs[rng.integers(len(runs))]

    def figure(self, params):
        return float(np.mean(self.runs[tuple(str(params[n]) for n in self.names)]))

    def close(self):
        pass


class Served:
    """A synthetic function evaluated by modnas's code (minimise)."""

    maximize = False

    def __init__(self, problem):
        self.proc = subprocess.Popen(
            [BIN, "serve", "--problem", problem],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )

    def value(self, params):
        self.proc.stdin.write(json.dumps(params) + "\n")
        self.proc.stdin.flush()
        return float(self.proc.stdout.readline())

    def observe(self, params, rng):
        return self.value(params)

    def figure(self, params):
        return self.value(params)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


SAMPLERS = {
    # Optuna 5's default for single-objective studies: multivariate TPE with constant liar.
    "Optuna TPE (default)": lambda seed: optuna.samplers.TPESampler(seed=seed),
    "Optuna TPE (univariate)": lambda seed: optuna.samplers.TPESampler(
        seed=seed, multivariate=False
    ),
    "Optuna Random": lambda seed: optuna.samplers.RandomSampler(seed=seed),
}


def search(problem, dists, sampler, seed):
    direction = "maximize" if problem.maximize else "minimize"
    study = optuna.create_study(direction=direction, sampler=sampler)
    rng = np.random.default_rng(seed + 1_000_003)
    best = None
    figures = []
    spent = 0.0
    for t in range(BUDGETS[-1]):
        t0 = time.perf_counter()
        trial = study.ask(dists)
        spent += time.perf_counter() - t0
        params = trial.params
        v = problem.observe(params, rng)
        t0 = time.perf_counter()
        study.tell(trial, v)
        spent += time.perf_counter() - t0
        better = best is None or (v > best[0] if problem.maximize else v < best[0])
        if better:
            best = (v, dict(params))
        if t + 1 in BUDGETS:
            figures.append(problem.figure(best[1]))
    return figures, spent * 1e6 / BUDGETS[-1]


def run(args):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    problems = args.problems.split(",")
    samplers = [s for s in SAMPLERS if not args.only or args.only in s]
    with open(args.out, "a") as out:
        for name in problems:
            space = describe(name)
            dists = distributions(space)
            problem = Nb201(space) if name == "nb201" else Served(name)
            for sname in samplers:
                start = time.time()
                for seed in range(args.seeds):
                    fig, us = search(problem, dists, SAMPLERS[sname](seed), seed)
                    out.write(
                        json.dumps(
                            {
                                "side": "optuna",
                                "optimizer": sname,
                                "problem": name,
                                "seed": seed,
                                "budgets": BUDGETS,
                                "figure": fig,
                                "us_per_trial": us,
                            }
                        )
                        + "\n"
                    )
                    out.flush()
                print(f"{name} {sname}: {time.time() - start:.0f} s", file=sys.stderr)
            problem.close()


def report(args):
    from scipy.stats import mannwhitneyu

    rows = defaultdict(list)
    order = []
    for path in args.files:
        with open(path) as f:
            for line in f:
                r = json.loads(line)
                key = (r["problem"], r["optimizer"])
                if r["optimizer"] not in order:
                    order.append(r["optimizer"])
                rows[key].append(r)
    problems = [p for p in PROBLEMS if any(k[0] == p for k in rows)]
    print(f"Optuna {optuna.__version__}\n")
    for p in problems:
        better = "larger" if p == "nb201" else "smaller"
        print(f"### {p} ({better} is better)\n")
        print("| optimizer | seeds | 50 | 100 | 200 | µs / trial |")
        print("|---|---|---|---|---|---|")
        for o in order:
            rs = rows.get((p, o))
            if not rs:
                continue
            figs = np.array([r["figure"] for r in rs])
            us = np.mean([r["us_per_trial"] for r in rs])
            digits = 2 if p == "nb201" else 4
            cells = [
                f"{figs[:, k].mean():.{digits}f} ± {figs[:, k].std(ddof=1):.{digits}f}"
                for k in range(3)
            ]
            print(f"| {o} | {len(rs)} | {' | '.join(cells)} | {us:.0f} |")
        print()
        for a, b in args.pairs:
            ra, rb = rows.get((p, a)), rows.get((p, b))
            if not ra or not rb:
                continue
            cells = []
            for k in range(3):
                x = [r["figure"][k] for r in ra]
                y = [r["figure"][k] for r in rb]
                _, pv = mannwhitneyu(x, y, alternative="two-sided")
                diff = np.mean(x) - np.mean(y)
                cells.append(f"{diff:+.4f} (p = {pv:.2g})")
            print(f"{a} − {b}, mean difference (two-sided Mann–Whitney p): "
                  + "; ".join(f"{bud}: {c}" for bud, c in zip(BUDGETS, cells)) + "\n")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--seeds", type=int, default=30)
    r.add_argument("--problems", default=",".join(PROBLEMS))
    r.add_argument("--only", default="")
    r.add_argument("--out", required=True)
    rep = sub.add_parser("report")
    rep.add_argument("files", nargs="+")
    rep.add_argument(
        "--pair",
        dest="pairs",
        nargs=2,
        action="append",
        default=[],
        metavar=("A", "B"),
        help="optimizer names to compare",
    )
    args = ap.parse_args()
    run(args) if args.cmd == "run" else report(args)


if __name__ == "__main__":
    main()
