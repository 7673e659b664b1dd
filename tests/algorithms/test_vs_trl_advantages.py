"""Peer check of the advantage estimators against TRL's own code: TRL computes advantages
inline in `_generate_and_score_completions` (no standalone function), so we build a real
GRPOTrainer / RLOOTrainer on a tiny model, let it generate (3 tokens, CPU) and score with a
reward function that returns fixed rewards, and compare the advantages it returns.

Pairs: scale_rewards group / none / batch -> our grpo / dr_grpo (and grpo with
std_normalize false) / grpo_batch_std; RLOOTrainer (normalize_advantages false) -> rloo.
Not compared: RLOO with normalize_advantages true (no focusrl estimator normalises RLOO
advantages over the batch) and TRL's multi-reward normalize_then_sum aggregation.
"""

import tempfile

import pytest
import torch

trl = pytest.importorskip("trl")
datasets = pytest.importorskip("datasets")

from transformers import Qwen2Config, Qwen2ForCausalLM  # noqa: E402

from focusrl.algorithms.advantages import ADVANTAGES  # noqa: E402
from focusrl.algorithms.config import AlgorithmConfig  # noqa: E402
from focusrl.models.tiny import build_char_tokenizer  # noqa: E402

G = 4
# three groups of four: mixed, all equal (std 0), one outlier
REWARDS = [1.0, 0.0, 0.5, 0.25, 2.0, 2.0, 2.0, 2.0, 0.0, 1.0, 0.0, 3.0]


@pytest.fixture(scope="module")
def model_dir():
    tok = build_char_tokenizer()
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=16, intermediate_size=32,
                      num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                      max_position_embeddings=64)
    path = tempfile.mkdtemp()
    Qwen2ForCausalLM(cfg).save_pretrained(path)
    return path


def _trl_advantages(model_dir, trainer_cls, config_cls, **kw):
    args = config_cls(output_dir=tempfile.mkdtemp(), per_device_train_batch_size=len(REWARDS),
                      num_generations=G, max_completion_length=3, report_to=[], use_cpu=True,
                      save_strategy="no", **kw)
    trainer = trainer_cls(
        model=model_dir, reward_funcs=lambda completions, **k: REWARDS[:len(completions)],
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


def test_rloo_advantages_match_trl(model_dir):
    trl_adv = _trl_advantages(model_dir, trl.RLOOTrainer, trl.RLOOConfig,
                              normalize_advantages=False)
    torch.testing.assert_close(_ours("rloo"), trl_adv, atol=1e-6, rtol=0)
