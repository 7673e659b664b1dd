"""The update's log-probs with and without the full logits, at a real vocabulary.

    python benchmarks/lean_logprobs.py [--repeats 3] [--vocab 32000]

A Qwen2-shaped model of 38.9M parameters with a 32k byte-level BPE vocabulary, built
here with no download (benchmarks/realistic_model.py, as in vs_trl.py), and one rollout
batch of --prompts prompts x --samples samples with response lengths spread over
[--tokens / 2, --tokens] (so there is padding, as in real batches). Each arm runs the
trainer's own `policy_update` (one pass, fp32, 2 threads, shared-prefix forward, an
entropy bonus so the entropy carries gradient) in its own process, so its peak RSS is
its own:
- `full`: `train.logits_chunk_tokens=0`, the (rows, tokens, vocabulary) float32 logits
  materialised, as before;
- `chunked`: the default, the LM head applied to 1024 positions at a time, only over
  positions in the loss, recomputed in the backward (trainer/token_head.py).
Seconds: the smallest of --repeats update calls after one warm-up (interference only
adds time). The last line: `chunked/full update: time R1, peak RSS R2`.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from realistic_model import SHAPE, build_realistic_model  # noqa: E402


def worker(args: argparse.Namespace) -> dict:
    import torch

    from focusrl.algorithms.config import AlgorithmConfig
    from focusrl.models import load_model_and_tokenizer
    from focusrl.trainer.batching import build_batch
    from focusrl.trainer.optim import build_optimizer
    from focusrl.trainer.update import policy_update
    from focusrl.types import Sample

    torch.set_num_threads(2)
    model, tok = load_model_and_tokenizer(args.model, "float32", False)
    gen = torch.Generator().manual_seed(0)
    vocab = model.config.vocab_size  # (a reloaded BPE tokenizer may list an extra token)
    samples = []
    for g in range(args.prompts):
        prompt = torch.randint(3, vocab, (40,), generator=gen).tolist()
        for i in range(args.samples):
            n = int(torch.randint(args.tokens // 2, args.tokens + 1, (1,), generator=gen))
            resp = torch.randint(3, vocab, (n,), generator=gen).tolist()
            samples.append(Sample(f"{g}", g, prompt, resp, [0.0] * n,
                                  advantage=1.0 if i % 2 else -1.0))
    batch = build_batch(samples, tok.pad_token_id, torch.device("cpu"))
    opt, sched = build_optimizer(model, 1e-6, 0.0, (0.9, 0.99), 1e-8, 0, 100)
    algo = AlgorithmConfig(entropy_coef=0.001)
    times = []
    for _ in range(args.repeats + 1):
        t = time.perf_counter()
        policy_update(model, opt, sched, batch, algo, passes=1,
                      micro_batch_samples=args.prompts * args.samples, grad_clip=1.0,
                      temperature=1.0, max_length=args.tokens, shared_prefix=True,
                      chunk_tokens=args.chunk)
        times.append(time.perf_counter() - t)
    return {"seconds": min(times[1:]), "peak_rss_mb": resource.getrusage(
        resource.RUSAGE_SELF).ru_maxrss / 1024, "tokens": int(batch.mask.sum()),
        "padded": batch.tokens.numel()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--hidden", type=int, default=SHAPE["hidden"], help="(smoke tests: smaller)")
    ap.add_argument("--layers", type=int, default=SHAPE["layers"], help="(smoke tests: fewer)")
    ap.add_argument("--prompts", type=int, default=4)
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--worker", action="store_true")
    ap.add_argument("--model")
    ap.add_argument("--chunk", type=int, default=1024)
    args = ap.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(worker(args)), flush=True)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path, vocab, params = build_realistic_model(Path(tmp), args.vocab, hidden=args.hidden,
                                                    layers=args.layers)
        print(f"model: Qwen2 {params / 1e6:.1f}M parameters, vocabulary {vocab}; batch "
              f"{args.prompts} x {args.samples}, responses {args.tokens // 2}-{args.tokens} "
              f"tokens; fp32, 2 threads; best of {args.repeats}")
        res = {}
        for name, chunk in (("full", 0), ("chunked", 1024)):
            cmd = [sys.executable, __file__, "--worker", "--model", path, "--chunk", str(chunk),
                   *(f"--{k}={getattr(args, k)}" for k in ("repeats", "prompts", "samples",
                                                           "tokens"))]
            out = subprocess.run(cmd, capture_output=True, text=True)
            line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if line is None:
                raise RuntimeError(f"{name} worker failed:\n{out.stderr[-3000:]}")
            res[name] = json.loads(line[7:])
            r = res[name]
            print(f"{name:<8} update {r['seconds']:.3f} s  peak RSS {r['peak_rss_mb']:.0f} MB  "
                  f"({r['tokens']} response tokens in {r['padded']} padded positions)",
                  flush=True)
    f, c = res["full"], res["chunked"]
    print(f"chunked/full update: time {c['seconds'] / f['seconds']:.2f}, peak RSS "
          f"{c['peak_rss_mb'] / f['peak_rss_mb']:.2f}")


if __name__ == "__main__":
    main()
