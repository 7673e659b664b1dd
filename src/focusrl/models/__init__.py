"""Policy models: any Hugging Face causal LM, or the built-in tiny model for CPU runs."""

from focusrl.models.loading import load_model_and_tokenizer, resolve_device
from focusrl.models.tiny import build_char_tokenizer, build_tiny_model

__all__ = ["build_char_tokenizer", "build_tiny_model", "load_model_and_tokenizer", "resolve_device"]
