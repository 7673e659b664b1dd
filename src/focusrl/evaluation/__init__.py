"""Evaluation: pass@k / avg@k / maj@k and the harness behind `focusrl eval`."""

from focusrl.evaluation.harness import EvalResult, evaluate
from focusrl.evaluation.metrics import avg_at_k, maj_at_k, pass_at_k

__all__ = ["EvalResult", "avg_at_k", "evaluate", "maj_at_k", "pass_at_k"]
