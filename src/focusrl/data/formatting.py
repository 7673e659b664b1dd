"""Prompt formatting: the template, the tokenizer's chat template, the length limit."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

from focusrl.data.config import DataConfig
from focusrl.types import Prompt

log = logging.getLogger(__name__)


class PromptTooLong(ValueError):
    """A prompt exceeds data.max_prompt_tokens and data.on_long_prompt is 'error'."""


@dataclass
class FormatStats:
    skipped_long: int = 0


def format_prompt(prompt: Prompt, cfg: DataConfig, tokenizer: Any) -> Prompt:
    """Apply data.prompt_template, then the chat template when configured/available."""
    text = cfg.prompt_template.format(prompt=prompt.text)
    has_chat = getattr(tokenizer, "chat_template", None) is not None
    if cfg.chat_template == "always" or (cfg.chat_template == "auto" and has_chat):
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
        )
    return replace(prompt, text=text, meta={**prompt.meta, "raw_prompt": prompt.text})


def prepare_prompts(
    prompts: list[Prompt], cfg: DataConfig, tokenizer: Any, stats: FormatStats | None = None
) -> list[Prompt]:
    """Format every prompt; skip (and count) or reject those over the token limit."""
    stats = stats if stats is not None else FormatStats()
    out = []
    for p in prompts:
        fp = format_prompt(p, cfg, tokenizer)
        n = len(tokenizer(fp.text, add_special_tokens=False).input_ids)
        if n > cfg.max_prompt_tokens:
            if cfg.on_long_prompt == "error":
                raise PromptTooLong(f"prompt '{p.id}' has {n} tokens > data.max_prompt_tokens="
                                    f"{cfg.max_prompt_tokens}; raise the limit or set "
                                    "data.on_long_prompt=skip.")
            stats.skipped_long += 1
            continue
        out.append(fp)
    if stats.skipped_long:
        log.warning("skipped %d prompts over %d tokens", stats.skipped_long, cfg.max_prompt_tokens)
    return out
