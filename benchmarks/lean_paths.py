"""The lean paths against the transformers paths they replace, on the vs_trl batch.

    python benchmarks/lean_paths.py [--repeats 5] [--long-tokens 128] [--default-malloc]

Same tiny model as benchmarks/vs_trl.py (Qwen2 architecture, 0.87M parameters, fp32,
2 threads), 8 prompts x 8 samples, a short (8 tokens) and a long (128 tokens) response.

Generation (64 samples, EOS ignored so every sample has the full length):
- `hf generate`: transformers' `model.generate` (DynamicCache: `torch.cat` per token);
- `engine, transformers step`: focusrl's loop with `rollout.lean_decode=false` (the
  transformers forward per token, over the in-place growing cache of rollout/kv_cache.py);
- `engine, lean step`: focusrl's default (models/lean.py `LeanDecoder`).
Update forward + backward (the trainer's `response_logits` + a log-softmax loss):
- `transformers forward` (`train.shared_prefix_forward=false`) against
- `shared-prefix forward` (the default): each group's prompt forwarded once.
The `, bf16` rows repeat the default paths under `model.mixed_precision=bf16` (bfloat16
matmuls over float32 parameters, models/precision.py).
Each figure is the median of --repeats timed calls after 2 warm-up calls. The process
tunes glibc malloc as the trainer does (`cpu_malloc`, focusrl/runtime.py) unless
--default-malloc.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    for _ in range(2):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--long-tokens", type=int, default=128, help="the long setting's length")
    ap.add_argument("--default-malloc", action="store_true",
                    help="keep glibc's allocator defaults (the trainer's cpu_malloc=false)")
    args = ap.parse_args(argv)
    from focusrl.runtime import tune_malloc

    if not args.default_malloc:
        tune_malloc()
    from focusrl.models import build_char_tokenizer, build_tiny_model
    from focusrl.rollout.hf_engine import HFEngine
    from focusrl.trainer.batching import build_batch, response_logits
    from focusrl.types import GenerationRequest, Prompt, SamplingParams

    torch.set_num_threads(2)
    tok = build_char_tokenizer()
    model = build_tiny_model(tok, seed=0)
    texts = [f"{7 * i + 3}+{11 * i + 5}=" for i in range(8)]
    reqs = [GenerationRequest(Prompt(str(i), t), 8, i) for i, t in enumerate(texts)]
    rows: list[tuple[str, str, float]] = []
    for name, tokens in (("short", 8), ("long", args.long_tokens)):
        params = SamplingParams(max_new_tokens=tokens, ignore_eos=True)
        enc = tok([t for t in texts for _ in range(8)], return_tensors="pt", padding=True,
                  add_special_tokens=False)

        def hf_generate(enc=enc, tokens=tokens) -> object:
            with torch.no_grad():
                return model.generate(**enc, do_sample=True, max_new_tokens=tokens,
                                      min_new_tokens=tokens, pad_token_id=tok.pad_token_id)

        model.eval()
        rows.append((name, "hf generate", median_seconds(hf_generate, args.repeats)))
        for label, lean in (("engine, transformers step", False), ("engine, lean step", True)):
            engine = HFEngine(model, tok, seed=0, lean_decode=lean)
            rows.append((name, label, median_seconds(lambda e=engine, p=params: e.generate(
                reqs, p), args.repeats)))
        engine = HFEngine(model, tok, seed=0, compute_dtype=torch.bfloat16)
        rows.append((name, "engine, lean step, bf16", median_seconds(
            lambda e=engine, p=params: e.generate(reqs, p), args.repeats)))
        samples = HFEngine(model, tok, seed=0).generate(reqs, params)
        batch = build_batch(samples, tok.pad_token_id, torch.device("cpu"))
        model.train()
        for label, shared, dtype in (("transformers forward", False, None),
                                     ("shared-prefix forward", True, None),
                                     ("shared-prefix forward, bf16", True, torch.bfloat16)):
            def update(b=batch, s=shared, d=dtype) -> None:
                model.zero_grad(set_to_none=True)
                response_logits(model, b, 1.0, s, d).log_softmax(-1).mean().backward()
            rows.append((name, f"update, {label}", median_seconds(update, args.repeats)))
    print(f"{'setting':<7} {'path':<38} {'seconds':>8}")
    for name, label, sec in rows:
        print(f"{name:<7} {label:<38} {sec:>8.4f}")
    get = {(n, lab): s for n, lab, s in rows}
    for title, gen, upd in (
            ("lean/transformers time", ("engine, lean step", "hf generate", " hf generate"),
             ("update, shared-prefix forward", "update, transformers forward", " transformers")),
            ("bf16/fp32 time (lean paths)", ("engine, lean step, bf16", "engine, lean step", ""),
             ("update, shared-prefix forward, bf16", "update, shared-prefix forward", ""))):
        parts = [f"{name}: generate {get[(name, gen[0])] / get[(name, gen[1])]:.2f}x{gen[2]}, "
                 f"update {get[(name, upd[0])] / get[(name, upd[1])]:.2f}x{upd[2]}"
                 for name in ("short", "long")]
        print(f"{title}: " + "; ".join(parts))


if __name__ == "__main__":
    main()
