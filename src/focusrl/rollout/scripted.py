"""A RolloutEngine that plays a fixed text policy instead of a model.

For demonstrations (the SFT warm start of a tool format: benchmarks/tool_use.py runs the
real episode runner and environment with this engine, so demonstrations contain the
environment's real observations) and for hand-made episodes in tests of environment rules.
It is not a model: its log-probs are 0 and it never learns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from focusrl.types import GenerationRequest, Prompt, Sample, SamplingParams

TextPolicy = Callable[[Prompt, str], str]
"""(task, history text so far) -> the next model turn's text."""


class ScriptedEngine:
    def __init__(self, tokenizer: Any, policy: TextPolicy):
        self.tok = tokenizer
        self.policy = policy
        self.policy_version = 0

    def generate(self, requests: Sequence[GenerationRequest],
                 params: SamplingParams) -> list[Sample]:
        out = []
        for req in requests:
            history = (self.tok.decode(req.prompt_ids, skip_special_tokens=True)
                       if req.prompt_ids is not None else req.prompt.text)
            for _ in range(req.num_samples):
                text = self.policy(req.prompt, history)
                ids = self.tok(text, add_special_tokens=False).input_ids
                ids = [*ids, self.tok.eos_token_id]
                finished = len(ids) <= params.max_new_tokens
                ids = ids[: params.max_new_tokens]
                out.append(Sample(req.prompt.id, req.group_id,
                                  list(req.prompt_ids or []), ids, [0.0] * len(ids),
                                  response_text=text, answer=req.prompt.answer,
                                  meta=dict(req.prompt.meta), finished=finished))
        return out

    def sync_weights(self, model: torch.nn.Module, version: int) -> dict[str, float]:
        self.policy_version = version
        return {"sync_seconds": 0.0}

    def state_dict(self) -> dict[str, Any]:
        return {"policy_version": self.policy_version}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.policy_version = int(state["policy_version"])

    def close(self) -> None:
        return None
