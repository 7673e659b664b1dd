"""Static curricula: one fixed order over the training prompts, served in turn, cycling.

These are the baselines a dynamic curriculum (EDCO) is compared against:
- `easy_to_hard`: ascending `meta['difficulty']` (arithmetic: total operand digits;
  countdown: how many numbers; SAT: D(n, k, l)); ties in a seeded shuffled order.
- `perplexity`: ascending perplexity of the reference answer under the *initial* model,
  computed once, at the first draw, then frozen (EDCO's "perplexity curriculum" baseline,
  arXiv 2601.03725).

Direction of the perplexity order, a choice the EDCO paper does not spell out: low
perplexity first. Classic curriculum learning orders easy to hard, and perplexity of the
answer is the model-based stand-in for difficulty, so ascending perplexity is the
model-aware twin of `easy_to_hard`. It is also the natural contrast to EDCO, which
trains on the *most uncertain* prompts; a descending order would be a static, one-shot
version of EDCO itself.

After the last prompt of the order, the order starts again from the first (easy) one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from focusrl.curriculum.base import take_cycling
from focusrl.types import Prompt, Sample

PerplexityScorer = Callable[[Sequence[Prompt]], list[float]]
"""prompts -> perplexity of each prompt's reference answer under a fixed model."""


class StaticOrderSampler:
    """Serves `prompts` in the order `key` sorts them (ascending), cycling; the order is
    computed at the first `next_prompts` call and kept in the state dict."""

    def __init__(self, prompts: Sequence[Prompt], samples_per_prompt: int, seed: int,
                 key: Callable[[Sequence[Prompt]], Sequence[float]]):
        if not prompts:
            raise ValueError("a static curriculum needs at least one prompt")
        self.prompts = list(prompts)
        self.samples_per_prompt = samples_per_prompt
        self.seed = seed
        self.key = key
        self.order: list[int] | None = None
        self.position = 0
        self._index = {p.id: i for i, p in enumerate(self.prompts)}
        self.scores: list[float] = []
        """The sort key of each prompt (same order as `prompts`), once computed."""
        self.order_seconds = 0.0
        """Wall time spent computing the order (the curriculum's one-off cost)."""

    def _compute_order(self) -> list[int]:
        start = time.perf_counter()
        self.scores = [float(s) for s in self.key(self.prompts)]
        self.order_seconds = time.perf_counter() - start
        tiebreak = np.random.default_rng([self.seed, 11]).permutation(len(self.prompts))
        return sorted(range(len(self.prompts)), key=lambda i: (self.scores[i], tiebreak[i]))

    def next_prompts(self, num_prompts: int) -> list[tuple[Prompt, int]]:
        if self.order is None:
            self.order = self._compute_order()
        picked, self.position = take_cycling(self.order, self.position, num_prompts)
        return [(self.prompts[i], self.samples_per_prompt) for i in picked]

    def observe(self, samples: Sequence[Sample]) -> None:
        return None

    def state_dict(self) -> dict[str, Any]:
        order = None if self.order is None else [self.prompts[i].id for i in self.order]
        return {"position": self.position, "order": order}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.position = int(state["position"])
        ids = state["order"]
        self.order = None if ids is None else [self._index[pid] for pid in ids]


def difficulty_key(prompts: Sequence[Prompt]) -> list[float]:
    """meta['difficulty'] of each prompt (an error naming the prompt when missing)."""
    out = []
    for p in prompts:
        if "difficulty" not in p.meta:
            raise ValueError(f"easy_to_hard curriculum: prompt '{p.id}' has no "
                             "meta['difficulty']; use a generated task (arithmetic, "
                             "countdown, sat) or add the field.")
        out.append(float(p.meta["difficulty"]))
    return out


class EasyToHardSampler(StaticOrderSampler):
    """Ascending meta['difficulty'], seeded shuffle within a level, cycling."""

    def __init__(self, prompts: Sequence[Prompt], samples_per_prompt: int, seed: int):
        super().__init__(prompts, samples_per_prompt, seed, difficulty_key)


class PerplexitySampler(StaticOrderSampler):
    """Ascending reference-answer perplexity under the model at the first draw, cycling."""

    def __init__(self, prompts: Sequence[Prompt], samples_per_prompt: int, seed: int,
                 scorer: PerplexityScorer):
        super().__init__(prompts, samples_per_prompt, seed, scorer)


class AnswerPerplexity:
    """Perplexity exp(mean NLL) of `answer + EOS` after the prompt text, teacher-forced,
    under `model` (the SFT target with the default template `{answer}`).

    One forward per batch of `batch_prompts`; counts the scored tokens and the seconds
    spent, so a benchmark can report the curriculum's cost."""

    def __init__(self, model: Any, tokenizer: Any, device: torch.device | str,
                 batch_prompts: int = 64):
        self.model = model
        self.tokenizer = tokenizer
        self.device = device
        self.batch_prompts = batch_prompts
        self.tokens_scored = 0

    def _ids(self, p: Prompt) -> tuple[list[int], list[int]]:
        if not isinstance(p.answer, str):
            raise ValueError(f"perplexity curriculum: prompt '{p.id}' has a non-text answer "
                             f"({type(p.answer).__name__}); it needs a reference answer text.")
        tok = self.tokenizer
        prompt_ids = tok(p.text, add_special_tokens=False).input_ids
        answer_ids = tok(p.answer, add_special_tokens=False).input_ids + [tok.eos_token_id]
        return prompt_ids, answer_ids

    @torch.no_grad()
    def __call__(self, prompts: Sequence[Prompt]) -> list[float]:
        was_training = self.model.training
        self.model.eval()
        pad = self.tokenizer.pad_token_id or 0
        out: list[float] = []
        try:
            for start in range(0, len(prompts), self.batch_prompts):
                pairs = [self._ids(p) for p in prompts[start : start + self.batch_prompts]]
                width = max(len(a) + len(b) for a, b in pairs)
                ids = torch.full((len(pairs), width), pad, dtype=torch.long)
                mask = torch.zeros((len(pairs), width), dtype=torch.long)
                target = torch.zeros((len(pairs), width), dtype=torch.bool)
                for i, (a, b) in enumerate(pairs):  # right padding
                    ids[i, : len(a) + len(b)] = torch.tensor(a + b)
                    mask[i, : len(a) + len(b)] = 1
                    target[i, len(a) : len(a) + len(b)] = True
                ids, mask = ids.to(self.device), mask.to(self.device)
                logits = self.model(input_ids=ids, attention_mask=mask).logits.float()
                logp = torch.log_softmax(logits[:, :-1], dim=-1)  # (B, T-1, V)
                tok_logp = logp.gather(-1, ids[:, 1:, None]).squeeze(-1)  # (B, T-1)
                tmask = target[:, 1:].to(tok_logp.device)  # token t+1 predicted at t
                nll = -(tok_logp * tmask).sum(1) / tmask.sum(1)
                out.extend(math.exp(v) for v in nll.tolist())
                self.tokens_scored += int(tmask.sum())
        finally:
            if was_training:
                self.model.train()
        return out
