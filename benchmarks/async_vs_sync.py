"""Asynchronous vs synchronous RL: samples per second and time to a target reward.

Same task, seed and algorithm (GRPO with the decoupled-PPO correction, tis_cap=2) for
rollout.max_staleness = 0 (synchronous), 1 and 2, on two Ray rollout workers, each
serving several calls at once and holding --worker-copies policy copies (3 by default:
the next batch starts on the new weights while the previous one finishes on the old;
1 loads in place, after the running generations; distributed/weight_slots.py), in two
settings:
- cpu: the workers generate with the tiny model on this machine's CPU, competing with
  the trainer for the same cores;
- remote: each worker stands for a remote GPU server: its engine generates, then waits
  until --remote-seconds have passed since the call began (generation time dominated by
  waiting, as for a rate-limited inference server).
The task: answer with a digit first (format reward), learnable from scratch in ~20 steps.
samples/s = trained samples / summed step time (worker start-up and the final step's
evaluation excluded); time to target
= summed step time until the 3-step mean training reward first reaches --target.

    python benchmarks/async_vs_sync.py [--settings cpu,remote] [--steps 24]
        [--remote-seconds 0.4] [--target 0.4] [--prompts 16] [--samples 8]
        [--worker-copies 3]

The last line compares the last setting run:
`async/sync samples per second: staleness1 R1, staleness2 R2`.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from focusrl.config import load_config
from focusrl.trainer.components import build_components
from focusrl.trainer.rl import train
from focusrl.types import GenerationRequest, SamplingParams


class RemoteServerStandIn:
    """Wraps an engine so each `generate` call lasts at least `seconds` (a remote server)."""

    def __init__(self, engine: Any, seconds: float) -> None:
        self.engine, self.seconds = engine, seconds

    @property
    def policy_version(self) -> int:
        return self.engine.policy_version

    def generate(self, requests: Any, params: Any) -> Any:
        t = time.perf_counter()
        out = self.engine.generate(requests, params)
        time.sleep(max(0.0, self.seconds - (time.perf_counter() - t)))
        return out

    def sync_weights(self, model: Any, version: int) -> dict[str, float]:
        return self.engine.sync_weights(model, version)

    def state_dict(self) -> dict[str, Any]:
        return self.engine.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.engine.load_state_dict(state)

    def close(self) -> None:
        self.engine.close()


def settings(args: argparse.Namespace, run_dir: Path, staleness: int) -> list[str]:
    return [
        "seed=0", "threads=1", "data.num_train=400", "data.num_eval=16",
        f"rollout.prompts_per_step={args.prompts}",
        f"rollout.samples_per_prompt={args.samples}", "rollout.max_response_tokens=6",
        "train.micro_batch_samples=64", "train.progress=false", "optim.lr=1e-2",
        "optim.warmup_steps=0", "optim.schedule=constant", f"train.steps={args.steps}",
        "train.eval_every=0", "train.checkpoint_every=0", "algorithm.tis_cap=2",
        r"rewards.parts=[{kind: format, args: {pattern: '^\d', require_eos: false}}]",
        "resources.rollout_workers=2", f"resources.rollout_worker_copies={args.copies}",
        f"rollout.max_staleness={staleness}",
        f"run_dir={run_dir}",
    ]


def run_setting(args: argparse.Namespace, name: str, tmp: Path) -> dict[int, dict[str, float]]:
    wrapper = None
    if name == "remote":
        seconds = args.remote_seconds

        def wrapper(engine: Any) -> Any:
            return RemoteServerStandIn(engine, seconds)

    first = load_config(None, settings(args, tmp / f"{name}-warm", 0))
    c = build_components(first, engine_wrapper=wrapper)  # one pool serves every mode
    # warm-up outside the timings: workers started, first forward done
    c.engine.generate([GenerationRequest(p, 2, i) for i, p in enumerate(c.data.train[:4])],
                      SamplingParams(max_new_tokens=4, seed=1))
    init = {k: v.detach().clone() for k, v in c.model.state_dict().items()}
    sampler, sampler0 = c.sampler, c.sampler.state_dict()
    out = {}
    try:
        for k in (0, 1, 2):
            cfg = load_config(None, settings(args, tmp / f"{name}-s{k}", k))
            c.cfg = cfg  # same seed, weights, prompt order and sampling streams per mode
            c.model.load_state_dict(init)
            c.sampler = sampler
            c.sampler.load_state_dict(sampler0)
            c.engine.load_state_dict({"calls": 0, "policy_version": 0})
            c.loss_generator.manual_seed(cfg.seed + 1)
            train(cfg, components=c)
            rows = [json.loads(x) for x in (Path(cfg.run_dir) / "metrics.jsonl").open()]
            out[k] = summarise(rows, args.target)
            print(f"{name:6s} staleness {k}: {out[k]['samples_per_s']:7.1f} samples/s, "
                  f"time to reward {args.target}: {fmt(out[k]['time_to_target'])}, "
                  f"final reward {out[k]['final_reward']:.2f}, "
                  f"max staleness trained {out[k]['staleness_max']:.0f}", flush=True)
    finally:
        c.close()
    return out


def summarise(rows: list[dict[str, Any]], target: float) -> dict[str, float]:
    elapsed, reached = 0.0, float("nan")
    for i, r in enumerate(rows):
        elapsed += r["time_step"]
        window = rows[max(0, i - 2):i + 1]
        if reached != reached and sum(w["reward_mean"] for w in window) / len(window) >= target:
            reached = elapsed
    timed = [r for r in rows if "eval/accuracy" not in r]  # the last step also evaluates
    return {"samples_per_s": sum(r["num_samples"] for r in timed)
            / sum(r["time_step"] for r in timed),
            "time_to_target": reached,
            "final_reward": sum(r["reward_mean"] for r in rows[-3:]) / len(rows[-3:]),
            "staleness_max": max(r["staleness_max"] for r in rows)}


def fmt(seconds: float) -> str:
    return "not reached" if seconds != seconds else f"{seconds:.1f} s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--settings", default="cpu,remote")
    ap.add_argument("--steps", type=int, default=24)
    ap.add_argument("--remote-seconds", type=float, default=0.4)
    ap.add_argument("--target", type=float, default=0.4)
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--worker-copies", dest="copies", type=int, default=3)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.settings.split(","):
            results[name] = run_setting(args, name, Path(tmp))
    for name, res in results.items():
        base = res[0]["samples_per_s"]
        print(f"{name}: async/sync samples per second: staleness1 "
              f"{res[1]['samples_per_s'] / base:.2f}, staleness2 "
              f"{res[2]['samples_per_s'] / base:.2f}")
    last = results[args.settings.split(",")[-1]]
    print(f"async/sync samples per second: staleness1 "
          f"{last[1]['samples_per_s'] / last[0]['samples_per_s']:.2f}, staleness2 "
          f"{last[2]['samples_per_s'] / last[0]['samples_per_s']:.2f}")


if __name__ == "__main__":
    main()
