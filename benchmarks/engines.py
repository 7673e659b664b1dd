"""The HF engine against the vLLM engine: same model, same batch, one run.

    python benchmarks/engines.py [--text ../shared/data/gsm8k/train.jsonl] [--steps 6]

Two models, both built here with no download:
- `tiny`: focusrl's built-in model (Qwen2 architecture, 0.87M parameters, a 100-token
  character vocabulary), as `model.path: tiny` builds it;
- `40M`: a Qwen2-shaped model of ~40M parameters (hidden 512, 8 layers, 8 heads, MLP
  1408, tied embeddings) with a byte-level BPE vocabulary of ~32k trained here with the
  `tokenizers` library on the GSM8K training text (--text), saved with `save_pretrained`
  and loaded through `model.path` like any Hugging Face model.

For each model and engine (`rollout.engine=hf` | `vllm`), through the trainer's own
components and loop (`build_components`, `train(cfg, components=...)`):
- generated tokens/s: `engine.generate` on --prompts prompts x --samples samples x
  --tokens tokens (EOS ignored, so both engines generate the same count), median of
  --repeats calls after one warm-up call;
- s/step: the median `time_step` of an RL run of --steps steps (same batch, first step
  dropped as warm-up): rollout, reward, update and the weight sync;
- s/sync: the median `time_sync` of those steps (HF shares the trainer's model: ~0).
fp32, the process's CPU threads (2 here), vLLM with its defaults from rollout.vllm.
The last line is the ratio of the two engines' tokens/s for both models.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_TEXT = REPO.parent / "shared" / "data" / "gsm8k" / "train.jsonl"


def train_bpe_model(text: Path | list[str], out: Path, vocab: int, hidden: int, layers: int,
                    heads: int, mlp: int, seed: int = 0,
                    kv_heads: int | None = None) -> tuple[str, int, int]:
    """Train a byte-level BPE tokenizer on the `question`/`answer` text of a JSONL file
    (or on a list of text lines), build a randomly initialised Qwen2 model on it, save
    both to `out`. Returns (path, vocabulary size, parameter count)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    lines = [] if isinstance(text, Path) else list(text)
    if isinstance(text, Path):
        with open(text) as f:
            for line in f:
                row = json.loads(line)
                lines.extend(str(row[k]) for k in ("question", "answer") if k in row)
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    special = ["<pad>", "<eos>", "<bos>"]
    tok.train_from_iterator(lines, trainers.BpeTrainer(
        vocab_size=vocab, special_tokens=special, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>",
                                   bos_token="<bos>")
    fast.padding_side = "left"
    config = Qwen2Config(
        vocab_size=len(fast), hidden_size=hidden, intermediate_size=mlp,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads or heads,
        max_position_embeddings=1024, tie_word_embeddings=True,
        pad_token_id=fast.pad_token_id, eos_token_id=fast.eos_token_id,
        bos_token_id=fast.bos_token_id)
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.save_pretrained(out)
    fast.save_pretrained(out)
    return str(out), len(fast), sum(p.numel() for p in model.parameters())


def measure(model_path: str, engine: str, args: argparse.Namespace, run_dir: Path) -> dict:
    """tokens/s, s/step and s/sync of one engine on one model, from one set of components."""
    from focusrl.config import load_config
    from focusrl.trainer.components import build_components
    from focusrl.trainer.logging import read_metrics
    from focusrl.trainer.rl import train
    from focusrl.types import GenerationRequest, SamplingParams

    cfg = load_config(None, [
        f"model.path={model_path}", f"rollout.engine={engine}", f"run_dir={run_dir}",
        f"rollout.prompts_per_step={args.prompts}", f"rollout.samples_per_prompt={args.samples}",
        f"rollout.max_response_tokens={args.tokens}", "rollout.ignore_eos=true",
        f"train.steps={args.steps}", "train.eval_every=0", "train.checkpoint_every=0",
        "train.progress=false", f"train.micro_batch_samples={args.prompts * args.samples}",
        "data.num_train=64", "data.num_eval=4", "data.max_prompt_tokens=64", "optim.lr=1e-4",
    ])
    start = time.perf_counter()
    c = build_components(cfg)
    startup = time.perf_counter() - start
    try:
        prompts = c.data.train[: args.prompts]
        reqs = [GenerationRequest(p, args.samples, i) for i, p in enumerate(prompts)]
        params = SamplingParams(max_new_tokens=args.tokens, ignore_eos=True, seed=0)
        c.engine.generate(reqs, params)  # warm-up
        times, tokens = [], 0
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            out = c.engine.generate(reqs, params)
            times.append(time.perf_counter() - t0)
            tokens = sum(len(s.response_ids) for s in out)
        train(cfg, components=c)
        rows = read_metrics(run_dir / "metrics.jsonl")[1:]  # the first step warms up
    finally:
        c.close()
    return {"tokens_per_s": tokens / statistics.median(times),
            "s_per_step": statistics.median(r["time_step"] for r in rows),
            "s_per_sync": statistics.median(r["time_sync"] for r in rows),
            "startup_s": startup}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--text", type=Path, default=DEFAULT_TEXT,
                    help="JSONL with question/answer fields to train the BPE vocabulary on")
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=64, help="response tokens per sample")
    ap.add_argument("--repeats", type=int, default=3, help="timed generate calls")
    ap.add_argument("--steps", type=int, default=6, help="RL steps (the first is warm-up)")
    ap.add_argument("--vocab", type=int, default=32000, help="BPE vocabulary of the 40M model")
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--mlp", type=int, default=1408)
    args = ap.parse_args(argv)
    if not args.text.is_file():
        raise SystemExit(f"--text {args.text} does not exist: pass a JSONL file with "
                         "question/answer fields (e.g. shared/data/gsm8k/train.jsonl).")
    if args.steps < 2:
        raise SystemExit("--steps must be >= 2 (the first step is a warm-up).")

    with tempfile.TemporaryDirectory(prefix="focusrl-engines-") as tmp:
        tmp_path = Path(tmp)
        t0 = time.perf_counter()
        bpe_path, vocab, n_params = train_bpe_model(
            args.text, tmp_path / "bpe_model", args.vocab, args.hidden, args.layers,
            args.heads, args.mlp)
        print(f"40M model: {n_params / 1e6:.1f}M parameters, BPE vocabulary {vocab} "
              f"(trained on {args.text.name} in {time.perf_counter() - t0:.1f} s)")
        print(f"batch: {args.prompts} prompts x {args.samples} samples x {args.tokens} tokens")
        print(f"{'model':<6} {'engine':<6} {'tokens/s':>10} {'s/step':>8} {'s/sync':>8} "
              f"{'start s':>8}")
        ratio = {}
        for label, path in (("tiny", "tiny"), ("40M", bpe_path)):
            res = {}
            for engine in ("hf", "vllm"):
                res[engine] = measure(path, engine, args, tmp_path / f"run_{label}_{engine}")
                r = res[engine]
                print(f"{label:<6} {engine:<6} {r['tokens_per_s']:>10.0f} "
                      f"{r['s_per_step']:>8.3f} {r['s_per_sync']:>8.4f} {r['startup_s']:>8.1f}",
                      flush=True)
            ratio[label] = res["vllm"]["tokens_per_s"] / res["hf"]["tokens_per_s"]
    print(f"vllm/hf tokens per second: tiny {ratio['tiny']:.2f}, 40M {ratio['40M']:.2f}")


if __name__ == "__main__":
    main()
