"""The testbed every ablation of issue 18 uses: a task and warm start where the papers'
methods can bind (a vocabulary large enough for RLPT's restriction to act, responses long
enough for EDCO's prefix, a spread of per-prompt success rates for knapsack budgets).

    python benchmarks/testbed.py [--seed 0] [--quick]     # build (cached) + preconditions

Task: addition of two 2-4 digit numbers (`4827+3956=`), answered with step-by-step
working, digit by digit from the right:

    4 8 2 7 + 3 9 5 6.
    7+6=13, write 3 carry 1.
    2+5+1=8, put down 8.
    ...
    Answer: 8783

(about 25-90 tokens). The phrasing of each step varies between twelve equivalent forms
(`STYLES`), as natural-language reasoning does. The demonstrations come from a
*forgetful teacher* who, in `TEACHER_ERROR_RATE` of the examples that need a carry, drops
one carry (and carries the mistake through to the answer), so the warm start is imperfect
and a verifier (the numeric reward on the final number) has something to train back in:
the quickstart's story at a scale where the methods' preconditions hold.

Model: a Llama-architecture causal LM (~0.3M parameters, 4 layers, width 64) with a
byte-level BPE vocabulary of `VOCAB_SIZE` tokens trained at build time with `tokenizers`
on the teacher's text. Numbers are split into chunks of up to 3 digits (as the Llama 3 /
GPT-4 tokenisers do), so `4827` is `482`,`7`; the working restates the digits one by
one. Llama, not the quickstart's Qwen2: transformers 5 rebuilds a Qwen2 directory's
tokenizer as Qwen2Tokenizer with its own single-digit pre-tokeniser, which would change
the ids; a llama directory loads the saved tokenizer.json as it is.

`build_testbed(seed)` builds the tokenizer, the model and the SFT warm start once per seed
under `bench_out/testbed/seed<s>/` and returns the warm start's directory;
`testbed_config(seed, run_dir, overrides)` is the run config every ablation starts from.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from focusrl.config import Config, load_config
from focusrl.types import Prompt

ROOT = Path(__file__).resolve().parents[1] / "bench_out" / "testbed"
VOCAB_SIZE = 1536
"""BPE vocabulary size (issue 18 asks for at least 1k)."""
TEACHER_ERROR_RATE = 0.3
"""Share of carry-needing demonstrations in which the teacher drops one carry."""
CORPUS_SIZE = 20_000
"""Demonstrations the tokenizer is trained on."""
K_RLPT = 8
"""RLPT's promising-set size whose mass the preconditions report."""

SETTINGS = [
    "threads=2",
    "data.source=arithmetic",
    "data.arithmetic.min_digits=2",
    "data.arithmetic.max_digits=4",
    "data.num_train=20000",
    "data.num_eval=200",
    "rewards.parts=[{kind: numeric, args: {extract: last_number}}]",
    "rollout.prompts_per_step=16",
    "rollout.samples_per_prompt=8",
    "rollout.max_response_tokens=96",
    "rollout.temperature=1.0",
    "optim.lr=1e-4",
    "optim.warmup_steps=5",
    "optim.schedule=constant",
    "train.progress=false",
    "train.checkpoint_every=0",
    "train.eval_every=0",
    "sft.steps=2500",
    "sft.lr=2e-3",
    "sft.batch_sequences=32",
]
"""The testbed's run settings (one place; ablations add theirs on top)."""
QUICK = ["sft.steps=20", "data.num_train=500", "data.num_eval=16",
         "rollout.prompts_per_step=4", "rollout.samples_per_prompt=4"]
"""Smoke mode: seconds, not minutes; checks structure, not numbers."""

STYLES = [
    ("write {d}.", "write {d} carry 1."),
    ("put down {d}.", "put down {d}, carry 1."),
    ("digit {d}.", "digit {d}, carry the 1."),
    ("keep {d}.", "keep {d}, carry 1."),
    ("note {d}.", "note {d}, carry 1."),
    ("record {d}.", "record {d} and carry 1."),
    ("place {d}.", "place {d}, 1 carried."),
    ("set {d}.", "set {d}, carry one."),
    ("mark {d}.", "mark {d}, carry 1 over."),
    ("so {d}.", "so {d}, carry 1."),
    ("that gives {d}.", "that gives {d}, carry 1."),
    ("the digit is {d}.", "the digit is {d}, carry 1."),
]
"""Equivalent phrasings of a column step (no carry, carry), drawn uniformly: twelve
distinct first words, so the position after `=13,` is genuinely open over more than
RLPT's K=8 tokens, as phrasing is in natural-language reasoning."""


def worked_solution(a: int, b: int, rng: random.Random, forget: bool = False) -> str:
    """Step-by-step addition of a and b; `forget` drops the first carry (the teacher's
    mistake), and everything after it, answer included, follows from that mistake."""
    da, db = str(a)[::-1], str(b)[::-1]
    lines = [" ".join(str(a)) + " + " + " ".join(str(b)) + "."]
    carry, digits, forgot = 0, [], False
    for i in range(max(len(da), len(db))):
        x = int(da[i]) if i < len(da) else 0
        y = int(db[i]) if i < len(db) else 0
        total = x + y + carry
        plain, carried = rng.choice(STYLES)
        step = f"{x}+{y}" + (f"+{carry}" if carry else "") + f"={total}, "
        lines.append(step + (carried if total >= 10 else plain).format(d=total % 10))
        digits.append(total % 10)
        carry = total // 10
        if carry and forget and not forgot:
            carry, forgot = 0, True
    if carry:
        lines.append("write 1.")
        digits.append(1)
    answer = int("".join(map(str, reversed(digits))))
    return "\n".join(lines) + f"\nAnswer: {answer}"


def needs_carry(a: int, b: int) -> bool:
    return worked_solution(a, b, random.Random(0)) != worked_solution(
        a, b, random.Random(0), forget=True)


def forgetful_teacher(error_rate: float, seed: int) -> Callable[[Prompt], str]:
    """Demonstrations for `a+b=`; fresh style and mistake draws per use."""
    rng = random.Random(seed)

    def target(prompt: Prompt) -> str:
        a, b = (int(x) for x in prompt.text.rstrip("=").split("+"))
        forget = needs_carry(a, b) and rng.random() < error_rate
        return worked_solution(a, b, rng, forget)

    return target


def _corpus(seed: int, n: int) -> list[str]:
    rng = random.Random(10_000 + seed)
    teacher = forgetful_teacher(TEACHER_ERROR_RATE, seed + 1)
    out = []
    for _ in range(n):
        a, b = (rng.randint(10, 9_999) for _ in range(2))
        out += [f"{a}+{b}=", teacher(Prompt(id="", text=f"{a}+{b}=", answer=""))]
    return out


def train_tokenizer(seed: int, vocab_size: int = VOCAB_SIZE, corpus_size: int = CORPUS_SIZE):
    """Byte-level BPE trained with `tokenizers` on the teacher's text; numbers pre-split
    into chunks of up to 3 digits (Llama 3 / GPT-4 style). Returns a transformers fast
    tokenizer (left padding, <pad>/<eos>/<bos>/<unk> as in models/tiny.py)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from focusrl.models.tiny import SPECIAL_TOKENS

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    split = Regex(r" ?\p{N}{1,3}| ?\p{L}+| ?[^\s\p{L}\p{N}]+|\s*[\r\n]+|\s+(?!\S)|\s+")
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(split, behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2,
                                  special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_corpus(seed, corpus_size), trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>",
                                   bos_token="<bos>", unk_token="<unk>")
    fast.padding_side = "left"
    return fast


def build_model(tokenizer: Any, seed: int):
    """The tiny Llama-architecture model (~0.3M parameters: CPU-sized for 30-70 token
    responses, where the quickstart's 1M-parameter model answers in 5 tokens)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=192,
        num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=4,
        max_position_embeddings=512, tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id, use_cache=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return LlamaForCausalLM(config)


def testbed_config(seed: int, run_dir: str | Path, overrides: list[str] | None = None,
                   quick: bool = False, model_path: str | Path | None = None) -> Config:
    """The testbed's run config (model.path: the warm start unless given)."""
    path = model_path or warm_start_dir(seed, quick)
    return load_config(None, [*SETTINGS, *(QUICK if quick else []), f"seed={seed}",
                              f"run_dir={run_dir}", f"model.path={path}", *(overrides or [])],
                       name="testbed")


def warm_start_dir(seed: int, quick: bool = False, root: Path = ROOT) -> Path:
    return root / (f"quick_seed{seed}" if quick else f"seed{seed}") / "sft_model"


def build_testbed(seed: int = 0, quick: bool = False, root: Path = ROOT) -> Path:
    """Tokenizer, model and SFT warm start for `seed`, built once and cached; returns the
    warm start's model directory (an HF directory with its tokenizer)."""
    from focusrl.trainer.checkpoint import save_model_dir
    from focusrl.trainer.components import build_components
    from focusrl.trainer.sft import run_sft

    path = warm_start_dir(seed, quick, root)
    if (path / "config.json").exists():
        return path
    out = path.parent
    t0 = time.perf_counter()
    tok = train_tokenizer(seed, corpus_size=2000 if quick else CORPUS_SIZE)
    init = out / "init_model"
    save_model_dir(build_model(tok, seed), tok, init)
    cfg = testbed_config(seed, out / "sft_run", quick=quick, model_path=init)
    c = build_components(cfg)
    if c.tokenizer("48273+39561=").input_ids != tok("48273+39561=").input_ids:
        raise RuntimeError(f"the tokenizer saved in {init} does not load back as trained")
    t1 = time.perf_counter()
    run_sft(c.model, c.tokenizer, c.sampler, cfg.sft, c.device,
            metrics_path=out / "sft_metrics.jsonl", progress=False,
            compute_dtype=c.compute_dtype,
            target_fn=forgetful_teacher(TEACHER_ERROR_RATE, seed))
    save_model_dir(c.model, c.tokenizer, path)
    info = {"seed": seed, "vocab_size": len(tok), "tokenizer_s": t1 - t0,
            "sft_s": time.perf_counter() - t1, "sft_steps": cfg.sft.steps,
            "params": sum(p.numel() for p in c.model.parameters())}
    (out / "build.json").write_text(json.dumps(info, indent=1))
    print(f"testbed seed {seed}: built in {time.perf_counter() - t0:.0f}s -> {path}", flush=True)
    return path


def preconditions(seed: int = 0, quick: bool = False, num_prompts: int = 64,
                  samples_per_prompt: int = 8) -> dict[str, Any]:
    """Measure, at the warm start, what the methods need: the share of response positions
    where the top-K_RLPT tokens hold < 95% of the sampling distribution's mass (RLPT),
    response lengths against EDCO's prefix, and the spread of per-prompt success rates
    (knapsack budgets); plus held-out greedy accuracy."""
    path = build_testbed(seed, quick)
    with torch.no_grad():
        return _measure(seed, quick, path, num_prompts, samples_per_prompt)


def _measure(seed: int, quick: bool, path: Path, num_prompts: int, samples_per_prompt: int
             ) -> dict[str, Any]:
    from focusrl.trainer.batching import build_batch, response_logits
    from focusrl.trainer.components import build_components
    from focusrl.trainer.rl import rollout, run_eval

    cfg = testbed_config(seed, path.parent / "precondition_run", quick=quick, overrides=[
        f"rollout.prompts_per_step={num_prompts}",
        f"rollout.samples_per_prompt={samples_per_prompt}"])
    c = build_components(cfg)
    samples, _ = rollout(c, 1)
    # positions whose sampled token starts a phrasing (" write", " put", ...): the open ones
    first_words = torch.tensor(sorted({c.tokenizer(" " + p.split()[0]).input_ids[0]
                                       for p, _ in STYLES}))
    top_mass, ent, phrasing = [], [], []
    for i in range(0, len(samples), 32):
        batch = build_batch(samples[i:i + 32], c.tokenizer.pad_token_id, c.device)
        probs = torch.softmax(response_logits(c.model, batch, cfg.rollout.temperature), -1)
        m = batch.mask > 0
        top_mass.append(probs.topk(K_RLPT, dim=-1).values.sum(-1)[m])
        ent.append(-(probs * probs.clamp(min=1e-30).log()).sum(-1)[m])
        phrasing.append(torch.isin(batch.tokens, first_words)[m])
    mass, entropy, phr = torch.cat(top_mass), torch.cat(ent), torch.cat(phrasing)
    low = mass < 0.95
    lengths = [s.num_response_tokens for s in samples]
    by_prompt: dict[int, list[float]] = {}
    for s in samples:
        by_prompt.setdefault(s.group_id, []).append(float(s.reward > 0.5))
    rates = [sum(v) / len(v) for v in by_prompt.values()]
    edco_prefix = cfg.curriculum.edco_prefix_tokens
    return {
        "seed": seed, "vocab_size": len(c.tokenizer), "positions": int(mass.numel()),
        f"share_top{K_RLPT}_mass_below_95": float((mass < 0.95).float().mean()),
        f"mean_top{K_RLPT}_mass": float(mass.mean()),
        "mean_entropy_nats": float(entropy.mean()),
        "phrasing_positions": int(phr.sum()),
        f"share_top{K_RLPT}_below_95_at_phrasing": float(low[phr].float().mean()),
        f"share_top{K_RLPT}_below_95_elsewhere": float(low[~phr].float().mean()),
        "share_of_low_mass_positions_that_are_phrasing": float(phr[low].float().mean()),
        "response_len_mean": statistics.mean(lengths),
        "response_len_min": min(lengths), "response_len_max": max(lengths),
        "truncated_share": sum(s.truncated for s in samples) / len(samples),
        "edco_prefix_tokens": edco_prefix,
        "prompts": len(rates), "samples_per_prompt": samples_per_prompt,
        "success_rate_mean": statistics.mean(rates),
        "success_rate_sd": statistics.pstdev(rates),
        "share_prompts_p0": sum(r == 0 for r in rates) / len(rates),
        "share_prompts_p1": sum(r == 1 for r in rates) / len(rates),
        "share_prompts_mixed": sum(0 < r < 1 for r in rates) / len(rates),
        "heldout_greedy_accuracy": run_eval(c, 0)["eval/accuracy"],
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--prompts", type=int, default=64)
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    for seed in args.seeds:
        res = preconditions(seed, args.quick, num_prompts=4 if args.quick else args.prompts)
        print(json.dumps(res), flush=True)
        k = f"share_top{K_RLPT}_mass_below_95"
        print(f"seed {seed}: vocab {res['vocab_size']}; top-{K_RLPT} mass < 95% at "
              f"{res[k]:.1%} of {res['positions']} response positions (mean mass "
              f"{res[f'mean_top{K_RLPT}_mass']:.3f}; at phrasing positions "
              f"{res[f'share_top{K_RLPT}_below_95_at_phrasing']:.1%}, elsewhere "
              f"{res[f'share_top{K_RLPT}_below_95_elsewhere']:.1%}); response length mean "
              f"{res['response_len_mean']:.1f} (min {res['response_len_min']}, max "
              f"{res['response_len_max']}) vs EDCO prefix {res['edco_prefix_tokens']}; "
              f"per-prompt success rate mean {res['success_rate_mean']:.2f}, sd "
              f"{res['success_rate_sd']:.2f}, {res['share_prompts_mixed']:.0%} of prompts "
              f"mixed, {res['share_prompts_p0']:.0%} all-wrong, {res['share_prompts_p1']:.0%} "
              f"all-right; held-out greedy accuracy {res['heldout_greedy_accuracy']:.1%}",
              flush=True)


if __name__ == "__main__":
    sys.exit(main())
