"""Optuna side of the PostgreSQL claim/finish throughput bench (see
crates/modnas-store/examples/pg_throughput.rs, which starts the server and runs this).

Usage: python pg_throughput_optuna.py URL PROCESSES TRIALS
Runs PROCESSES processes, each `study.optimize` with RandomSampler and a zero-cost objective on
one shared RDB study, until TRIALS trials are finished in all; prints `trials_per_s <x>`.
"""

import multiprocessing as mp
import sys
import time

import optuna


def objective(trial):
    return trial.suggest_float("lr", 1e-5, 1.0, log=True) + trial.suggest_int("op", 0, 2)


def work(url, name, n, start_evt):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(
        study_name=name, storage=url, sampler=optuna.samplers.RandomSampler()
    )
    start_evt.wait()
    study.optimize(objective, n_trials=n)


def main():
    url, procs, trials = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    # psycopg2 (SQLAlchemy's default driver name may be psycopg 3, not installed here).
    url = url.replace("postgresql://", "postgresql+psycopg2://", 1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    name = f"bench-{procs}-{time.time_ns()}"
    optuna.create_study(study_name=name, storage=url)
    per = [trials // procs + (1 if i < trials % procs else 0) for i in range(procs)]
    start = mp.Event()
    ps = [mp.Process(target=work, args=(url, name, k, start)) for k in per]
    for p in ps:
        p.start()
    time.sleep(2.0)  # let every process connect and load the study
    t0 = time.perf_counter()
    start.set()
    for p in ps:
        p.join()
    dt = time.perf_counter() - t0
    print(f"trials_per_s {trials / dt:.1f}")


if __name__ == "__main__":
    main()
