"""Reference PED-ANOVA importances from Optuna for the Rust implementation's test.

Builds deterministic synthetic studies (float, log-float, int, log-int and categorical
parameters), computes Optuna's PedAnovaImportanceEvaluator importances (normalised, as
`optuna.importance.get_param_importances` returns them) and writes trials + importances to
crates/modnas-report/tests/data/ped_anova_optuna.json.

    nice -n 10 /work/main/.venv/bin/python bench/ped_anova_optuna.py
"""

import json
import math
import pathlib
import random
import warnings

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances

warnings.filterwarnings("ignore")
optuna.logging.set_verbosity(optuna.logging.ERROR)

OPS = ["skip", "conv3", "conv5", "pool"]
SPACE = {
    "x": {"float": [-5.0, 5.0], "log": False},
    "lr": {"float": [1e-5, 1e-1], "log": True},
    "n": {"int": [1, 32], "log": False},
    "k": {"int": [1, 1024], "log": True},
    "op": {"choices": OPS},
    "noise": {"float": [0.0, 1.0], "log": False},
}


def dist(spec):
    if "choices" in spec:
        return CategoricalDistribution(spec["choices"])
    if "float" in spec:
        return FloatDistribution(*spec["float"], log=spec["log"])
    return IntDistribution(*spec["int"], log=spec["log"])


def sample(rng, spec):
    if "choices" in spec:
        return rng.choice(spec["choices"])
    if "float" in spec:
        lo, hi = spec["float"]
        if spec["log"]:
            return math.exp(rng.uniform(math.log(lo), math.log(hi)))
        return rng.uniform(lo, hi)
    lo, hi = spec["int"]
    if spec["log"]:
        return min(hi, max(lo, int(round(math.exp(rng.uniform(math.log(lo), math.log(hi + 1) - 1e-9))))))
    return rng.randint(lo, hi)


def objective(p):
    op = {"skip": 0.8, "conv3": 0.0, "conv5": 0.3, "pool": 1.5}[p["op"]]
    return (
        (p["x"] - 1.0) ** 2 * 0.3
        + (math.log10(p["lr"]) + 3.0) ** 2
        + 0.02 * abs(p["n"] - 20)
        + 0.1 * abs(math.log2(p["k"]) - 6)
        + op
        + 0.01 * p["noise"]
    )


def case(name, seed, n, direction, target_quantile):
    rng = random.Random(seed)
    dists = {k: dist(v) for k, v in SPACE.items()}
    study = optuna.create_study(direction=direction)
    trials = []
    for _ in range(n):
        params = {k: sample(rng, v) for k, v in SPACE.items()}
        value = objective(params)
        if direction == "maximize":
            value = -value
        study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, value=value))
        trials.append({"params": params, "value": value})
    ev = PedAnovaImportanceEvaluator(target_quantile=target_quantile)
    imp = get_param_importances(study, evaluator=ev)
    return {
        "name": name,
        "direction": direction,
        "target_quantile": target_quantile,
        "trials": trials,
        "importances": dict(imp),
    }


def main():
    cases = [
        case("minimize-300", 1, 300, "minimize", 0.1),
        case("maximize-200-q0.2", 2, 200, "maximize", 0.2),
        case("minimize-60", 3, 60, "minimize", 0.1),
    ]
    out = {"optuna": optuna.__version__, "space": SPACE, "cases": cases}
    path = pathlib.Path(__file__).resolve().parent.parent / "crates/modnas-report/tests/data/ped_anova_optuna.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    for c in cases:
        print(c["name"], {k: round(v, 6) for k, v in c["importances"].items()})
    print("wrote", path)


if __name__ == "__main__":
    main()
