"""The bulk paths against the straightforward ones they replace: same results, same counts, same samples."""

from __future__ import annotations

import base64
import ipaddress
import json
import sys
import zlib
from array import array
from datetime import timedelta
from itertools import accumulate
from operator import add, sub
from socket import inet_aton
from unittest import mock

import numpy as np
import pytest
from engine_helpers import NOW, settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from threatfeed.engine import FeedBody, build_lists, parse_body
from threatfeed.engine import reasons as R
from threatfeed.engine import spans as S
from threatfeed.engine.classify import Collector, converted
from threatfeed.engine.decode import BodyNotUnderstood
from threatfeed.engine.formats import text as T
from threatfeed.engine.ipv4 import block_text, scan_address_lines
from threatfeed.engine.packing import first_blocks, ip_lines
from threatfeed.engine.parse import policy_for
from threatfeed.engine.state import decode_spans, encode_spans, row_names

TOP = 2**32 - 1

# ---- lines of every shape the text parser handles in bulk, and their near misses ------------------------------

octet = st.one_of(st.integers(0, 255), st.sampled_from([0, 10, 127, 172, 192, 198, 203, 224, 255]))
quad = st.builds(lambda *o: ".".join(map(str, o)), octet, octet, octet, octet)
odd_quad = st.one_of(
    quad,
    st.builds(lambda q: "0" + q, quad),
    st.builds(lambda n, q: f"{n}.{q[q.index('.') + 1 :]}", st.integers(256, 999), quad),
)
prefix = st.integers(0, 40)
host = st.sampled_from(["evil", "x1", "a-b", "Bad", "hxxpx", "meowz", "example", "ok", "1", "aa--b", "-x"])
tld = st.sampled_from(["com", "test", "org", "COM", "local", "ru", "1", "co.uk", "xn--p1ai", "onion"])
word = st.sampled_from(["malware", "botnet", "Start", "End", "c2", "x-y", "0", "ExitNode"])
garbage = st.text(alphabet="abcdefxyz0123456789!@$%^&*_-?", min_size=1, max_size=12)

line = st.one_of(
    quad,
    odd_quad,
    st.builds(lambda q, p: f"{q}/{p}", odd_quad, prefix),
    st.builds(
        lambda q, c, t: f"{q}{c}{t}", odd_quad, st.sampled_from([" ; ", " # ", ";", "#", "\t// ", " //", "//"]), garbage
    ),
    st.builds(lambda q, p, c: f"{q}/{p}{c}x", odd_quad, prefix, st.sampled_from([" ; ", "#", "\t// "])),
    st.builds(lambda a, b: f"{a}-{b}", odd_quad, odd_quad),
    st.builds(lambda a, b: f"{a} - {b}", quad, quad),
    st.builds(lambda a, b, c: f"{a}.{b}.{c}", octet, octet, st.integers(0, 999)),
    st.builds(
        lambda h, t, p: f"hxxp://{h}[.]{t}{p}",
        host,
        tld,
        st.sampled_from(["", "/", "/a.php", "/x?y=1", "/p@q", "/meow"]),
    ),
    st.builds(lambda h, t: f"hxxps://{h}.{t}", host, tld),
    st.builds(lambda n: "hxxp://" + "[.]".join(["a" * 60] * n) + "[.]com/x", st.integers(3, 5)),  # past 253
    st.builds(lambda q: f"hxxp://{q.replace('.', '[.]')}/x", quad),
    st.builds(lambda h, t: f"hXXp://{h}[.]{t}/", host, tld),
    st.builds(lambda h, t: f"{h}.{t}", host, tld),
    st.builds(lambda h, t: f"*.{h}.{t}", host, tld),
    st.builds(lambda n: f"2001:db8::{n:x}", st.integers(0, 0xFFFF)),
    st.sampled_from(
        ["fe80::1%eth0", "2001:db8::/64", "2001:db8::/129", "1:2:3", "::", "::1", "gg::1", "1::2::3", "::ffff:1.2.3.4"]
    ),
    st.builds(lambda ws: " ".join(ws), st.lists(word, min_size=1, max_size=4)),
    garbage,
    st.builds(lambda g, h: f"{g}@{h}", garbage, st.sampled_from(["", "x", "123", "a*b", "hxxp"])),
    st.sampled_from(
        ["", "# c", "; c", "// c", "  # c", "   ", "\t", "0.0.0.0 evil.com bad.test", "127.0.0.1 x", "0 foo bar"]
    ),
    st.sampled_from(
        ["Ωmega.com", "ünï.de", "1.2.3.4\u00a0", "٣.1.1.1", "[1.2.3.4]", "1.2.3.4:80", "1.2.3.4,x", "a" * 70 + ".com"]
    ),
    # issue 11: zone and list notations, names under no real public suffix, lines that say what they are
    st.sampled_from(
        [
            ".evil.com",
            ".1.2.3.4",
            "||evil.org^",
            "||x^",
            "@@||ok.net^",
            "@@x",
            "!evil.com",
            "!x",
            "!",
            "! c",
            "[Adblock Plus 2.0]",
            "$TTL 300",
            "$TTL",
            ":127.0.0.2:Blocked",
            ":127.0.0.2:",
            '{"cidr":"1.2.3.0/24"}',
            "AS13335",
            "AS13335 CN",
            "13335",
            "d41d8cd98f00b204e9800998ecf8427e",
            "CVE-2026-12345",
            "bad@evil.com",
            "payload.js",
            "hxxp://payload[.]js/x",
            "xmlhttp.onreadystatechange",
            "co.uk",
            "*.co.uk",
            "foo.ck",
            "x.zip",
            "hxxp://co[.]uk/",
            "/gate.php",
            "example.com",
            "a.example.net",
            "*.evil.com",
        ]
    ),
)
allow = st.lists(
    st.sampled_from(
        ["45.0.0.0/8", "1.2.3.4", "evil.com", "*.ok.org", "ok.org", "8.8.8.0-8.8.9.255", "172.0.0.0/9", "x1.ru"]
    ),
    max_size=3,
)


def _outcome(body: bytes, **kw) -> tuple:
    try:
        result = parse_body(body, format="txt", settings=settings(**kw))
    except BodyNotUnderstood as exc:  # a header and nothing else: both paths must say so
        return ("not understood", str(exc), None, None, {})
    return (result.stats.to_dict(), result.ipv4, result.domains, result.revoked_ipv4, result.stats.reasons)


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(line, min_size=1, max_size=120).map(lambda ls: ls * 3 if len(ls) < 20 else ls),
    allow,
    st.sampled_from([0, 8, 12, 24]),
    st.sampled_from([1 << 20, 64, 200]),
    st.sampled_from(["", "Start End Netblock Attacks", "malware botnet", "# feed\nStart End", "evil"]),
)
def test_bulk_shapes_match_the_line_by_line_path(lines, allow_list, min_prefix, chunk, head):
    # ``head``: a first data line that may be a column header (only the one-line path tells)
    body = ("\n".join([head, *lines] if head else lines) + "\n").encode()
    kw = {"allow_list": allow_list, "min_prefix_len": min_prefix}
    with mock.patch.object(T, "CHUNK_CHARS", chunk):
        bulk = _outcome(body, **kw)
        with mock.patch.object(T, "_TXT_CLASSES", T._TOR_CLASSES):  # no shape in bulk: every line one by one
            one_by_one = _outcome(body, **kw)
    assert bulk == one_by_one
    assert list(bulk[4]) == list(one_by_one[4])  # reasons met in the same order


@hsettings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(odd_quad, prefix, st.booleans()), min_size=1, max_size=40),
    allow,
    st.sampled_from([0, 12, 24]),
)
def test_batch_cidrs_match_one_value_at_a_time(values, allow_list, min_prefix):
    policy = policy_for(settings(allow_list=allow_list, min_prefix_len=min_prefix))
    cidrs = [f"{q}/{p}" for q, p, _ in values if q[0] != "0"]  # the shapes admit no leading zero
    if not cidrs:
        return
    numbers = list(range(3, 3 + 2 * len(cidrs), 2))
    texts = [
        f"{c} ; line {n}" if with_text else c for c, n, (_, _, with_text) in zip(cidrs, numbers, values, strict=False)
    ]
    batch, single = Collector("f", policy), Collector("f", policy)
    batch.add_cidrs(cidrs, numbers, texts)
    for value, number, text in zip(cidrs, numbers, texts, strict=True):
        single.add_cidr_line(number, value, text)
    assert batch.keys == single.keys
    assert (batch.accepted, batch.ipv4) == (single.accepted, single.ipv4)
    assert list(batch.tally.reasons.items()) == list(single.tally.reasons.items())
    assert batch.tally.flat_samples() == single.tally.flat_samples()


events = st.lists(
    st.tuples(st.integers(1, 40), st.sampled_from([R.BOGON, R.HOST_BITS_SET, R.UNRECOGNIZED, R.IDNA])), max_size=60
)


@given(events, st.lists(st.integers(0, 3), min_size=60, max_size=60))
def test_tally_batches_and_parts_count_like_one_by_one(happened, part_of):
    happened = sorted(happened, key=lambda e: e[0])  # emitted in line order, as within one run of lines
    sequential = R.Tally("f")
    sequential.count(R.BOGON, 0, "earlier")  # counted before: stays first
    for line_no, reason in happened:
        sequential.count(reason, line_no, f"t{line_no}")
    # the same lines split between parts (a line's events all in its part, each part in line order), folded
    folded = R.Tally("f")
    folded.count(R.BOGON, 0, "earlier")
    parts = [R.Tally("f") for _ in range(4)]
    for line_no, reason in happened:
        parts[part_of[line_no]].count(reason, line_no, f"t{line_no}")
    folded.absorb(parts)
    assert folded.reasons == sequential.reasons
    assert list(folded.reasons) == list(sequential.reasons)
    assert folded.flat_samples() == sequential.flat_samples()
    # and as one batch
    batched = R.Tally("f")
    batched.count(R.BOGON, 0, "earlier")
    by_reason: dict[str, list[int]] = {}
    for k, (_, reason) in enumerate(happened):
        by_reason.setdefault(reason, []).append(k)
    batched.count_batch(by_reason, [n for n, _ in happened], [f"t{n}" for n, _ in happened])
    assert list(batched.reasons.items()) == list(sequential.reasons.items())
    assert batched.flat_samples() == sequential.flat_samples()


# ---- interval primitives at the edges of the address space -------------------------------------------------

edge = st.one_of(
    st.integers(0, TOP),
    st.integers(0, 63),
    st.integers(TOP - 63, TOP),
    st.integers(2**30 - 3, 2**30 + 3),
    st.integers(2**31 - 3, 2**31 + 3),
)
interval = st.builds(
    lambda a, n: (a, min(TOP, a + n)), edge, st.one_of(st.integers(0, 3), st.integers(0, 5000), st.integers(0, TOP))
)


def _reference_union(pairs):
    out: list[list[int]] = []
    for s, e in sorted(pairs):
        if out and s <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [tuple(p) for p in out]


def _reference_pairs(spans: S.Spans) -> bytes:
    """The state encoding's payload (before zlib and base64) computed the plain way (one delta at a time)."""
    prev = 0
    words = array("I")
    for s, e in spans.pairs():
        words.extend((s - prev, e - s))
        prev = e
    if sys.byteorder == "little":
        words.byteswap()
    return words.tobytes()


@hsettings(max_examples=300, deadline=None)
@given(st.lists(interval, min_size=1, max_size=30), st.integers(0, 40))
def test_interval_primitives_at_the_edges_of_the_address_space(pairs, limit):
    spans = S.from_keys([(s << 32) | e for s, e in pairs])
    assert list(spans.pairs()) == _reference_union(pairs)
    half = len(pairs) // 2
    a = S.from_keys([(s << 32) | e for s, e in pairs[:half]])
    b = S.from_keys([(s << 32) | e for s, e in pairs[half:]])
    assert S.union(a, b) == spans
    assert S.from_bounds([s for s, _ in pairs], [e for _, e in pairs]) == spans
    assert list(S.sweep_sorted(array("I", sorted(s for s, _ in pairs))).pairs()) == _reference_union(
        [(s, s) for s, _ in pairs]
    )
    blocks = [list(S.cidr_blocks(s, e)) for s, e in spans.pairs()]
    assert list(S.block_counts(spans)) == [len(b) for b in blocks]
    assert [S.interval_blocks(s, e) for s, e in spans.pairs()] == [len(b) for b in blocks]
    assert spans.ranged == [i for i, (s, e) in enumerate(spans.pairs()) if s != e]
    assert S.count_blocks(spans) == sum(map(len, blocks))
    encoded = encode_spans(spans)
    assert zlib.decompress(base64.b64decode(encoded)) == _reference_pairs(spans)
    assert decode_spans(encoded) == spans
    # the first ``limit`` entries of the list, with block counts handed down rather than recomputed
    head = first_blocks(spans, limit)
    assert ip_lines(head) == ip_lines(spans)[:limit]
    assert list(S.block_counts(head)) == [S.interval_blocks(s, e) for s, e in head.pairs()]


address_like = st.lists(
    st.one_of(
        line,
        st.text(alphabet="0123456789./:- \tx\r", max_size=20),
        st.text(max_size=6),  # any character, non-ASCII and surrogates included
    ),
    max_size=60,
)


@given(address_like)
@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_scan_finds_exactly_the_address_and_cidr_shapes(lines):
    """The bulk scanner against the one-line path's shape sets and ``inet_aton``."""
    text = "\n".join(lines)
    found = scan_address_lines(text.encode("utf-8", "surrogatepass"))
    split = text.split("\n")
    assert found.lines == len(split)
    shapes = [x.translate(T._SHAPE) for x in split]
    assert found.quad_at.tolist() == [i for i, shape in enumerate(shapes) if shape in T.QUAD_SHAPES]
    assert found.cidr_at.tolist() == [i for i, shape in enumerate(shapes) if shape in T.CIDR_SHAPES]

    def expected(dotted: str) -> int | None:
        try:
            return int.from_bytes(inet_aton(dotted), "big")
        except OSError:  # an octet over 255
            return None

    quads = zip(found.quad_at.tolist(), found.quad_values.tolist(), found.quad_over.tolist(), strict=True)
    for i, value, over in quads:
        assert (None if over else value) == expected(split[i])
    cidrs = zip(
        found.cidr_at.tolist(), found.cidr_values.tolist(), found.cidr_prefixes.tolist(), found.cidr_over, strict=True
    )
    for i, value, plen, over in cidrs:
        address, _, written = split[i].partition("/")
        assert (None if over else value, plen) == (expected(address), int(written))


def test_converted_reports_the_positions_it_refused():
    values = ["1.2.3.4", "300.1.1.1", "5.6.7.8", "999.1.1.1", "9.9.9.9", "x"]
    out, bad = converted(values, inet_aton)
    assert bad == [1, 3, 5]
    assert out == [inet_aton(v) for v in ("1.2.3.4", "5.6.7.8", "9.9.9.9")]
    assert converted([], inet_aton) == ([], [])


def test_ip_lists_split_on_the_byte_limit_too():
    body = "".join(f"45.{i}.{i}.{i}\n" for i in range(100, 112)) + "45.1.2.0/24\n"
    result = build_lists([FeedBody("a", body.encode())], settings(max_bytes_per_list=64, ip_list_slots=5))
    ip_lists = [lst for lst in result.lists if lst.kind == "ip"]
    assert all(len(lst.body) <= 64 for lst in ip_lists)
    assert [lst.entries for lst in ip_lists] == [4, 4, 4, 1]
    assert result.dropped == {}


def test_ip_lines_render_single_blocks_and_decompose_the_rest():
    spans = S.from_keys(
        [
            (int(ipaddress.IPv4Address("45.0.0.1")) << 32) | int(ipaddress.IPv4Address("45.0.0.1")),
            (int(ipaddress.IPv4Address("45.0.1.0")) << 32) | int(ipaddress.IPv4Address("45.0.1.255")),
            (int(ipaddress.IPv4Address("45.0.3.1")) << 32) | int(ipaddress.IPv4Address("45.0.3.6")),
        ]
    )
    assert ip_lines(spans) == ["45.0.0.1", "45.0.1.0/24", "45.0.3.1", "45.0.3.2/31", "45.0.3.4/31", "45.0.3.6"]


def _entries(text: bytes) -> list[str]:
    return text.decode("ascii").split("\n")[:-1]


def test_block_texts_write_every_octet_and_prefix_as_ipaddress_does():
    # every octet value in every position, every prefix length, the first and last addresses
    rng = np.random.default_rng(7)
    octets = np.arange(256, dtype=np.uint32)
    networks = np.concatenate(
        [
            octets << np.uint32(24) | octets,
            (octets << np.uint32(16)) | np.uint32(0x01000000),
            (octets << np.uint32(8)) | np.uint32(0x02000000),
            rng.integers(0, 2**32, 2000, dtype=np.uint64).astype(np.uint32),
            np.array([0, 0xFFFFFFFF], dtype=np.uint32),
        ]
    )
    prefixes = np.concatenate([np.full(256 * 3, 32), np.arange(2000) % 33, [0, 32]]).astype(np.int64)
    masks = np.array([(0xFFFFFFFF << (32 - p)) & 0xFFFFFFFF for p in prefixes.tolist()], dtype=np.uint64)
    networks = (networks.astype(np.uint64) & masks).astype(np.uint32)
    expected = [
        str(ipaddress.IPv4Address(n)) if p == 32 else f"{ipaddress.IPv4Address(n)}/{p}"
        for n, p in zip(networks.tolist(), prefixes.tolist(), strict=True)
    ]
    assert _entries(block_text(networks, prefixes)) == expected
    assert _entries(block_text(networks[:0], prefixes[:0])) == []


# ---- state: names seen at several confidences over several runs ---------------------------------------------


def _stix(*indicators: tuple[str, int]) -> bytes:
    objects = [
        {"type": "indicator", "id": f"indicator--{i}", "pattern": f"[domain-name:value = '{name}']", "confidence": c}
        for i, (name, c) in enumerate(indicators)
    ]
    return json.dumps({"type": "bundle", "objects": objects}).encode()


def _rows(result) -> set[tuple[int, int, int, tuple[str, ...]]]:
    feed = json.loads(json.dumps(result.state))["feeds"]["s"]
    return {(r["first"], r["last"], r["confidence"], tuple(row_names(r))) for r in feed["rows"]}


def test_names_keep_their_first_seen_per_confidence_across_runs():
    t0 = int(NOW.timestamp())
    t1, t2 = t0 + 86400, t0 + 2 * 86400
    one = build_lists([FeedBody("s", _stix(("a-evil.biz", 90), ("b-evil.biz", 10)))], settings())
    two = build_lists(
        [FeedBody("s", _stix(("a-evil.biz", 90), ("b-evil.biz", 60), ("c-evil.biz", 60)))],
        settings(now=NOW + timedelta(days=1)),
        one.state,
    )
    assert _rows(two) == {(t0, t1, 90, ("a-evil.biz",)), (t0, t1, 60, ("b-evil.biz",)), (t1, t1, 60, ("c-evil.biz",))}
    three = build_lists(
        [FeedBody("s", _stix(("c-evil.biz", 60), ("a-evil.biz", 60)))], settings(now=NOW + timedelta(days=2)), two.state
    )
    assert _rows(three) == {
        (t0, t2, 60, ("a-evil.biz",)),  # first seen in the earliest row holding it, now at its new confidence
        (t1, t2, 60, ("c-evil.biz",)),
        (t0, t1, 60, ("b-evil.biz",)),  # no longer listed: kept as it was until it ages out
    }


def test_decoded_state_sums_back_to_the_intervals():
    spans = S.from_keys([(5 << 32) | 9, (20 << 32) | 20, ((TOP - 1) << 32) | TOP])
    pairs = array("I")
    pairs.frombytes(zlib.decompress(base64.b64decode(encode_spans(spans))))
    if sys.byteorder == "little":
        pairs.byteswap()
    ends = list(accumulate(map(add, pairs[0::2], pairs[1::2])))
    assert list(zip(map(sub, ends, pairs[1::2]), ends, strict=True)) == list(spans.pairs())


def test_a_state_that_runs_past_the_address_space_is_refused():
    raw = b"".join(x.to_bytes(4, "big") for x in (0xFFFFFFF0, 5, 20, 1))  # second interval ends past 2**32
    with pytest.raises(ValueError, match="corrupt"):
        decode_spans(base64.b64encode(zlib.compress(raw)).decode("ascii"))
