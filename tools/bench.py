"""Benchmark the indicator engine: first run and steady state, against a naive ``ipaddress`` baseline and FireHOL's
``iprange``, on the same generated feed; and each Lambda handler's cold import.

Generates a deterministic 1,000,000-line mixed feed (public IPv4, CIDRs, private and reserved addresses,
garbage, comments, domains, URLs, IPv6), then runs, each in a fresh Python process so none inherits another's heap:

- **first run**: the full transform, ``build_lists`` on one ``FeedBody`` with no previous state (parse, filter,
  aggregate, pack); it writes the engine state as the transform stores it;
- **steady state, next day**: the next day's body (:func:`next_day`: 2 % of the lines replaced by new ones, the
  churn of a daily feed) with that state (read before the clock starts), as every scheduled run after the first
  pays it: parse, aging, provenance, retractions (``threatfeed parse FILE --state PATH`` does the same). The
  steady-state targets apply to this row;
- **steady state, same body**: the first body again with that state: an unchanged feed, whose last parse is
  reused (:mod:`threatfeed.engine.reuse`), the cheapest run there is;
- **naive**: per line ``ipaddress.ip_network(line, strict=False)`` in try/except, a set, then
  ``ipaddress.collapse_addresses`` and the list text;
- **the clean variant** of the feed (only its IPv4 addresses and CIDRs: what iprange takes), first run and steady
  state (the clean variant of the next day's body, with the state of its first run);
- **iprange** (FireHOL's C tool blocklist maintainers merge lists with; Debian/Ubuntu ``apt-get install
  iprange``), when it is on PATH, ``iprange --optimize`` on the clean variant (it would resolve any other word as a
  host name). Absent, its row says how to install it. The iprange target holds the two to the same input: the
  steady state on the clean variant; the mixed feed's steady state, with a third more lines, names and URLs to
  judge, is printed beside it.

Then a 10,000,000-line feed (first run and next day's steady state; ``--big-lines 0`` skips it, it takes a few
minutes), and
each handler's import (``python -X importtime`` in a fresh interpreter with only what its artifact holds on
``sys.path``: ``functions/<stage>/app.py``, ``threatfeed`` and the packages ``build.mk`` gives it, then the
runtime's AWS SDK; the median of a few imports, with bytecode cached as after a first import).

Wall time covers the transform only: each contender's imports and settings are done, and the previous state read,
before the clock starts (a warm Lambda invocation pays no imports). threatfeed streams the body from the file as the
transform streams it from S3 (it is never held whole); the naive contender reads it whole first. The engine runs
under the transform function's process environment in template.yaml (``GLIBC_TUNABLES``: how glibc keeps freed
memory) and with the transform's default MISP warninglists; loading them is timed and its memory measured
separately, and printed. Memory is the process's peak resident set (``VmHWM`` from /proc, else ``ru_maxrss``),
reported both whole (interpreter, imports and the previous state included) and as growth over the peak just before
the transform: RSS is what a Lambda is sized and killed on.

Usage: ``python tools/bench.py [--lines N] [--big-lines N] [--seed S] [--keep FILE] [--repeat N]`` (each 1M-line
contender but the naive one runs ``--repeat`` times, default 3, alternating, and the median run is shown). Targets
(printed, never asserted): engine >= 20x faster than naive and peak <= 200 MB; steady state of 1M lines <= 1.0 s
and, on the clean variant, no slower than iprange; 10M lines steady state <= 8 s with peak RSS <= 3x the input's
bytes; plan, fetch and publish import in <= 250 ms, transform in <= 350 ms.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
TARGET_SPEEDUP = 20.0
TARGET_PEAK_MB = 200.0
TARGET_STEADY_S = 1.0
TARGET_BIG_STEADY_S = 8.0
TARGET_BIG_PEAK_RATIO = 3.0
#: Cold import targets per handler, ms.
TARGET_IMPORT_MS = {"plan": 250, "fetch": 250, "transform": 350, "publish": 250}
STAGES = {
    "plan": "PlanFunction",
    "fetch": "FetchFunction",
    "transform": "TransformFunction",
    "publish": "PublishFunction",
}
#: What the python3.13 Lambda runtime provides behind the artifact (build.mk's LAMBDA_RUNTIME_PACKAGES).
RUNTIME_DISTRIBUTIONS = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3")

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


#: The share of a daily feed's lines that change from one day to the next in :func:`next_day`.
CHURN = 0.02


def next_day(body: bytes, seed: int) -> bytes:
    """``body`` a day later: :data:`CHURN` of its lines (header comments kept) replaced by lines of another feed of
    the same mix: some indicators delisted, new ones listed, in every class of line."""
    lines = body.split(b"\n")[:-1]
    rnd = random.Random(seed + 1)
    changed = rnd.sample(range(2, len(lines)), int(len(lines) * CHURN))
    fresh = generate(len(changed) + 2, seed + 2).split(b"\n")[2:]
    for at, line in zip(changed, fresh, strict=False):
        lines[at] = line
    return b"\n".join(lines) + b"\n"


# ---- the contenders, each run in its own process ---------------------------------------------------------------
# Each is prepared (imports, settings, the previous state) before the clock starts and returns a summary function
# applied after it stops: the wall time is the transform alone, as a warm Lambda invocation pays it.

_LOAD: dict[str, float] = {}
#: The transform's process environment (:func:`transform_process_environment`), set once by :func:`main`.
_TRANSFORM_ENV: dict[str, str] = {}


def _engine(state_in: str = "", state_out: str = "") -> Callable[[Any], Callable[[], dict[str, object]]]:
    from datetime import UTC, datetime, timedelta

    from threatfeed.engine import EngineSettings, FeedBody, build_lists
    from threatfeed.engine.domains import suffix_list
    from threatfeed.engine.warninglist_use import for_settings

    # As the transform: the delivered body is the feed's whole list; the state comes back as JSON from S3.
    # A run that carries a state is the next day's, as in production: what it lists again was first seen a day
    # earlier (at the same clock, the first run's rows and today's would be one).
    now = datetime(2026, 11, 27, tzinfo=UTC) + timedelta(days=1 if state_in else 0)
    settings = EngineSettings(now=now, warninglists=("default",), replace_delivered=True)
    rss, start = _peak_rss(), time.perf_counter()
    warn = for_settings(settings)  # a cold start's one-off cost; a warm invocation has it cached
    suffix_list()  # the Public Suffix List, read on the first name judged: also once per process
    _LOAD.update(seconds=time.perf_counter() - start, rss=_peak_rss() - rss, lists=len(warn.lists))
    previous = json.loads(Path(state_in).read_bytes()) if state_in else None

    def run(body: Any) -> Callable[[], dict[str, object]]:
        feed = FeedBody(feed="bench", body=body, sha256=getattr(body, "sha256", None))
        result = build_lists([feed], settings, previous_state=previous)

        def summary() -> dict[str, object]:
            if state_out:
                Path(state_out).write_text(json.dumps(result.state, indent=1, sort_keys=True, default=str))
            stats = result.feeds["bench"]
            return {
                "accepted": stats.accepted,
                "rejected": stats.rejected,
                "entries": sum(lst.entries for lst in result.lists),
                "dropped": dict(result.dropped),
                "suppressed": sum((result.warninglists.get("suppressed") or {}).values()),
                "lists": [lst.sha256 for lst in result.lists],
            }

        return summary

    return run


def _naive() -> Callable[[Any], Callable[[], dict[str, object]]]:
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

    return _maxrss_bytes(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _maxrss_bytes(maxrss: int) -> int:
    """``ru_maxrss`` in bytes: it is bytes on macOS, KiB elsewhere."""
    return maxrss if sys.platform == "darwin" else maxrss * 1024


class _FileBody:
    """A feed body streamed from a file, as the transform streams it from S3 (``pipeline.transform.S3Body``)."""

    def __init__(self, path: str) -> None:
        self.path = path
        # the fetch stage hashes a body as it streams it to S3 and hands the digest to the transform
        digest = hashlib.sha256()
        with open(path, "rb") as stream:
            while block := stream.read(1 << 20):
                digest.update(block)
        self.sha256 = digest.hexdigest()

    def open(self) -> IO[bytes]:
        return open(self.path, "rb")


def _child(which: str, path: str, state_in: str, state_out: str) -> None:
    if which == "iprange":
        print(json.dumps(_iprange_child(path)))
        return
    run = _engine(state_in, state_out) if which == "engine" else _naive()
    body: Any = _FileBody(path) if which == "engine" else Path(path).read_bytes()
    before = _peak_rss()
    start = time.perf_counter()
    summary = run(body)
    wall = time.perf_counter() - start
    print(json.dumps({"wall": wall, "peak": _peak_rss(), "baseline": before, "load": _LOAD, **summary()}))


#: Variables of the transform's environment in template.yaml that act on the process, not on threatfeed: the engine
#: runs under them here as it does in its Lambda.
PROCESS_VARIABLES = ("GLIBC_TUNABLES",)


def transform_process_environment() -> dict[str, str]:
    """:data:`PROCESS_VARIABLES` as template.yaml sets them for the transform function."""
    from embedded_aws.stack import load_template

    function = load_template(ROOT / "template.yaml")["Resources"]["TransformFunction"]["Properties"]
    variables = function.get("Environment", {}).get("Variables", {})
    return {name: str(variables[name]) for name in PROCESS_VARIABLES if name in variables}


def _measure(which: str, path: str, state_in: str = "", state_out: str = "") -> dict[str, float]:
    env = dict(os.environ)
    if which == "engine":
        env.update(_TRANSFORM_ENV)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH", "")]))
    argv = [sys.executable, __file__, "--child", which, path, "--state-in", state_in, "--state-out", state_out]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{which} run failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    """The run with the median wall time (its own peak and counts), and the highest peak of all."""
    chosen = dict(sorted(runs, key=lambda r: r["wall"])[len(runs) // 2])
    chosen["peak_max"] = max(r["peak"] for r in runs)
    return chosen


_OCTET = rb"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_CLEAN = re.compile(rb"(?:%s\.){3}%s(?:/(?:3[0-2]|[12]?[0-9]))?(?=[\s;#]|$)" % (_OCTET, _OCTET))


def clean_variant(body: bytes) -> bytes:
    """The feed's valid IPv4 addresses and CIDRs alone (an inline comment cut off), one a line: what iprange can
    take (it refuses a bad octet, and would try to resolve any other word as a host name)."""
    kept = [m.group() for m in map(_CLEAN.match, body.split(b"\n")) if m]
    return b"\n".join(kept) + b"\n"


def _iprange(path: str) -> dict[str, float] | None:
    """``iprange --optimize`` on ``path`` (:func:`_iprange_child`, started from a fresh interpreter); None when
    iprange is not installed."""
    if shutil.which("iprange") is None:
        return None
    return _measure("iprange", path)


def _iprange_child(path: str) -> dict[str, float]:
    """iprange's wall time, peak RSS and entries. Linux keeps a process's peak RSS across ``exec``, so a child
    started by the bench's parent (hundreds of MB by then) would report the parent's peak: it is started from this
    small interpreter instead, whose own peak (``floor``) is the least the figure can show."""
    tool = shutil.which("iprange") or "iprange"
    with tempfile.TemporaryFile() as out:
        before = _peak_rss()
        start = time.perf_counter()
        child = subprocess.Popen([tool, "--optimize", path], stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0)
        entries = sum(1 for _ in out)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"iprange failed with exit code {os.waitstatus_to_exitcode(status)}")
    peak = _maxrss_bytes(usage.ru_maxrss)
    return {"wall": wall, "peak_max": peak, "peak": peak, "baseline": 0, "floor": before, "entries": entries}


# ---- cold imports -----------------------------------------------------------------------------------------------


def _distribution_roots(name: str, seen: set[str]) -> set[str]:
    """The top-level files and directories of distribution ``name`` and of what it requires (no extras)."""
    from importlib import metadata

    from packaging.requirements import Requirement

    key = name.lower().replace("_", "-")
    if key in seen:
        return set()
    seen.add(key)
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return set()
    roots = {
        str(f).split("/")[0]
        for f in dist.files or ()
        if not str(f).startswith("..") and not str(f).split("/")[0].endswith((".dist-info", ".data", "__pycache__"))
    }
    for text in dist.requires or ():
        req = Requirement(text)
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            roots |= _distribution_roots(req.name, seen)
    return roots


def _deps(logical_id: str) -> list[str]:
    """``DEPS_<LogicalId>`` of build.mk, ``$(SDK_PACKAGES)`` expanded."""
    text = (ROOT / "build.mk").read_text()
    sdk = re.search(r"^SDK_PACKAGES :=(.*)$", text, re.M)
    found = re.search(rf"^DEPS_{logical_id} :=(.*)$", text, re.M)
    words = (found.group(1) if found else "").replace("$(SDK_PACKAGES)", sdk.group(1) if sdk else "").split()
    return words


def _artifact_path(stage: str, work: Path) -> list[str]:
    """``sys.path`` as in the stage's Lambda: its artifact (app.py, threatfeed, its packages), then the runtime's
    SDK. Links into this checkout and the venv, so nothing is copied."""
    import sysconfig

    site = Path(sysconfig.get_paths()["purelib"])
    artifact, runtime = work / stage / "artifact", work / stage / "runtime"
    artifact.mkdir(parents=True)
    runtime.mkdir(parents=True)
    (artifact / "app.py").symlink_to(ROOT / "functions" / stage / "app.py")
    (artifact / "threatfeed").symlink_to(ROOT / "src" / "threatfeed")
    seen: set[str] = set()
    for dep in _deps(STAGES[stage]):
        for root in _distribution_roots(dep, seen):
            if (site / root).exists() and not (artifact / root).exists():
                (artifact / root).symlink_to(site / root)
    for dep in RUNTIME_DISTRIBUTIONS:
        for root in _distribution_roots(dep, set()):
            if (site / root).exists() and not (artifact / root).exists() and not (runtime / root).exists():
                (runtime / root).symlink_to(site / root)
    return [str(artifact), str(runtime)]


def import_ms(stage: str, path: list[str], runs: int = 5) -> tuple[float, list[tuple[float, str]]]:
    """Median cumulative import time of ``app`` in ms over ``runs`` fresh interpreters, and the slowest
    top-level imports of the median run (``python -X importtime``)."""
    code = f"import sys; sys.path[:0] = {path!r}; import app"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "THREATFEED_BUCKET": "bench",
        "THREATFEED_STACK_NAME": "bench",
        "AWS_LAMBDA_FUNCTION_NAME": stage,
    }
    results = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-I", "-S", "-X", "importtime", "-c", code],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"importing the {stage} handler failed:\n{done.stderr[-2000:]}")
        rows = []
        for line in done.stderr.splitlines():
            m = re.match(r"import time:\s+\d+ \|\s+(\d+) \| ( *)(\S+)", line)
            if m:
                rows.append((int(m.group(1)) / 1000, len(m.group(2)), m.group(3)))
        total = next(ms for ms, depth, name in rows if name == "app" and depth == 0)
        top = sorted(((ms, name) for ms, depth, name in rows if depth == 2), reverse=True)[:3]
        results.append((total, top))
    results.sort(key=lambda r: r[0])
    return results[len(results) // 2]


def cold_imports() -> dict[str, tuple[float, list[tuple[float, str]]]]:
    with tempfile.TemporaryDirectory(prefix="threatfeed-import-") as tmp:
        return {stage: import_ms(stage, _artifact_path(stage, Path(tmp))) for stage in STAGES}


# ---- the report -------------------------------------------------------------------------------------------------


def _row(label: str, r: dict[str, float] | None, note: str = "") -> str:
    mb = 1024 * 1024
    if r is None:
        return f"{label:38} {note}"
    growth = (r["peak"] - r["baseline"]) / mb if r.get("baseline") else float("nan")
    return f"{label:38} {r['wall']:8.2f} {r['peak_max'] / mb:12.1f} {growth:14.1f} {int(r['entries']):9,}{note}"


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description="engine (first run, steady state) vs naive ipaddress and iprange")
    p.add_argument("--lines", type=int, default=1_000_000)
    p.add_argument("--big-lines", type=int, default=10_000_000, help="the large row's lines (0: no large row)")
    p.add_argument("--seed", type=int, default=20261127)
    p.add_argument("--keep", help="also write the generated feed to this file")
    p.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of each 1M-line contender, alternating (odd: the median run is shown); the naive one runs once",
    )
    p.add_argument("--no-imports", action="store_true", help="skip the handlers' cold import timings")
    p.add_argument("--child", nargs=2, metavar=("WHICH", "FILE"), help=argparse.SUPPRESS)
    p.add_argument("--state-in", default="", help=argparse.SUPPRESS)
    p.add_argument("--state-out", default="", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        _child(*args.child, args.state_in, args.state_out)
        return 0
    mb = 1024 * 1024
    _TRANSFORM_ENV.update(transform_process_environment())
    shown = " ".join(f"{k}={v}" for k, v in _TRANSFORM_ENV.items()) or "none"
    print(f"the engine runs with the transform function's process environment (template.yaml): {shown}")
    t0 = time.perf_counter()
    body = generate(args.lines, args.seed)
    print(f"generated {args.lines:,} lines, {len(body) / 1e6:.1f} MB in {time.perf_counter() - t0:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or os.path.join(tmp, "feed.txt")
        Path(path).write_bytes(body)
        clean = os.path.join(tmp, "clean.txt")
        clean_body = clean_variant(body)
        Path(clean).write_bytes(clean_body)
        lines = clean_body.count(b"\n")
        print(f"clean variant (its valid IPv4 addresses and CIDRs): {lines:,} lines")
        del clean_body
        state = os.path.join(tmp, "state.json")
        later = os.path.join(tmp, "next-day.txt")
        Path(later).write_bytes(next_day(body, args.seed))
        clean_later = os.path.join(tmp, "clean-next-day.txt")
        Path(clean_later).write_bytes(clean_variant(Path(later).read_bytes()))
        clean_state = os.path.join(tmp, "clean-state.json")
        runs: dict[str, list[dict[str, float]]] = {
            k: [] for k in ("first", "steady", "same", "naive", "clean_first", "clean_steady", "iprange")
        }
        for repeat in range(max(1, args.repeat)):
            runs["first"].append(_measure("engine", path, state_out=state))
            runs["steady"].append(_measure("engine", later, state_in=state))
            runs["same"].append(_measure("engine", path, state_in=state))
            if not repeat:  # thirty times slower: its noise does not matter, its minutes do
                runs["naive"].append(_measure("naive", path))
            runs["clean_first"].append(_measure("engine", clean, state_out=clean_state))
            runs["clean_steady"].append(_measure("engine", clean_later, state_in=clean_state))
            measured = _iprange(clean)
            if measured is not None:
                runs["iprange"].append(measured)
        big: dict[str, dict[str, float]] = {}
        big_bytes = 0
        if args.big_lines:
            t1 = time.perf_counter()
            big_body = generate(args.big_lines, args.seed)
            big_bytes = len(big_body)
            big_path, big_later = os.path.join(tmp, "big.txt"), os.path.join(tmp, "big-next-day.txt")
            Path(big_path).write_bytes(big_body)
            Path(big_later).write_bytes(next_day(big_body, args.seed))
            del big_body
            generated = time.perf_counter() - t1
            big_state = os.path.join(tmp, "big-state.json")
            big["first"] = _measure("engine", big_path, state_out=big_state)
            big["steady"] = _measure("engine", big_later, state_in=big_state)
            big["generated"] = {"seconds": generated}
    first, steady, same, naive, clean_first, clean_steady = (
        _median_run(runs[k]) for k in ("first", "steady", "same", "naive", "clean_first", "clean_steady")
    )
    iprange = _median_run(runs["iprange"]) if runs["iprange"] else None
    note = f" (1M rows: median of {args.repeat} runs; naive and 10M: one)" if args.repeat > 1 else ""
    print(f"{'':38} {'wall s':>8} {'peak RSS MB':>12} {'RSS growth MB':>14} {'entries':>9}{note}")
    print(_row(f"threatfeed first run, {args.lines:,}", first))
    print(_row("threatfeed steady state, next day", steady, f"   {steady['wall'] / first['wall']:.2f}x first run"))
    print(_row("threatfeed steady state, same body", same, "   (the last parse reused)"))
    print(_row("naive (ipaddress)", naive))
    print(_row("threatfeed first run, clean variant", clean_first))
    print(_row("threatfeed steady state, clean variant", clean_steady))
    if iprange is None:
        print(_row("iprange, clean variant", None, "skipped: iprange not installed (apt-get install iprange)"))
    else:
        print(
            _row(
                "iprange --optimize, clean variant",
                iprange,
                f"   threatfeed on the clean variant: steady {clean_steady['wall'] / iprange['wall']:.2f}x, first "
                f"run {clean_first['wall'] / iprange['wall']:.2f}x iprange; the mixed feed's steady state "
                f"{steady['wall'] / iprange['wall']:.2f}x (iprange's peak: at least its launcher's "
                f"{iprange['floor'] / mb:.0f} MB)",
            )
        )
    if big:
        ratio = big["steady"]["peak"] / big_bytes if big_bytes else 0.0
        print(_row(f"threatfeed first run, {args.big_lines:,}", {**big["first"], "peak_max": big["first"]["peak"]}))
        print(
            _row(
                f"threatfeed steady, next day, {args.big_lines:,}",
                {**big["steady"], "peak_max": big["steady"]["peak"]},
                f"   peak {ratio:.1f}x input ({big_bytes / 1e6:.0f} MB)",
            )
        )
    if args.repeat > 1:
        for which in runs:
            walls = ", ".join(f"{r['wall']:.2f}" for r in runs[which])
            print(f"{which} walls: {walls} s")
    print(f"steady state, same body: lists equal to the first run's: {same['lists'] == first['lists']}")
    print(f"list sha256, first run: {' '.join(first['lists'])}; next day: {' '.join(steady['lists'])}")
    print(
        f"engine: {first['accepted']:,} lines accepted, {first['rejected']:,} rejected, "
        "left out by the lists' limits (default settings: one IP list of 250,000, one entity list of 1,000): "
        + (", ".join(f"{n:,} {cause}" for cause, n in sorted(first["dropped"].items())) or "nothing")
    )
    load = first.get("load") or {}
    if load:
        size = (ROOT / "src" / "threatfeed" / "data" / "warninglists.npz").stat().st_size
        print(
            f"warninglists: {int(load['lists'])} lists (default) loaded in {load['seconds'] * 1000:.0f} ms, "
            f"+{load['rss'] / mb:.1f} MB peak RSS, data file {size / 1024:.0f} KiB; "
            f"{int(first.get('suppressed', 0)):,} indicators suppressed"
        )
    imports = {} if args.no_imports else cold_imports()
    for stage, (ms, top) in imports.items():
        target = TARGET_IMPORT_MS[stage]
        slowest = ", ".join(f"{name} {t:.0f}" for t, name in top)
        print(
            f"cold import {stage:<10} {ms:6.0f} ms (target <= {target} ms: {'met' if ms <= target else 'MISSED'})"
            f"; slowest: {slowest}"
        )
    speedup = naive["wall"] / first["wall"]
    peak_mb, naive_mb = first["peak_max"] / mb, naive["peak_max"] / mb
    checks = {
        f"engine >= {TARGET_SPEEDUP:.0f}x faster than naive": speedup >= TARGET_SPEEDUP,
        f"peak <= {TARGET_PEAK_MB:.0f} MB": peak_mb <= TARGET_PEAK_MB,
        f"steady state <= {TARGET_STEADY_S:.1f} s": steady["wall"] <= TARGET_STEADY_S,
    }
    if iprange is not None:
        checks["steady state no slower than iprange (clean variant)"] = clean_steady["wall"] <= iprange["wall"]
    if big:
        checks[f"10M steady <= {TARGET_BIG_STEADY_S:.0f} s"] = big["steady"]["wall"] <= TARGET_BIG_STEADY_S
        checks[f"10M peak <= {TARGET_BIG_PEAK_RATIO:.0f}x input"] = (
            big["steady"]["peak"] <= TARGET_BIG_PEAK_RATIO * big_bytes
        )
    for stage, (ms, _) in imports.items():
        checks[f"{stage} import <= {TARGET_IMPORT_MS[stage]} ms"] = ms <= TARGET_IMPORT_MS[stage]
    missed = [name for name, ok in checks.items() if not ok]
    print(f"targets: {'met' if not missed else 'MISSED: ' + '; '.join(missed)}")
    print(
        f"ratio: {speedup:.1f}x faster, engine peak {peak_mb:.0f} MB (target <= {TARGET_PEAK_MB:.0f} MB), "
        f"naive peak {naive_mb:.0f} MB; steady state (next day) {steady['wall']:.2f} s "
        f"(target <= {TARGET_STEADY_S:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
