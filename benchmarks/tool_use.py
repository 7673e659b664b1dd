"""A tiny from-scratch model learns by RL to call the calculator, and when to ask the user.

Tool use (env calculator): tasks are 3-digit x 1-digit products, which a ~0.3M-parameter
model cannot do in its head. Warm start: SFT on demonstration episodes (played by a
scripted policy through the real environment and episode runner, loss on model tokens
only) of which only `--tool-demos` (default 30%) call the calculator; the rest answer
from the head. RL (GRPO over whole episodes, tool output masked) then has to discover
that calling the tool pays. Held-out accuracy is greedy, before and after RL.

Clarifying questions (env clarify, after LaMAI): half the tasks state x, half need a
question to the simulated user. The demonstrations ask half the time regardless of need.
Reported: the ask rate (sampled, temperature 1) on tasks that need a question and on tasks
that do not, before and after RL.

    python benchmarks/tool_use.py [--envs clarify,calculator] [--sft-steps 300]
        [--rl-steps 60] [--rl-lr 3e-4] [--threads 2] [--quick]
Last line: `tool-use held-out accuracy: before X% -> after Y%`.
"""

from __future__ import annotations

import argparse
import random
import re
import tempfile
import time
from pathlib import Path

import torch

from focusrl.config import load_config
from focusrl.rollout.scripted import ScriptedEngine
from focusrl.trainer.components import Components, build_components
from focusrl.trainer.optim import build_optimizer
from focusrl.trainer.rl import train
from focusrl.trainer.sft import sft_loss
from focusrl.types import GenerationRequest, Prompt, Sample, SamplingParams

ROOT = Path(__file__).resolve().parents[1]


def calculator_demo(tool_fraction: float, seed: int):
    rng = random.Random(seed)
    chose_tool: dict[str, bool] = {}

    def policy(task: Prompt, history: str) -> str:
        result = re.findall(r"= (-?\d+)", history)
        if result:
            return f"answer {result[-1]}"
        use = chose_tool.setdefault(task.id + history, rng.random() < tool_fraction)
        return f"calc {task.meta['expression']}" if use else f"answer {task.answer}"

    return policy


def clarify_demo(ask_fraction: float, seed: int):
    rng = random.Random(seed)

    def policy(task: Prompt, history: str) -> str:
        told = re.findall(r"x=(\d+)", history)
        replied = "x=" in history[len(task.text):]  # the user already answered a question
        if replied or not rng.random() < ask_fraction:
            return f"answer {told[-1] if told else rng.randint(10, 99)}"
        return "ask"

    return policy


def demonstrations(c: Components, policy, n: int) -> list[Sample]:
    engine = ScriptedEngine(c.tokenizer, policy)
    reqs = [GenerationRequest(p, 1, i) for i, p in enumerate(c.data.train[:n])]
    params = SamplingParams(max_new_tokens=c.cfg.rollout.max_response_tokens)
    samples = c.episodes.run(engine, reqs, params)
    c.episodes.take_stats()
    return samples


def warm_start(c: Components, demos: list[Sample], steps: int, batch: int, lr: float) -> float:
    opt, sched = build_optimizer(c.model, lr, 0.0, (0.9, 0.99), 1e-8, 20, steps)
    rng = random.Random(0)
    c.model.train()
    loss = torch.tensor(0.0)
    for _ in range(steps):
        loss = sft_loss(c.model, rng.sample(demos, batch), c.tokenizer.pad_token_id, c.device)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(c.model.parameters(), 1.0)
        opt.step()
        sched.step()
    c.engine.sync_weights(c.model, 0)
    return float(loss.detach())


def held_out(c: Components, greedy: bool, seed: int) -> list[Sample]:
    params = SamplingParams(max_new_tokens=c.cfg.rollout.max_response_tokens, greedy=greedy,
                            temperature=1.0, seed=seed)
    reqs = [GenerationRequest(p, 1, i) for i, p in enumerate(c.data.eval)]
    samples = c.episodes.run(c.engine, reqs, params)
    c.episodes.take_stats()
    return samples


def pct(xs: list[bool]) -> float:
    return 100.0 * sum(xs) / max(len(xs), 1)


def tool_report(samples: list[Sample]) -> tuple[float, float]:
    acc = pct([s.meta["env_correct"] > 0 for s in samples])
    tool = pct([s.meta["env_info"].get("tool_calls", 0) > 0 for s in samples])
    return acc, tool


def ask_report(samples: list[Sample]) -> tuple[float, float, float]:
    need = [s.meta["env_info"].get("asked", False) for s in samples if s.meta["needs_question"]]
    no_need = [s.meta["env_info"].get("asked", False) for s in samples
               if not s.meta["needs_question"]]
    return pct(need), pct(no_need), pct([s.meta["env_correct"] > 0 for s in samples])


def build(example: str, args: argparse.Namespace, run_dir: str, extra: list[str]) -> Components:
    cfg = load_config(ROOT / "examples" / example, [
        f"run_dir={run_dir}", f"threads={args.threads}", f"seed={args.seed}",
        f"train.steps={args.rl_steps}", f"optim.lr={args.rl_lr}", "train.eval_every=0",
        "train.checkpoint_every=0", "train.progress=false", f"data.num_eval={args.eval_tasks}",
        f"model.tiny.hidden_size={args.hidden}", f"model.tiny.num_layers={args.layers}",
        "model.tiny.num_heads=4", *extra])
    return build_components(cfg)


def run_clarify(args: argparse.Namespace, tmp: str) -> str:
    t0 = time.perf_counter()
    c = build("env_clarify.yaml", args, f"{tmp}/clarify", [])
    demos = demonstrations(c, clarify_demo(0.5, args.seed), args.demos)
    loss = warm_start(c, demos, args.sft_steps, args.sft_batch, args.sft_lr)
    b_need, b_no, b_acc = ask_report(held_out(c, False, 1))
    train(c.cfg, components=c)
    a_need, a_no, a_acc = ask_report(held_out(c, False, 1))
    print(f"clarify: sft loss {loss:.3f}; accuracy (sampled) {b_acc:.0f}% -> {a_acc:.0f}%; "
          f"{time.perf_counter() - t0:.0f} s")
    c.close()
    return (f"clarify ask rate: needs a question {b_need:.0f}% -> {a_need:.0f}%, "
            f"needs none {b_no:.0f}% -> {a_no:.0f}%")


def run_calculator(args: argparse.Namespace, tmp: str) -> str:
    t0 = time.perf_counter()
    c = build("env_calculator.yaml", args, f"{tmp}/calculator", [])
    demos = demonstrations(c, calculator_demo(args.tool_demos, args.seed), args.demos)
    loss = warm_start(c, demos, args.sft_steps, args.sft_batch, args.sft_lr)
    b_acc, b_tool = tool_report(held_out(c, True, 1))
    t1 = time.perf_counter()
    train(c.cfg, components=c)
    a_acc, a_tool = tool_report(held_out(c, True, 1))
    print(f"calculator: sft loss {loss:.3f}; tool-call rate (greedy) {b_tool:.0f}% -> "
          f"{a_tool:.0f}%; RL {time.perf_counter() - t1:.0f} s, total "
          f"{time.perf_counter() - t0:.0f} s")
    c.close()
    return f"tool-use held-out accuracy: before {b_acc:.0f}% -> after {a_acc:.0f}%"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--envs", default="clarify,calculator")
    ap.add_argument("--sft-steps", type=int, default=400)
    ap.add_argument("--sft-batch", type=int, default=64)
    ap.add_argument("--sft-lr", type=float, default=2e-3)
    ap.add_argument("--demos", type=int, default=2000)
    ap.add_argument("--tool-demos", type=float, default=0.3)
    ap.add_argument("--rl-steps", type=int, default=60)
    ap.add_argument("--rl-lr", type=float, default=3e-4)
    ap.add_argument("--eval-tasks", type=int, default=200)
    ap.add_argument("--hidden", type=int, default=96)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="a smoke run: tiny sizes, no claims")
    args = ap.parse_args()
    if args.quick:
        args.sft_steps, args.rl_steps, args.demos, args.eval_tasks = 5, 1, 64, 8
        args.hidden, args.layers, args.sft_batch = 32, 1, 16
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        envs = args.envs.split(",")
        if "clarify" in envs:
            lines.append(run_clarify(args, tmp))
        if "calculator" in envs:
            lines.append(run_calculator(args, tmp))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
