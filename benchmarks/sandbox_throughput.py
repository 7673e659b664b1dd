"""Sandbox throughput: HumanEval canonical solutions per second.

Compares, in one run: a naive serial `python -c` subprocess per program (no isolation);
the sandbox as it was before issue 13 (one whole program per run, solution and tests in
one interpreter, network+PID namespaces only) with a pool of N; and the hardened sandbox
(the bubblewrap jail, the tests judged from a separate harness process) with a pool of 1
and of N workers.

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

from focusrl.rewards.code_exec import humaneval_job
from focusrl.rewards.sandbox import (
    SandboxConfig,
    SandboxPool,
    TestJob,
    effective_isolation,
    namespaces_available,
)

ROOT = Path(__file__).resolve().parents[1]


def load_tasks(data: Path) -> list[dict]:
    with gzip.open(data / "humaneval" / "HumanEval.jsonl.gz", "rt") as f:
        return [json.loads(line) for line in f]


def programs(tasks: list[dict]) -> list[str]:
    return [f"{t['prompt']}{t['canonical_solution']}\n\n{t['test']}\n\ncheck({t['entry_point']})\n"
            for t in tasks]


def jobs(tasks: list[dict]) -> list[TestJob]:
    return [humaneval_job(t["prompt"], t["prompt"], t["canonical_solution"], t["test"],
                          t["entry_point"]) for t in tasks]


def naive_serial(srcs: list[str]) -> tuple[float, int]:
    start, ok = time.perf_counter(), 0
    for src in srcs:
        done = subprocess.run([sys.executable, "-I", "-S", "-c", src], capture_output=True,
                              timeout=30)
        ok += done.returncode == 0
    return time.perf_counter() - start, ok


def sandboxed(srcs: list, workers: int, isolation: str = "auto") -> tuple[float, int]:
    with SandboxPool(SandboxConfig(workers=workers, isolation=isolation)) as pool:  # type: ignore[arg-type]
        start = time.perf_counter()
        results = pool.run_many(srcs)
        return time.perf_counter() - start, sum(r.passed for r in results)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()
    tasks = load_tasks(args.data)
    srcs, judged = programs(tasks), jobs(tasks)
    print(f"{len(srcs)} HumanEval canonical solutions, {os.cpu_count()} CPUs, "
          f"isolation={effective_isolation('auto')}, "
          f"namespaces={'yes' if namespaces_available() else 'no (fallback)'}, "
          f"root={'yes' if os.geteuid() == 0 else 'no'}")
    n = args.workers
    legacy = "namespace" if namespaces_available() else "none"
    rows = [("naive serial subprocess (no isolation)", *naive_serial(srcs)),
            (f"before: whole program, {legacy}, pool of {n}", *sandboxed(srcs, n, legacy)),
            ("hardened: jail + harness, pool of 1", *sandboxed(judged, 1)),
            (f"hardened: jail + harness, pool of {n}", *sandboxed(judged, n))]
    for name, secs, ok in rows:
        print(f"{name:44s} {secs:6.2f} s  {len(srcs) / secs:6.1f} programs/s  passed {ok}")
    print(f"hardened vs before at pool of {n}: {rows[1][1] / rows[3][1]:.2f}x the throughput; "
          f"pool of {n} vs pool of 1: {rows[2][1] / rows[3][1]:.2f}x")


if __name__ == "__main__":
    main()
