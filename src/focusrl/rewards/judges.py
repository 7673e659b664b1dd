"""Rewards from models: SIRLC self-evaluation, generative judges, reward models.

SIRLC / RLC (arXiv 2305.14483): the policy answers, then is asked about its own answer.
- correctness: "...Is the answer correct? Answer yes or no." The reward is P("yes") read
  from the judge's next-token distribution at the end of that prompt: the softmax over
  the whole vocabulary, summed over the distinct first tokens of the `yes_words`
  (" yes", "Yes", ...), so it is a probability in [0, 1]. The paper leaves the mapping
  from judgement to reward open; this smooth one gives a graded signal where a sampled
  yes/no would give 0/1 noise. `normalize_yes_no` gives P(yes) / (P(yes) + P(no)).
- quality: "...Rate the answer from 0 to 10." The judge answers greedily; the first
  number in its reply, divided by `max_score` and clipped to [0, 1], is the reward
  (no number -> 0, counted in `unparsed`).
Both are batched: prompts are left-padded with explicit position ids, so a batch gives
the same values as one sample at a time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

import torch

from focusrl.types import Sample

CORRECTNESS_TEMPLATE = ("Question: {question}\nProposed answer: {answer}\n"
                        "Is the proposed answer correct? Answer yes or no.\nAnswer:")
QUALITY_TEMPLATE = ("Task: {question}\nResponse: {answer}\n"
                    "Rate the quality of the response from 0 to {max_score}.\nScore:")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _device_of(model: Any) -> torch.device:
    return next(model.parameters()).device


@contextmanager
def _eval_mode(model: Any) -> Iterator[None]:
    """Evaluate without gradients and restore the model's train/eval state after."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        model.train(was_training)


def left_pad(batch_ids: Sequence[Sequence[int]], pad_id: int
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask, position_ids), each (B, T), padded on the left; the
    position ids count real tokens only, so padding does not shift positions."""
    width = max(len(ids) for ids in batch_ids)
    input_ids = torch.full((len(batch_ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch_ids), width), dtype=torch.long)
    for row, ids in enumerate(batch_ids):
        if ids:
            input_ids[row, width - len(ids):] = torch.tensor(list(ids), dtype=torch.long)
            mask[row, width - len(ids):] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    return input_ids, mask, positions


def first_token_ids(tokenizer: Any, words: Sequence[str]) -> list[int]:
    """Distinct first token ids of `words` (so summed probabilities never double count).

    A word whose first token is only whitespace (" yes" under a character tokenizer) is
    skipped: that token says nothing about yes or no.
    """
    ids: list[int] = []
    for w in words:
        toks = tokenizer(w, add_special_tokens=False)["input_ids"]
        if not toks or not tokenizer.decode(toks[:1]).strip():
            continue
        if toks[0] not in ids:
            ids.append(toks[0])
    if not ids:
        raise ValueError(f"self_eval: none of the words {list(words)} starts with a "
                         "non-blank token under this tokenizer; give e.g. ['yes', 'Yes'].")
    return ids


def parse_score(text: str, max_score: float) -> float | None:
    """First number in `text` divided by max_score, clipped to [0, 1]; None if none."""
    m = _NUMBER.search(text)
    if m is None:
        return None
    return min(1.0, max(0.0, float(m.group()) / max_score))


class SelfEvalReward:
    """SIRLC: the policy (or the model at `model`) judges its own answers (see module doc).

    `policy` and `tokenizer` arrive from the trainer's context; `model` names another
    judge model (a directory or hub id) instead.
    """

    def __init__(
        self,
        policy: Any = None,
        tokenizer: Any = None,
        model: str = "",
        mode: Literal["correctness", "quality"] = "correctness",
        template: str = "",
        yes_words: Sequence[str] = (" yes", " Yes", "yes", "Yes"),
        no_words: Sequence[str] = (" no", " No", "no", "No"),
        normalize_yes_no: bool = False,
        max_score: float = 10.0,
        max_new_tokens: int = 4,
        batch_size: int = 16,
        max_prompt_tokens: int = 1024,
    ):
        if mode not in ("correctness", "quality"):
            raise ValueError(f"self_eval: mode must be 'correctness' or 'quality', got {mode!r}.")
        if model:
            from focusrl.models.loading import load_model_and_tokenizer

            policy, tokenizer = load_model_and_tokenizer(model)
        if policy is None or tokenizer is None:
            raise ValueError("self_eval needs a judge model: run it inside the trainer (which "
                             "passes the policy and tokenizer) or set args.model to a model "
                             "directory.")
        if batch_size < 1 or max_prompt_tokens < 1 or max_score <= 0:
            raise ValueError("self_eval: batch_size and max_prompt_tokens must be >= 1 and "
                             "max_score > 0.")
        self.model = policy
        self.tokenizer = tokenizer
        self.mode = mode
        self.template = template or (CORRECTNESS_TEMPLATE if mode == "correctness"
                                     else QUALITY_TEMPLATE)
        for key in ("{question}", "{answer}"):
            if key not in self.template:
                raise ValueError(f"self_eval: template must contain {key}; got "
                                 f"{self.template!r}.")
        self.yes_ids = first_token_ids(tokenizer, yes_words)
        self.no_ids = first_token_ids(tokenizer, no_words)
        if set(self.yes_ids) & set(self.no_ids):
            raise ValueError("self_eval: yes_words and no_words share a first token; "
                             "choose words that start differently.")
        self.normalize_yes_no = normalize_yes_no
        self.max_score = max_score
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.max_prompt_tokens = max_prompt_tokens
        self.unparsed = 0
        pad = tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else (tokenizer.eos_token_id or 0)

    def prompt(self, sample: Sample) -> str:
        return self.template.format(question=sample.prompt_text, answer=sample.response_text,
                                    max_score=f"{self.max_score:g}")

    def _encode(self, samples: Sequence[Sample]) -> list[list[int]]:
        """Token ids of each judge prompt, keeping the end when too long (the question
        about the answer is at the end)."""
        out = []
        for s in samples:
            ids = self.tokenizer(self.prompt(s))["input_ids"]
            out.append(list(ids)[-self.max_prompt_tokens:])
        return out

    def yes_probabilities(self, samples: Sequence[Sample]) -> list[float]:
        """P(yes) (or P(yes | yes or no)) from the next-token distribution, batched."""
        out: list[float] = []
        device = _device_of(self.model)
        with _eval_mode(self.model):
            for start in range(0, len(samples), self.batch_size):
                ids, mask, pos = left_pad(self._encode(samples[start:start + self.batch_size]),
                                          self.pad_id)
                logits = self.model(input_ids=ids.to(device), attention_mask=mask.to(device),
                                    position_ids=pos.to(device)).logits[:, -1, :]  # (B, V)
                probs = torch.softmax(logits.float(), dim=-1)
                p_yes = probs[:, self.yes_ids].sum(-1)
                if self.normalize_yes_no:
                    p_yes = p_yes / (p_yes + probs[:, self.no_ids].sum(-1)).clamp_min(1e-12)
                out.extend(p_yes.tolist())
        return out

    def quality_scores(self, samples: Sequence[Sample]) -> list[float]:
        """Greedy judge replies parsed to a score in [0, 1], batched."""
        out: list[float] = []
        device = _device_of(self.model)
        with _eval_mode(self.model):
            for start in range(0, len(samples), self.batch_size):
                ids, mask, _ = left_pad(self._encode(samples[start:start + self.batch_size]),
                                        self.pad_id)
                gen = self.model.generate(input_ids=ids.to(device),
                                          attention_mask=mask.to(device),
                                          max_new_tokens=self.max_new_tokens, do_sample=False,
                                          pad_token_id=self.pad_id)
                replies = self.tokenizer.batch_decode(gen[:, ids.shape[1]:],
                                                      skip_special_tokens=True)
                for reply in replies:
                    score = parse_score(reply, self.max_score)
                    if score is None:
                        self.unparsed += 1
                    out.append(score or 0.0)
        return out

    def score(self, samples: Sequence[Sample]) -> list[float]:
        if self.mode == "correctness":
            return self.yes_probabilities(samples)
        return self.quality_scores(samples)


class GenerativeJudgeReward(SelfEvalReward):
    """A separate generative judge model (`model` is required) with a prompt template;
    the same yes/no or score readout as SIRLC self-evaluation."""

    def __init__(self, model: str, **kwargs: Any):
        if not model:
            raise ValueError("judge: set args.model to the judge model's directory or hub id "
                             "(use kind self_eval to let the policy judge itself).")
        super().__init__(model=model, **kwargs)


class RewardModelReward:
    """A Hugging Face sequence-classification model as reward.

    One output label: the reward is that logit (or its sigmoid with `sigmoid: true`).
    Several labels: the softmax probability of `label` (an index or a label name).
    The scored text is `template` filled with the sample's prompt and response.
    """

    def __init__(self, model: str, label: int | str = 1, sigmoid: bool = False,
                 template: str = "{prompt}{response}", batch_size: int = 16,
                 max_tokens: int = 2048):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model)
            self.model = AutoModelForSequenceClassification.from_pretrained(model)
        except OSError as e:
            raise ValueError(f"reward_model: could not load '{model}': {e}. Give a local "
                             "directory saved with save_pretrained.") from None
        num_labels = self.model.config.num_labels
        if isinstance(label, str):
            names = self.model.config.label2id
            if label not in names:
                raise ValueError(f"reward_model: label {label!r} not in the model's labels "
                                 f"{sorted(names)}.")
            label = int(names[label])
        if num_labels > 1 and not 0 <= label < num_labels:
            raise ValueError(f"reward_model: label index {label} outside 0..{num_labels - 1}.")
        for key in ("{prompt}", "{response}"):
            if key not in template:
                raise ValueError(f"reward_model: template must contain {key}.")
        self.label = label
        self.sigmoid = sigmoid
        self.template = template
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        pad = self.tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else (self.tokenizer.eos_token_id or 0)
        self.model.config.pad_token_id = self.pad_id

    def score(self, samples: Sequence[Sample]) -> list[float]:
        out: list[float] = []
        device = _device_of(self.model)
        with _eval_mode(self.model):
            for start in range(0, len(samples), self.batch_size):
                chunk = samples[start:start + self.batch_size]
                texts = [self.template.format(prompt=s.prompt_text, response=s.response_text)
                         for s in chunk]
                enc = [list(self.tokenizer(t)["input_ids"])[-self.max_tokens:] for t in texts]
                ids, mask, pos = left_pad(enc, self.pad_id)
                logits = self.model(input_ids=ids.to(device), attention_mask=mask.to(device),
                                    position_ids=pos.to(device)).logits.float()  # (B, labels)
                if logits.shape[-1] == 1:
                    vals = logits[:, 0]
                    vals = torch.sigmoid(vals) if self.sigmoid else vals
                else:
                    vals = torch.softmax(logits, dim=-1)[:, self.label]
                out.extend(vals.tolist())
        return out
