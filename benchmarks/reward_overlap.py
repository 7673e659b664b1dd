"""How much reward time the AsyncScorer hides behind generation.

Simulated generation (sleep, or a real tiny-model `generate` that competes for the CPU)
is interleaved with real sandbox scoring of HumanEval canonical solutions. Serial: each
chunk is generated, then scored. Overlapped: chunk i is scored while chunk i+1 is
generated. Hidden = (serial - overlapped) / reward time.

    python benchmarks/reward_overlap.py [--chunks 6] [--chunk-size 16] [--gen-seconds 0.6]
                                        [--generator sleep|tiny] [--torch-threads N]
                                        [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from collections.abc import Callable
from pathlib import Path

from focusrl.rewards.async_scoring import AsyncScorer
from focusrl.rewards.config import RewardConfig, RewardPartConfig
from focusrl.rewards.registry import build_rewards
from focusrl.types import Sample

ROOT = Path(__file__).resolve().parents[1]


def chunks_of_samples(data: Path, chunks: int, size: int) -> list[list[Sample]]:
    with gzip.open(data / "humaneval" / "HumanEval.jsonl.gz", "rt") as f:
        tasks = [json.loads(line) for line in f]
    out = []
    for c in range(chunks):
        chunk = []
        for i in range(size):
            t = tasks[(c * size + i) % len(tasks)]
            chunk.append(Sample(t["task_id"], c, [], [], [], prompt_text=t["prompt"],
                                response_text=t["canonical_solution"],
                                answer={"test": t["test"], "entry_point": t["entry_point"]}))
        out.append(chunk)
    return out


def make_generator(kind: str, seconds: float, torch_threads: int) -> Callable[[], None]:
    if kind == "sleep":
        return lambda: time.sleep(seconds)
    import torch

    if torch_threads:
        torch.set_num_threads(torch_threads)
    from focusrl.models.tiny import build_char_tokenizer, build_tiny_model

    tok = build_char_tokenizer()
    model = build_tiny_model(tok).eval()
    ids = torch.tensor([tok("def f(x):")["input_ids"]] * 16)

    def generate() -> None:
        with torch.inference_mode():
            model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                           max_new_tokens=48, do_sample=True, pad_token_id=tok.pad_token_id)

    return generate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--chunks", type=int, default=6)
    ap.add_argument("--chunk-size", type=int, default=16)
    ap.add_argument("--gen-seconds", type=float, default=0.6)
    ap.add_argument("--generator", choices=["sleep", "tiny"], default="sleep")
    ap.add_argument("--workers", type=int, default=2, help="sandbox workers")
    ap.add_argument("--torch-threads", type=int, default=0,
                    help="torch CPU threads of the tiny generator (0 = torch default)")
    args = ap.parse_args()
    cfg = RewardConfig(parts=[RewardPartConfig(kind="code", args={"workers": args.workers})])
    pipe = build_rewards(cfg)
    generate = make_generator(args.generator, args.gen_seconds, args.torch_threads)
    generate()  # warm-up (model init / first call)

    chunks = chunks_of_samples(args.data, args.chunks, args.chunk_size)
    gen_time = score_time = 0.0
    start = time.perf_counter()
    for chunk in chunks:
        t0 = time.perf_counter()
        generate()
        t1 = time.perf_counter()
        pipe.score(chunk)
        gen_time += t1 - t0
        score_time += time.perf_counter() - t1
    serial = time.perf_counter() - start
    passed = sum(s.reward for c in chunks for s in c)

    chunks = chunks_of_samples(args.data, args.chunks, args.chunk_size)
    start = time.perf_counter()
    with AsyncScorer(pipe) as scorer:
        futures = []
        for chunk in chunks:
            generate()  # the previous chunk is being scored meanwhile
            futures.append(scorer.submit(chunk))
        for f in futures:
            f.result()
    overlapped = time.perf_counter() - start
    busy = scorer.busy_seconds
    n = args.chunks * args.chunk_size
    print(f"{args.chunks} chunks x {args.chunk_size} HumanEval programs, generator="
          f"{args.generator}, sandbox workers={args.workers}; passed {passed:.0f}/{n} serial, "
          f"{sum(s.reward for c in chunks for s in c):.0f}/{n} overlapped")
    print(f"serial:     {serial:6.2f} s  (generation {gen_time:.2f} s + reward {score_time:.2f} s)")
    print(f"overlapped: {overlapped:6.2f} s  (reward busy {busy:.2f} s in the background)")
    hidden = (serial - overlapped) / score_time if score_time else 0.0
    print(f"reward time hidden: {serial - overlapped:.2f} s of {score_time:.2f} s = "
          f"{100 * hidden:.0f}%; speed-up {serial / overlapped:.2f}x")


if __name__ == "__main__":
    main()
