"""Optuna's pruners on the multi-fidelity problem of
crates/modnas-bench/examples/prune_multi_fidelity.rs (same function, same learning curves, same
budget rule): RandomSampler with no pruner, SuccessiveHalvingPruner, HyperbandPruner and
MedianPruner; each search runs until the steps it evaluated reach the budget, and its result is
the final value of its best complete trial (lower is better).

    /work/wt/pyvenv/bin/python bench/optuna_prune_mf.py --seeds 30
"""

import argparse
import math
import struct

import optuna

STEPS = 27
MASK = (1 << 64) - 1
ALPHA = [1.0, 1.2, 3.0, 3.2]
A = [
    [10.0, 3.0, 17.0, 3.5, 1.7, 8.0],
    [0.05, 10.0, 17.0, 0.1, 8.0, 14.0],
    [3.0, 3.5, 1.7, 10.0, 17.0, 8.0],
    [17.0, 8.0, 0.05, 10.0, 0.1, 14.0],
]
P = [
    [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
    [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
    [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
    [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
]


def hartmann6(x):
    return -sum(
        ALPHA[i] * math.exp(-sum(A[i][j] * (x[j] - P[i][j]) ** 2 for j in range(6)))
        for i in range(4)
    )


def splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & MASK
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def unit_hash(x, salt):
    h = splitmix64(salt)
    for v in x:
        bits = struct.unpack("<Q", struct.pack("<d", v))[0]
        h = splitmix64(h ^ bits)
    return (h >> 11) / float(1 << 53)


def learning_curve(x, end, step):
    """The value at `step` (minimisation), as modnas_bench::synthetic::learning_curve."""
    c = 0.5 + unit_hash(x, 1)
    k = 1.0 + 5.0 * unit_hash(x, 2)
    t = min(step, STEPS) / STEPS
    return end + (abs(end) + 1.0) * c * (math.exp(-k * t) - math.exp(-k))


def pruner(name):
    if name == "none":
        return optuna.pruners.NopPruner()
    if name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=STEPS, reduction_factor=3)
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=3)
    raise ValueError(name)


def search(name, seed, budget):
    study = optuna.create_study(
        direction="minimize", sampler=optuna.samplers.RandomSampler(seed=seed), pruner=pruner(name)
    )
    used = 0
    best = math.inf
    trials = 0
    while used < budget:
        t = study.ask()
        x = [t.suggest_float(f"x{i}", 0.0, 1.0) for i in range(6)]
        end = hartmann6(x)
        value = None
        pruned = False
        for step in range(1, STEPS + 1):
            value = learning_curve(x, end, step)
            used += 1
            t.report(value, step)
            if t.should_prune():
                pruned = True
                break
        trials += 1
        if pruned:
            study.tell(t, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(t, value)
            best = min(best, value)
    return best, trials


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=30)
    a = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    budgets = [k * STEPS for k in (20, 50, 150)]
    print(f"Optuna {optuna.__version__}, Hartmann-6, {STEPS} steps per full trial, {a.seeds} seeds")
    print("| method | " + " | ".join(f"{b} steps" for b in budgets) + " |")
    print("|---|" + "---|" * len(budgets))
    for name in ["none", "successive_halving", "hyperband", "median"]:
        cells = []
        for b in budgets:
            runs = [search(name, s, b) for s in range(a.seeds)]
            v = [r[0] for r in runs]
            m = sum(v) / len(v)
            sd = math.sqrt(sum((x - m) ** 2 for x in v) / max(1, len(v) - 1))
            nt = sum(r[1] for r in runs) / len(runs)
            cells.append(f"{m:.4f} ± {sd:.4f} ({nt:.0f} trials)")
        print(f"| optuna {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
