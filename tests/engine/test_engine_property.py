"""Property tests: the fast paths against a straightforward ``ipaddress`` oracle on random inputs."""

from __future__ import annotations

import ipaddress
import json

from engine_helpers import lines_of, settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from threatfeed.engine import FeedBody, build_lists
from threatfeed.engine import spans as S
from threatfeed.engine.policy import BOGON_CIDRS
from threatfeed.engine.state import row_names

# Small neighbourhoods, some straddling bogon edges, so overlaps, adjacency and carving all happen often.
BASES = [
    int(ipaddress.IPv4Address(a))
    for a in ("45.0.0.0", "100.63.240.0", "172.15.248.0", "192.167.252.0", "223.255.240.0", "9.255.252.0")
]
SPAN = 1 << 13

address = st.builds(lambda b, off: b + off, st.sampled_from(BASES), st.integers(0, SPAN - 1))
entry = st.one_of(
    st.builds(lambda a: ("ip", a, 32), address),
    st.builds(lambda a, p: ("cidr", a, p), address, st.integers(20, 32)),
    st.builds(lambda a, n: ("range", a, n), address, st.integers(0, 700)),
)
allow_entry = st.builds(lambda a, p: (a, p), address, st.integers(22, 32))


def _text(kind: str, a: int, p: int) -> str:
    if kind == "ip":
        return str(ipaddress.IPv4Address(a))
    if kind == "cidr":
        return f"{ipaddress.IPv4Address(a)}/{p}"  # host bits usually set: the network is meant
    return f"{ipaddress.IPv4Address(a)}-{ipaddress.IPv4Address(min(a + p, 2**32 - 1))}"


def _addresses(kind: str, a: int, p: int) -> set[int]:
    if kind == "ip":
        return {a}
    if kind == "cidr":
        net = ipaddress.ip_network(f"{ipaddress.IPv4Address(a)}/{p}", strict=False)
        return set(range(int(net.network_address), int(net.broadcast_address) + 1))
    return set(range(a, min(a + p, 2**32 - 1) + 1))


BOGON_NETS = [ipaddress.ip_network(c) for c in BOGON_CIDRS]


def _in_bogon(x: int) -> bool:
    addr = ipaddress.IPv4Address(x)
    return any(addr in n for n in BOGON_NETS)


def _oracle(entries, allow) -> tuple[list[str], int, dict[str, int]]:
    allowed: set[int] = set()
    for a, p in allow:
        allowed |= _addresses("cidr", a, p)
    listed: set[int] = set()
    accepted = 0
    reasons: dict[str, int] = {}

    def count(reason: str) -> None:
        reasons[reason] = reasons.get(reason, 0) + 1

    for kind, a, p in entries:
        everything = _addresses(kind, a, p)
        bogon = {x for x in everything if _in_bogon(x)}
        usable = everything - bogon - allowed
        if usable:
            accepted += 1
            if bogon:
                count("bogon_carved")
            if everything & allowed:
                count("allow_list_carved")
            if kind == "cidr" and a != min(everything):
                count("host_bits_set")
        else:
            count("bogon" if bogon == everything else "allow_listed")
        listed |= usable
    nets = ipaddress.collapse_addresses(ipaddress.IPv4Network(x) for x in sorted(listed))
    text = [str(n.network_address) if n.prefixlen == 32 else str(n) for n in nets]
    return text, accepted, reasons


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(entry, max_size=40), st.lists(allow_entry, max_size=4), st.sampled_from(["txt", "csv"]))
def test_engine_matches_ipaddress_oracle(entries, allow, fmt):
    if fmt == "txt":
        body = "".join(_text(*e) + "\n" for e in entries)
    else:
        body = "indicator,comment\n" + "".join(f"{_text(*e)},x\n" for e in entries)
    allow_list = [f"{ipaddress.IPv4Address(a)}/{p}" for a, p in allow]
    result = build_lists(
        [FeedBody("f", body.encode(), fmt)],
        settings(allow_list=allow_list, min_prefix_len=8, max_entries_per_list=10**6),
    )
    expected, accepted, reasons = _oracle(entries, allow)
    assert lines_of(result, "ip") == expected
    stats = result.feeds["f"]
    assert stats.accepted == accepted
    assert stats.reasons == reasons
    assert stats.accepted + stats.rejected == len(entries)


interval = st.builds(lambda a, n: (a, min(a + n, 4095)), st.integers(0, 4095), st.integers(0, 40))


def _set(pairs) -> set[int]:
    out: set[int] = set()
    for s, e in pairs:
        out |= set(range(s, e + 1))
    return out


def _canonical(spans: S.Spans) -> bool:
    pairs = list(spans.pairs())
    return all(s <= e for s, e in pairs) and all(pairs[i][1] + 1 < pairs[i + 1][0] for i in range(len(pairs) - 1))


@hsettings(max_examples=200, deadline=None)
@given(st.lists(interval, max_size=30), st.lists(interval, max_size=30), st.lists(st.integers(0, 4095), max_size=30))
def test_interval_algebra_matches_python_sets(a_pairs, b_pairs, singles):
    a = S.from_keys((s << 32) | e for s, e in a_pairs)
    b = S.from_keys((s << 32) | e for s, e in b_pairs)
    c = S.from_singles(singles)
    for spans in (a, b, c):
        assert _canonical(spans)
    assert _set(a.pairs()) == _set(a_pairs)
    assert _set(c.pairs()) == set(singles)
    for op, expected in (
        (S.union(a, b, c), _set(a_pairs) | _set(b_pairs) | set(singles)),
        (S.merge_into(a, b), _set(a_pairs) | _set(b_pairs)),
        (S.subtract(a, b), _set(a_pairs) - _set(b_pairs)),
        (S.intersect(a, b), _set(a_pairs) & _set(b_pairs)),
    ):
        assert _canonical(op)
        assert _set(op.pairs()) == expected
    blocks = [blk for s, e in a.pairs() for blk in S.cidr_blocks(s, e)]
    assert S.count_blocks(a) == len(blocks)
    oracle = [
        n
        for s, e in a.pairs()
        for n in ipaddress.summarize_address_range(ipaddress.IPv4Address(s), ipaddress.IPv4Address(e))
    ]
    assert [(int(n.network_address), n.prefixlen) for n in oracle] == blocks


_TOP = 0xFFFFFFFF - 2047
edge_interval = st.builds(
    lambda a, n, high: (a + _TOP if high else a, min(a + n, 2047) + (_TOP if high else 0)),
    st.integers(0, 2047),
    st.integers(0, 40),
    st.booleans(),
)


@hsettings(max_examples=200, deadline=None)
@given(st.lists(edge_interval, max_size=30), st.lists(edge_interval, max_size=30))
def test_interval_algebra_holds_at_both_ends_of_the_address_space_and_across_intersect_blocks(a_pairs, b_pairs):
    # 0.0.0.0 and 255.255.255.255 are where 32-bit gap arithmetic would wrap; a tiny block makes intersect cut a
    # set into several blocks, as it cuts a ten-million-interval one
    a = S.from_keys((s << 32) | e for s, e in a_pairs)
    b = S.from_keys((s << 32) | e for s, e in b_pairs)
    saved = S.INTERSECT_BLOCK
    S.INTERSECT_BLOCK = 2
    try:
        for op, expected in (
            (S.subtract(a, b), _set(a_pairs) - _set(b_pairs)),
            (S.intersect(a, b), _set(a_pairs) & _set(b_pairs)),
            (S.union(a, b), _set(a_pairs) | _set(b_pairs)),
        ):
            assert _canonical(op)
            assert _set(op.pairs()) == expected
    finally:
        S.INTERSECT_BLOCK = saved


name_like = st.text(alphabet="abcxyz019-.*_A", min_size=0, max_size=70) | st.sampled_from(
    [
        "a.co",
        "xn--p1ai.xn--p1ai",
        "a.xn--80a",
        "a-.com",
        "-a.com",
        "a..com",
        "a.c",
        "a.c0m",
        f"{'a' * 63}.com",
        f"{'a' * 64}.com",
        f"a.{'b' * 63}",
        f"a.{'b' * 64}",
        "*.evil.example",
        "evil.example.",
        "1.2.3.4",
    ]
)


@hsettings(max_examples=300, deadline=None)
@given(st.lists(name_like, min_size=1, max_size=20))
def test_the_bulk_name_test_agrees_with_the_name_expression(values):
    # the NumPy reading of exact lower-case names must say what domains.NAME says (it leaves "*." names to the
    # regular expression: never told there)
    from threatfeed.engine.domains import NAME
    from threatfeed.engine.formats.text import _are_names

    told = _are_names(values).tolist()
    assert told == [bool(NAME.fullmatch(v)) and not v.startswith("*.") for v in values]


@hsettings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="ab1.9/ü\u00e9\udcff#-", max_size=12), min_size=1, max_size=30))
def test_a_chunk_cut_into_lines_by_the_scan_gives_the_lines_split_gives(lines):
    # ASCII chunks are cut by the scan's byte offsets, others split whole: either way the lines of str.split
    from threatfeed.engine.formats.text import ChunkLines, _line_ends
    from threatfeed.engine.ipv4 import scan_address_lines

    chunk = "\n".join(lines)
    data = chunk.encode("utf-8", "surrogatepass")
    assert scan_address_lines(data).line_ends.tolist() == _line_ends(data).tolist()
    cut = ChunkLines(chunk, data, _line_ends(data))
    assert len(cut) == len(lines)
    assert cut.at(list(range(len(lines)))) == lines
    assert cut.at(list(range(len(lines)))[::-2]) == lines[::-2]


@hsettings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**22)), min_size=1, max_size=60),
    st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=200),
)
def test_membership_and_cover_of_a_big_set_screened_by_its_slash_20s_are_exact(pairs, probes):
    # a set over the screening threshold answers through its /20 table: the answers must be the bisection's
    import numpy as np

    spans = S.from_keys((s << 32) | min(s + n, 2**32 - 1) for s, n in pairs)
    values = np.array(probes + [s for s, _ in pairs] + [min(s + n + 1, 2**32 - 1) for s, n in pairs], dtype=np.uint32)
    expected = [any(a <= v <= b for a, b in spans.pairs()) for v in values.tolist()]
    # intervals from each probe: some inside a set interval, some running past its end into the next /20s
    ends = np.minimum(values.astype(np.int64) + np.arange(len(values)) % 5 * 3000, 2**32 - 1).astype(np.uint32)
    inside = [
        any(a <= v and w <= b for a, b in spans.pairs()) for v, w in zip(values.tolist(), ends.tolist(), strict=True)
    ]
    saved = S.COARSE_FROM
    S.COARSE_FROM = 1
    try:
        assert S.holds(spans, values).tolist() == expected
        assert S.covers(spans, values, ends).tolist() == inside
    finally:
        S.COARSE_FROM = saved
    assert S.holds(spans, values).tolist() == expected
    assert S.covers(spans, values, ends).tolist() == inside


@hsettings(max_examples=300, deadline=None)
@given(st.lists(edge_interval, max_size=30), st.lists(edge_interval, max_size=30), st.lists(st.booleans(), max_size=30))
def test_splitting_by_a_set_gives_its_intersection_and_difference(a_pairs, b_pairs, shared):
    # a scheduled run meets yesterday's intervals again: b holds some of a's intervals exactly
    a = S.from_keys((s << 32) | e for s, e in a_pairs)
    again = [pair for pair, keep in zip(a.pairs(), shared, strict=False) if keep]
    b = S.from_keys((s << 32) | e for s, e in [*b_pairs, *again])
    common, rest = S.split_by(a, b)
    assert _canonical(common) and _canonical(rest)
    assert _set(common.pairs()) == _set(a.pairs()) & _set(b.pairs())
    assert _set(rest.pairs()) == _set(a.pairs()) - _set(b.pairs())


@hsettings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.sampled_from([f"n{i}.example.com" for i in range(12)] + ["*.w.example.org"]), max_size=10),
        min_size=2,
        max_size=5,
    ),
    st.booleans(),
)
def test_names_kept_in_the_order_they_had_stay_sorted_run_after_run(days, replace):
    # rows take their names' order from the rows they came from instead of sorting again: the state and the
    # entity list must still hold each row's names sorted, once, as sorting would
    from datetime import timedelta

    from engine_helpers import NOW

    state = None
    for day, names in enumerate(days):
        body = ("\n".join(names) + "\n").encode()
        kw = {"now": NOW + timedelta(days=day), "replace_delivered": replace}
        result = build_lists(
            [FeedBody("f", body), FeedBody("g", body[: len(body) // 2])], settings(**kw), previous_state=state
        )
        for feed in result.state["feeds"].values():
            for row in feed["rows"]:
                assert row_names(row) == sorted(set(row_names(row)))
        listed = lines_of(result, "domain")
        assert listed == sorted(set(listed))
        state = json.loads(json.dumps(result.state))
