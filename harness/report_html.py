"""The HTML report: one self-contained file (inline CSS and JS, nothing fetched) a person can open and click
through, built from the same data as the JSON report (`harness.report.json_report`).

Everything the model or the user wrote is escaped: a reply holding `<script>` shows as text. The page is a
function of the report data alone (no timestamps); the only values that change from run to run, the
timings, sit in `<span class="timing">` elements, so two reports compare equal once those are removed.
"""

from __future__ import annotations

import difflib
import json
from html import escape as html_escape
from pathlib import Path
from typing import Any

from harness.jsontext import inert, parse, storable
from harness.lookalike import diff_lines, differ_only_in
from harness.output import write_output
from harness.scenarios.results import Outcome, entry_name, not_run_line, repeated_runs


def escape(text: str, quote: bool = True) -> str:
    """HTML-escaped, each control character or bidi override a model wrote shown as its escape (`inert`)."""
    return html_escape(inert(text), quote)


LABELS = {
    Outcome.PASSED: "PASS",
    Outcome.FAILED: "FAIL",
    Outcome.XFAILED: "XFAIL",
    Outcome.XPASSED: "XPASS",
    Outcome.ERROR: "ERROR",
}

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:72em;padding:0 1em;color:#1d1d1f}
h1{font-size:1.4em}h2{font-size:1.1em}code,pre{font:12.5px/1.4 ui-monospace,monospace}
pre{white-space:pre-wrap;word-break:break-word;margin:.2em 0}
.counts{list-style:none;padding:0;display:flex;gap:1.2em}.counts b{font-size:1.3em}
#filters{display:flex;gap:1em;align-items:center;flex-wrap:wrap;margin:.5em 0}
#filter-text{min-width:18em}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.25em .6em;border-bottom:1px solid #ddd}
.badge{font-weight:600;padding:0 .4em;border-radius:3px;color:#fff}
.passed .badge,.badge.passed{background:#1a7f37}.xfailed .badge,.badge.xfailed{background:#9a6700}
.failed .badge,.badge.failed,.xpassed .badge,.badge.xpassed,.error .badge,.badge.error{background:#cf222e}
details.scenario{border:1px solid #ccc;border-radius:4px;margin:1em 0;padding:.4em .8em}
details.scenario>summary{cursor:pointer;font-weight:600}
.failures,.refusal{background:#ffebe9;border-left:3px solid #cf222e;padding:.4em}
.turn{border-top:1px solid #eee;margin-top:.6em;padding-top:.4em}
.user{background:#ddf4ff;padding:.3em .5em;border-radius:3px}
.reply{background:#f6f8fa;padding:.3em .5em;border-radius:3px}
.call{margin:.2em 0 .2em 1em}.call.failed>.name{color:#cf222e}.call .result{color:#57606a}
.block{margin:.3em 0}.block h4{margin:.2em 0;font-size:1em}.unchanged-note,.alike-note{color:#57606a;font-weight:normal}
.diff{border:1px solid #ddd;border-radius:3px;padding:.2em}
.diff .line{white-space:pre-wrap;font:12.5px/1.4 ui-monospace,monospace}
.diff .add{background:#dafbe1}.diff .del{background:#ffebe9}
.diff ins{background:#aceebb;text-decoration:none}.diff del{background:#ffcecb}
.renamed-note{color:#9a6700;font-weight:normal}.deleted-note{color:#cf222e;font-weight:normal}
.judgement.passed>b{color:#1a7f37}.judgement.failed>b{color:#cf222e}
.hidden{display:none}.muted{color:#57606a}
"""

SCRIPT = """
(function () {
  var boxes = Array.prototype.slice.call(document.querySelectorAll('#filters input[type=checkbox]'));
  var text = document.getElementById('filter-text');
  var rows = Array.prototype.slice.call(document.querySelectorAll('#summary tbody tr'));
  var params = new URLSearchParams(window.location.search);
  if (params.has('outcome')) {
    var wanted = params.get('outcome').split(',');
    boxes.forEach(function (box) { box.checked = wanted.indexOf(box.value) >= 0; });
  }
  if (params.has('q')) { text.value = params.get('q'); }
  function apply() {
    var on = {};
    boxes.forEach(function (box) { on[box.value] = box.checked; });
    var query = text.value.toLowerCase();
    var shown = 0;
    rows.forEach(function (row) {
      var section = document.getElementById(row.getAttribute('data-target'));
      var visible = on[row.getAttribute('data-outcome')] &&
        (!query || section.textContent.toLowerCase().indexOf(query) >= 0);
      row.classList.toggle('hidden', !visible);
      section.classList.toggle('hidden', !visible);
      if (visible) { shown += 1; }
    });
    document.getElementById('shown').textContent = shown + ' of ' + rows.length + ' shown';
  }
  function reveal() {
    var target = window.location.hash && document.getElementById(window.location.hash.slice(1));
    if (target && target.tagName === 'DETAILS') { target.open = true; }
  }
  window.addEventListener('hashchange', reveal);
  reveal();
  boxes.forEach(function (box) { box.addEventListener('change', apply); });
  text.addEventListener('input', apply);
  apply();
})();
"""


def html_report(report: dict[str, Any], title: str = "harness report") -> str:
    """The page for `report` (as `json_report` gives it)."""
    scenarios: list[dict[str, Any]] = report["scenarios"]
    summary: dict[str, int] = report["summary"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        '<ul class="counts" id="counts">',
    ]
    parts += [
        f'<li class="count {o}" data-outcome="{o}"><b>{summary.get(o, 0)}</b> {o}</li>' for o in map(str, Outcome)
    ]
    parts.append("</ul>")
    stopped = not_run_line(report)
    if stopped is not None:
        parts.append(f'<p class="muted" id="not-run">{escape(stopped)}</p>')
    parts.append('<div id="filters">')
    parts += [
        f'<label><input type="checkbox" value="{o}" checked> <span class="badge {o}">{LABELS[o]}</span></label>'
        for o in Outcome
    ]
    parts.append(
        '<input id="filter-text" type="search" placeholder="filter by text (path, agent, messages, blocks)">'
        '<span id="shown" class="muted"></span></div>'
    )
    repeated = repeated_runs(scenarios)
    parts.append(_summary_table(scenarios, repeated))
    if "reliability" in report:
        parts.append(_reliability_table(report["reliability"]))
    parts.append('<section id="scenarios">')
    parts += [_scenario(n, scenario, repeated) for n, scenario in enumerate(scenarios, start=1)]
    parts.append(f"</section><script>{SCRIPT}</script></body></html>")
    return "\n".join(parts) + "\n"


def write_html(report: dict[str, Any], path: Path) -> None:
    write_output(path, storable(html_report(report)))  # a model's lone surrogate shows as U+FFFD


def _reliability_table(reliability: dict[str, Any]) -> str:
    """pass@1 and pass^k per scenario over its repeats, and the suite's mean (tau2's definitions)."""
    k = max((len(entry["pass_hat"]) for entry in reliability["scenarios"]), default=1)
    head = "".join(f"<th>pass^{j}</th>" for j in range(1, k + 1))
    rows = [f'<h2>Repeats</h2><table id="reliability"><thead><tr><th>scenario</th><th>passes</th><th>pass@1</th>{head}']
    rows.append("</tr></thead><tbody>")

    def cells(values: dict[str, float]) -> str:
        return "".join(f"<td>{values[str(j)]:.2f}</td>" if str(j) in values else "<td></td>" for j in range(1, k + 1))

    for entry in reliability["scenarios"]:
        runs, repeats = entry["runs"], entry.get("repeats", entry["runs"])
        partial = f" ({runs} of {repeats} repeats run)" if repeats > runs else ""
        rows.append(
            f"<tr><td>{escape(entry['scenario'] + partial)}</td><td>{entry['passes']}/{runs}</td>"
            f"<td>{entry['pass_at_1']:.2f}</td>{cells(entry['pass_hat'])}</tr>"
        )
    suite = reliability["suite"]
    over = suite.get("pass_hat_over", len(reliability["scenarios"]))
    label = "suite (mean)"
    if over != len(reliability["scenarios"]):
        label += f"; pass^j over the {over} scenario(s) repeated most"
    passes = sum(entry["passes"] for entry in reliability["scenarios"])  # as the text table's suite row says
    runs = sum(entry["runs"] for entry in reliability["scenarios"])
    rows.append(
        f"<tr><td><b>{escape(label)}</b></td><td>{passes}/{runs}</td><td>{suite['pass_at_1']:.2f}</td>"
        f"{cells(suite['pass_hat'])}</tr>"
    )
    rows.append("</tbody></table>")
    return "\n".join(rows)


def _summary_table(scenarios: list[dict[str, Any]], repeated: set[tuple[Any, Any, Any]]) -> str:
    rows = [
        '<table id="summary"><thead><tr><th>scenario</th><th>agent</th><th>turns</th><th>steps</th>'
        "<th>result</th><th>time</th></tr></thead><tbody>"
    ]
    for n, s in enumerate(scenarios, start=1):
        steps = sum(len(turn["steps"]) for turn in s["turns"])
        rows.append(
            f'<tr class="{escape(s["outcome"])}" data-outcome="{escape(s["outcome"])}" data-target="s{n}">'
            f'<td><a href="#s{n}">{escape(entry_name(s, repeated))}</a></td><td>{escape(s["agent"])}</td>'
            f"<td>{len(s['turns'])}</td><td>{steps}</td>"
            f'<td><span class="badge">{LABELS[Outcome(s["outcome"])]}</span></td>'
            f"<td>{_timing(s)}</td></tr>"
        )
    rows.append("</tbody></table>")
    return "\n".join(rows)


def _timing(scenario: dict[str, Any]) -> str:
    seconds = scenario.get("timing", {}).get("seconds")
    return "" if seconds is None else f'<span class="timing">{seconds * 1000:.0f} ms</span>'


def _scenario(n: int, s: dict[str, Any], repeated: set[tuple[Any, Any, Any]]) -> str:
    outcome = Outcome(s["outcome"])
    is_open = " open" if not outcome.ok else ""
    out = [
        f'<details class="scenario {outcome}" id="s{n}" data-outcome="{outcome}"{is_open}>',
        f'<summary><span class="badge">{LABELS[outcome]}</span> {escape(entry_name(s, repeated))}'
        f' <span class="muted">({escape(s["agent"])})</span> {_timing(s)}</summary>',
    ]
    if s.get("description"):
        out.append(f"<p>{escape(s['description'])}</p>")
    if s.get("xfail_reason"):
        out.append(f'<p class="muted">expected to fail: {escape(s["xfail_reason"])}</p>')
    if s["failures"]:
        out.append(f'<pre class="failures">{escape(chr(10).join(s["failures"]))}</pre>')
    if s.get("judgements"):
        out.append(_judgements(s["judgements"]))
    if s["cassette"]:
        out.append(f'<p class="muted">cassette: {escape(s["cassette"])}</p>')
    before: dict[str, str] = s["initial_blocks"]
    for index, turn in enumerate(s["turns"], start=1):
        before = turn.get("blocks_before", before)  # given when another agent took this turn or the last
        out.append(_turn(index, turn, before))
        before = turn["blocks"]
    out.append("</details>")
    return "\n".join(out)


def _judgements(judgements: list[dict[str, Any]]) -> str:
    """Every judge's verdict, a passing one's too: its score against the threshold, and its reason."""
    items = []
    for judged in judgements:
        where = f"{judged['file']}:{judged['line']}" if judged.get("line") else judged["file"]
        verdict = "passed" if judged["passed"] else "failed"
        sign = "&gt;=" if judged["passed"] else "&lt;"
        items.append(
            f'<li class="judgement {verdict}"><b>{verdict}</b> {escape(judged["judged"])}: score '
            f"{judged['score']:g} {sign} {judged['threshold']:g} against <q>{escape(judged['rubric'])}</q>: "
            f'{escape(judged["reason"])} <span class="muted">({escape(where)} {escape(judged["key"])})</span></li>'
        )
    return '<div class="judgements"><b>judge:</b><ul>' + "".join(items) + "</ul></div>"


def _turn(index: int, turn: dict[str, Any], before: dict[str, str]) -> str:
    out = [
        f'<div class="turn"><h3>Turn {index} <span class="muted">stop: {escape(turn["stop_reason"])}</span></h3>',
        f'<div class="user"><b>user{_to(turn)}:</b> <pre>{escape(turn["user"])}</pre></div>',
        '<ol class="steps">',
    ]
    for step in turn["steps"]:
        out.append('<li class="step">')
        for event in step.get("context", ()):  # context pressure before the step's request
            what = (
                f"{event['evicted']} message(s) evicted to recall, {event['kept']} kept ({event.get('mode')})"
                if event["kind"] == "eviction"
                else "over 90% with nothing (more) left to evict: sent as it was"
                if event["kind"] == "overflow"
                else "memory-pressure warning sent"
            )
            tokens = f"{event['tokens_before']} -> {event['tokens_after']} of {event['context_window']} tokens"
            summary = f"<pre>{escape(event['summary'])}</pre>" if event.get("summary") else ""
            out.append(f'<div class="context muted"><b>context:</b> {escape(what)}, {escape(tokens)}{summary}</div>')
        if step.get("thoughts"):
            out.append(f'<pre class="thoughts muted">{escape(step["thoughts"])}</pre>')
        if step.get("refusal"):
            out.append(f'<pre class="refusal">refused: {escape(step["refusal"])}</pre>')
        for call in step["tool_calls"]:
            status = "ok" if call["ok"] else "failed"
            result = "" if call["result"] is None else f" <pre>{escape(str(call['result']))}</pre>"
            printed = "".join(
                f'<div class="printed muted"><b>{stream}:</b> <pre>{escape(str(call[stream]))}</pre></div>'
                for stream in ("stdout", "stderr")
                if call.get(stream)
            )
            out.append(
                f'<div class="call {status}"><code class="name">{escape(call["name"])}</code>'
                f'<pre class="args">{escape(_pretty(call["arguments"]))}</pre>'
                f'<div class="result"><b>{status}</b>{result}</div>{printed}</div>'
            )
        out.append("</li>")
    out.append("</ol>")
    if turn.get("error"):
        out.append(f'<pre class="failures">the turn ended: {escape(str(turn["error"]))}</pre>')
    if turn.get("reply") is not None:
        out.append(f'<div class="reply"><b>reply:</b> <pre>{escape(turn["reply"])}</pre></div>')
    out.append('<div class="blocks">')
    renamed: dict[str, str] = turn.get("renamed", {})  # new label: the label before the turn
    for label, value in turn["blocks"].items():
        origin = renamed.get(label)
        old = before.get(label if origin is None else origin)
        heading = escape(label)
        if origin is not None:
            heading += f' <span class="renamed-note">renamed from {escape(origin)}</span>'
        if old == value:
            out.append(
                f'<div class="block same"><h4>{heading} <span class="unchanged-note">unchanged</span></h4>'
                f"<pre>{escape(value)}</pre></div>"
            )
        else:
            out.append(
                f'<div class="block changed"><h4>{heading}{_alike(old, value)}</h4>{diff_html(old, value)}</div>'
            )
    for label, old in before.items():  # a block the turn deleted (one renamed shows under its new label)
        if label not in turn["blocks"] and label not in renamed.values():
            out.append(
                f'<div class="block deleted"><h4>{escape(label)} <span class="deleted-note">deleted</span></h4>'
                f"{diff_html(old, None)}</div>"
            )
    out.append("</div></div>")
    return "\n".join(out)


def _alike(old: str | None, new: str) -> str:
    """What two values differ in when it does not show (a trailing newline, CRLF), said beside their diff."""
    alike = differ_only_in(old, new, "the values") if old is not None else None
    return f' <span class="alike-note">{escape(alike)}</span>' if alike else ""


def _pretty(arguments: Any) -> str:
    """Tool arguments as indented JSON when they parse (the model's raw text otherwise)."""
    try:
        value = parse(arguments) if isinstance(arguments, str) else arguments
        return json.dumps(value, indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than indenting goes
        return arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)


def diff_html(old: str | None, new: str | None) -> str:
    """A coloured line diff of a block's value (removed lines red, added green, changed characters marked);
    None: no block (created, or deleted), no lines. Lines as a cassette miss's diff has them
    (`diff_lines`): split at "\\n" alone, a line holding `\\r`, U+2028, a form feed... shown as a JSON
    string, so a value that changed only in those shows the change (`str.splitlines` split there and lost
    it, and a trailing newline)."""
    a = [] if old is None else diff_lines(old)
    b = [] if new is None else diff_lines(new)
    out = ['<div class="diff">']
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            out += [f'<div class="line same"> {escape(line)}</div>' for line in a[i1:i2]]
            continue
        olds, news = a[i1:i2], b[j1:j2]
        paired = min(len(olds), len(news)) if tag == "replace" else 0
        for old_line, new_line in zip(olds[:paired], news[:paired], strict=True):
            removed, added = _char_diff(old_line, new_line)
            out.append(f'<div class="line del">-{removed}</div>')
            out.append(f'<div class="line add">+{added}</div>')
        out += [f'<div class="line del">-<del>{escape(line)}</del></div>' for line in olds[paired:]]
        out += [f'<div class="line add">+<ins>{escape(line)}</ins></div>' for line in news[paired:]]
    out.append("</div>")
    return "".join(out)


def _char_diff(old: str, new: str) -> tuple[str, str]:
    removed: list[str] = []
    added: list[str] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag == "equal":
            removed.append(escape(old[i1:i2]))
            added.append(escape(new[j1:j2]))
            continue
        if i2 > i1:
            removed.append(f"<del>{escape(old[i1:i2])}</del>")
        if j2 > j1:
            added.append(f"<ins>{escape(new[j1:j2])}</ins>")
    return "".join(removed), "".join(added)


def _to(turn: dict[str, Any]) -> str:
    """Who a turn's message went to, when another agent than the scenario's took it."""
    return f" to {escape(turn['agent'])}" if turn.get("agent") else ""
