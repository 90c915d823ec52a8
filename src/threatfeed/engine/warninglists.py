"""MISP warninglists: benign infrastructure that must never reach GuardDuty, and what each list suppressed.

Third-party feeds carry public resolvers, cloud and CDN ranges, sinkholes, research scanners and the domains of
popular sites; listed in GuardDuty, each becomes a stream of false findings in every member account. The MISP
project curates these as *warninglists* (CC0). ``tools/compile_warninglists.py`` compiles the lists that apply to
addresses and names from the pinned ``pymispwarninglists`` package into ``threatfeed/data/warninglists.npz``
(committed; a test checks it is current), so the transform function needs neither the package nor its 66 MB of
JSON: opening the archive reads its index, and a list's arrays are read when a run selects it.

How an indicator matches (the engine's accounting names the list, ``warninglist:<list>``, with samples):

- **addresses**: an address, range or CIDR entirely inside the selected lists is rejected; one that only
  overlaps them stays whole (warninglists judge values, as in MISP; see :mod:`.policy`). Where lists overlap,
  the first selected list holding the value's first address is named.
- **names**: ``suffix`` lists (MISP's hostname lists: resolvers' names, block pages) match a name and its
  subdomains; ``exact`` lists (string lists and the top-sites rankings) match the name itself or ``www.`` +
  it, never other subdomains: ``evil.blogspot.com`` stays listed though ``blogspot.com`` is a top site;
  ``substring`` lists match any name holding one of their strings. A wildcard ``*.x`` is matched by ``x``.

Which lists apply is a setting (:func:`resolve`): list names, group names (:data:`GROUPS`) and ``default``
(:data:`DEFAULT`), each optionally prefixed by ``-`` to take it away again. A user's own lists (the transform
reads them from ``config/warninglists/<name>.txt`` in the data bucket) are counted as ``custom/<name>``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from importlib import resources
from itertools import compress, repeat
from operator import ge, is_, itemgetter, methodcaller
from typing import Any

import numpy as np

from threatfeed.engine import reasons as R
from threatfeed.engine.spans import Spans, covers, from_bounds, screen, to_array, view
from threatfeed.errors import ConfigError

DATA_FILE = "data/warninglists.npz"

#: Named groups of lists, in the order a value is attributed (specific lists first, broad provider ranges last).
GROUPS: dict[str, tuple[str, ...]] = {
    "sinkholes": ("sinkholes", "umbrella-blockpage-v4", "umbrella-blockpage-hostname"),
    "resolvers": ("public-dns-v4", "public-dns-hostname"),
    "ocsp-crl": ("crl-ip", "crl-hostname"),
    "scanners": (
        "alphastrike-research-nt-scanning",
        "alphastrike-scanning",
        "bufferover-nt-scanning",
        "censys-scanning",
        "coalition-signals-intelligence-nt-scanning",
        "cybergreen-nt-scanning",
        "cyberresilience-nt-scanning",
        "cypex-nt-scanning",
        "f6-nt-scanning",
        "internet-census-nt-scanning",
        "intrinsec-nt-scanning",
        "ipinfo-nt-scanning",
        "ipip-nt-scanning",
        "modat-nt-scanning",
        "modat-scanner",
        "netsecscan-nt-scanning",
        "netsecscan-scanning",
        "onyphe-nt-scanning",
        "onyphe-scanner",
        "probethenet-nt-scanning",
        "rapid7-nt-scanning",
        "research-scanner-nt-scanning",
        "shadowforce-nt-scanning",
        "shadowforce-scanning",
        "shadowserver",
        "shadowserver-nt-scanning",
        "shodan-nt-scanning",
        "shodan-scanning",
        "skipa-nt-scanning",
        "tenable-cloud-ipv4",
    ),
    "top-sites": ("tranco10k", "google", "microsoft", "microsoft-office365"),
    "cloud": (
        "cloudflare",
        "akamai",
        "fastly",
        "stackpath",
        "amazon-aws",
        "google-gcp",
        "microsoft-azure",
        "microsoft-azure-china",
        "microsoft-azure-germany",
        "microsoft-azure-us-gov",
    ),
}
#: What ``default`` means: every group above.
DEFAULT: tuple[str, ...] = tuple(GROUPS)

#: A rejection reason is ``warninglist:<list>``.
PREFIX = R.WARNINGLIST_PREFIX


def reason_for(slug: str) -> str:
    return PREFIX + slug


def list_of(reason: str) -> str | None:
    """The list a ``warninglist:<list>`` reason names, else None."""
    return reason[len(PREFIX) :] if reason.startswith(PREFIX) else None


# -- the compiled archive -----------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _archive() -> tuple[Any, dict[str, Any]]:
    """The open archive (members are read on demand) and its header."""
    path = resources.files("threatfeed").joinpath(DATA_FILE)
    archive = np.load(str(path), allow_pickle=False)
    return archive, json.loads(archive["meta"].tobytes())


def header() -> dict[str, Any]:
    """``package_version``, ``source_sha256`` and per list ``name``, ``kind``, ``match``, ``entries``."""
    return _archive()[1]


def available() -> dict[str, dict[str, Any]]:
    lists: dict[str, dict[str, Any]] = header()["lists"]
    return lists


def resolve(spec: str | Iterable[str]) -> tuple[str, ...]:
    """The list names a setting selects, in attribution order. ``spec``: comma-separated (or a sequence of)
    list names, group names, ``default``, ``none``; ``-name`` removes. Unknown names fail the run
    (``ConfigError``): a typo must not silently switch a list off."""
    tokens = [t.strip() for t in (spec.split(",") if isinstance(spec, str) else spec) if t and t.strip()]
    known = available()
    chosen: list[str] = []
    unknown: list[str] = []
    for token in tokens:
        drop = token.startswith("-")
        name = token.lstrip("-+").strip()
        if name == "none":
            if not drop:
                chosen.clear()
            continue
        members = _expand(name)
        if members is None:
            if name not in known:
                unknown.append(name)
                continue
            members = (name,)
        for member in members:
            if drop:
                chosen = [c for c in chosen if c != member]
            elif member not in chosen and member in known:
                chosen.append(member)
    if unknown:
        groups = ", ".join(["default", "none", *GROUPS])
        raise ConfigError(
            f"Warninglists: unknown list(s) {', '.join(unknown)}; use {groups} or list names of pymispwarninglists "
            f"{header()['package_version']} (threatfeed parse --warninglists-available lists them)"
        )
    return tuple(chosen)


def _expand(name: str) -> tuple[str, ...] | None:
    if name == "default":
        return tuple(m for g in DEFAULT for m in GROUPS[g])
    return GROUPS.get(name)


# -- the index a run uses -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class WarnIndex:
    """The selected lists, ready for lookups.

    Addresses: the union of the lists (``spans``, what the policy blocks) cut into pieces labelled with the
    first selected list holding them (``piece_starts`` / ``piece_labels``, for attribution by bisection).
    Names: one dict per matching mode, name -> list.
    """

    lists: tuple[str, ...]
    spans: Spans = field(default_factory=Spans)
    piece_starts: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    piece_labels: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))  # list name or None
    exact: Mapping[str, str] = field(default_factory=dict)
    suffix: Mapping[str, str] = field(default_factory=dict)
    substrings: tuple[tuple[str, str], ...] = ()
    sources: Mapping[str, str] = field(default_factory=dict)  # list -> "pymispwarninglists x.y.z" or "custom"

    @property
    def has_names(self) -> bool:
        return bool(self.exact or self.suffix or self.substrings)

    # -- addresses
    def covered(self, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Which intervals ``[starts[k], ends[k]]`` (``uint32`` arrays) lie entirely inside the lists."""
        return covers(self.spans, starts, ends)

    def label(self, address: int) -> str | None:
        """The list that holds ``address`` (None when none does)."""
        i = int(np.searchsorted(self.piece_starts, address, side="right")) - 1
        return self.piece_labels[i] if i >= 0 else None

    def label_interval(self, start: int, end: int) -> str | None:
        """The list named for ``[start, end]``: the one holding its first address, else the first it overlaps."""
        found = self.label(start)
        if found is not None:
            return found
        i = int(np.searchsorted(self.piece_starts, start, side="right"))
        j = int(np.searchsorted(self.piece_starts, end, side="right"))
        return next((label for label in self.piece_labels[i:j].tolist() if label is not None), None)

    def labels(self, addresses: np.ndarray) -> list[str | None]:
        """:meth:`label` of many addresses at once."""
        if not len(addresses):
            return []
        slots = np.searchsorted(self.piece_starts, addresses.astype(np.int64), side="right") - 1
        found = self.piece_labels[np.maximum(slots, 0)]
        found[slots < 0] = None
        labels: list[str | None] = found.tolist()
        return labels

    def label_codes(self, addresses: np.ndarray) -> tuple[list[str], np.ndarray]:
        """:meth:`labels` as codes: the list names, and per address the index of its list in them (-1: none),
        computed without a Python loop per address."""
        names, codes = self._piece_codes
        if not len(addresses) or not len(codes):
            return names, np.full(len(addresses), -1, dtype=np.intp)
        slots = np.searchsorted(self.piece_starts, addresses.astype(np.int64), side="right") - 1
        return names, np.where(slots < 0, -1, codes[np.maximum(slots, 0)])

    @cached_property
    def _piece_codes(self) -> tuple[list[str], np.ndarray]:
        """Each piece's list as an index into the names of the lists (-1: a piece no list labels)."""
        names = sorted({label for label in self.piece_labels.tolist() if label is not None})
        index = {name: i for i, name in enumerate(names)}
        codes = np.array([index.get(label, -1) for label in self.piece_labels.tolist()], dtype=np.intp)
        return names, codes

    # -- names
    def label_name(self, name: str) -> str | None:
        """The list that matches ``name`` (a normalized name, or ``*.`` + one), else None."""
        base = name[2:] if name.startswith("*.") else name
        found = self.exact.get(base) or self.suffix.get(base)
        if found:
            return found
        if base.startswith("www."):
            found = self.exact.get(base[4:])
            if found:
                return found
        if self.suffix:
            pos = base.find(".")
            while pos != -1:
                found = self.suffix.get(base[pos + 1 :])
                if found:
                    return found
                pos = base.find(".", pos + 1)
        for text, slug in self.substrings:
            if text in base:
                return slug
        return None

    def label_names(self, names: Sequence[str]) -> list[str | None]:
        """:meth:`label_name` of many names. Most names match nothing, so the per-name work runs in C: one dict
        lookup per name for the names listed as such; only names of three labels or more (which alone can be a
        listed name's subdomain, ``www.`` + one, or a wildcard) are then looked at one by one."""
        if not names or not self.has_names:
            return [None] * len(names)
        out: list[str | None] = [None] * len(names)
        for table in (self.suffix, self.exact):  # the exact lists win a name both hold
            hits = table.keys() & set(names) if not table.keys().isdisjoint(names) else ()
            if hits:  # the positions of the few listed names, found in C
                for i in compress(range(len(names)), map(hits.__contains__, names)):
                    out[i] = table[names[i]]
        deep = list(compress(range(len(names)), map(ge, map(str.count, names, repeat(".")), repeat(2))))
        if deep:
            deep_names = list(map(names.__getitem__, deep))
            # a subdomain of a suffix list's name: each distinct parent is walked once
            parents = list(map(itemgetter(2), map(methodcaller("partition", "."), deep_names)))
            memo = {parent: self._suffix_of(parent) for parent in set(parents)} if self.suffix else {}
            odd = set(compress(deep, map(str.startswith, deep_names, repeat(("www.", "*.")))))
            under = list(map(memo.get, parents))
            for k in compress(range(len(deep)), under):  # only the names under a listed parent
                i = deep[k]
                if out[i] is None and i not in odd:
                    out[i] = under[k]
            for i in sorted(odd):
                if out[i] is None:
                    out[i] = self.label_name(names[i])
        for text, slug in self.substrings:  # in list order: the first list holding a name names it
            for i in compress(range(len(names)), map(str.__contains__, names, repeat(text))):
                if out[i] is None:
                    out[i] = slug
        return out

    def _suffix_of(self, name: str) -> str | None:
        """The suffix list holding ``name`` or one of its parents."""
        while name:
            found = self.suffix.get(name)
            if found:
                return found
            name = name.partition(".")[2]
        return None

    def scrub(self, spans: Spans, names: frozenset[str]) -> tuple[Spans, frozenset[str]]:
        """``spans`` and ``names`` without what the lists hold (for contributions kept from earlier runs)."""
        return self.scrub_spans(spans), self.scrub_names(names)

    def scrub_spans(self, spans: Spans) -> Spans:
        """``spans`` without the intervals entirely inside the lists (``spans`` itself when there are none)."""
        if self.spans and spans:
            starts, ends = view(spans.starts), view(spans.ends)
            inside = self.covered(starts, ends)
            if inside.any():
                return Spans(to_array(starts[~inside]), to_array(ends[~inside]))
        return spans

    def scrub_names(self, names: frozenset[str]) -> frozenset[str]:
        """``names`` without those the lists match (``names`` itself when there are none)."""
        kept = self.unlisted(list(names))  # any order: the result is a set
        return names if kept is None else frozenset(kept)

    def unlisted(self, names: list[str]) -> list[str] | None:
        """``names`` without those the lists match, in their order; None when the lists match none of them."""
        if not names or not self.has_names:
            return None
        hits = self.label_names(names)
        if not any(hits):
            return None
        return list(compress(names, map(is_, hits, repeat(None))))

    def summary(self) -> dict[str, Any]:
        """The manifest's view: which lists were applied, from which source."""
        return {
            "package": f"pymispwarninglists {header()['package_version']}",
            "lists": list(self.lists),
        }


EMPTY = WarnIndex(lists=())


@lru_cache(maxsize=8)
def index(lists: tuple[str, ...]) -> WarnIndex:
    """The index of package lists ``lists`` (names as :func:`resolve` gives them), cached per selection: a warm
    Lambda builds it once."""
    built = build_index(lists, {})
    # made here once, not in a run: its per-piece list codes and the /20 table its addresses are screened by
    built.label_codes(np.zeros(1, dtype=np.uint32))
    screen(built.spans)
    return built


def build_index(lists: Sequence[str], custom: Mapping[str, tuple[Spans, Sequence[str]]]) -> WarnIndex:
    """The index of package ``lists`` followed by ``custom`` lists (name -> addresses and names)."""
    if not lists and not custom:
        return EMPTY
    archive, head = _archive()
    meta = head["lists"]
    ip_lists: list[tuple[str, np.ndarray, np.ndarray]] = []
    exact: dict[str, str] = {}
    suffix: dict[str, str] = {}
    substrings: list[tuple[str, str]] = []
    order: list[str] = []
    sources: dict[str, str] = {}
    name_lists: list[tuple[str, str, list[str]]] = []  # (list, match, entries), in order
    default = head.get("default") or {}
    precomputed = not custom and list(lists) == default.get("selection")  # the file has its pieces
    for slug in lists:
        info = meta[slug]
        order.append(slug)
        sources[slug] = f"pymispwarninglists {head['package_version']}"
        if info["kind"] == "ip":
            if precomputed:
                continue
            rows = archive[f"ip:{slug}"]
            if len(rows):
                ip_lists.append((slug, rows[:, 0], rows[:, 1]))
            continue
        text = archive[f"dn:{slug}"].tobytes().decode("ascii")
        if text:
            name_lists.append((slug, info["match"], text.split("\n")))
    # the first list (in order) wins a name: fill from the last to the first
    for slug, match, entries in reversed(name_lists):
        if match == "substring":
            substrings[:0] = [(entry, slug) for entry in entries]
            continue
        below = [e[1:] for e in entries if e.startswith(".")] if entries[0].startswith(".") else []
        if below:
            entries = [e for e in entries if not e.startswith(".")]
            suffix.update(dict.fromkeys(below, slug))
        (exact if match == "exact" else suffix).update(dict.fromkeys(entries, slug))
    for name, (spans, names) in custom.items():
        slug = f"custom/{name}"
        order.append(slug)
        sources[slug] = "custom"
        if spans:
            ip_lists.append((slug, view(spans.starts), view(spans.ends)))
        for entry in names:  # a user's list: a name and its subdomains
            suffix.setdefault(entry[2:] if entry.startswith("*.") else entry, slug)
    if precomputed:  # compiled with the file: read, not computed
        label_names = np.array([*default["ip_lists"], None], dtype=object)
        piece_starts, piece_labels = archive["default:starts"], label_names[archive["default:labels"]]
        held = piece_labels != None  # noqa: E711 (element-wise)
        ends = np.append(piece_starts[1:], piece_starts[-1:] + 1) - 1
        spans = from_bounds(piece_starts[held], ends[held])
    else:
        spans, piece_starts, piece_labels = _pieces(ip_lists)
    return WarnIndex(
        lists=tuple(order),
        spans=spans,
        piece_starts=piece_starts,
        piece_labels=piece_labels,
        exact=exact,
        suffix=suffix,
        substrings=tuple(substrings),
        sources=sources,
    )


def _pieces(ip_lists: list[tuple[str, np.ndarray, np.ndarray]]) -> tuple[Spans, np.ndarray, np.ndarray]:
    """The union of the address lists, and its cut into elementary pieces labelled with the first list (in
    order) holding them. Every bound of every list starts a piece; a list's intervals cover whole runs of
    pieces, filled from the last list to the first so that the first wins (NumPy, no loop per interval)."""
    if not ip_lists:
        return Spans(), np.empty(0, dtype=np.int64), np.empty(0, dtype=object)
    starts = [s.astype(np.int64) for _, s, _ in ip_lists]
    ends = [e.astype(np.int64) for _, _, e in ip_lists]
    bounds = np.sort(np.concatenate([*starts, *(e + 1 for e in ends)]))
    distinct = np.ones(len(bounds), dtype=bool)
    distinct[1:] = bounds[1:] != bounds[:-1]
    bounds = bounds[distinct]
    label = np.full(len(bounds), -1, dtype=np.int64)
    for k in range(len(ip_lists) - 1, -1, -1):
        first = np.searchsorted(bounds, starts[k])
        last = np.searchsorted(bounds, ends[k] + 1)  # exclusive
        lengths = last - first
        total = int(lengths.sum())
        if not total:
            continue
        offsets = np.repeat(first - np.cumsum(lengths) + lengths, lengths) + np.arange(total)
        label[offsets] = k
    union = from_bounds(np.concatenate(starts), np.concatenate(ends))
    # drop pieces whose label equals the previous one (fewer bisection points)
    keep = np.ones(len(bounds), dtype=bool)
    keep[1:] = label[1:] != label[:-1]
    names = np.array([slug for slug, _, _ in ip_lists] + [None], dtype=object)
    return union, bounds[keep], names[label[keep]]  # label -1 picks the trailing None


def report(warn: WarnIndex, stats: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest's ``warninglists``: the lists applied and, per list, the indicators it suppressed over all
    feeds (each feed's own counts are its ``warninglist:<list>`` reasons)."""
    if not warn.lists:
        return {}
    suppressed: dict[str, int] = {}
    for feed in stats.values():
        for reason, n in feed.reasons.items():
            listed = list_of(reason)
            if listed is not None:
                suppressed[listed] = suppressed.get(listed, 0) + n
    return {**warn.summary(), "suppressed": dict(sorted(suppressed.items(), key=lambda kv: (-kv[1], kv[0])))}


def suppressed_share(stats: Mapping[str, Any]) -> tuple[int, int]:
    """``(benign, candidates)`` of one feed's stats (a ``FeedStats.to_dict()``): the values a warninglist or the
    allow-list took out whole, over every value that was an indicator (accepted, or rejected only for being
    benign). The poisoned-feed guard weighs the share."""
    reasons = stats.get("reasons") or {}
    benign = sum(n for r, n in reasons.items() if r.startswith(PREFIX) or r == R.ALLOW_LISTED)
    return benign, int(stats.get("accepted") or 0) + benign
