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
