"""``threatfeed report``: one self-contained HTML page about a run, to look at or to attach to a ticket.

The page has no external asset, no script and a Content-Security-Policy that forbids loading any: styles are
inline and the plots are SVG generated here. Everything that came from a feed (names, sample lines) is escaped.
It shows the run's feeds (accepted, rejected by reason, from the run's manifest), its lists per Region and their
status, what changed since the previous run, and the list sizes and per-feed contributions over the last runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

KIND_COLOURS = {"ip": "#1f77b4", "domain": "#d62728", "trusted": "#2ca02c"}
#: Feed colours (Tableau 10), in the order of the feeds' names.
FEED_PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#76b7b2",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
TABLE_HEADER = "#dde5f0"
MAX_LISTED = 200  # entries shown per kind in "what changed"; the rest are counted

_CSS = f"""
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto; max-width: 1000px;
  padding: 0 16px;
  color: #1b1f24; background: #ffffff; line-height: 1.4; }}
h1 {{ font-size: 22px; margin: 0 0 4px; }} h2 {{ font-size: 17px; margin: 28px 0 8px; }}
.sub {{ color: #57606a; margin-bottom: 12px; }}
.badge {{ display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 13px; color: #fff; }}
.SUCCEEDED {{ background: #1a7f37; }} .FAILED, .TIMED_OUT, .ABORTED {{ background: #cf222e; }}
.RUNNING {{ background: #9a6700; }}
table {{ border-collapse: collapse; width: 100%; font-size: 13px; margin: 4px 0 8px; }}
th {{ background: {TABLE_HEADER}; text-align: left; padding: 5px 8px; }}
td {{ border-top: 1px solid #d0d7de; padding: 4px 8px; vertical-align: top; }}
td.n, th.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
dl {{ display: grid; grid-template-columns: max-content auto; gap: 2px 16px; font-size: 14px; margin: 0; }}
dt {{ color: #57606a; }} dd {{ margin: 0; }}
code, .mono {{ font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; }}
.bad {{ color: #cf222e; }} .good {{ color: #1a7f37; }} .muted {{ color: #57606a; }}
svg {{ display: block; margin: 4px 0 12px; }}
details {{ margin: 4px 0; }}
"""


def render(data: Mapping[str, Any]) -> str:
    """The report page for :func:`threatfeed.operate.report_data`'s ``data``."""
    run = data["run"]
    manifest = data.get("manifest") or {}
    title = f"threatfeed run {run['name']}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
        f'<h1>{escape(title)} <span class="badge {escape(run["status"])}">{escape(run["status"])}</span></h1>',
        f'<div class="sub">stack {escape(data["stack"])} in {escape(data["region"])} · generated '
        f"{escape(data['generated_at'])}</div>",
        _summary(run, manifest, data.get("output") or {}),
        _history_section(data.get("series") or []),
        _feeds_section(manifest, data.get("output") or {}),
        _regions_section(data.get("output") or {}),
        _changes_section(data.get("changes")),
        _findings_section(manifest),
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


# ----------------------------------------------------------------------------------------------- sections
def _summary(run: Mapping[str, Any], manifest: Mapping[str, Any], output: Mapping[str, Any]) -> str:
    about = manifest.get("run") or {}
    rows = [
        ("started", run.get("start")),
        ("duration", f"{run['duration_s']} s" if run.get("duration_s") is not None else "still running"),
        ("trigger", about.get("trigger")),
        ("Regions", ", ".join(about.get("regions") or []) or None),
    ]
    if manifest:
        published = "yes" if manifest.get("publish") else f"no: {manifest.get('reason') or '-'}"
        rows.append(("published", published))
    if run.get("error"):
        cause = _short_cause(run.get("cause"))
        rows.append(("error", f"{run['error']}: {cause}" if cause else run["error"]))
    if run.get("attention"):
        rows.append(("needs attention", run["attention"]))
    rows.append(("manifest", run.get("manifest") or "none (the run ended before its Transform)"))
    items = "".join(f"<dt>{escape(k)}</dt><dd>{escape(str(v))}</dd>" for k, v in rows if v not in (None, ""))
    return f"<dl>{items}</dl>"


def _history_section(series: Sequence[Mapping[str, Any]]) -> str:
    if not series:
        return '<h2>Over the last runs</h2><p class="muted">No run with a manifest yet.</p>'
    kinds = sorted({k for item in series for k in item["lists"]}, key=lambda k: (k not in KIND_COLOURS, k))
    feeds = sorted({f for item in series for f in item["feeds"]})
    return (
        f"<h2>Over the last {len(series)} run(s)</h2>"
        "<div>List sizes (entries per kind; a filled dot is a published run, a hollow one was not published):</div>"
        + line_chart(series, kinds)
        + "<div>Per-feed contributions (entries each feed gives the lists):</div>"
        + stacked_bars(series, feeds)
    )


def _feeds_section(manifest: Mapping[str, Any], output: Mapping[str, Any]) -> str:
    engine = (manifest.get("engine") or {}).get("feeds") or {}
    outcomes = output.get("feeds") or {}
    fetched = {item.get("feed"): item for item in manifest.get("fetched") or []}
    names = sorted(set(engine) | set(outcomes) | {n for n in fetched if n})
    if not names:
        return '<h2>Feeds</h2><p class="muted">No feed was processed in this run.</p>'
    from threatfeed.operate import feed_contributions

    contributions = feed_contributions(manifest) if manifest else {}
    rows = []
    for name in names:
        stats = engine.get(name) or {}
        outcome = outcomes.get(name) or {}
        state = outcome.get("outcome") or (fetched.get(name) or {}).get("outcome") or "-"
        reasons = stats.get("reasons") or {}
        samples = {s.get("reason"): s for s in stats.get("samples") or []}
        reason_html = "<br>".join(
            f"{escape(reason)}: {count}"
            + (
                f' <span class="mono muted">(line {samples[reason].get("line")}: '
                f"{escape(str(samples[reason].get('text', ''))[:80])})</span>"
                if reason in samples
                else ""
            )
            for reason, count in sorted(reasons.items(), key=lambda item: (-item[1], item[0]))
        )
        cause = outcome.get("cause") or stats.get("error") or ""
        rows.append(
            "<tr>"
            f"<td>{escape(name)}</td>"
            f'<td class="{"good" if state == "ok" else "bad" if state == "failed" else ""}">{escape(state)}'
            + (f'<br><span class="muted">{escape(str(cause)[:300])}</span>' if cause else "")
            + "</td>"
            f"<td>{escape(str(stats.get('format') or (fetched.get(name) or {}).get('format') or '-'))}</td>"
            f'<td class="n">{_num(stats.get("lines"))}</td>'
            f'<td class="n">{_num(stats.get("accepted", outcome.get("accepted")))}</td>'
            f'<td class="n">{_num(stats.get("rejected", outcome.get("rejected")))}</td>'
            f'<td class="n">{_num(contributions.get(name))}</td>'
            f"<td>{reason_html or '-'}</td>"
            "</tr>"
        )
    return (
        '<h2>Feeds</h2><table><thead><tr><th>feed</th><th>outcome</th><th>format</th><th class="n">lines</th>'
        '<th class="n">accepted</th><th class="n">rejected</th><th class="n">contribution</th>'
        "<th>rejected or corrected, by reason (a sample)</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _regions_section(output: Mapping[str, Any]) -> str:
    regions = output.get("regions") or {}
    if not regions:
        return '<h2>GuardDuty lists by Region</h2><p class="muted">No Region was published to in this run.</p>'
    rows = []
    for region, outcome in sorted(regions.items()):
        lists = outcome.get("lists") or []
        state = outcome.get("outcome") or "-"
        if outcome.get("error"):
            rows.append(
                f'<tr><td>{escape(region)}</td><td class="bad">{escape(state)}</td><td colspan="6">'
                f"{escape(str(outcome['error']))}: {escape(str(outcome.get('cause') or '')[:300])}</td></tr>"
            )
        for item in lists:
            status = str(item.get("status") or "-")
            rows.append(
                "<tr>"
                f"<td>{escape(region)}</td><td>{escape(state)}</td>"
                f"<td>{escape(str(item.get('name') or '-'))}</td><td>{escape(str(item.get('kind') or '-'))}</td>"
                f'<td class="n">{_num(item.get("entries"))}</td>'
                f'<td class="{"good" if status == "ACTIVE" else "bad" if status == "ERROR" else ""}">'
                f"{escape(status)}</td>"
                f"<td>{escape(str(item.get('action') or '-'))}</td>"
                f'<td class="mono">{escape(str(item.get("id") or "-"))}</td>'
                "</tr>"
            )
        if not lists and not outcome.get("error"):
            rows.append(f'<tr><td>{escape(region)}</td><td>{escape(state)}</td><td colspan="6">-</td></tr>')
    return (
        "<h2>GuardDuty lists by Region</h2><table><thead><tr><th>Region</th><th>outcome</th><th>list</th>"
        '<th>kind</th><th class="n">entries</th><th>status</th><th>action</th><th>id</th></tr></thead><tbody>'
        + "".join(rows)
        + "</tbody></table>"
    )


def _changes_section(changes: Mapping[str, Any] | None) -> str:
    if not changes:
        return '<h2>What changed</h2><p class="muted">No earlier run with a manifest to compare with.</p>'
    kinds = sorted(set(changes["added"]) | set(changes["removed"]))
    rows = "".join(
        f'<tr><td>{escape(kind)}</td><td class="n good">{_signed(len(changes["added"].get(kind, [])), "+")}</td>'
        f'<td class="n bad">{_signed(len(changes["removed"].get(kind, [])), "-")}</td></tr>'
        for kind in kinds
    )
    details = []
    for kind in kinds:
        for sign, key in (("+", "added"), ("-", "removed")):
            entries = changes[key].get(kind, [])
            if not entries:
                continue
            shown = "<br>".join(escape(e) for e in entries[:MAX_LISTED])
            more = f"<br>… and {len(entries) - MAX_LISTED} more" if len(entries) > MAX_LISTED else ""
            details.append(
                f"<details><summary>{escape(kind)}: {len(entries)} {key}</summary>"
                f'<div class="mono">{sign} {shown}{more}</div></details>'
            )
    feed_rows = "".join(
        f'<tr><td>{escape(name)}</td><td class="n">{v["before"]}</td><td class="n">{v["now"]}</td>'
        f'<td class="n {"good" if v["now"] > v["before"] else "bad" if v["now"] < v["before"] else ""}">'
        f"{v['now'] - v['before']:+,d}</td></tr>".replace(">+0<", ">0<")
        for name, v in (changes.get("feeds") or {}).items()
    )
    return (
        f"<h2>What changed since {escape(changes['from'])}</h2>"
        '<table><thead><tr><th>list kind</th><th class="n">added</th><th class="n">removed</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
        + "".join(details)
        + '<table><thead><tr><th>feed</th><th class="n">contribution before</th><th class="n">now</th>'
        f'<th class="n">change</th></tr></thead><tbody>{feed_rows}</tbody></table>'
    )


def _findings_section(manifest: Mapping[str, Any]) -> str:
    findings = manifest.get("findings") or []
    if not findings:
        return ""
    published = bool(manifest.get("publish"))

    def effect(finding: Mapping[str, Any]) -> str:
        if not finding.get("hold"):
            return "reported"
        return "overridden (forced run)" if published else "held the lists back"

    rows = "".join(
        f"<tr><td>{escape(str(f.get('guard', '-')))}</td><td>{escape(effect(f))}</td>"
        f"<td>{escape(str(f.get('message', ''))[:500])}</td></tr>"
        for f in findings
    )
    return (
        "<h2>Guards</h2><table><thead><tr><th>guard</th><th>effect</th><th>finding</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def _short_cause(cause: Any, limit: int = 600) -> str:
    """A Lambda error's message out of its JSON cause, on one line."""
    import json

    text = str(cause or "")
    try:
        decoded = json.loads(text)
        if isinstance(decoded, dict) and "errorMessage" in decoded:
            text = str(decoded["errorMessage"])
    except ValueError:
        pass
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _signed(count: int, sign: str) -> str:
    return f"{sign}{count:,}" if count else "0"


def _num(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else "-"


# ----------------------------------------------------------------------------------------------- plots
_W, _H = 960, 300
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 150, 16, 92


def _nice_ceiling(value: float) -> int:
    """The top of an axis of four equal steps (1, 2, 2.5 or 5 times a power of ten) reaching ``value``."""
    quarter = max(1.0, value / 4)
    power = 10 ** math.floor(math.log10(quarter))
    for step in (1, 2, 2.5, 5, 10) if power >= 10 else (1, 2, 5, 10):
        if step * power >= quarter:
            return int(4 * step * power)
    return int(40 * power)  # pragma: no cover


def _frame(series: Sequence[Mapping[str, Any]], top: int, label: str) -> tuple[list[str], Any, Any]:
    """Axes, grid and run labels; returns the SVG parts and the x and y scales."""
    width, height = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    count = len(series)

    def x(i: int) -> float:
        return _LEFT + (i + 0.5) * width / count

    def y(v: float) -> float:
        return _TOP + height - v * height / top

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" '
        f'role="img" aria-label="{escape(label)}" font-family="sans-serif" font-size="11">',
        f'<rect x="0" y="0" width="{_W}" height="{_H}" fill="#ffffff"/>',
    ]
    for step in range(5):
        value = top * step / 4
        parts.append(
            f'<line x1="{_LEFT}" x2="{_LEFT + width}" y1="{y(value):.1f}" y2="{y(value):.1f}" stroke="#e1e4e8"/>'
            f'<text x="{_LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end" fill="#57606a">{value:,.0f}</text>'
        )
    parts.append(
        f'<line x1="{_LEFT}" x2="{_LEFT}" y1="{_TOP}" y2="{_TOP + height}" stroke="#57606a"/>'
        f'<line x1="{_LEFT}" x2="{_LEFT + width}" y1="{_TOP + height}" y2="{_TOP + height}" stroke="#57606a"/>'
    )
    every = max(1, math.ceil(count / 20))
    for i, item in enumerate(series):
        if i % every and i != count - 1:
            continue
        name = str(item["run"])
        short = name if len(name) <= 26 else name[:25] + "…"
        parts.append(
            f'<text transform="translate({x(i):.1f},{_TOP + height + 10}) rotate(35)" fill="#57606a">'
            f"<title>{escape(name)} ({escape(str(item['status']))})</title>{escape(short)}</text>"
        )
    return parts, x, y


def _legend(entries: Sequence[tuple[str, str]]) -> list[str]:
    parts = []
    for number, (name, colour) in enumerate(entries[:16]):
        top = _TOP + 4 + number * 17
        parts.append(
            f'<rect x="{_W - _RIGHT + 14}" y="{top}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{_W - _RIGHT + 32}" y="{top + 10}" fill="#1b1f24">{escape(name[:18])}</text>'
        )
    if len(entries) > 16:
        parts.append(
            f'<text x="{_W - _RIGHT + 14}" y="{_TOP + 4 + 16 * 17 + 10}" fill="#57606a">'
            f"+{len(entries) - 16} more</text>"
        )
    return parts


def line_chart(series: Sequence[Mapping[str, Any]], kinds: Sequence[str]) -> str:
    """List entries per kind over the runs: one line per kind."""
    top = _nice_ceiling(max([item["lists"].get(k, 0) for item in series for k in kinds] or [0]))
    parts, x, y = _frame(series, top, "list entries per kind over the last runs")
    colours = {k: KIND_COLOURS.get(k, FEED_PALETTE[n % len(FEED_PALETTE)]) for n, k in enumerate(kinds)}
    for kind in kinds:
        points = [(x(i), y(item["lists"].get(kind, 0))) for i, item in enumerate(series)]
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colours[kind]}" stroke-width="3"/>')
        for (px, py), item in zip(points, series, strict=True):
            fill = colours[kind] if item.get("published") else "#ffffff"
            parts.append(
                f'<circle cx="{px:.1f}" cy="{py:.1f}" r="5" fill="{fill}" stroke="{colours[kind]}" stroke-width="2">'
                f"<title>{escape(str(item['run']))}: {kind} {item['lists'].get(kind, 0):,} entries"
                f"{'' if item.get('published') else ' (not published)'}</title></circle>"
            )
    parts += _legend([(k, colours[k]) for k in kinds])
    parts.append("</svg>")
    return "".join(parts)


def feed_colours(feeds: Sequence[str]) -> dict[str, str]:
    return {name: FEED_PALETTE[n % len(FEED_PALETTE)] for n, name in enumerate(feeds)}


def stacked_bars(series: Sequence[Mapping[str, Any]], feeds: Sequence[str]) -> str:
    """Each run's per-feed contributions, stacked."""
    top = _nice_ceiling(max([sum(item["feeds"].values()) for item in series] or [0]))
    parts, x, y = _frame(series, top, "per-feed contributions over the last runs")
    colours = feed_colours(feeds)
    bar = max(4.0, min(48.0, (_W - _LEFT - _RIGHT) / max(1, len(series)) * 0.6))
    for i, item in enumerate(series):
        base = 0
        for name in feeds:
            value = int(item["feeds"].get(name, 0))
            if value <= 0:
                continue
            y0, y1 = y(base + value), y(base)
            parts.append(
                f'<rect x="{x(i) - bar / 2:.1f}" y="{y0:.1f}" width="{bar:.1f}" height="{max(0.5, y1 - y0):.1f}" '
                f'fill="{colours[name]}"><title>{escape(str(item["run"]))}: {escape(name)} {value:,}</title></rect>'
            )
            base += value
    parts += _legend([(name, colours[name]) for name in feeds])
    parts.append("</svg>")
    return "".join(parts)
