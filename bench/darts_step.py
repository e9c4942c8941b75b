"""One DARTS supernet step in plain PyTorch versus modnas, same shapes, batch and threads.

A step is what a first-order DARTS search does per training batch: an architecture step (Adam on
alpha, the loss of a validation batch) and a weight step (SGD with momentum, the loss of a
training batch, gradient clipping). The supernet below is the DARTS cell network written the
usual way in plain PyTorch: every edge a weighted sum over all eight candidates (zero included).
The script times it, then runs `darts_step` (the same network built from modnas slots) with the
same settings, and prints the ratios. The PyTorch supernet also runs a second time in the
channels-last memory layout (which modnas uses on the CPU), so that this gain is shown apart.

    .venv/bin/python bench/darts_step.py [--chn 16 --layers 5 --batch 64 --steps 20 --threads 2] [--ablation]

Peak memory is the peak resident set of the process during the steps (warm-up and timed) minus
the resident set once the network and the batches exist, measured the same way in both.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CANDIDATES = ["MAX", "AVG", "IDT", "SC3", "SC5", "DC3", "DC5", "NIL"]


class ReluConvBn(nn.Module):
    def __init__(self, cin, cout, affine):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout, affine=affine)

    def forward(self, x):
        return self.bn(self.conv(F.relu(x)))


class FactorizedReduce(nn.Module):
    def __init__(self, cin, cout, affine):
        super().__init__()
        self.a = nn.Conv2d(cin, cout // 2, 1, stride=2, bias=False)
        self.b = nn.Conv2d(cin, cout // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(cout, affine=affine)

    def forward(self, x):
        x = F.relu(x)
        shifted = F.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
        return self.bn(torch.cat([self.a(x), self.b(shifted)], dim=1))


class SepConv(nn.Module):
    """ReLU, depthwise k x k, pointwise, BN; `repeat` times (DARTS SC applies it twice)."""

    def __init__(self, c, k, stride, dilation, repeat, affine):
        super().__init__()
        layers = []
        for r in range(repeat):
            s = stride if r == 0 else 1
            pad = dilation * (k - 1) // 2
            layers += [
                nn.ReLU(),
                nn.Conv2d(c, c, k, stride=s, padding=pad, dilation=dilation, groups=c, bias=False),
                nn.Conv2d(c, c, 1, bias=False),
                nn.BatchNorm2d(c, affine=affine),
            ]
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x)


class Pool(nn.Module):
    def __init__(self, kind, c, stride, affine):
        super().__init__()
        self.pool = (
            nn.MaxPool2d(3, stride, 1) if kind == "MAX" else nn.AvgPool2d(3, stride, 1, count_include_pad=False)
        )
        self.bn = nn.BatchNorm2d(c, affine=affine)

    def forward(self, x):
        return self.bn(self.pool(x))


class Zero(nn.Module):
    def __init__(self, stride):
        super().__init__()
        self.stride = stride

    def forward(self, x):
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


def candidate(name, c, stride, affine):
    if name in ("MAX", "AVG"):
        return Pool(name, c, stride, affine)
    if name == "IDT":
        return nn.Identity() if stride == 1 else FactorizedReduce(c, c, affine)
    if name == "NIL":
        return Zero(stride)
    k = int(name[2:])
    if name.startswith("SC"):
        return SepConv(c, k, stride, 1, 2, affine)
    return SepConv(c, k, stride, 2, 1, affine)  # DC


class MixedOp(nn.Module):
    def __init__(self, c, stride, affine):
        super().__init__()
        self.ops = nn.ModuleList([candidate(n, c, stride, affine) for n in CANDIDATES])

    def forward(self, x, w):
        return sum(wi * op(x) for wi, op in zip(w, self.ops))


class Cell(nn.Module):
    def __init__(self, nodes, c_pp, c_p, c, reduction, reduction_prev, affine):
        super().__init__()
        self.reduction = reduction
        self.pre0 = FactorizedReduce(c_pp, c, affine) if reduction_prev else ReluConvBn(c_pp, c, affine)
        self.pre1 = ReluConvBn(c_p, c, affine)
        self.nodes = nodes
        self.edges = nn.ModuleList()
        for i in range(nodes):
            for j in range(2 + i):
                self.edges.append(MixedOp(c, 2 if reduction and j < 2 else 1, affine))

    def forward(self, s0, s1, weights):
        states = [self.pre0(s0), self.pre1(s1)]
        e = 0
        for i in range(self.nodes):
            s = sum(self.edges[e + j](h, weights[e + j]) for j, h in enumerate(states))
            e += len(states)
            states.append(s)
        return torch.cat(states[-self.nodes :], dim=1)


class Network(nn.Module):
    def __init__(self, chn_in, c, layers, nodes, n_classes=10, stem_multiplier=3, affine=False, channels_last=False):
        super().__init__()
        self.channels_last = channels_last
        c_stem = c * stem_multiplier
        self.stem = nn.Sequential(nn.Conv2d(chn_in, c_stem, 3, padding=1, bias=False), nn.BatchNorm2d(c_stem))
        c_pp, c_p, c_cur = c_stem, c_stem, c
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = layers >= 3 and i in (layers // 3, 2 * layers // 3)
            if reduction:
                c_cur *= 2
            self.cells.append(Cell(nodes, c_pp, c_p, c_cur, reduction, reduction_prev, affine))
            reduction_prev = reduction
            c_pp, c_p = c_p, c_cur * nodes
        self.classifier = nn.Linear(c_p, n_classes)
        n_edges = sum(2 + i for i in range(nodes))
        self.alpha_normal = nn.Parameter(1e-3 * torch.randn(n_edges, len(CANDIDATES)))
        self.alpha_reduce = nn.Parameter(1e-3 * torch.randn(n_edges, len(CANDIDATES)))

    def arch_parameters(self):
        return [self.alpha_normal, self.alpha_reduce]

    def weights(self):
        return [p for n, p in self.named_parameters() if not n.startswith("alpha")]

    def forward(self, x):
        s0 = s1 = self.stem(x)
        if self.channels_last:
            # A one-channel input is ambiguous about its layout: switch after the stem.
            s0 = s1 = s0.contiguous(memory_format=torch.channels_last)
        wn = F.softmax(self.alpha_normal, dim=-1)
        wr = F.softmax(self.alpha_reduce, dim=-1)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, wr if cell.reduction else wn)
        return self.classifier(F.adaptive_avg_pool2d(s1, 1).flatten(1))


def rss_mb():
    vals = {}
    with open("/proc/self/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                vals[k] = float(v.split()[0]) / 1024.0
    return vals["VmRSS"], vals["VmHWM"]


def run_pytorch(a):
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    net = Network(a.chn_in, a.chn, a.layers, a.nodes, channels_last=a.channels_last)
    if a.channels_last:
        net = net.to(memory_format=torch.channels_last)
    w_opt = torch.optim.SGD(net.weights(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    a_opt = torch.optim.Adam(net.arch_parameters(), lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
    torch.manual_seed(1)
    shape = (a.batch, a.chn_in, a.size, a.size)
    data = [(torch.randn(shape), torch.randint(0, 10, (a.batch,))) for _ in range(4)]
    net.train()

    def step(i):
        x, y = data[(2 * i) % 4]
        xv, yv = data[(2 * i + 1) % 4]
        a_opt.zero_grad()
        F.cross_entropy(net(xv), yv).backward()
        a_opt.step()
        w_opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        nn.utils.clip_grad_norm_(net.weights(), 5.0)
        w_opt.step()
        return loss.item()

    before, _ = rss_mb()
    for i in range(a.warmup):
        step(i)
    start = time.perf_counter()
    for i in range(a.steps):
        loss = step(a.warmup + i)
    secs = time.perf_counter() - start
    _, peak = rss_mb()
    return {
        "impl": "pytorch-channels-last" if a.channels_last else "pytorch",
        "ms_per_step": 1000.0 * secs / a.steps,
        "peak_mb": peak - before,
        "rss_before_mb": before,
        "loss": loss,
        "weights": sum(p.numel() for p in net.weights()),
        "alphas": sum(p.numel() for p in net.arch_parameters()),
        "threads": a.threads,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chn", type=int, default=16)
    p.add_argument("--chn-in", type=int, default=1)
    p.add_argument("--size", type=int, default=28)
    p.add_argument("--layers", type=int, default=5)
    p.add_argument("--nodes", type=int, default=4)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--binary", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "release", "darts_step"))
    p.add_argument("--only-pytorch", action="store_true", help="run the PyTorch supernet only (internal)")
    p.add_argument("--channels-last", action="store_true", help="the PyTorch supernet in the channels-last layout")
    p.add_argument("--ablation", action="store_true", help="also run modnas with each of its optimisations undone")
    a = p.parse_args()
    if a.only_pytorch:
        print(json.dumps(run_pytorch(a)))
        return 0
    shared = [
        s
        for k in ("chn", "chn-in", "size", "layers", "nodes", "batch", "steps", "warmup", "threads")
        for s in (f"--{k}", str(getattr(a, k.replace("-", "_"))))
    ]

    # Each implementation runs in its own process, so that peak memory is its own.
    def last_json(cmd):
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        return json.loads(out.strip().splitlines()[-1])

    me = [sys.executable, os.path.abspath(__file__), "--only-pytorch"] + shared
    base = last_json(me)
    base_cl = last_json(me + ["--channels-last"])
    ours = last_json([a.binary] + shared)
    for r in (base, base_cl, ours):
        print(json.dumps(r))
    print(
        f"DARTS supernet step (chn {a.chn}, {a.layers} cells, {a.nodes} nodes, batch {a.batch}, "
        f"{a.chn_in}x{a.size}x{a.size}, {a.threads} threads, {a.steps} timed steps; torch {torch.__version__})"
    )
    print(f"  weights: pytorch {base['weights']}, modnas {ours['weights']}; alphas {base['alphas']} / {ours['alphas']}")
    for b in (base, base_cl):
        print(
            f"  vs {b['impl']:<22} time {b['ms_per_step']:7.1f} ms -> modnas {ours['ms_per_step']:7.1f} ms: "
            f"speed-up {b['ms_per_step'] / ours['ms_per_step']:.2f}x;  peak memory {b['peak_mb']:6.0f} MiB -> "
            f"{ours['peak_mb']:6.0f} MiB: ratio {ours['peak_mb'] / max(b['peak_mb'], 1e-9):.2f}"
        )
    if a.ablation:
        print("  modnas with one optimisation undone (time per step, peak memory):")
        switches = [
            ("all on", []),
            ("NCHW layout (no channels-last)", ["--contiguous"]),
            ("weights multiplied, not folded into batch norm", ["--no-fold"]),
            ("ReLU per candidate, not shared", ["--no-shared-relu"]),
            ("zero operation computed", ["--with-zero"]),
            ("all four undone", ["--contiguous", "--no-fold", "--no-shared-relu", "--with-zero"]),
        ]
        for label, flags in switches:
            r = last_json([a.binary] + shared + flags)
            print(f"    {label:<48} {r['ms_per_step']:7.1f} ms  {r['peak_mb']:6.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
