"""Compile the MISP warninglists that matter for GuardDuty lists into ``src/threatfeed/data/warninglists.npz``.

The lists ship in the PyPI package ``pymispwarninglists`` (pinned in pyproject.toml's dev extra): about 120 JSON
files, 66 MB unpacked. The transform function must not parse them on every cold start, and its artifact should
not carry them, so this tool reads them once, at development time, and writes one small NumPy archive that is
committed with the code (``tests/engine/test_warninglists.py`` fails when it is stale against the installed
package). What it keeps:

- **cidr** lists: their IPv4 entries, as merged, sorted ``uint32`` interval starts and ends (IPv6 is dropped:
  GuardDuty lists take IPv4 only); and for the ``default`` selection its union already cut into pieces labelled
  with their list (what a cold start would otherwise compute);
- **hostname**, **string** and **substring** lists that MISP matches against domains or hostnames: the names,
  normalized as the engine normalizes indicators (lower case, no trailing dot, IDNA), sorted, one per line.
  Per list, how a name matches (:mod:`threatfeed.engine.warninglists`): ``suffix`` (MISP's hostname semantics:
  the name and its subdomains), ``exact`` (string lists, and the top-sites rankings: a subdomain of a popular
  site, ``evil.blogspot.com``, is often the very indicator), ``substring``.

Left out: regex lists (none of 1.7.0's applies to addresses or names), lists of hashes, e-mails, phone
numbers; ``tlds`` / ``second-level-tlds`` (a bare suffix is never an indicator); and the two million-entry
rankings (``tranco``, ``google-chrome-crux-1million``: 20+ MB each; ``tranco10k`` and ``cisco_top*`` cover the
sites a feed lists by mistake).

Usage: ``python tools/compile_warninglists.py [--check]`` (``--check``: exit 1 when the committed file differs
from what the installed package gives).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import ipaddress
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "threatfeed" / "data" / "warninglists.npz"
FORMAT_VERSION = 1

SKIPPED = {
    "tlds": "a bare top-level domain is never an indicator",
    "second-level-tlds": "a bare public suffix is never an indicator",
    "tranco": "1,000,000 names (21 MB of JSON); tranco10k covers the top sites",
    "google-chrome-crux-1million": "1,000,000 names (25 MB of JSON); tranco10k covers the top sites",
}
#: Rankings of popular sites: a name matches only itself (and ``www.`` itself), never its subdomains.
RANKINGS = frozenset(
    {"alexa", "tranco10k", "cisco_top1000", "cisco_top5k", "cisco_top10k", "cisco_top20k", "majestic_million"}
    | {"moz-top500"}
)
DOMAIN_ATTRIBUTES = frozenset({"domain", "hostname"})


def package_lists() -> tuple[str, Path]:
    """The installed pymispwarninglists version and its lists folder."""
    from importlib.metadata import version

    import pymispwarninglists

    base = Path(pymispwarninglists.__file__).parent / "data" / "misp-warninglists" / "lists"
    return version("pymispwarninglists"), base


def ipv4_intervals(entries: list[str]) -> np.ndarray:
    """Merged ``(start, end)`` rows of the IPv4 entries (others skipped)."""
    bounds = []
    for entry in entries:
        try:
            net = ipaddress.ip_network(entry.strip(), strict=False)
        except ValueError:
            continue
        if net.version == 4:
            bounds.append((int(net.network_address), int(net.broadcast_address)))
    bounds.sort()
    merged: list[list[int]] = []
    for start, end in bounds:
        if merged and start <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return np.array(merged, dtype=np.uint32).reshape(-1, 2)


def names_of(entries: list[str], substring: bool) -> list[str]:
    """Normalized names; a leading ``.`` or ``*.`` (MISP: "and below") is kept as a leading ``.``."""
    from threatfeed.engine.domains import NAME, to_ascii

    out = set()
    for entry in entries:
        value = entry.strip().lower().rstrip(".")
        if substring:
            if value and value.isascii():
                out.add(value)
            continue
        below = value.startswith((".", "*."))
        value = value.lstrip("*").lstrip(".")
        if not value.isascii():
            value = to_ascii(value) or ""
        if not NAME.fullmatch(value):
            continue  # an address, a URL path, a label alone: not a name this list can match
        out.add("." + value if below else value)
    return sorted(out)


def compile_lists(base: Path) -> tuple[dict[str, np.ndarray], dict[str, dict[str, object]], str]:
    """Arrays, per-list metadata and a digest of the source files used."""
    arrays: dict[str, np.ndarray] = {}
    meta: dict[str, dict[str, object]] = {}
    digest = hashlib.sha256()
    for path in sorted(base.glob("*/list.json")):
        slug = path.parent.name
        if slug in SKIPPED:
            continue
        raw = path.read_bytes()
        doc = json.loads(raw)
        kind = doc["type"]
        attributes = set(doc.get("matching_attributes") or ())
        info: dict[str, object] = {"name": doc["name"], "version": int(doc["version"]), "type": kind}
        if kind == "cidr":
            rows = ipv4_intervals(doc["list"])
            if not len(rows) and doc["list"]:
                continue  # IPv6 only
            covered = int((rows[:, 1].astype(np.int64) - rows[:, 0]).sum()) + len(rows)
            info.update(kind="ip", entries=len(rows), addresses=covered)
            arrays[f"ip:{slug}"] = rows
        elif kind in ("hostname", "string", "substring") and attributes & DOMAIN_ATTRIBUTES:
            names = names_of(doc["list"], kind == "substring")
            if not names and doc["list"]:
                continue
            match = "exact" if kind == "string" or slug in RANKINGS else "suffix"
            if kind == "substring":
                match = "substring"
            info.update(kind="domain", match=match, entries=len(names))
            arrays[f"dn:{slug}"] = np.frombuffer("\n".join(names).encode("ascii"), dtype=np.uint8)
        else:
            continue
        digest.update(slug.encode() + b"\0" + hashlib.sha256(raw).digest())
        meta[slug] = info
    return arrays, meta, digest.hexdigest()


def default_pieces(arrays: dict[str, np.ndarray], meta: dict[str, dict[str, object]]) -> dict[str, object]:
    """The default selection's address pieces, labelled (what :func:`threatfeed.engine.warninglists._pieces`
    computes at run time for any other selection), so that a cold start with the default reads them instead."""
    from threatfeed.engine.warninglists import _expand, _pieces

    selection = [slug for slug in _expand("default") or () if slug in meta]
    ip = [
        (slug, arrays[f"ip:{slug}"][:, 0], arrays[f"ip:{slug}"][:, 1]) for slug in selection if f"ip:{slug}" in arrays
    ]
    ip = [entry for entry in ip if len(entry[1])]
    _, starts, labels = _pieces(ip)
    names = [slug for slug, _, _ in ip]
    index = {slug: k for k, slug in enumerate(names)}
    arrays["default:starts"] = starts.astype(np.int64)
    arrays["default:labels"] = np.array([-1 if x is None else index[x] for x in labels.tolist()], dtype=np.int16)
    return {"selection": selection, "ip_lists": names}


def build() -> bytes:
    """The archive's bytes (deterministic: equal package, equal bytes)."""
    version, base = package_lists()
    arrays, meta, digest = compile_lists(base)
    header = {
        "format": FORMAT_VERSION,
        "package": "pymispwarninglists",
        "package_version": version,
        "source_sha256": digest,
        "lists": meta,
        "default": default_pieces(arrays, meta),
    }
    arrays["meta"] = np.frombuffer(json.dumps(header, sort_keys=True).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    _savez_deterministic(buffer, arrays)
    return buffer.getvalue()


def _savez_deterministic(buffer: io.BytesIO, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez_compressed`` with fixed member timestamps, so the file only changes when the lists do."""
    import zipfile

    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name in sorted(arrays):
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, member.getvalue(), compresslevel=9)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="exit 1 if the committed file is out of date")
    args = p.parse_args(argv)
    data = build()
    if args.check:
        current = OUT.read_bytes() if OUT.exists() else b""
        if current != data:
            print(f"{OUT.relative_to(ROOT)} is out of date: run python tools/compile_warninglists.py", file=sys.stderr)
            return 1
        print(f"{OUT.relative_to(ROOT)} is up to date")
        return 0
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_bytes(data)
    with np.load(OUT) as archive:
        header = json.loads(archive["meta"].tobytes())
    kinds = [m["kind"] for m in header["lists"].values()]
    print(
        f"wrote {OUT.relative_to(ROOT)}: {len(data) / 1024:.0f} KiB, {kinds.count('ip')} address lists and "
        f"{kinds.count('domain')} name lists from pymispwarninglists {header['package_version']}"
    )
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    raise SystemExit(main(sys.argv[1:]))
