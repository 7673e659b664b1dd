"""`focusrl quickstart`: a complete small RL post-training experiment on the CPU.

The story it tells is the usual reason for RL after SFT: demonstrations are imperfect,
a verifier is not. A tiny Qwen2-style model is built from scratch and warmed up with SFT
on additions of one- and two-digit numbers written by a *forgetful teacher*, who drops
the carries in a share of the examples that need one (57+68=15 instead of 125). The model
learns to add, and learns the teacher's mistake. GRPO with a verifier that checks
the true sum then trains the carries back in. The quickstart reports held-out greedy
accuracy (additions never seen in training, checked against the true sum) before and
after RL.

No files, no network: the model, the tokenizer and the task are all generated here,
deterministically for a seed.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

import torch

from focusrl.config import Config, load_config
from focusrl.report.html import write_report
from focusrl.trainer.checkpoint import save_model_dir
from focusrl.trainer.components import Components, build_components
from focusrl.trainer.rl import run_eval, train
from focusrl.trainer.rundir import RL_ARTEFACTS, SFT_ARTEFACTS, claim_run_dir
from focusrl.trainer.sft import run_sft
from focusrl.types import Prompt

QUICKSTART_SETTINGS = [
    "threads=2",
    "data.source=arithmetic",
    "data.arithmetic.min_digits=1",
    "data.arithmetic.max_digits=2",
    "data.num_train=6000",
    "data.num_eval=300",
    "rewards.parts=[{kind: numeric, args: {extract: full}}]",
    "rollout.prompts_per_step=32",
    "rollout.samples_per_prompt=8",
    "rollout.max_response_tokens=5",
    "rollout.temperature=1.0",
    "optim.lr=2e-4",
    "optim.warmup_steps=20",
    "train.steps=600",
    "train.eval_every=100",
    "train.checkpoint_every=0",
    "sft.steps=1200",
    "sft.lr=1e-3",
    "sft.batch_sequences=128",
]
TEACHER_CARRY_ERROR_RATE = 0.7
"""Share of carry-needing examples in which the teacher forgets every carry."""


def add_without_carry(a: int, b: int) -> int:
    """Digit-wise sum mod 10, i.e. addition with every carry forgotten: 57+68 -> 15."""
    out, place = 0, 1
    while a or b:
        out += ((a % 10 + b % 10) % 10) * place
        a, b, place = a // 10, b // 10, place * 10
    return out


def forgetful_teacher(error_rate: float, seed: int) -> Callable[[Prompt], str]:
    """Demonstrations for `a+b=`: the true sum, except that with probability `error_rate`
    an addition that needs a carry is answered without carries (fresh draw per use)."""
    rng = random.Random(seed)

    def target(prompt: Prompt) -> str:
        a, b = (int(x) for x in prompt.text.rstrip("=").split("+"))
        wrong = add_without_carry(a, b)
        if wrong != a + b and rng.random() < error_rate:
            return str(wrong)
        return str(a + b)

    return target


def quickstart_config(seed: int = 0, out_dir: str | None = None,
                      overrides: list[str] | None = None) -> Config:
    """The quickstart's settings; out_dir None: a new runs/quickstart-<timestamp>."""
    where = [f"run_dir={out_dir}"] if out_dir else []
    return load_config(None, [*QUICKSTART_SETTINGS, f"seed={seed}", *where,
                              *(overrides or [])], name="quickstart")


def warm_start(c: Components, cfg: Config, seed: int, metrics_path: str | Path | None = None
               ) -> None:
    """The quickstart's SFT phase on `c.model`: demonstrations from the forgetful teacher."""
    run_sft(c.model, c.tokenizer, c.sampler, cfg.sft, c.device, metrics_path=metrics_path,
            progress=cfg.train.progress, compute_dtype=c.compute_dtype,
            target_fn=forgetful_teacher(TEACHER_CARRY_ERROR_RATE, seed))
    c.engine.sync_weights(c.model, c.engine.policy_version)  # the engine samples the SFT weights


def save_warm_start(out_dir: str | Path, seed: int = 0, overrides: list[str] | None = None
                    ) -> Path:
    """Build the tiny model, warm-start it as the quickstart does, save it to
    `out_dir/sft_model` and return that path (an HF model directory), so experiments
    (ablations, benchmarks) can start many RL runs from one SFT checkpoint."""
    cfg = quickstart_config(seed, str(out_dir), overrides)
    c = build_components(cfg)
    warm_start(c, cfg, seed, Path(out_dir) / "sft_metrics.jsonl")
    path = Path(out_dir) / "sft_model"
    save_model_dir(c.model, c.tokenizer, path)
    return path


def quickstart(seed: int = 0, out_dir: str | None = None,
               overrides: list[str] | None = None, overwrite: bool = False) -> dict[str, float]:
    """Run the experiment; print progress and, last, `held-out accuracy: before X% -> after Y%`.
    The warm-started model is saved to <run dir>/sft_model, to start other runs from."""
    t0 = time.perf_counter()
    cfg = quickstart_config(seed, out_dir, overrides)
    out_dir = cfg.run_dir
    claim_run_dir(out_dir, SFT_ARTEFACTS + RL_ARTEFACTS, overwrite, command="quickstart")
    c = build_components(cfg)
    n_params = sum(p.numel() for p in c.model.parameters())
    print(f"[1/3] tiny model: {n_params / 1e6:.2f}M parameters; task: {len(c.data.train)} train "
          f"/ {len(c.data.eval)} held-out additions of 1-2 digit numbers", flush=True)
    print(f"[2/3] SFT warm start: {cfg.sft.steps} steps on demonstrations from a teacher who "
          f"forgets carries {TEACHER_CARRY_ERROR_RATE:.0%} of the time", flush=True)
    warm_start(c, cfg, seed, Path(out_dir) / "sft_metrics.jsonl")
    save_model_dir(c.model, c.tokenizer, Path(out_dir) / "sft_model")
    before = run_eval(c, 0)["eval/accuracy"]
    print(f"      held-out greedy accuracy after SFT: {before:.1%} "
          f"({time.perf_counter() - t0:.0f}s)", flush=True)
    print(f"[3/3] GRPO: {cfg.train.steps} steps x {cfg.rollout.prompts_per_step} prompts x "
          f"{cfg.rollout.samples_per_prompt} samples, reward = the verified true sum", flush=True)
    record = train(cfg, components=c)
    after = record["eval/accuracy"]
    elapsed = time.perf_counter() - t0
    print(f"done in {elapsed:.0f}s; metrics in {out_dir}/metrics.jsonl; the SFT warm start "
          f"is in {out_dir}/sft_model", flush=True)
    report = write_report([out_dir], Path(out_dir) / "report.html")
    print(f"report: {report} (open it in a browser; `focusrl report` compares runs)", flush=True)
    print(f"held-out accuracy: before {before:.1%} -> after {after:.1%}", flush=True)
    return {"before": before, "after": after, "seconds": elapsed}


if __name__ == "__main__":
    torch.set_num_threads(2)
    quickstart()
