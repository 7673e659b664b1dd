"""focusrl command line: train | sft | eval | quickstart | examples.

    focusrl train CONFIG [CONFIG ...] [key.sub=value ...] [--overwrite]
    focusrl train RUN_DIR --resume [--allow-config-change] [key.sub=value ...]
    focusrl sft CONFIG [CONFIG ...] [key.sub=value ...]
    focusrl eval CONFIG [key.sub=value ...] [--model PATH]
    focusrl quickstart [--seed N] [--out DIR]
    focusrl examples [DIR]
    focusrl report RUN_DIR [RUN_DIR ...] [-o report.html] [--screenshot PNG]

Several config files compose: later files override earlier ones key by key (a preset
such as examples/rlpt.yaml on top of a run config), and key.sub=value overrides, in any
position, override the files. A run directory in place of a config means its
config.yaml, with run_dir set to it. Without run_dir, each run gets a new directory
runs/<config names>-<UTC timestamp>; a run never starts in a directory that holds
another run (pass --resume, another run_dir, or --overwrite).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import typing

from focusrl.configtools import ConfigError, field_docs

OVERRIDES_HELP = ("config overrides, e.g. train.steps=50 rollout.samples_per_prompt=8 "
                  "algorithm.rlpt.enabled=true (see --help-config for every key)")


def config_reference_markdown() -> str:
    """docs/config.md: the generated reference of every config key."""
    return ("# Config reference\n\nGenerated from the dataclasses by `focusrl --help-config` "
            "(a test keeps this file in sync).\nEvery key can be set in YAML or overridden "
            "as `key.sub=value`.\n\n```text\n" + _config_reference().strip("\n") + "\n```\n")


def _config_reference() -> str:
    from focusrl.config import Config

    lines: list[str] = []

    def walk(cls: type, prefix: str) -> None:
        docs = field_docs(cls)
        hints = typing.get_type_hints(cls)
        default = cls()
        for f in dataclasses.fields(cls):
            tp = hints[f.name]
            key = f"{prefix}{f.name}"
            if dataclasses.is_dataclass(tp):
                lines.append(f"\n[{key}]  {docs.get(f.name, '')}")
                walk(tp, key + ".")
            else:
                val = getattr(default, f.name)
                lines.append(f"  {key} = {val!r}\n      {docs.get(f.name, '')}")

    walk(Config, "")
    return "\n".join(lines)


def split_positionals(items: list[str]) -> tuple[list[str], list[str]]:
    """(config files, key=value overrides) from the positional arguments, in order. A run
    directory (one holding config.yaml) stands for its config.yaml plus run_dir=<it>."""
    from pathlib import Path

    configs: list[str] = []
    overrides: list[str] = []
    for item in items:
        path = Path(item)
        if "=" in item and not path.exists():
            overrides.append(item)
        elif path.is_dir():
            if not (path / "config.yaml").is_file():
                raise ConfigError(f"'{item}' is a directory without config.yaml; pass a YAML "
                                  "config file or a run directory.")
            configs.append(str(path / "config.yaml"))
            overrides.insert(0, f"run_dir={path}")
        else:
            configs.append(item)
    return configs, overrides


def _load(args: argparse.Namespace):
    from focusrl.config import load_config

    configs, overrides = split_positionals(args.args)
    return load_config(configs, overrides)


def cmd_train(args: argparse.Namespace) -> int:
    from focusrl.trainer.rl import train

    if args.resume and args.overwrite:
        raise ConfigError("--resume continues the run in run_dir and --overwrite deletes it; "
                          "pass one of them.")
    if args.allow_config_change and not args.resume:
        raise ConfigError("--allow-config-change applies to --resume only.")
    train(_load(args), resume=args.resume, overwrite=args.overwrite,
          allow_config_change=args.allow_config_change)
    return 0


def cmd_sft(args: argparse.Namespace) -> int:
    from focusrl.trainer.sft import sft_main, sft_summary

    print(sft_summary(sft_main(_load(args), overwrite=args.overwrite)))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from pathlib import Path

    from focusrl.trainer.components import build_components
    from focusrl.trainer.evaluate import evaluate_on
    from focusrl.trainer.preflight import check_answers

    cfg = _load(args)
    model = args.model
    if model and (Path(model) / "checkpoints").is_dir():  # a run directory: its newest checkpoint
        from focusrl.trainer.checkpoint import latest_checkpoint

        ckpt = latest_checkpoint(model)
        if ckpt is None:
            raise ValueError(f"run directory '{model}' has no checkpoint yet.")
        model = str(ckpt / "model")
    c = build_components(cfg, model_path=model)
    prompts = c.data.eval if args.split == "eval" else c.data.train
    check_answers(cfg, prompts, args.split)
    if args.limit:
        prompts = prompts[: args.limit]
    ks = [int(k) for k in args.k.split(",")]
    result = evaluate_on(c.engine, prompts, c.rewards, n_samples=args.samples, ks=ks,
                         temperature=args.temperature,
                         max_new_tokens=args.max_new_tokens or cfg.rollout.max_response_tokens,
                         seed=cfg.seed)
    if args.json:
        Path(args.json).write_text(result.to_json())
    if args.format == "json":
        print(json.dumps({"metrics": result.metrics, "breakdowns": result.breakdowns,
                          "settings": result.settings}, indent=2))
    else:
        print(result.format_table())
    return 0


def cmd_quickstart(args: argparse.Namespace) -> int:
    from focusrl.quickstart import quickstart

    configs, overrides = split_positionals(args.args)
    if configs:
        raise ConfigError(f"quickstart takes no config file (got {configs}); pass "
                          "key=value overrides, or use `focusrl train`.")
    quickstart(seed=args.seed, out_dir=args.out, overrides=overrides, overwrite=args.overwrite)
    return 0


def cmd_examples(args: argparse.Namespace) -> int:
    from focusrl.example_configs import copy_examples

    for path in copy_examples(args.dir, overwrite=args.overwrite):
        print(path)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from focusrl.report.html import write_report

    out = write_report(args.run_dirs, args.output)
    print(f"report: {out}")
    if args.screenshot:
        from focusrl.report.browser import screenshot

        print(f"screenshot: {screenshot(out, args.screenshot)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="focusrl", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--help-config", action="store_true",
                   help="print every config key with its default and meaning, then exit")
    p.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = p.add_subparsers(dest="command")

    def add_verbose(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="log at INFO level")

    def with_config(name: str, help_text: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_text, description=help_text)
        sp.add_argument("args", nargs="*", metavar="CONFIG|key=value",
                        help="YAML config files (see `focusrl examples`), later ones "
                        "overriding earlier ones, or a run directory; and " + OVERRIDES_HELP)
        add_verbose(sp)
        return sp

    def with_overwrite(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--overwrite", action="store_true",
                        help="run_dir holds an earlier run: delete its files and start again")

    tr = with_config("train", "RL post-training (GRPO family, RLPT) from a config.")
    tr.add_argument("--resume", action="store_true",
                    help="continue the run in run_dir (or the run directory given) from its "
                    "newest checkpoint")
    tr.add_argument("--allow-config-change", action="store_true",
                    help="with --resume: apply changed keys that may change mid-run (steps, "
                    "lr schedule, eval/checkpoint cadence) and record them in "
                    "config_history.yaml; other changes are always refused")
    with_overwrite(tr)
    tr.set_defaults(fn=cmd_train)
    sf = with_config("sft", "Supervised warm start on (prompt, answer) pairs; saves "
                     "<run_dir>/sft_model to train on with model.path=...")
    with_overwrite(sf)
    sf.set_defaults(fn=cmd_sft)
    ev = with_config("eval", "pass@k, avg@k and maj@k of a model on a dataset or generated "
                     "task, with breakdowns by subject, level or difficulty.")
    ev.add_argument("--model", help="an HF model directory or hub id, a checkpoint's model "
                    "directory, or a run directory (its newest checkpoint); default: model.path")
    ev.add_argument("--samples", type=int, default=1, help="samples per prompt (default 1)")
    ev.add_argument("--k", default="1", help="comma-separated k values, each <= --samples")
    ev.add_argument("--temperature", type=float, default=0.0,
                    help="sampling temperature; 0 = greedy (default)")
    ev.add_argument("--max-new-tokens", type=int, default=0,
                    help="response token limit (default: rollout.max_response_tokens)")
    ev.add_argument("--split", choices=["eval", "train"], default="eval",
                    help="held-out prompts (default) or training prompts")
    ev.add_argument("--limit", type=int, default=0, help="evaluate only the first N prompts")
    ev.add_argument("--json", help="also write the full result (per prompt) to this file")
    ev.add_argument("--format", choices=["table", "json"], default="table",
                    help="what to print: a readable table (default) or JSON")
    ev.set_defaults(fn=cmd_eval)
    qs = sub.add_parser("quickstart", help="a complete small experiment on the CPU: tiny model, "
                        "SFT warm start, GRPO, held-out accuracy before and after",
                        description="Build a tiny model, warm it up with SFT on generated "
                        "arithmetic, run GRPO, and report held-out greedy accuracy before and "
                        "after RL. No files or network needed.")
    qs.add_argument("--seed", type=int, default=0, help="seed (results are deterministic per seed)")
    qs.add_argument("--out", default=None,
                    help="run directory (default: a new runs/quickstart-<UTC timestamp>)")
    qs.add_argument("args", nargs="*", metavar="key=value", help=OVERRIDES_HELP)
    with_overwrite(qs)
    add_verbose(qs)
    qs.set_defaults(fn=cmd_quickstart)
    ex = sub.add_parser("examples", help="copy the example configs (shipped with the "
                        "package) into a directory", description="Copy the example configs "
                        "(run configs and algorithm presets) into DIR, to use as "
                        "`focusrl train DIR/grpo_arithmetic.yaml`.")
    ex.add_argument("dir", nargs="?", default="examples", help="target (default ./examples)")
    ex.add_argument("--overwrite", action="store_true", help="replace files that exist")
    add_verbose(ex)
    ex.set_defaults(fn=cmd_examples)
    rp = sub.add_parser("report", help="one self-contained HTML page of one or more runs: "
                        "curves (runs overlaid), run doctor findings, config differences, "
                        "held-out samples", description="Write an HTML report (opens offline) "
                        "of one or more run directories.")
    rp.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories (run_dir)")
    rp.add_argument("-o", "--output", default="report.html", help="the HTML file to write "
                    "(default report.html)")
    rp.add_argument("--screenshot", metavar="PNG", help="also save a PNG of the page as "
                    "rendered by headless Chromium (needs chromium on PATH)")
    rp.set_defaults(fn=cmd_report)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # parse_known_args, then the leftovers: positionals after an option (`--resume
    # train.steps=50`) are config files or overrides too, so they may come in any order
    args, extra = parser.parse_known_args(argv)
    unknown = [x for x in extra if x.startswith("-")]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if extra and hasattr(args, "args"):
        args.args = [*args.args, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.help_config:
        print(_config_reference())
        return 0
    if not getattr(args, "fn", None):
        parser.print_help()
        return 2
    try:
        return args.fn(args)
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        return 2
    except (ValueError, OSError) as e:  # bad data or checkpoints (ValueError), I/O errors
        print(f"error: {e}", file=sys.stderr)
        return 1
    except ImportError as e:  # an optional dependency: name the extra that installs it
        from focusrl.extras import missing_extra_message

        message = missing_extra_message(e)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
