"""Where one focusrl RL step's time goes, at vs_trl.py's 39M setting (or any saved model).

    python benchmarks/profile_step.py [--steps 3] [--profile] [--model DIR]

Runs the library's own loop (`focusrl.trainer.rl.train`) with vs_trl.py's focusrl config
(the same function builds it) on the 39M-parameter Qwen2-shaped model with a 32k BPE
vocabulary (benchmarks/realistic_model.py; built once into --model-dir and reused),
4 prompts x 8 samples x exactly 128 response tokens, fp32, 2 threads. It prints per step
the loop's own timings (`time_rollout`, `time_update`, `time_sync`, `time_reward`) and
each stage's share of the fp32 GEMM peak (a torch.matmul probe, as in vs_trl.py): model
FLOPs 2*N*T for generation and 6*N*T for the update (N parameters, T prompt plus
response tokens), attention left out, as vs_trl.py counts them.

With --profile, steps after the first run under torch.profiler (the engine's `generate`
and the update wrapped in `record_function` ranges) and the operators taking the most
CPU time are printed per range. The profiler adds overhead per operator, so its
step times are not the figures to quote; the unprofiled timings above them are.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def fp32_peak() -> float:
    """GFLOP/s of a 2048^3 float32 torch.matmul on the current threads, best of 5."""
    import torch

    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    torch.matmul(a, b)
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * 2048**3 / best / 1e9


class StageProfiler:
    """Wraps the engine's generate and the update stage of built components: names them
    as profiler ranges and starts torch.profiler at the second generate call (after the
    warm-up step)."""

    def __init__(self, c: Any, enabled: bool):
        import torch

        self.torch, self.enabled, self.calls, self.prof = torch, enabled, 0, None
        self._generate, self._update = c.engine.generate, c.policy_update
        c.engine.generate = self.generate
        c.policy_update = self.update

    def generate(self, *a: Any, **k: Any) -> Any:
        self.calls += 1
        if self.enabled and self.calls == 2:
            self.prof = self.torch.profiler.profile(
                activities=[self.torch.profiler.ProfilerActivity.CPU], with_flops=True)
            self.prof.__enter__()
        with self.torch.profiler.record_function("generate"):
            return self._generate(*a, **k)

    def update(self, *a: Any, **k: Any) -> Any:
        with self.torch.profiler.record_function("policy_update"):
            return self._update(*a, **k)

    def report(self, top: int) -> None:
        if self.prof is None:
            return
        self.prof.__exit__(None, None, None)
        events = self.prof.events()
        ranges = {"generate": [], "policy_update": []}
        for e in events:
            if e.name in ranges:
                ranges[e.name].append(e)
        for name, spans in ranges.items():
            total = sum(e.cpu_time_total for e in spans) / 1e6
            print(f"\n== {name}: {total:.2f} s over {len(spans)} call(s) (profiled) ==")
            inside = _ops_inside(events, spans)
            rows = sorted(inside.items(), key=lambda kv: -kv[1][0])[:top]
            print(f"{'self s':>8} {'share':>6} {'calls':>7} {'GFLOP':>8} {'GFLOP/s':>8}  op")
            for op, (self_s, calls, flops) in rows:
                rate = f"{flops / self_s / 1e9:8.1f}" if flops else f"{'':>8}"
                print(f"{self_s:8.3f} {100 * self_s / total:5.1f}% {calls:7d} "
                      f"{flops / 1e9:8.1f} {rate}  {op}")


def _ops_inside(events: Any, spans: list) -> dict[str, tuple[float, int, float]]:
    """Self CPU seconds, calls and FLOPs per operator name within the given ranges."""
    bounds = [(s.time_range.start, s.time_range.end, s.thread) for s in spans]
    out: dict[str, tuple[float, int, float]] = {}
    for e in events:
        if e.name in ("generate", "policy_update"):
            continue
        if not any(a <= e.time_range.start and e.time_range.end <= b and e.thread == th
                   for a, b, th in bounds):
            continue
        s, n, f = out.get(e.name, (0.0, 0, 0.0))
        out[e.name] = (s + e.self_cpu_time_total / 1e6, n + 1, f + (e.flops or 0))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="a saved model directory (default: the 39M model)")
    ap.add_argument("--model-dir", default=f"{tempfile.gettempdir()}/focusrl_39M",
                    help="where the 39M model is built once and reused")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--prompts", type=int, default=4)
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--precision", default="none", help="model.mixed_precision")
    ap.add_argument("--profile", action="store_true", help="torch.profiler after step 1")
    ap.add_argument("--top", type=int, default=25, help="operators listed per stage")
    ap.add_argument("--override", action="append", default=[],
                    help="extra focusrl config override (repeatable)")
    args = ap.parse_args()
    if args.steps < 1:
        raise SystemExit("--steps must be >= 1")
    import torch

    from focusrl.trainer.components import build_components
    from focusrl.trainer.logging import read_metrics
    from focusrl.trainer.rl import train
    from vs_trl import focusrl_config, mean_prompt_tokens

    torch.set_num_threads(2)
    if args.model is None:
        args.model = args.model_dir
        if not (Path(args.model) / "config.json").exists():
            from realistic_model import build_realistic_model

            build_realistic_model(Path(args.model))
    args.long = True
    peak = fp32_peak()
    with tempfile.TemporaryDirectory() as run_dir:
        cfg = focusrl_config(args, run_dir, args.precision)
        c = build_components(cfg)
        n = sum(p.numel() for p in c.model.parameters())
        tokens = args.prompts * args.samples * (mean_prompt_tokens(args.model) + args.tokens)
        print(f"model {args.model}: {n / 1e6:.1f}M params, vocabulary {c.model.config.vocab_size}"
              f"; {args.prompts} prompts x {args.samples} samples x {args.tokens} tokens "
              f"({tokens:.0f} tokens a step); precision {args.precision}; fp32 GEMM probe "
              f"{peak:.0f} GFLOP/s; {args.steps} steps")
        stages = StageProfiler(c, args.profile)
        train(cfg, components=c, stop_at=args.steps)
        rows = read_metrics(f"{run_dir}/metrics.jsonl")
        c.close()
    gen_flops, upd_flops = 2 * n * tokens, 6 * n * tokens
    print(f"{'step':>4} {'step s':>7} {'rollout':>8} {'update':>7} {'sync':>6} {'reward':>7} "
          f"{'other':>6} {'gen%':>5} {'upd%':>5} {'step%':>5}")
    for r in rows:
        other = r["time_step"] - sum(r[k] for k in ("time_rollout", "time_update",
                                                    "time_sync", "time_reward"))
        pct = [100 * f / s / (peak * 1e9) for f, s in (
            (gen_flops, r["time_rollout"]), (upd_flops, r["time_update"]),
            (gen_flops + upd_flops, r["time_step"]))]
        print(f"{r['step']:>4} {r['time_step']:7.2f} {r['time_rollout']:8.2f} "
              f"{r['time_update']:7.2f} {r['time_sync']:6.3f} {r['time_reward']:7.3f} "
              f"{other:6.3f} " + " ".join(f"{p:5.1f}" for p in pct))
    if len(rows) > 1:
        print("median after step 1: step {:.2f} s, rollout {:.2f} s, update {:.2f} s".format(
            *(statistics.median(r[k] for r in rows[1:])
              for k in ("time_step", "time_rollout", "time_update"))))
    stages.report(args.top)


if __name__ == "__main__":
    main()
