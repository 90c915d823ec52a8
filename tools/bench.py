"""Benchmark the indicator engine against a naive ``ipaddress`` baseline.

Generates a deterministic 1,000,000-line mixed feed (public IPv4, CIDRs, private and reserved addresses,
garbage, comments, domains, URLs, IPv6), then runs, each in a fresh Python process so neither inherits the
other's heap:

- **engine**: the full transform, ``build_lists`` on one ``FeedBody`` (parse, filter, aggregate, pack);
- **naive**: per line ``ipaddress.ip_network(line, strict=False)`` in try/except, a set, then
  ``ipaddress.collapse_addresses`` and the list text.

Wall time covers the transform only: the input is read, and each contender's imports and settings are done,
before the clock starts (a warm Lambda invocation pays no imports). The engine runs with the transform's
default MISP warninglists; loading them (the compiled ``threatfeed/data/warninglists.npz``, what a cold start
pays once) is timed and its memory measured separately, and printed. Memory is the process's
peak resident set (``VmHWM`` from /proc, else ``ru_maxrss``), reported both whole (interpreter, imports
and the input bytes included) and as growth over the peak just before the transform: RSS is what a Lambda
is sized and killed on, and unlike tracemalloc it costs nothing to measure (tracemalloc would slow the
engine several-fold and miss C allocations).

Usage: ``python tools/bench.py [--lines N] [--seed S] [--keep FILE] [--repeat N]``. Targets (printed, never
asserted): engine >= 20x faster than naive, engine peak <= 200 MB. The last line sums it up, e.g.
``ratio: 21.3x faster, engine peak 140 MB (target <= 200 MB), naive peak 1095 MB``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_SPEEDUP = 20.0
TARGET_PEAK_MB = 200.0

_WORDS = ("malware", "botnet", "c2", "phish", "scanner", "spam", "tor", "proxy", "bad", "evil", "dropper")
_TLDS = ("com", "net", "org", "biz", "info", "ru", "cn", "io", "xyz", "top", "co.uk")
_PRIVATE = ((10, 8), (172, 16), (192, 168), (127, 0), (169, 254), (100, 64), (224, 0), (0, 0), (240, 0))


def _public_ip(rnd: random.Random) -> str:
    while True:
        a = rnd.randint(1, 223)
        if a not in (10, 127, 100, 169, 172, 192, 198, 203) or rnd.random() < 0.5:
            break
    return f"{a}.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}"


def generate(lines: int, seed: int) -> bytes:
    """The synthetic feed: the same bytes for the same ``lines`` and ``seed``."""
    rnd = random.Random(seed)
    out: list[str] = ["# synthetic threat feed for tools/bench.py", f"# seed {seed}, {lines} lines"]
    pool = [_public_ip(rnd) for _ in range(max(1, lines // 20))]  # repeated addresses, as in real merged feeds
    while len(out) < lines:
        r = rnd.random()
        if r < 0.50:
            out.append(_public_ip(rnd))
        elif r < 0.56:
            out.append(rnd.choice(pool))
        elif r < 0.66:
            plen = rnd.randint(16, 30)
            ip = _public_ip(rnd)
            out.append(f"{ip}/{plen}" if rnd.random() < 0.7 else f"{ip}/{plen} ; SBL{rnd.randint(1, 999999)}")
        elif r < 0.74:
            a, b = rnd.choice(_PRIVATE)
            out.append(f"{a}.{b or rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}")
        elif r < 0.79:
            g = rnd.random()
            if g < 0.3:
                out.append(f"{rnd.randint(256, 999)}.{rnd.randint(0, 255)}.1.{rnd.randint(0, 255)}")
            elif g < 0.5:
                out.append(f"{rnd.randint(1, 223)}.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}")
            elif g < 0.7:
                out.append(" ".join(rnd.choice(_WORDS) for _ in range(rnd.randint(1, 4))))
            else:
                out.append("".join(rnd.choice("abcdef0123456789!@$%^&*") for _ in range(rnd.randint(3, 30))))
        elif r < 0.85:
            out.append(rnd.choice(("", "# " + rnd.choice(_WORDS), "; comment", "// note")))
        elif r < 0.95:
            name = "-".join(rnd.choice(_WORDS) for _ in range(rnd.randint(1, 3))) + str(rnd.randint(0, 99999))
            out.append(f"{name}.{rnd.choice(_TLDS)}")
        elif r < 0.97:
            name = rnd.choice(_WORDS) + str(rnd.randint(0, 9999))
            out.append(f"hxxp://{name}[.]{rnd.choice(_TLDS)}/{rnd.choice(_WORDS)}.php")
        elif r < 0.99:
            out.append(f"2001:db8:{rnd.randint(0, 0xFFFF):x}::{rnd.randint(1, 0xFFFF):x}")
        else:
            ip = _public_ip(rnd)
            out.append(f"{ip}-{ip.rsplit('.', 1)[0]}.255")
    return ("\n".join(out[:lines]) + "\n").encode("ascii")


# ---- the two contenders, each run in its own process -------------------------------------------------------
# Each is prepared (imports, settings) before the clock starts and returns a summary function applied after it
# stops: the wall time is the transform alone, as a warm Lambda invocation pays it.


def _engine() -> Callable[[bytes], Callable[[], dict[str, object]]]:
    from datetime import UTC, datetime

    from threatfeed.engine import EngineSettings, FeedBody, build_lists
    from threatfeed.engine import warninglists as W

    settings = EngineSettings(now=datetime(2026, 11, 27, tzinfo=UTC), warninglists=("default",))
    rss, start = _peak_rss(), time.perf_counter()
    warn = W.for_settings(settings)  # a cold start's one-off cost; a warm invocation has it cached
    _LOAD.update(seconds=time.perf_counter() - start, rss=_peak_rss() - rss, lists=len(warn.lists))

    def run(body: bytes) -> Callable[[], dict[str, object]]:
        result = build_lists([FeedBody(feed="bench", body=body)], settings)

        def summary() -> dict[str, object]:
            stats = result.feeds["bench"]
            return {
                "accepted": stats.accepted,
                "rejected": stats.rejected,
                "entries": sum(lst.entries for lst in result.lists),
                "dropped": dict(result.dropped),
                "suppressed": sum((result.warninglists.get("suppressed") or {}).values()),
            }

        return summary

    return run


_LOAD: dict[str, float] = {}


def _naive() -> Callable[[bytes], Callable[[], dict[str, object]]]:
    import ipaddress

    def run(body: bytes) -> Callable[[], dict[str, object]]:
        networks = set()
        rejected = 0
        for line in body.decode("utf-8", "replace").splitlines():
            try:
                networks.add(ipaddress.ip_network(line.strip(), strict=False))
            except ValueError:
                rejected += 1
        v4 = [n for n in networks if n.version == 4]
        collapsed = list(ipaddress.collapse_addresses(v4))
        text = "\n".join(map(str, collapsed)) + "\n"
        return lambda: {"accepted": len(networks), "rejected": rejected, "entries": len(collapsed), "bytes": len(text)}

    return run


def _peak_rss() -> int:
    """Peak resident set of this process in bytes: ``VmHWM`` where /proc exists (it belongs to the
    process image, so a fork of the big parent does not inflate it), else ``ru_maxrss``."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB elsewhere


def _child(which: str, path: str) -> None:
    run = (_engine if which == "engine" else _naive)()
    body = Path(path).read_bytes()
    before = _peak_rss()
    start = time.perf_counter()
    summary = run(body)
    wall = time.perf_counter() - start
    print(json.dumps({"wall": wall, "peak": _peak_rss(), "baseline": before, "load": _LOAD, **summary()}))


def _measure(which: str, path: str) -> dict[str, float]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH", "")]))
    done = subprocess.run(
        [sys.executable, __file__, "--child", which, path], capture_output=True, text=True, env=env, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"{which} run failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    """The run with the median wall time (its own peak and counts), and the highest peak of all."""
    chosen = dict(sorted(runs, key=lambda r: r["wall"])[len(runs) // 2])
    chosen["peak_max"] = max(r["peak"] for r in runs)
    return chosen


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description="engine vs naive ipaddress baseline")
    p.add_argument("--lines", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=20261127)
    p.add_argument("--keep", help="also write the generated feed to this file")
    p.add_argument(
        "--repeat", type=int, default=1, help="runs of each contender, alternating (odd: the median run is shown)"
    )
    p.add_argument("--child", nargs=2, metavar=("WHICH", "FILE"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        _child(*args.child)
        return 0
    t0 = time.perf_counter()
    body = generate(args.lines, args.seed)
    print(f"generated {args.lines:,} lines, {len(body) / 1e6:.1f} MB in {time.perf_counter() - t0:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or os.path.join(tmp, "feed.txt")
        Path(path).write_bytes(body)
        runs: dict[str, list[dict[str, float]]] = {"engine": [], "naive": []}
        for _ in range(max(1, args.repeat)):
            for which in runs:
                runs[which].append(_measure(which, path))
    engine, naive = _median_run(runs["engine"]), _median_run(runs["naive"])
    mb = 1024 * 1024
    rows = [("engine (build_lists)", engine), ("naive (ipaddress)", naive)]
    note = f" (median of {args.repeat} runs)" if args.repeat > 1 else ""
    print(f"{'':22} {'wall s':>8} {'peak RSS MB':>12} {'RSS growth MB':>14} {'entries':>9}{note}")
    for label, r in rows:
        print(
            f"{label:22} {r['wall']:8.2f} {r['peak_max'] / mb:12.1f} {(r['peak'] - r['baseline']) / mb:14.1f}"
            f" {r['entries']:9,}"
        )
    if args.repeat > 1:
        for which, label in (("engine", "engine"), ("naive", "naive ")):
            walls = ", ".join(f"{r['wall']:.2f}" for r in runs[which])
            print(f"{label} walls: {walls} s")
    print(
        f"engine: {engine['accepted']:,} lines accepted, {engine['rejected']:,} rejected, "
        "left out by the lists' limits (default settings: one IP list of 250,000, one entity list of 1,000): "
        + (", ".join(f"{n:,} {cause}" for cause, n in sorted(engine["dropped"].items())) or "nothing")
    )
    load = engine.get("load") or {}
    if load:
        size = (ROOT / "src" / "threatfeed" / "data" / "warninglists.npz").stat().st_size
        print(
            f"warninglists: {int(load['lists'])} lists (default) loaded in {load['seconds'] * 1000:.0f} ms, "
            f"+{load['rss'] / mb:.1f} MB peak RSS, data file {size / 1024:.0f} KiB; "
            f"{int(engine.get('suppressed', 0)):,} indicators suppressed"
        )
    speedup = naive["wall"] / engine["wall"]
    peak_mb, naive_mb = engine["peak_max"] / mb, naive["peak_max"] / mb
    ok = speedup >= TARGET_SPEEDUP and peak_mb <= TARGET_PEAK_MB
    verdict = "met" if ok else "MISSED"
    print(f"targets (engine >= {TARGET_SPEEDUP:.0f}x faster, peak <= {TARGET_PEAK_MB:.0f} MB): {verdict}")
    print(
        f"ratio: {speedup:.1f}x faster, engine peak {peak_mb:.0f} MB (target <= {TARGET_PEAK_MB:.0f} MB), "
        f"naive peak {naive_mb:.0f} MB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
