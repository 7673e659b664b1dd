"""The HTML report: content from synthetic runs, the CLI, and rendering in a real headless
Chromium with no network (DOM after the script ran, and a screenshot's pixels).
(~1 s without the browser; ~10 s with it)"""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest
import yaml

from focusrl.cli import main
from focusrl.report import browser
from focusrl.report.html import write_report
from focusrl.report.svg import COLORS


def _write_run(path, metrics, config, samples=()):
    path.mkdir(parents=True)
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in metrics))
    (path / "config.yaml").write_text(yaml.safe_dump(config))
    (path / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))


@pytest.fixture
def two_runs(tmp_path, make_healthy):
    """A healthy run and one with truncation from step 20 and a different lr."""
    cfg = {"seed": 0, "run_dir": "a", "optim": {"lr": 1e-4, "warmup_steps": 0},
           "train": {"steps": 40}}
    samples = [{"step": s, "prompt": f"{s}+7=", "response": str(s + 7), "reward": 1.0,
                "reward_parts": {"numeric": 1.0}, "correct": True} for s in (10, 20)]
    _write_run(tmp_path / "lr_small", make_healthy(), cfg, samples)
    bad = make_healthy()
    for r in bad:  # a different curve for every metric, so neither run hides the other
        r.update({k: 1.3 * v for k, v in r.items() if k != "step"})
        if r["step"] >= 20:
            r["truncated_frac"] = 0.7
    cfg2 = {**cfg, "run_dir": "b", "optim": {"lr": 3e-4, "warmup_steps": 0}}
    _write_run(tmp_path / "lr_big", bad, cfg2, [{**samples[0], "prompt": "<b>9+9=</b>"}])
    return [tmp_path / "lr_small", tmp_path / "lr_big"]


def test_report_overlays_runs_lists_config_differences_findings_and_samples(two_runs, tmp_path):
    html = write_report(two_runs, tmp_path / "r.html").read_text()
    assert html.count('<svg class="plot"') >= 18
    # every plot of a metric both runs logged has one line per run
    reward_plot = re.search(r"<figcaption>reward_mean</figcaption>(<svg.*?</svg>)", html)[1]
    assert reward_plot.count("<polyline") == 2
    assert f'stroke="{COLORS[0]}"' in reward_plot and f'stroke="{COLORS[1]}"' in reward_plot
    for key in ("reward/numeric", "eval/accuracy", "entropy", "kl", "truncated_frac",
                "clip_frac", "grad_norm", "lr", "time_update", "tokens_per_s", "logp_mismatch"):
        assert f"<figcaption>{key}</figcaption>" in html, key
    diff = re.search(r"<h2>Config differences</h2>(.*?)</table>", html, re.S)[1]
    assert "optim.lr" in diff and "0.0001" in diff and "0.0003" in diff
    assert "warmup_steps" not in diff and "run_dir" not in diff
    doctor = re.search(r"<h2>Run doctor</h2>(.*?)<h2>", html, re.S)[1]
    assert doctor.count('class="finding"') == 1 and "high_truncation" in doctor
    assert "No rule fired" in doctor
    assert 'class="mark"' in re.search(
        r"<figcaption>truncated_frac</figcaption>(<svg.*?</svg>)", html)[1]
    assert "10+7=" in html and "&lt;b&gt;9+9=&lt;/b&gt;" in html  # samples, escaped
    # self-contained: no external resource of any kind
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", html)
    assert "http" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_cli_report_and_its_errors(two_runs, tmp_path, capsys):
    out = tmp_path / "cli.html"
    assert main(["report", str(two_runs[0]), "-o", str(out)]) == 0
    assert out.exists() and f"report: {out}" in capsys.readouterr().out
    assert main(["report", str(tmp_path / "nowhere"), "-o", str(out)]) == 1
    assert "is not a focusrl run directory" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 1
    assert "no file named metrics.jsonl" in capsys.readouterr().err


def _need_chromium():
    if browser.find_chromium() is None:
        msg = f"no headless browser: {browser.INSTALL_HINT}"
        if os.environ.get("CI") or os.environ.get("FOCUSRL_REQUIRE_BROWSER"):
            pytest.fail(msg)
        pytest.skip(msg)


def test_report_renders_in_headless_chromium(two_runs, tmp_path):
    _need_chromium()
    from PIL import Image

    page = write_report(two_runs, tmp_path / "r.html")
    dom = browser.dump_dom(page)
    body = re.search(r"<body([^>]*)>", dom)[1]  # the script marks <body> when it is done
    assert 'data-js="ok"' in body, f"the report's script did not run to its end: {body}"
    assert "data-js-error" not in body, body
    assert dom.count("<polyline") >= 36  # rendered plots, a line per run

    png = browser.screenshot(page, tmp_path / "r.png", width=1200, height=2400)
    img = Image.open(png).convert("RGB")
    assert img.size == (1200, 2400)
    pixels = np.asarray(img).reshape(-1, 3).astype(int)  # (H*W, 3)
    non_white = float((pixels.sum(1) < 720).mean())
    assert non_white > 0.03, f"the page is (nearly) blank: {non_white:.1%} non-white pixels"

    def near(color: str) -> int:
        target = np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)])
        return int((np.abs(pixels - target) < 40).all(1).sum())

    for color in COLORS[:2]:  # both runs' curves were drawn (and the red doctor marks)
        assert near(color) > 500, f"few pixels of run colour {color}: curves not drawn"
