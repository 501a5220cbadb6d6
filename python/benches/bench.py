"""What drainstorm costs from Python, against the command line and a
pure-Python consistent-hash ring.

    python benches/bench.py [ROUNDS] [--drainstorm PATH]

1. A run of the bundled incident profile (18 runs × 13 simulated hours)
   from Python (`drainstorm.run`, DataFrames included) and from the
   command line (`drainstorm run -q`, files written), alternated ROUNDS
   times (default 3); medians and the median of the paired ratios.
2. One `Maglev.pick` call over 64 backends, `pick_many` per key on a
   million keys, and `uhashring.HashRing.get_node` over the same 64 nodes.
"""

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import timeit

import drainstorm


def run_figures(rounds, cli):
    py, sh, ratios = [], [], []
    out = tempfile.mkdtemp()
    for i in range(rounds):
        t = time.perf_counter()
        drainstorm.run("cheyenne-2026")
        p = time.perf_counter() - t
        t = time.perf_counter()
        subprocess.run([cli, "run", "cheyenne-2026", "-q", "-o", out], check=True, stdout=subprocess.DEVNULL)
        c = time.perf_counter() - t
        py.append(p)
        sh.append(c)
        ratios.append(p / c)
        print(f"  round {i}: Python {p:.2f} s, command line {c:.2f} s, ratio {p / c:.3f}")
    shutil.rmtree(out, ignore_errors=True)
    print(
        f"run cheyenne-2026: Python median {statistics.median(py):.2f} s, command line "
        f"{statistics.median(sh):.2f} s; median ratio {statistics.median(ratios):.3f} (goal ≤ 1.05)"
    )


def pick_figures():
    lb = drainstorm.Maglev([1] * 64, seed=1)
    n = 200_000
    keys = list(range(n))
    per_call = min(timeit.repeat(lambda: [lb.pick(k) for k in keys], number=1, repeat=5)) / n
    many_keys = list(range(1_000_000))
    per_key = min(timeit.repeat(lambda: lb.pick_many(many_keys), number=1, repeat=5)) / len(many_keys)
    line = f"Maglev, 64 backends: pick {per_call * 1e9:.0f} ns per call, pick_many {per_key * 1e9:.1f} ns per key (list)"
    try:
        import numpy as np

        arr = np.arange(1_000_000, dtype=np.uint64)
        per_np = min(timeit.repeat(lambda: lb.pick_many(arr), number=1, repeat=5)) / len(arr)
        line += f", {per_np * 1e9:.1f} ns per key (NumPy array)"
    except ImportError:
        pass
    try:
        from uhashring import HashRing

        ring = HashRing(nodes=[f"node{i}" for i in range(64)])
        per_ring = min(timeit.repeat(lambda: [ring.get_node(k) for k in keys], number=1, repeat=5)) / n
        line += f"; uhashring get_node {per_ring * 1e9:.0f} ns per call"
    except ImportError:
        line += "; uhashring not installed"
    print(line)


if __name__ == "__main__":
    args = sys.argv[1:]
    cli = "drainstorm"
    if "--drainstorm" in args:
        i = args.index("--drainstorm")
        cli = args[i + 1]
        del args[i : i + 2]
    rounds = int(args[0]) if args else 3
    print(f"drainstorm {drainstorm.__version__}, Python {sys.version.split()[0]}")
    pick_figures()
    run_figures(rounds, cli)
