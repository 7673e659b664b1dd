"""Episodes in training: no gradient reaches environment tokens (through the real model
and policy_update); train() runs each example environment end to end."""

from pathlib import Path

import pytest
import torch

from focusrl.algorithms.config import AlgorithmConfig
from focusrl.config import load_config
from focusrl.configtools import ConfigError
from focusrl.envs.base import Environment, StepResult
from focusrl.envs.config import EnvConfig
from focusrl.envs.credit import assign_turn_advantages
from focusrl.models import build_char_tokenizer, build_tiny_model
from focusrl.rollout.episodes import EpisodeRunner
from focusrl.rollout.hf_engine import HFEngine
from focusrl.trainer.batching import build_batch
from focusrl.trainer.logging import read_metrics
from focusrl.trainer.rl import train
from focusrl.trainer.update import policy_update
from focusrl.types import GenerationRequest, Prompt, SamplingParams

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class Chatty(Environment):
    name = "chatty"

    def reset(self, task):
        return task.text

    def step(self, action):
        return StepResult("ok\n", 0.0, False, {})


@pytest.mark.parametrize("credit", ["outcome", "turn"])
def test_no_gradient_reaches_environment_tokens(credit):
    """The gradient of the loss w.r.t. the logits that predict environment tokens is
    exactly zero, and nonzero on model tokens: captured at the real model's lm_head
    during policy_update (the trainer's update, loss and optimizer step)."""
    torch.manual_seed(0)
    tok = build_char_tokenizer()
    model = build_tiny_model(tok, hidden_size=32, num_layers=2, num_heads=2,
                             intermediate_size=64, seed=0)
    engine = HFEngine(model, tok, "cpu", seed=1)
    runner = EpisodeRunner(Chatty, tok, EnvConfig(max_turns=3, max_total_tokens=60))
    eps = runner.run(engine, [GenerationRequest(Prompt("a", "go\n"), 4, 0)],
                     SamplingParams(max_new_tokens=5))
    for s, adv, r in zip(eps, [1.0, -1.0, 0.5, -0.5], [[1.0, 0, 0], [0, 0, 0], [0, 1.0, 0],
                                                      [0, 0, 1.0]]):
        s.advantage = adv
        s.meta["env_turn_rewards"] = r
    if credit == "turn":
        assign_turn_advantages(eps, discount=0.9)
    batch = build_batch(eps, tok.pad_token_id, torch.device("cpu"))
    assert batch.advantages.dim() == (2 if credit == "turn" else 1)
    grads = []

    def keep_grad(module, inputs, out):  # returns None: the output is left as it is
        out.register_hook(grads.append)

    hook = model.lm_head.register_forward_hook(keep_grad)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    try:
        # chunk_tokens=0: the full-logits path, so the lm_head module runs and the hook
        # sees every position; the chunked default never sends masked positions through
        # the head at all (tests/trainer/test_token_head.py)
        policy_update(model, opt, sched, batch, AlgorithmConfig(), passes=1,
                      micro_batch_samples=64, grad_clip=0.0, temperature=1.0, max_length=60,
                      chunk_tokens=0)
    finally:
        hook.remove()
    [g] = grads  # (B, T + 1, V): column j predicts response token j
    per_token = g[:, : batch.tokens.size(1)].abs().sum(-1)  # (B, T)
    env = torch.tensor([[m == 0 for m in s.loss_mask] + [False] * (batch.tokens.size(1)
                        - len(s.loss_mask)) for s in eps])
    assert env.any() and (batch.mask > 0).any()
    assert per_token[env].max() == 0.0  # exactly: no gradient through environment tokens
    assert (per_token[batch.mask > 0] > 0).float().mean() > 0.9


def _tiny(path, tmp_path, *extra):
    return load_config(path, [
        f"run_dir={tmp_path}", "train.steps=1", "train.eval_every=1", "data.num_eval=4",
        "train.checkpoint_every=0", "train.progress=false", "model.tiny.hidden_size=32",
        "model.tiny.num_layers=1", "model.tiny.num_heads=2", "threads=1",
        "rollout.prompts_per_step=2", "rollout.samples_per_prompt=2", *extra])


@pytest.mark.parametrize("name", ["env_calculator.yaml", "env_clarify.yaml",
                                  "env_guess_number.yaml", "env_python_tool.yaml"])
def test_example_environment_trains_end_to_end(name, tmp_path):
    train(_tiny(EXAMPLES / name, tmp_path))
    [row] = read_metrics(tmp_path / "metrics.jsonl")
    assert row["episodes"] == 4 and row["episode_turns"] >= 4
    assert row["num_samples"] == 4 and "eval/accuracy" in row
    assert row["episode_env_errors"] == 0 and row["episode_token_drift"] == 0
    assert row["reward_mean"] == pytest.approx(row["reward/env_return"])


def test_env_run_needs_an_episode_reward_part(tmp_path):
    cfg = _tiny(EXAMPLES / "env_calculator.yaml", tmp_path,
                "rewards.parts=[{kind: numeric}]", "rewards.accuracy_part=")
    with pytest.raises(ConfigError, match="no reward part reads the episodes' rewards"):
        train(cfg)


@pytest.mark.parametrize("override, message", [
    ("env.name=calculater", "Did you mean 'calculator'"),
    ("env.max_turns=0", "env.max_turns must be >= 1"),
    ("env.discount=1.5", "env.discount must be in (0, 1]"),
    ("env.credit=token", "'outcome', 'turn'"),
])
def test_bad_env_config_names_the_field(override, message):
    with pytest.raises(ConfigError) as err:
        load_config(None, [override])
    assert message in str(err.value)
