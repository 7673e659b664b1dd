"""Peer check of the advantage estimators against TRL's own code: TRL computes advantages
inline in `_generate_and_score_completions` (no standalone function), so we build a real
GRPOTrainer / RLOOTrainer on a tiny model, let it generate (3 tokens, CPU) and score with a
reward function that returns fixed rewards, and compare the advantages it returns.

Pairs: scale_rewards group / none / batch -> our grpo / dr_grpo (and grpo with
std_normalize false) / grpo_batch_std; RLOOTrainer normalize_advantages false / true -> rloo
without / with algorithm.batch_normalize. Two weighted reward functions: TRL's
multi_objective_aggregation sum_then_normalize / normalize_then_sum -> our weighted reward
parts (rewards.combine=sum) with advantage grpo / gdpo, through the trainer's own
`assign_advantages` on samples scored by the real reward pipeline.
"""

import tempfile

import pytest
import torch

trl = pytest.importorskip("trl")
datasets = pytest.importorskip("datasets")

from transformers import Qwen2Config, Qwen2ForCausalLM  # noqa: E402

from focusrl.algorithms.advantages import ADVANTAGES  # noqa: E402
from focusrl.algorithms.config import AlgorithmConfig  # noqa: E402
from focusrl.config import load_config  # noqa: E402
from focusrl.models.tiny import build_char_tokenizer  # noqa: E402
from focusrl.rewards.base import RewardPipeline  # noqa: E402
from focusrl.trainer.rl import assign_advantages  # noqa: E402
from focusrl.types import Sample  # noqa: E402

G = 4
# three groups of four: mixed, all equal (std 0), one outlier
REWARDS = [1.0, 0.0, 0.5, 0.25, 2.0, 2.0, 2.0, 2.0, 0.0, 1.0, 0.0, 3.0]
# a second reward on another scale: constant in group 0, spread in 1 and 2
REWARDS_B = [5.0, 5.0, 5.0, 5.0, 0.0, 10.0, 0.0, 4.0, 1.0, 1.0, 2.0, 8.0]
WEIGHTS = [1.0, 0.5]


@pytest.fixture(scope="module")
def model_dir():
    tok = build_char_tokenizer()
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=16, intermediate_size=32,
                      num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                      max_position_embeddings=64)
    path = tempfile.mkdtemp()
    Qwen2ForCausalLM(cfg).save_pretrained(path)
    return path


def _trl_advantages(model_dir, trainer_cls, config_cls, reward_lists=(REWARDS,), **kw):
    args = config_cls(output_dir=tempfile.mkdtemp(), per_device_train_batch_size=len(REWARDS),
                      num_generations=G, max_completion_length=3, report_to=[], use_cpu=True,
                      save_strategy="no", **kw)

    def fixed(values):
        return lambda completions, **k: values[:len(completions)]

    funcs = [fixed(v) for v in reward_lists]
    trainer = trainer_cls(
        model=model_dir, reward_funcs=funcs if len(funcs) > 1 else funcs[0],
        args=args, train_dataset=datasets.Dataset.from_dict({"prompt": ["a"] * len(REWARDS)}),
        processing_class=build_char_tokenizer())
    # rows of one group are consecutive, as TRL's sampler lays them out
    rows = [{"prompt": p} for p in "aaaabbbbcccc"]
    return trainer._generate_and_score_completions(rows)["advantages"].double()


def _ours(name, **kw):
    groups = torch.arange(len(REWARDS)) // G
    return ADVANTAGES[name](torch.tensor(REWARDS, dtype=torch.float64), groups,
                            AlgorithmConfig(advantage=name, **kw))


@pytest.mark.parametrize("scale, ours", [
    ("group", [("grpo", {})]),
    ("none", [("dr_grpo", {}), ("grpo", {"std_normalize": False})]),
    ("batch", [("grpo_batch_std", {})]),
])
def test_grpo_advantages_match_trl(scale, ours, model_dir):
    trl_adv = _trl_advantages(model_dir, trl.GRPOTrainer, trl.GRPOConfig, scale_rewards=scale)
    for name, kw in ours:
        torch.testing.assert_close(_ours(name, **kw), trl_adv, atol=1e-6, rtol=0)


@pytest.mark.parametrize("normalize", [False, True])
def test_rloo_advantages_match_trl(normalize, model_dir):
    trl_adv = _trl_advantages(model_dir, trl.RLOOTrainer, trl.RLOOConfig,
                              normalize_advantages=normalize)
    ours = _trainer_advantages(["algorithm.advantage=rloo",
                                f"algorithm.batch_normalize={normalize}"])
    torch.testing.assert_close(ours, trl_adv, atol=1e-6, rtol=0)


class _Fixed:
    """A reward part that returns a fixed reward per sample (by its index in meta)."""

    def __init__(self, values):
        self.values = values

    def score(self, samples):
        return [self.values[s.meta["i"]] for s in samples]


def _trainer_advantages(overrides, reward_lists=(REWARDS,)):
    """Advantages as focusrl's trainer assigns them: the reward pipeline scores each part
    and combines them, then `assign_advantages`."""
    names = [f"r{k}" for k in range(len(reward_lists))]
    parts = ", ".join(f"{{kind: numeric, name: {n}, weight: {w}}}"
                      for n, w in zip(names, WEIGHTS))
    cfg = load_config(overrides=[f"rewards.parts=[{parts}]", *overrides, "run_dir=unused"])
    samples = [Sample(prompt_id=str(i // G), group_id=i // G, prompt_ids=[1],
                      response_ids=[2], logprobs=[0.0], meta={"i": i})
               for i in range(len(REWARDS))]
    RewardPipeline(cfg.rewards, {n: _Fixed(v) for n, v in zip(names, reward_lists)}
                   ).score(samples)
    assign_advantages(samples, cfg)
    return torch.tensor([s.advantage for s in samples], dtype=torch.float64)


@pytest.mark.parametrize("aggregation, ours", [("sum_then_normalize", "grpo"),
                                               ("normalize_then_sum", "gdpo")])
def test_multi_reward_aggregation_matches_trl(aggregation, ours, model_dir):
    lists = (REWARDS, REWARDS_B)
    trl_adv = _trl_advantages(model_dir, trl.GRPOTrainer, trl.GRPOConfig, reward_lists=lists,
                              reward_weights=WEIGHTS, multi_objective_aggregation=aggregation)
    torch.testing.assert_close(_trainer_advantages([f"algorithm.advantage={ours}"], lists),
                               trl_adv, atol=1e-6, rtol=0)
