"""focusrl vs TRL's GRPOTrainer: seconds per step and peak memory on the CPU.

Two models, in the same run, both built here with no download:
- `tiny`: focusrl's built-in model (Qwen2 architecture, 0.87M parameters, a 100-token
  character vocabulary), 8 prompts x 8 samples, a short setting (at most 8 response
  tokens, EOS allowed) and a long one (exactly 128 tokens);
- `39M`: a Qwen2-shaped model of 38.9M parameters with a 32k byte-level BPE vocabulary
  trained at run time on generated text (benchmarks/realistic_model.py), 4 prompts x 8
  samples, exactly 128 response tokens.
Both frameworks load the same saved model and get the same generated arithmetic prompts,
the same batch, the same response length, 2 torch threads, no KL (both frameworks'
default), loss `dapo` (TRL's default), one optimiser pass per batch. Long settings
generate exactly 128 tokens (focusrl's `ignore_eos`, TRL's `min_new_tokens`).

Rows (each framework at up to three precisions):
- `focusrl`: as it comes, `model.mixed_precision=auto` (bf16 where the hardware computes
  it natively, else fp32); `focusrl-fp32` (`none`) and `focusrl-bf16` (`bf16`, the same
  bf16 autocast as TRL's). The one of these two that `auto` resolves to is not run twice:
  it reuses the `focusrl` runs (same configuration).
- `trl`: as it comes: bf16 autocast (GRPOConfig's `bf16` defaults to True, also on the
  CPU) and gradient checkpointing on; `trl-bf16`: bf16 autocast, checkpointing off;
  `trl-fp32`: fp32, checkpointing off.

Each run is its own subprocess, so peak RSS is its own. The first step (warm-up) is
excluded and a run's figure is the median of the other steps (with `--big-steps 1`,
the one step, warm-up included). Every framework runs --repeats times (39M:
--big-repeats), round-robin; its figure is the smallest run median (interference from
other load only adds time) and the spread across runs is printed beside it. Peak RSS is
the largest over the runs.

GEMM peak: a torch.matmul probe in the same run (2 threads, 2048^3 in fp32; 1024^3 in
bf16), best of 5. A step's model FLOPs are 6*N*T for the update plus 2*N*T for
generation, N the parameter count and T the batch's prompt plus response tokens
(attention FLOPs left out; gradient checkpointing's recomputation not counted, as for
MFU); `GEMM%` is model FLOPs / (s/step * the probe's FLOP/s at the row's precision),
left out (`-`) for bf16 rows where bf16 is emulated: there the 1024^3 probe is no peak
(the tiny model's small bf16 matmuls run several times faster per FLOP).

On a CPU without native bf16 (no AVX512-BF16 or AMX; the probe shows it) PyTorch
emulates bf16 matmuls tens of times slower than fp32. There the tiny model's bf16 rows
(`focusrl-bf16`, `trl`, `trl-bf16`) run once with --emulated-steps steps, and the 39M
model's bf16 rows, which would take about ten minutes a step, are left out:
`--big-bf16 native` (the default) runs them only where bf16 is native and prints `n/a`
for R3 and R4 otherwise; `--big-bf16 always` runs them (`--big-steps 1 --big-repeats 1`
keeps that short). The machine's load average is printed at the start and the end.

    python benchmarks/vs_trl.py [--steps 8] [--repeats 3] [--big-steps 3] [--big-repeats 2]

Last two lines: `focusrl/trl seconds per step: short R1, long R2` (tiny model,
focusrl-bf16 / trl, both bf16 autocast: TRL's default precision) and
`focusrl/trl seconds per step, 39M model: matched R3, defaults R4` (R3: focusrl-bf16 /
trl-bf16, both bf16 without checkpointing; R4: focusrl / trl, each as it comes).
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
from pathlib import Path

HERE = Path(__file__).resolve().parent
FRAMEWORKS = ("focusrl", "focusrl-fp32", "focusrl-bf16", "trl", "trl-bf16", "trl-fp32")
FOCUSRL_PRECISION = {"focusrl": "auto", "focusrl-fp32": "none", "focusrl-bf16": "bf16"}
BF16_ROWS = ("focusrl-bf16", "trl", "trl-bf16")


def build_tiny(path: str) -> int:
    from focusrl.models import build_char_tokenizer, build_tiny_model

    tok = build_char_tokenizer()
    model = build_tiny_model(tok, seed=0)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return sum(p.numel() for p in model.parameters())


def arithmetic_prompts(n: int) -> list[dict]:
    from focusrl.data.config import DataConfig
    from focusrl.data.sources import load_task_data

    data = load_task_data(DataConfig(num_train=n, num_eval=0))
    return [{"prompt": p.text, "answer": p.answer} for p in data.train]


def mean_prompt_tokens(model: str, n: int = 512) -> float:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model)
    return statistics.mean(len(tok(p["prompt"]).input_ids) for p in arithmetic_prompts(n))


def gemm_probe() -> dict[str, float]:
    """GFLOP/s of torch.matmul on 2 threads: fp32 at 2048^3, bf16 at 1024^3, best of 5."""
    import torch

    torch.set_num_threads(2)
    out = {}
    for name, dtype, n in (("fp32", torch.float32, 2048), ("bf16", torch.bfloat16, 1024)):
        a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
        torch.matmul(a, b)
        best = float("inf")
        for _ in range(5):
            t = time.perf_counter()
            torch.matmul(a, b)
            best = min(best, time.perf_counter() - t)
        out[name] = 2 * n**3 / best / 1e9
    return out


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def step_figure(times: list[float]) -> float:
    """The median step time without the warm-up step (the one step if there is only one)."""
    return statistics.median(times[1:] if len(times) > 1 else times)


def run_focusrl(args: argparse.Namespace) -> dict:
    import torch

    from focusrl.config import load_config
    from focusrl.models.precision import compute_dtype
    from focusrl.trainer.logging import read_metrics
    from focusrl.trainer.rl import train

    torch.set_num_threads(2)
    precision = FOCUSRL_PRECISION[args.worker]
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
            "data.chat_template=never", f"model.mixed_precision={precision}",
            *args.override,
        ])
        train(cfg, stop_at=args.steps)
        rows = read_metrics(f"{run_dir}/metrics.jsonl")
    timed = rows[1:] if len(rows) > 1 else rows
    dtype = compute_dtype(precision)
    return {"sec_per_step": step_figure([r["time_step"] for r in rows]),
            "peak_rss_mb": peak_rss_mb(),
            **{f"{k}_per_step": statistics.median(r[f"time_{k}"] for r in timed)
               for k in ("rollout", "update")},
            "mean_response_tokens": statistics.mean(r["response_length"] for r in rows),
            "precision": "fp32" if dtype is None else "bf16 autocast"}


def run_trl(args: argparse.Namespace) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    torch.set_num_threads(2)
    times: list[float] = []

    class Timer(TrainerCallback):
        def on_step_begin(self, *a, **k):
            self.t = time.perf_counter()

        def on_step_end(self, *a, **k):
            times.append(time.perf_counter() - self.t)

    def reward(completions, answer, **kw):
        return [float(c.strip() == a) for c, a in zip(completions, answer)]

    tok = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model)
    data = Dataset.from_list(arithmetic_prompts(512))
    # `trl` leaves bf16 and gradient_checkpointing at TRL's defaults (True, True)
    precision = {} if args.worker == "trl" else {"bf16": args.worker == "trl-bf16",
                                                 "gradient_checkpointing": False}
    with tempfile.TemporaryDirectory() as out:
        cfg = GRPOConfig(
            output_dir=out, per_device_train_batch_size=args.prompts * args.samples,
            num_generations=args.samples, max_completion_length=args.tokens,
            max_steps=args.steps, learning_rate=1e-5, **precision,
            use_cpu=True, report_to="none", logging_steps=10_000, save_strategy="no",
            temperature=1.0, beta=0.0, loss_type="dapo", seed=0,
            generation_kwargs={"min_new_tokens": args.tokens} if args.long else None,
            dataloader_num_workers=0, disable_tqdm=True,
        )
        trainer = GRPOTrainer(model=model, reward_funcs=reward, args=cfg, train_dataset=data,
                              processing_class=tok, callbacks=[Timer()])
        trainer.train()
        mixed = str(trainer.accelerator.mixed_precision)
    return {"sec_per_step": step_figure(times), "peak_rss_mb": peak_rss_mb(),
            "precision": ("fp32" if mixed == "no" else f"{mixed} autocast")
            + (", grad ckpt" if cfg.gradient_checkpointing else "")}


def worker_main(args: argparse.Namespace) -> None:
    fn = run_focusrl if args.worker.startswith("focusrl") else run_trl
    print("RESULT " + json.dumps(fn(args)), flush=True)


def spawn(framework: str, model: str, setting: dict, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--worker", framework, "--model", model,
           "--tokens", str(setting["tokens"]), "--steps", str(setting["steps"]),
           "--prompts", str(setting["prompts"]), "--samples", str(setting["samples"]),
           *(["--long"] if setting["long"] else []),
           *(f"--override={o}" for o in args.override)]
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "2"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{framework} worker failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def run_setting(setting: dict, model: str, frameworks: list[str], aliases: dict[str, str],
                gemm: dict[str, float], args: argparse.Namespace) -> dict[str, dict]:
    """Run every framework of a setting round-robin; print and return the best runs."""
    runs: dict[str, list[dict]] = {fw: [] for fw in frameworks if fw not in aliases}
    reduced = setting.get("reduced", ())  # emulated-bf16 rows: fewer steps, one run
    for rep in range(setting["repeats"]):
        for fw in runs:
            if fw not in reduced:
                runs[fw].append(spawn(fw, model, setting, args))
            elif rep == 0:
                runs[fw].append(spawn(fw, model, {**setting, "steps": args.emulated_steps}, args))
    res = {}
    for fw in frameworks:
        rs = runs[aliases.get(fw, fw)]
        secs = [r["sec_per_step"] for r in rs]
        res[fw] = {**min(rs, key=lambda r: r["sec_per_step"]), "runs": secs,
                   "peak_rss_mb": max(r["peak_rss_mb"] for r in rs)}
    flops = setting.get("flops")
    for fw, r in res.items():
        spread = "-".join(f"{x:.3f}" for x in (min(r["runs"]), max(r["runs"])))
        share = "-"
        peak = gemm.get("bf16" if r["precision"].startswith("bf16") else "fp32")
        if flops and peak:  # (no bf16 peak where bf16 is emulated: see the docstring)
            share = f"{100 * flops / r['sec_per_step'] / (peak * 1e9):.1f}%"
        note = f" (= {aliases[fw]}: same config)" if fw in aliases else ""
        if fw in reduced:
            note = f" (emulated: {args.emulated_steps} steps, 1 run)"
        print(f"{setting['name']:<6} {fw:<13} {r['sec_per_step']:>8.3f} {spread:>13} "
              f"{r['peak_rss_mb']:>8.0f} {share:>6}  {r['precision']}{note}", flush=True)
    return res


def ratio(res: dict[str, dict], ours: str, theirs: str) -> str:
    if ours not in res or theirs not in res:
        return "n/a"
    return f"{res[ours]['sec_per_step'] / res[theirs]['sec_per_step']:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=8, help="steps per run, tiny model")
    ap.add_argument("--prompts", type=int, default=8, help="tiny model")
    ap.add_argument("--samples", type=int, default=8, help="tiny model")
    ap.add_argument("--repeats", type=int, default=3,
                    help="runs per framework and setting (round-robin); the minimum counts")
    ap.add_argument("--emulated-steps", type=int, default=3,
                    help="tiny model, CPU without native bf16: steps of the bf16 rows (1 run)")
    ap.add_argument("--big-steps", type=int, default=3, help="steps per run, 39M model")
    ap.add_argument("--big-repeats", type=int, default=2, help="runs per framework, 39M model")
    ap.add_argument("--big-prompts", type=int, default=4)
    ap.add_argument("--big-samples", type=int, default=8)
    ap.add_argument("--big-tokens", type=int, default=128)
    ap.add_argument("--big-vocab", type=int, default=32000)
    ap.add_argument("--big-hidden", type=int, default=512, help="(smoke tests: smaller)")
    ap.add_argument("--big-layers", type=int, default=8, help="(smoke tests: fewer)")
    ap.add_argument("--big-bf16", choices=("native", "always"), default="native",
                    help="run the 39M model's bf16 rows only where bf16 is native, or always")
    ap.add_argument("--models", default="tiny,39M", help="which models to run")
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
    models = args.models.split(",")
    if not set(models) <= {"tiny", "39M"} or min(args.steps, args.big_steps,
                                                   args.emulated_steps) < 1:
        raise SystemExit("--models takes tiny and/or 39M (comma-separated); steps must be >= 1")
    sys.path.insert(0, str(HERE))
    from focusrl.models.precision import compute_dtype, cpu_has_native_bf16
    from realistic_model import build_realistic_model

    native = cpu_has_native_bf16()
    # the focusrl row that `auto` resolves to here is the same configuration as `focusrl`
    aliases = {"focusrl-bf16" if compute_dtype("auto") else "focusrl-fp32": "focusrl"}
    print(f"load average at start: {os.getloadavg()[0]:.2f} (2 cores)")
    gemm = gemm_probe()
    print(f"GEMM probe (torch.matmul, 2 threads): fp32 {gemm['fp32']:.0f} GFLOP/s, bf16 "
          f"{gemm['bf16']:.0f} GFLOP/s; native bf16 on this CPU: {'yes' if native else 'no'}"
          + ("" if native else " (bf16 is emulated)"))
    if not native:  # emulated: the probe's square matmul is no peak for other shapes
        gemm = {"fp32": gemm["fp32"]}
    print(f"{'model':<6} {'framework':<13} {'s/step':>8} {'runs min-max':>13} {'peak MB':>8} "
          f"{'GEMM%':>6}  precision")
    res: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if "tiny" in models:
            path = f"{tmp}/tiny"
            n = build_tiny(path)
            print(f"tiny: Qwen2 {n / 1e6:.2f}M params, {args.prompts} prompts x "
                  f"{args.samples} samples, {args.steps} steps (first excluded; median), best "
                  f"of {args.repeats} runs each", flush=True)
            tokens = args.prompts * args.samples * (mean_prompt_tokens(path) + 128)
            for name, resp, long in (("short", 8, False), ("long", 128, True)):
                setting = {"name": name, "tokens": resp, "long": long, "steps": args.steps,
                           "repeats": args.repeats, "prompts": args.prompts,
                           "samples": args.samples, "flops": 8 * n * tokens if long else None,
                           "reduced": () if native else BF16_ROWS}
                res[name] = run_setting(setting, path, list(FRAMEWORKS), aliases, gemm, args)
        if "39M" in models:
            t0 = time.perf_counter()
            path, vocab, n = build_realistic_model(Path(tmp) / "39M", args.big_vocab,
                                                   hidden=args.big_hidden, layers=args.big_layers)
            tokens = args.big_prompts * args.big_samples * (
                mean_prompt_tokens(path) + args.big_tokens)
            fws = list(FRAMEWORKS)
            if not native and args.big_bf16 == "native":
                fws = [fw for fw in fws if fw not in BF16_ROWS or fw in aliases]
            print(f"39M: Qwen2 {n / 1e6:.1f}M params, BPE vocabulary {vocab} (built in "
                  f"{time.perf_counter() - t0:.0f} s), {args.big_prompts} prompts x "
                  f"{args.big_samples} samples x {args.big_tokens} tokens, {args.big_steps} "
                  f"steps, best of {args.big_repeats} runs each", flush=True)
            setting = {"name": "39M", "tokens": args.big_tokens, "long": True,
                       "steps": args.big_steps, "repeats": args.big_repeats,
                       "prompts": args.big_prompts, "samples": args.big_samples,
                       "flops": 8 * n * tokens}
            res["39M"] = run_setting(setting, path, fws, aliases, gemm, args)
    print(f"load average at end: {os.getloadavg()[0]:.2f} (2 cores)")
    for label, ours, theirs in (("both fp32, no checkpointing", "focusrl-fp32", "trl-fp32"),
                                ("both bf16, no checkpointing", "focusrl-bf16", "trl-bf16"),
                                ("each as it comes", "focusrl", "trl")):
        print(f"focusrl/trl, {label}: " + ", ".join(
            f"{k} {ratio(r, ours, theirs)}" for k, r in res.items()))
    tiny = (res.get("short", {}), res.get("long", {}))
    big = res.get("39M", {})
    why = "" if native or args.big_bf16 == "always" else " (bf16 rows not run: emulated here)"
    print(f"focusrl/trl seconds per step: short {ratio(tiny[0], 'focusrl-bf16', 'trl')}, "
          f"long {ratio(tiny[1], 'focusrl-bf16', 'trl')}")
    print("focusrl/trl seconds per step, 39M model: matched "
          f"{ratio(big, 'focusrl-bf16', 'trl-bf16')}, defaults {ratio(big, 'focusrl', 'trl')}{why}")


if __name__ == "__main__":
    main()
