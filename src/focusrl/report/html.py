"""`focusrl report RUN_DIR [RUN_DIR ...] -o report.html`: one self-contained HTML page.

Everything is inline: CSS, the curves as SVG (report/svg.py) and a short script for
hover read-outs, so the file opens offline, can be mailed or committed, and still shows
every curve with scripts disabled. Sections: runs and their summary, the run doctor's
findings, config differences, curves (one plot per metric, runs overlaid), and the
held-out samples of each evaluation.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence
from html import escape
from pathlib import Path

from focusrl.report.doctor import Finding, flags_metric, scan
from focusrl.report.runs import Run, config_differences, load_runs, plot_keys
from focusrl.report.svg import COLORS, _thin, fmt, line_plot

CSS = """
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;
color:#222;max-width:1600px}
h1{margin:0 0 4px}h2{margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;margin:6px 0}td,th{border:1px solid #ddd;padding:3px 8px;
text-align:left;vertical-align:top}th{background:#f3f3f3}
.grid{display:flex;flex-wrap:wrap;gap:10px}
figure{margin:0;border:1px solid #e2e2e2;border-radius:4px;padding:6px;background:#fff}
figcaption{font-weight:600;font-size:13px}.readout{font-size:12px;color:#555;height:16px}
svg text{font-size:10px;fill:#555}.swatch{display:inline-block;width:14px;height:4px;
margin-right:6px;vertical-align:middle}
.finding{border-left:4px solid #d00;background:#fff5f5;padding:6px 10px;margin:6px 0}
.ok{border-left:4px solid #2a2;background:#f4fff4;padding:6px 10px;margin:6px 0}
.rule{font-weight:700}.muted{color:#777}pre{white-space:pre-wrap;margin:0;font-size:12px}
#js-error{display:none;background:#d00;color:#fff;padding:8px}
"""

SCRIPT = """
window.addEventListener('error', function (e) {
  document.body.setAttribute('data-js-error', String(e.message));
  var box = document.getElementById('js-error');
  box.style.display = 'block'; box.textContent = 'report script error: ' + e.message;
});
(function () {
  var data = JSON.parse(document.getElementById('report-data').textContent);
  var names = data.runs;
  document.querySelectorAll('svg.plot').forEach(function (svg) {
    var series = data.series[svg.id], readout = svg.parentNode.querySelector('.readout');
    var cursor = svg.querySelector('.cursor');
    var x0 = +svg.dataset.x0, x1 = +svg.dataset.x1;
    var left = +svg.dataset.left, width = +svg.dataset.width;
    svg.addEventListener('mousemove', function (ev) {
      var box = svg.getBoundingClientRect();
      var px = (ev.clientX - box.left) * 380 / box.width;
      var step = x0 + (px - left) / width * (x1 - x0);
      var parts = [];
      series.forEach(function (pts, i) {
        if (!pts.length) return;
        var best = pts[0];
        pts.forEach(function (p) {
          if (Math.abs(p[0] - step) < Math.abs(best[0] - step)) best = p;
        });
        parts.push(names[i] + ' @' + best[0] + ': ' + Number(best[1].toPrecision(4)));
      });
      readout.textContent = parts.join('  |  ');
      cursor.setAttribute('x1', px); cursor.setAttribute('x2', px);
      cursor.setAttribute('visibility', 'visible');
    });
    svg.addEventListener('mouseleave', function () {
      cursor.setAttribute('visibility', 'hidden');
    });
  });
  document.body.setAttribute('data-js', 'ok');
})();
"""


def _legend(runs: Sequence[Run]) -> str:
    return " ".join(f'<span><span class="swatch" style="background:{COLORS[i % len(COLORS)]}">'
                    f"</span>{escape(r.name)}</span>&nbsp;&nbsp;" for i, r in enumerate(runs))


def _summary(runs: Sequence[Run]) -> str:
    rows = ["<tr><th>run</th><th>directory</th><th>steps</th><th>last reward</th>"
            "<th>last accuracy</th><th>best / last eval/accuracy</th><th>response tokens</th>"
            "<th>wall time (s)</th></tr>"]
    for r in runs:
        last = r.metrics[-1] if r.metrics else {}
        evals = [v for _, v in r.series("eval/accuracy")]
        ev = f"{fmt(max(evals))} / {fmt(evals[-1])}" if evals else "-"
        wall = sum(v for _, v in r.series("time_step"))

        def num(key: str, rec: dict = last) -> str:
            v = rec.get(key)
            return fmt(v) if isinstance(v, (int, float)) else "-"
        rows.append(f"<tr><td>{escape(r.name)}</td><td>{escape(str(r.path))}</td>"
                    f"<td>{num('step')}</td><td>{num('reward_mean')}</td><td>{num('accuracy')}"
                    f"</td><td>{ev}</td><td>{num('total_tokens')}</td><td>{wall:.0f}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def _doctor(runs: Sequence[Run], findings: Sequence[list[Finding]]) -> str:
    out = []
    for r, found in zip(runs, findings):
        out.append(f"<h3>{escape(r.name)}</h3>")
        if not found:
            out.append('<div class="ok">No rule fired (thresholds: the run\'s '
                       '<code>doctor</code> config section).</div>')
        for f in found:
            out.append(f'<div class="finding"><span class="rule">{escape(f.rule)}</span> '
                       f'<span class="muted">from step {f.step}</span><br>{escape(f.evidence)}'
                       f"<br><b>Fix:</b> {escape(f.fix)}</div>")
    return "".join(out)


def _config_diff(runs: Sequence[Run]) -> str:
    if len(runs) == 1:
        text = json.dumps(runs[0].config, indent=1)
        return (f"<details><summary>resolved config of {escape(runs[0].name)}</summary>"
                f"<pre>{escape(text)}</pre></details>")
    diffs = config_differences(runs)
    if not diffs:
        return "<p>The resolved configs are identical (run_dir aside).</p>"
    head = "".join(f"<th>{escape(r.name)}</th>" for r in runs)
    rows = "".join(f"<tr><td><code>{escape(k)}</code></td>"
                   + "".join(f"<td>{escape(v)}</td>" for v in vals) + "</tr>"
                   for k, vals in diffs)
    return f"<table><tr><th>config key</th>{head}</tr>{rows}</table>"


def _samples(runs: Sequence[Run]) -> str:
    out = []
    for r in runs:
        if not r.samples:
            out.append(f"<p>{escape(r.name)}: no samples.jsonl (train.samples_per_eval=0, "
                       "or a run from before the samples log).</p>")
            continue
        rows = ["<tr><th>step</th><th>prompt</th><th>response</th><th>reward parts</th>"
                "<th>reward</th><th>correct</th></tr>"]
        for s in r.samples:
            parts = ", ".join(f"{k}={fmt(v)}" for k, v in s.get("reward_parts", {}).items())
            rows.append(f"<tr><td>{s.get('step')}</td><td><pre>{escape(str(s.get('prompt')))}"
                        f"</pre></td><td><pre>{escape(str(s.get('response')))}</pre></td>"
                        f"<td>{escape(parts)}</td><td>{fmt(float(s.get('reward', 0)))}</td>"
                        f"<td>{'yes' if s.get('correct') else 'no'}</td></tr>")
        out.append(f"<details open><summary>{escape(r.name)}: {len(r.samples)} samples"
                   f"</summary><table>{''.join(rows)}</table></details>")
    return "".join(out)


def render_report(runs: Sequence[Run]) -> str:
    """The whole page for already loaded runs."""
    findings = [scan(r.metrics, r.doctor_config()) for r in runs]
    data: dict = {"runs": [r.name for r in runs], "series": {}}
    sections = []
    n = 0
    for title, keys in plot_keys(runs):
        figs = []
        for key in keys:
            series = [r.series(key) for r in runs]
            if not any(series):
                continue
            n += 1
            pid = f"p{n}"
            marks = sorted({f.step for fs in findings for f in fs if flags_metric(f.rule, key)})
            data["series"][pid] = [[list(p) for p in _thin(s)] for s in series]
            figs.append(f'<figure><figcaption>{escape(key)}</figcaption>'
                        f'{line_plot(series, marks, pid)}<div class="readout"></div></figure>')
        if figs:
            sections.append(f'<h2>{escape(title)}</h2><div class="grid">{"".join(figs)}</div>')
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    payload = json.dumps(data).replace("</", "<\\/")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>focusrl report: {escape(
        ", ".join(r.name for r in runs))}</title><style>{CSS}</style></head>
<body><div id="js-error"></div>
<h1>focusrl report</h1><div class="muted">generated {when} from {len(runs)} run(s);
hover a plot to read its values; dashed red lines mark where the run doctor flagged a metric
</div>
<p>{_legend(runs)}</p>{_summary(runs)}
<h2>Run doctor</h2>{_doctor(runs, findings)}
<h2>Config differences</h2>{_config_diff(runs)}
{"".join(sections)}
<h2>Held-out samples per evaluation</h2>{_samples(runs)}
<script type="application/json" id="report-data">{payload}</script>
<script>{SCRIPT}</script>
</body></html>
"""


def write_report(run_dirs: Sequence[str | Path], out: str | Path) -> Path:
    """Read the runs, write the page to `out`, return its path."""
    runs = load_runs(run_dirs)
    if not any(r.metrics for r in runs):
        raise ValueError("the run directories have no metrics yet (metrics.jsonl is empty): "
                         "run at least one step first.")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_report(runs), encoding="utf-8")
    return out
