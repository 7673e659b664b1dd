"""focusrl vs TRL's GRPOTrainer: seconds per step and peak memory on the CPU.

Same tiny model (built by focusrl, saved to a temporary directory, loaded by both), same
generated arithmetic prompts, same batch (prompts x samples), same response length,
same number of steps, 2 torch threads, no KL (both frameworks' default), one optimiser
pass per batch. Each framework runs at two precisions:

- TRL as it comes (`trl`): its defaults, which are bf16 autocast (accelerate's
  mixed precision, on the CPU too) and gradient checkpointing; and `trl-matched`:
  fp32, gradient checkpointing off (focusrl does not checkpoint activations).
- focusrl as it comes (`focusrl`: fp32) and `focusrl-bf16`: model.mixed_precision=bf16,
  the same bf16 autocast as TRL's default (models/precision.py).

Each run is its own subprocess so peak RSS is its own; the first step (warm-up) is
excluded, and a run's figure is the median over the other steps. Every framework runs
--repeats times (default 3), round-robin, and its figure is the smallest of its run
medians: on a shared machine, interference from other load only ever adds time, so the
minimum is the best estimate of the undisturbed time, and all four get the same
treatment. Peak RSS is the largest over the repeats.

    python benchmarks/vs_trl.py [--steps 8] [--prompts 8] [--samples 8] [--repeats 3]

Short setting: responses of at most 8 tokens (EOS allowed). Long setting: exactly 128
tokens (EOS ignored by focusrl's `ignore_eos`, and `min_new_tokens` for TRL).
The last line, `focusrl/trl seconds per step: short R1, long R2`, compares the two at
TRL's default precision (focusrl-bf16 / trl, both bf16 autocast); the lines before it
give focusrl fp32 against trl-matched (both fp32) and against trl as it comes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

FRAMEWORKS = ("focusrl", "focusrl-bf16", "trl", "trl-matched")


def build_model(path: str) -> None:
    from focusrl.models import build_char_tokenizer, build_tiny_model

    tok = build_char_tokenizer()
    model = build_tiny_model(tok, seed=0)
    model.save_pretrained(path)
    tok.save_pretrained(path)


def arithmetic_prompts(n: int) -> list[dict]:
    from focusrl.data.config import DataConfig
    from focusrl.data.sources import load_task_data

    data = load_task_data(DataConfig(num_train=n, num_eval=0))
    return [{"prompt": p.text, "answer": p.answer} for p in data.train]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_focusrl(args: argparse.Namespace) -> dict:
    bf16 = args.worker == "focusrl-bf16"
    import torch

    from focusrl.config import load_config
    from focusrl.trainer.logging import read_metrics
    from focusrl.trainer.rl import train

    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as run_dir:
        cfg = load_config(None, [
            f"model.path={args.model}", f"run_dir={run_dir}", "threads=2",
            f"rollout.prompts_per_step={args.prompts}",
            f"rollout.samples_per_prompt={args.samples}",
            f"rollout.max_response_tokens={args.tokens}",
            f"rollout.ignore_eos={'true' if args.long else 'false'}",
            f"train.steps={args.steps}", "train.eval_every=0", "train.checkpoint_every=0",
            "train.progress=false", f"train.micro_batch_samples={args.prompts * args.samples}",
            "optim.lr=1e-5", "data.num_eval=0", "data.num_train=512",
            "data.chat_template=never", f"model.mixed_precision={'bf16' if bf16 else 'none'}",
            *args.override,
        ])
        train(cfg, stop_at=args.steps)
        rows = read_metrics(f"{run_dir}/metrics.jsonl")
    times = [r["time_step"] for r in rows[1:]]
    phases = {f"{k}_per_step": statistics.median(r[f"time_{k}"] for r in rows[1:])
              for k in ("rollout", "update")}
    lengths = [r["response_length"] for r in rows]
    return {"sec_per_step": statistics.median(times), "peak_rss_mb": peak_rss_mb(), **phases,
            "mean_response_tokens": sum(lengths) / len(lengths),
            "precision": "bf16 autocast" if bf16 else "fp32"}


def run_trl(args: argparse.Namespace) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    torch.set_num_threads(2)
    times: list[float] = []
    lengths: list[float] = []

    class Timer(TrainerCallback):
        def on_step_begin(self, *a, **k):
            self.t = time.perf_counter()

        def on_step_end(self, *a, **k):
            times.append(time.perf_counter() - self.t)

    def reward(completions, answer, **kw):
        lengths.append(sum(len(c) for c in completions) / len(completions))
        return [float(c.strip() == a) for c, a in zip(completions, answer)]

    tok = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model)
    data = Dataset.from_list(arithmetic_prompts(512))
    with tempfile.TemporaryDirectory() as out:
        cfg = GRPOConfig(
            output_dir=out, per_device_train_batch_size=args.prompts * args.samples,
            num_generations=args.samples, max_completion_length=args.tokens,
            max_steps=args.steps, learning_rate=1e-5,
            gradient_checkpointing=args.worker == "trl",  # TRL's default is on
            # TRL's default is bf16 autocast (also on the CPU); matched runs fp32 like focusrl
            **({"bf16": False} if args.worker == "trl-matched" else {}),
            use_cpu=True, report_to="none", logging_steps=10_000, save_strategy="no",
            temperature=1.0, beta=0.0, loss_type="dapo", seed=0,
            generation_kwargs={"min_new_tokens": args.tokens} if args.long else None,
            dataloader_num_workers=0, disable_tqdm=True,
        )
        trainer = GRPOTrainer(model=model, reward_funcs=reward, args=cfg, train_dataset=data,
                              processing_class=tok, callbacks=[Timer()])
        trainer.train()
        precision = str(trainer.accelerator.mixed_precision)
    return {"sec_per_step": statistics.median(times[1:]), "peak_rss_mb": peak_rss_mb(),
            "mean_response_chars": sum(lengths) / max(len(lengths), 1),
            "precision": "fp32" if precision == "no" else f"{precision} autocast"}


PAIRS = (("focusrl", "trl-matched"), ("focusrl", "trl"), ("focusrl-bf16", "trl"))
LABELS = ("focusrl fp32 / trl-matched fp32", "focusrl fp32 / trl (bf16 autocast)",
          "focusrl/trl")  # the last: both bf16 autocast, TRL's default precision


def worker_main(args: argparse.Namespace) -> None:
    fn = run_focusrl if args.worker.startswith("focusrl") else run_trl
    print("RESULT " + json.dumps(fn(args)), flush=True)


def spawn(framework: str, model: str, tokens: int, long: bool, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--worker", framework, "--model", model,
           "--tokens", str(tokens), "--steps", str(args.steps), "--prompts", str(args.prompts),
           "--samples", str(args.samples)] + (["--long"] if long else []) + [
               f"--override={o}" for o in getattr(args, "override", [])]
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "2"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{framework} worker failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3,
                    help="runs per framework and setting (round-robin); the minimum counts")
    ap.add_argument("--worker", choices=[*FRAMEWORKS])
    ap.add_argument("--model")
    ap.add_argument("--tokens", type=int, default=8)
    ap.add_argument("--long", action="store_true")
    ap.add_argument("--override", action="append", default=[],
                    help="extra focusrl config override for the focusrl workers (repeatable)")
    args = ap.parse_args()
    if args.worker:
        worker_main(args)
        return
    ratios: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as model_dir:
        build_model(model_dir)
        print(f"batch: {args.prompts} prompts x {args.samples} samples, {args.steps} steps "
              f"(first excluded; median), best of {args.repeats} runs each, tiny Qwen2 "
              "0.87M params, 2 threads")
        print(f"{'setting':<8} {'framework':<12} {'s/step':>8} {'peak RSS MB':>12}  precision")
        for name, tokens, long in (("short", 8, False), ("long", 128, True)):
            runs: dict[str, list[dict]] = {fw: [] for fw in FRAMEWORKS}
            for _ in range(args.repeats):
                for fw in FRAMEWORKS:
                    runs[fw].append(spawn(fw, model_dir, tokens, long, args))
            res = {fw: {**min(rs, key=lambda r: r["sec_per_step"]),
                        "peak_rss_mb": max(r["peak_rss_mb"] for r in rs)}
                   for fw, rs in runs.items()}
            for fw, r in res.items():
                print(f"{name:<8} {fw:<12} {r['sec_per_step']:>8.3f} {r['peak_rss_mb']:>12.0f}  "
                      f"{r['precision']}", flush=True)
            for ours, theirs in PAIRS:
                ratios.setdefault(f"{ours}/{theirs}", {})[name] = (
                    res[ours]["sec_per_step"] / res[theirs]["sec_per_step"])
    for (ours, theirs), label in zip(PAIRS, LABELS):
        r = ratios[f"{ours}/{theirs}"]
        print(f"{label} seconds per step: short {r['short']:.2f}, long {r['long']:.2f}")


if __name__ == "__main__":
    main()
