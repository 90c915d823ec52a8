"""Compressed bodies and their caps."""

from __future__ import annotations

import gzip
import io
import zipfile

import pytest
from engine_helpers import settings

from threatfeed.engine import BodyTooLarge, BodyUnreadable, FeedBody, build_lists, parse_body
from threatfeed.engine.decode import unpack
from threatfeed.errors import FeedRejected


def test_gzip_body_is_decompressed(run, ips):
    assert ips(run(gzip.compress(b"1.2.3.4\n5.6.7.8\n"))) == ["1.2.3.4", "5.6.7.8"]


def test_multi_member_gzip_is_read_whole():
    assert unpack(gzip.compress(b"1.2.3.4\n") + gzip.compress(b"5.6.7.8\n")) == b"1.2.3.4\n5.6.7.8\n"


def test_zip_members_are_joined(run, ips):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.txt", "1.2.3.4")
        archive.writestr("b.txt", "5.6.7.8\n")
    assert ips(run(buf.getvalue())) == ["1.2.3.4", "5.6.7.8"]


def test_gzip_inside_zip(run, ips):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("feed.txt.gz", gzip.compress(b"1.2.3.4\n"))
    assert ips(run(buf.getvalue())) == ["1.2.3.4"]


def test_gzip_bomb_raises_a_clear_error():
    bomb = gzip.compress(b"\0" * (5 * 1024 * 1024))
    with pytest.raises(BodyTooLarge, match="cap"):
        unpack(bomb, "bomb", limit=1024 * 1024)
    assert issubclass(BodyTooLarge, FeedRejected)


def test_zip_bomb_raises_a_clear_error():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("x.txt", b"1" * (3 * 1024 * 1024))
    with pytest.raises(BodyTooLarge):
        unpack(buf.getvalue(), "bomb", limit=1024 * 1024)


def test_corrupt_gzip_is_unreadable():
    with pytest.raises(BodyUnreadable):
        parse_body(b"\x1f\x8b\x08\x00garbage")


def test_an_unreadable_body_is_counted_and_carried_over_not_fatal():
    first = build_lists([FeedBody("a", b"1.2.3.4\n")], settings())
    second = build_lists(
        [FeedBody("a", b"\x1f\x8b\x08\x00garbage"), FeedBody("b", b"5.6.7.8\n")], settings(), first.state
    )
    stats = second.feeds["a"]
    assert stats.error and "gzip" in stats.error
    assert stats.carried_over
    assert second.lists[0].body == b"1.2.3.4\n5.6.7.8\n"


def test_an_unexpected_error_in_one_feed_only_fails_that_feed():
    deep = b"[" * 100000 + b"]" * 100000  # the JSON parser gives up (RecursionError) on this
    result = build_lists([FeedBody("deep", deep, "misp"), FeedBody("ok", b"5.6.7.8\n")], settings())
    assert result.lists[0].body == b"5.6.7.8\n"
    assert result.feeds["deep"].carried_over and "RecursionError" in result.feeds["deep"].error


class _Streamed:
    """A body read as a stream in small reads (as the transform reads an S3 object)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def open(self) -> io.BufferedReader:
        return io.BufferedReader(io.BytesIO(self.data), buffer_size=4096)


def test_a_body_streamed_chunk_by_chunk_parses_exactly_as_the_whole_text(monkeypatch):
    """The chunked reader (bytes cut at newlines, decoded and cleaned piece by piece) against the text parser on the
    whole decoded body, with chunks small enough that the body takes dozens of them."""
    from datetime import UTC, datetime

    from threatfeed.engine import parse as P
    from threatfeed.engine.classify import Collector
    from threatfeed.engine.decode import to_text
    from threatfeed.engine.formats import text as T
    from threatfeed.engine.policy import Policy

    monkeypatch.setattr(T, "CHUNK_CHARS", 64)
    monkeypatch.setattr(P, "CHUNK_CHARS", 64)
    lines = [f"{i % 200 + 11}.{i % 7}.{i % 251}.{i % 13 + 1}" for i in range(400)]
    lines[17:20] = ["# comment", "10.0.0.1", "evil-site.biz ; inline"]
    lines[300:302] = ["bad\x00line", "caf\xe9.example"]
    plain = ("\n".join(lines) + "\n\n").encode("utf-8", "surrogateescape").replace(b"\xc3\xa9", b"\xe9")
    # carriage returns in some chunks before the NUL: CRLF endings, and a bare CR that splits a line in two
    crs = plain.replace(b"\n20.1.", b"\r\n20.1.").replace(b"\n49.", b"\n9.9.9.9\r49.", 1)
    for body in (plain, gzip.compress(plain[:3000]) + gzip.compress(plain[3000:]), crs):
        streamed = parse_body(_Streamed(body), feed="f", format="txt")
        col = Collector("f", Policy(), 50)
        text, bad = to_text(unpack(body))
        T.parse_txt(P._clean(text, bad, col), col, {}, datetime.now(UTC))
        whole_ipv4 = P.disjoint_by_confidence(col.ipv4_by_confidence())  # finishes the accounting too
        assert (streamed.stats.lines, streamed.stats.accepted) == (col.lines, col.accepted)
        assert (col.lines, col.accepted) == ((402, 395) if body is crs else (401, 394))
        assert streamed.stats.reasons == dict(sorted(col.tally.reasons.items()))
        assert {"nul_bytes", "invalid_utf8", "bogon"} <= set(streamed.stats.reasons)
        assert streamed.stats.samples == col.tally.flat_samples()
        assert streamed.ipv4 == whole_ipv4
        assert streamed.domains == col.names()
