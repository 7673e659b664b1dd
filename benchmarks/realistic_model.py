"""A Qwen2-shaped model of ~39M parameters with a ~32k BPE vocabulary, built at run time.

No download: the byte-level BPE tokenizer is trained with `tokenizers` on generated
text (`generated_text`), and the model is randomly initialised (benchmarks/engines.py
`train_bpe_model`). The text is sentences of pseudo-words drawn from a Zipf law over
~60k word forms built from syllables, with numbers and small sums mixed in, so the
vocabulary fills to 32k the way a natural-language BPE's does: frequent short pieces
and a long tail of whole words. Shape (`SHAPE`): hidden 512, 8 layers, 8 query heads
and 2 key/value heads (grouped-query attention, as Qwen2 models have), MLP 1408, tied
embeddings: 38.9M parameters at a 32k vocabulary. Used by benchmarks/vs_trl.py and
benchmarks/lean_logprobs.py.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path

SHAPE = {"hidden": 512, "layers": 8, "heads": 8, "kv_heads": 2, "mlp": 1408}

ONSETS = ["", "b", "br", "c", "ch", "d", "dr", "f", "fl", "g", "gr", "h", "j", "k", "l", "m",
          "n", "p", "pl", "qu", "r", "s", "sh", "st", "t", "th", "tr", "v", "w", "z"]
VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "ou", "y"]
CODAS = ["", "", "n", "r", "s", "t", "l", "m", "nd", "st", "ck", "ng"]


def generated_text(lines: int = 60_000, words: int = 60_000, seed: int = 0) -> list[str]:
    """`lines` sentences over `words` distinct pseudo-words (Zipf-distributed)."""
    rng = random.Random(seed)
    forms: set[str] = set()
    while len(forms) < words:
        n = rng.choice((1, 2, 2, 3, 3, 4))
        forms.add("".join(rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS)
                          for _ in range(n)))
    vocab = sorted(forms)
    rng.shuffle(vocab)
    cum = list(itertools.accumulate(1.0 / (i + 1) for i in range(len(vocab))))
    out = []
    for _ in range(lines):
        ws = rng.choices(vocab, cum_weights=cum, k=rng.randint(6, 18))
        if rng.random() < 0.3:
            a, b = rng.randint(0, 999), rng.randint(0, 999)
            ws.insert(rng.randrange(len(ws)), f"{a} + {b} = {a + b}")
        out.append(" ".join(ws).capitalize() + rng.choice(".!?,;"))
    return out


def build_realistic_model(out: Path, vocab: int = 32_000, seed: int = 0,
                          **shape: int) -> tuple[str, int, int]:
    """Train the tokenizer, build the model, save both to `out`: (path, vocabulary,
    parameters). `shape` overrides entries of SHAPE (smaller models for smoke tests)."""
    from engines import train_bpe_model  # benchmarks/ is on sys.path when run as a script

    s = {**SHAPE, **shape}
    n = min(60_000, max(2_000, 2 * vocab))  # enough distinct words to fill the vocabulary
    return train_bpe_model(generated_text(n, n, seed), out, vocab, s["hidden"], s["layers"],
                           s["heads"], s["mlp"], seed=seed, kv_heads=s["kv_heads"])
