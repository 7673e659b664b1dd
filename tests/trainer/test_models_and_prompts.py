"""Model loading, the tiny tokenizer round trip, prompt formatting and length limits."""

import pytest
import torch

from focusrl.configtools import ConfigError
from focusrl.data.config import DataConfig
from focusrl.data.formatting import FormatStats, PromptTooLong, prepare_prompts
from focusrl.models import build_char_tokenizer, build_tiny_model, load_model_and_tokenizer
from focusrl.types import Prompt


def test_tiny_model_saves_and_loads_like_any_hf_model(tmp_path):
    tok = build_char_tokenizer()
    model = build_tiny_model(tok, hidden_size=32, num_layers=1, num_heads=2,
                             intermediate_size=64)
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    model2, tok2 = load_model_and_tokenizer(str(tmp_path))
    text = "12 + 34 =\n46"
    assert tok2(text).input_ids == tok(text).input_ids
    assert tok2.decode(tok2(text).input_ids) == text
    ids = torch.tensor([tok(text).input_ids])
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, model2(ids).logits)
    assert tok2.padding_side == "left" and tok2.pad_token_id == tok.pad_token_id


def test_missing_model_path_says_what_to_do(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_model_and_tokenizer(str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match="without config.json"):
        load_model_and_tokenizer(str(tmp_path))


class _ChatTokenizer:
    """A tokenizer stand-in with a chat template."""

    chat_template = "x"

    def apply_chat_template(self, messages, tokenize, add_generation_prompt):
        return f"<user>{messages[0]['content']}</user><assistant>"

    def __call__(self, text, add_special_tokens=False):
        return type("Enc", (), {"input_ids": list(range(len(text)))})()


def test_chat_template_is_applied_when_the_tokenizer_has_one():
    cfg = DataConfig(prompt_template="Q: {prompt}")
    out = prepare_prompts([Prompt("1", "2+2=")], cfg, _ChatTokenizer())
    assert out[0].text == "<user>Q: 2+2=</user><assistant>"
    never = DataConfig(prompt_template="Q: {prompt}", chat_template="never")
    assert prepare_prompts([Prompt("1", "2+2=")], never, _ChatTokenizer())[0].text == "Q: 2+2="


def test_long_prompts_are_skipped_and_counted_or_rejected():
    tok = build_char_tokenizer()
    prompts = [Prompt("short", "1+1="), Prompt("long", "1+" * 20 + "1=")]
    stats = FormatStats()
    kept = prepare_prompts(prompts, DataConfig(max_prompt_tokens=10), tok, stats)
    assert [p.id for p in kept] == ["short"] and stats.skipped_long == 1
    with pytest.raises(PromptTooLong, match="'long' has 42 tokens"):
        prepare_prompts(prompts, DataConfig(max_prompt_tokens=10, on_long_prompt="error"), tok)
