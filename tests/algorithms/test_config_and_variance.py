"""Algorithm config checks, the example presets, and the gradient-variance estimate."""

from pathlib import Path

import pytest
import torch

from focusrl.algorithms.config import AlgorithmConfig
from focusrl.algorithms.grad_variance import gradient_variance
from focusrl.configtools import ConfigError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_unknown_loss_names_the_nearest_valid_one():
    with pytest.raises(ConfigError, match="Did you mean 'gspo'"):
        AlgorithmConfig(loss="gpso").validate()


def test_loss_name_checks_the_aggregation_it_promises():
    with pytest.raises(ConfigError, match="aggregation=seq_mean_token_sum_norm"):
        AlgorithmConfig(loss="dr_grpo").validate()
    AlgorithmConfig(loss="dr_grpo", aggregation="seq_mean_token_sum_norm").validate()
    with pytest.raises(ConfigError, match="aggregation=token_mean"):
        AlgorithmConfig(loss="dapo", aggregation="seq_mean_token_mean").validate()


def test_rlpt_width():
    cfg = AlgorithmConfig()
    assert cfg.rlpt.width == 8
    cfg.rlpt.top_p, cfg.rlpt.max_k = 0.9, 32
    assert cfg.rlpt.width == 32


def _algorithm_presets():
    import yaml

    return [p for p in sorted(EXAMPLES.glob("*.yaml"))
            if "algorithm" in (yaml.safe_load(p.read_text()) or {})]


@pytest.mark.parametrize("path", _algorithm_presets(), ids=lambda p: p.name)
def test_algorithm_presets_load(path):
    import yaml

    from focusrl.configtools import from_dict

    data = yaml.safe_load(path.read_text())
    cfg = from_dict(AlgorithmConfig, data["algorithm"])
    cfg.validate()


def test_gradient_variance_hand_case():
    """g = (1, 0), (3, 0): mean (2, 0); squared distances 1 and 1."""
    grads = [torch.tensor([1.0, 0.0]), torch.tensor([3.0, 0.0])]
    stats = gradient_variance(grads)
    assert stats["total_variance"] == pytest.approx(1.0)
    assert stats["per_param_variance"] == pytest.approx(0.5)
    assert stats["mean_grad_sq_norm"] == pytest.approx(4.0)
    assert stats["mean_cosine_to_mean"] == pytest.approx(1.0)
    assert gradient_variance(grads, unbiased=True)["total_variance"] == pytest.approx(2.0)


def test_gradient_variance_needs_two_batches():
    with pytest.raises(ValueError):
        gradient_variance([torch.zeros(3)])
