"""EDCO's prefix entropy estimator against the full-answer reference: time and agreement.

    python benchmarks/edco_estimator.py [--train-steps 200] [--pool 64] [--seeds 0 1 2 3 4]
    python benchmarks/edco_estimator.py --testbed [--pool 64] [--seeds 0 1 2 3 4]

Each seed is one measurement (its own model for the tiny setting, its own pool and
samples); with several seeds the last lines give the mean, the 95% t-interval and the
spread over seeds of the rank agreement and of the time saved.

`--testbed`: the issue-18 testbed's warm start (benchmarks/testbed.py: BPE vocabulary,
worked answers of 21-78 tokens, so the 8-token prefix reads well inside the answer) and
its held-out prompts; no quick-answer suffix (the testbed has no quick-answer format),
the full estimator reads up to the testbed's response limit (96 tokens). The seed picks
the pool and the samples; the model is the seed-0 warm start for every seed.

Default setup (CPU, a few minutes a seed): the built-in tiny model (Qwen2 architecture,
character tokenizer, width 64, 3 layers) is briefly trained by SFT on 1..4-digit addition
in two formats, so entropy varies with difficulty and both estimators have something
to measure:
  - `12+34=` -> a column-by-column scratchpad then the sum: `2+4+0=6,1+3+0=4;46`
    (the "full answer": up to ~45 tokens, like a reasoning trace),
  - `12+34=?` -> `46` (the quick-answer format; `?` is EDCO's quick-answer suffix).
The mixed-difficulty pool has equally many 1-, 2-, 3- and 4-digit sums.

Measured: wall time of PrefixEntropyEstimator (quick-answer suffix, first 8 tokens,
4 samples) and of FullAnswerEntropyEstimator (complete answers, 4 samples, up to 64
tokens) on the same pool and engine, and the Spearman rank correlation of their
per-prompt entropies. EDCO (arXiv 2601.03725) claims 83.5% less estimation time.
"""

from __future__ import annotations

import argparse
import random
import time

import numpy as np
import torch

from claims_table import t_interval
from focusrl.curriculum.edco import FullAnswerEntropyEstimator, PrefixEntropyEstimator
from focusrl.models.tiny import build_char_tokenizer, build_tiny_model
from focusrl.rollout.hf_engine import HFEngine
from focusrl.trainer.policy_scoring import PolicyScorer
from focusrl.types import Prompt


def scratchpad(a: int, b: int) -> str:
    """Column-wise addition, least significant digit first, then ';' and the sum."""
    da, db = str(a)[::-1], str(b)[::-1]
    steps, carry = [], 0
    for i in range(max(len(da), len(db))):
        x = int(da[i]) if i < len(da) else 0
        y = int(db[i]) if i < len(db) else 0
        s = x + y + carry
        steps.append(f"{x}+{y}+{carry}={s}")
        carry = s // 10
    return ",".join(steps) + f";{a + b}"


def operand(rng: random.Random, digits: int) -> int:
    return rng.randint(0 if digits == 1 else 10 ** (digits - 1), 10**digits - 1)


def training_pairs(rng: random.Random, n: int) -> list[tuple[str, str]]:
    pairs = []
    for _ in range(n):
        d = rng.randint(1, 4)
        a, b = operand(rng, d), operand(rng, d)
        if rng.random() < 0.5:
            pairs.append((f"{a}+{b}=", scratchpad(a, b)))
        else:
            pairs.append((f"{a}+{b}=?", str(a + b)))
    return pairs


def train(model, tok, steps: int, seed: int, batch: int = 64) -> float:
    """SFT on response tokens only; returns the last loss."""
    rng = random.Random(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    model.train()
    loss = torch.tensor(0.0)
    for step in range(steps):
        pairs = training_pairs(rng, batch)
        seqs, masks = [], []
        for p, r in pairs:
            pi = tok(p, add_special_tokens=False).input_ids
            ri = tok(r, add_special_tokens=False).input_ids + [tok.eos_token_id]
            seqs.append(pi + ri)
            masks.append([0] * len(pi) + [1] * len(ri))
        width = max(map(len, seqs))
        ids = torch.full((batch, width), tok.pad_token_id)
        lab = torch.full((batch, width), -100)
        att = torch.zeros((batch, width), dtype=torch.long)
        for i, (s, m) in enumerate(zip(seqs, masks)):
            ids[i, : len(s)] = torch.tensor(s)
            att[i, : len(s)] = 1
            lab[i, : len(s)] = torch.where(torch.tensor(m) == 1, torch.tensor(s), -100)
        for g in opt.param_groups:  # linear warmup then constant
            g["lr"] = 3e-3 * min(1.0, (step + 1) / 50)
        loss = model(input_ids=ids, attention_mask=att, labels=lab).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    model.eval()
    return float(loss.detach())


def spearman(x: list[float], y: list[float]) -> float:
    """Pearson correlation of average ranks (ties share their mean rank)."""
    def ranks(v: list[float]) -> np.ndarray:
        v = np.asarray(v)
        order = np.argsort(v, kind="stable")
        r = np.empty(len(v))
        r[order] = np.arange(len(v), dtype=float)
        for val in np.unique(v):
            r[v == val] = r[v == val].mean()
        return r
    return float(np.corrcoef(ranks(x), ranks(y))[0, 1])


def timed(fn, prompts):
    start = time.perf_counter()
    out = fn(prompts)
    return out, time.perf_counter() - start


def tiny_setting(args: argparse.Namespace, seed: int):
    """(engine, scorer, pool, difficulty of each prompt, quick-answer suffix, full length)."""
    torch.manual_seed(seed)
    tok = build_char_tokenizer()
    model = build_tiny_model(tok, hidden_size=args.hidden, num_layers=3, num_heads=4,
                             intermediate_size=3 * args.hidden, seed=seed)
    t0 = time.perf_counter()
    last_loss = train(model, tok, args.train_steps, seed, args.batch)
    print(f"seed {seed}: trained tiny model {args.train_steps} steps in "
          f"{time.perf_counter() - t0:.1f} s (last loss {last_loss:.3f})")
    rng = random.Random(seed + 1)
    pool = []
    for i in range(args.pool):
        d = i % 4 + 1
        a, b = operand(rng, d), operand(rng, d)
        pool.append(Prompt(id=f"{a}+{b}", text=f"{a}+{b}=", answer=str(a + b),
                           meta={"difficulty": d}))
    engine = HFEngine(model, tok, "cpu", seed=seed)
    policy = PolicyScorer(model, tok, torch.device("cpu"))
    return engine, policy, pool, [p.meta["difficulty"] for p in pool], "?", 64


def testbed_setting(args: argparse.Namespace, seed: int):
    from focusrl.trainer.components import build_components
    from testbed import ROOT, build_testbed, testbed_config

    start = build_testbed(0, args.quick)
    cfg = testbed_config(seed, ROOT.parent / "edco_estimator_run", quick=args.quick,
                         model_path=start)
    c = build_components(cfg)
    pool = random.Random(seed).sample(list(c.data.eval), args.pool)
    digits = [len(str(p.answer)) for p in pool]  # digits of the sum: more columns, more work
    return c.engine, c.policy, pool, digits, "", cfg.rollout.max_response_tokens


def measure(args: argparse.Namespace, seed: int) -> tuple[float, float]:
    """(Spearman rho, % time saved) for one seed; prints its table."""
    setting = testbed_setting if args.testbed else tiny_setting
    engine, policy, pool, difficulty, suffix, full_tokens = setting(args, seed)
    prefix = PrefixEntropyEstimator(engine, policy.token_entropies, args.prefix_tokens,
                                    args.samples, quick_answer_suffix=suffix)
    full = FullAnswerEntropyEstimator(engine, policy.token_entropies,
                                      max_new_tokens=full_tokens, num_samples=args.samples)
    with torch.inference_mode():
        prefix(pool[:4])  # warm up kernels and allocator for both
        full(pool[:4])
        h_prefix, t_prefix = timed(prefix, pool)
        h_full, t_full = timed(full, pool)
    rho = spearman(h_prefix, h_full)
    saved = 100 * (1 - t_prefix / t_full)
    print(f"seed {seed}: pool of {len(pool)} prompts, {args.samples} samples per prompt")
    print(f"{'difficulty':>10} {'prompts':>7} {'prefix H':>9} {'full H':>9}")
    for d in sorted(set(difficulty)):
        idx = [i for i, x in enumerate(difficulty) if x == d]
        print(f"{d:>10} {len(idx):>7} {np.mean([h_prefix[i] for i in idx]):>9.3f} "
              f"{np.mean([h_full[i] for i in idx]):>9.3f}")
    print(f"prefix estimator ({args.prefix_tokens} tokens): {t_prefix:.3f} s "
          f"({1000 * t_prefix / len(pool):.1f} ms/prompt)")
    print(f"full-answer estimator (<={full_tokens} tokens): {t_full:.3f} s "
          f"({1000 * t_full / len(pool):.1f} ms/prompt)")
    print(f"seed {seed}: time saved {saved:.1f}% (EDCO claims 83.5%), "
          f"Spearman rho(prefix, full) {rho:.3f} (target >= 0.8)", flush=True)
    return rho, saved


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-steps", type=int, default=200)
    ap.add_argument("--pool", type=int, default=64, help="prompts, a multiple of 4")
    ap.add_argument("--prefix-tokens", type=int, default=8)
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--batch", type=int, default=32, help="SFT sequences per step")
    ap.add_argument("--hidden", type=int, default=64, help="tiny model width")
    ap.add_argument("--testbed", action="store_true", help="the issue-18 testbed instead")
    ap.add_argument("--quick", action="store_true", help="with --testbed: its smoke build")
    args = ap.parse_args()
    torch.set_num_threads(2)
    rhos, saved = zip(*(measure(args, seed) for seed in args.seeds))
    for name, xs, target in (("Spearman rho", rhos, "target >= 0.8"),
                             ("time saved %", saved, "EDCO claims 83.5")):
        m, lo, hi, sd = t_interval(list(xs))
        print(f"{name} over seeds {list(args.seeds)}: "
              + ", ".join(f"{x:.3f}" for x in xs)
              + f"; mean {m:.3f} [95% CI {lo:.3f}, {hi:.3f}], sd {sd:.3f} ({target})")


if __name__ == "__main__":
    main()
