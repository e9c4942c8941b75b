#!/usr/bin/env python3
"""A tiny program to tune: prints its loss as a JSON line.

    modnas tune -p x=float:-5:5 -p y=float:-5:5 --objective loss:min --trials 40 \
        -- python3 examples/quadratic.py --x {x} --y {y}
"""
import argparse
import json

p = argparse.ArgumentParser()
p.add_argument("--x", type=float, required=True)
p.add_argument("--y", type=float, required=True)
a = p.parse_args()
print(json.dumps({"loss": (a.x - 3) ** 2 + (a.y + 1) ** 2}))
