"""Sandbox throughput: HumanEval canonical solutions per second.

Compares, in one run: a naive serial `python -c` subprocess per program (no isolation),
the sandbox with a pool of 1 worker, and the sandbox with a pool of N workers.

    python benchmarks/sandbox_throughput.py [--data ../shared/data] [--workers 2]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from focusrl.rewards.sandbox import SandboxConfig, SandboxPool, namespaces_available

ROOT = Path(__file__).resolve().parents[1]


def programs(data: Path) -> list[str]:
    with gzip.open(data / "humaneval" / "HumanEval.jsonl.gz", "rt") as f:
        tasks = [json.loads(line) for line in f]
    return [f"{t['prompt']}{t['canonical_solution']}\n\n{t['test']}\n\ncheck({t['entry_point']})\n"
            for t in tasks]


def naive_serial(srcs: list[str]) -> tuple[float, int]:
    start, ok = time.perf_counter(), 0
    for src in srcs:
        done = subprocess.run([sys.executable, "-I", "-S", "-c", src], capture_output=True,
                              timeout=30)
        ok += done.returncode == 0
    return time.perf_counter() - start, ok


def sandboxed(srcs: list[str], workers: int) -> tuple[float, int]:
    with SandboxPool(SandboxConfig(workers=workers)) as pool:
        start = time.perf_counter()
        results = pool.run_many(srcs)
        return time.perf_counter() - start, sum(r.passed for r in results)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()
    srcs = programs(args.data)
    print(f"{len(srcs)} HumanEval canonical solutions, {os.cpu_count()} CPUs, "
          f"namespaces={'yes' if namespaces_available() else 'no (fallback)'}, "
          f"root={'yes' if os.geteuid() == 0 else 'no'}")
    rows = [("naive serial subprocess (no isolation)", *naive_serial(srcs)),
            ("sandbox, pool of 1", *sandboxed(srcs, 1)),
            (f"sandbox, pool of {args.workers}", *sandboxed(srcs, args.workers))]
    for name, secs, ok in rows:
        print(f"{name:42s} {secs:6.2f} s  {len(srcs) / secs:6.1f} programs/s  passed {ok}")
    print(f"pool of {args.workers} vs pool of 1: {rows[1][1] / rows[2][1]:.2f}x; "
          f"sandbox overhead vs naive serial at 1 worker: {rows[1][1] / rows[0][1]:.2f}x")


if __name__ == "__main__":
    main()
