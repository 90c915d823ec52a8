"""Raw bytes -> text: decompression with a cap, encodings, BOMs and line endings.

Feeds arrive gzip'd, zipped or plain, sometimes with a BOM, CRLF endings, stray NULs or bytes that are not
UTF-8. Decompression is streamed against a hard cap because a 10 kB gzip can expand to gigabytes and a
Lambda has no swap. Undecodable bytes do not sink the feed: they are kept as surrogates and the affected
lines are counted (and cleaned) by the parsers.
"""

from __future__ import annotations

import io
import itertools
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from typing import IO, Protocol

from threatfeed.errors import FeedRejected

#: Largest decompressed body accepted (bytes). A million-line feed is ~20 MB; 200 MB leaves room and
#: still fits a 1 GB Lambda.
MAX_DECOMPRESSED = 200 * 1024 * 1024
_CHUNK = 1 << 20


class BodyTooLarge(FeedRejected):
    """A compressed body expands beyond :data:`MAX_DECOMPRESSED` (a decompression bomb or a wrong feed)."""


class BodyUnreadable(FeedRejected):
    """A body that claims to be compressed but is corrupt."""


class BodyNotUnderstood(BodyUnreadable):
    """A body with content of which the engine understood nothing: no value accepted, none rejected (the wrong
    format, or options that select nothing). The message names the feed, the format read and what to set."""


class BodySource(Protocol):
    """A body too large to hold whole, read from where it is kept (an S3 object: the transform's
    ``pipeline.transform.S3Body``). Each :meth:`open` gives a fresh stream of the same bytes, so a run that
    builds its lists twice (the poisoned-feed guard) reads it twice."""

    def open(self) -> IO[bytes]: ...


_GZIP = b"\x1f\x8b"
_ZIP = (b"PK\x03\x04", b"PK\x05\x06")


def raw_blocks(body: bytes | BodySource, size: int = _CHUNK) -> Iterator[bytes]:
    """``body`` as blocks of about ``size`` bytes: a bytes body sliced (one block held at a time besides it), a
    :class:`BodySource` read as a stream."""
    if isinstance(body, (bytes, bytearray, memoryview)):
        view = memoryview(body)
        for start in range(0, len(view), size):
            yield bytes(view[start : start + size])
        return
    with body.open() as stream:
        while block := stream.read(size):
            yield block


def peek(blocks: Iterator[bytes], n: int) -> tuple[bytes, Iterator[bytes]]:
    """The first ``n`` bytes (fewer if the body is shorter) and an iterator of all the blocks, those included."""
    taken: list[bytes] = []
    have = 0
    for block in blocks:
        taken.append(block)
        have += len(block)
        if have >= n:
            break
    head = b"".join(taken)
    return head[:n], itertools.chain([head] if head else [], blocks)


def unpacked_blocks(
    body: bytes | BodySource, feed: str = "file", limit: int = MAX_DECOMPRESSED
) -> tuple[Iterator[bytes], bool]:
    """The decompressed body as blocks, and whether it was compressed: what :func:`unpack` gives, without ever
    holding a plain or gzip body whole (a zip, or a compressed body inside another, is unpacked in memory, under the
    same cap). A plain body is not capped here: it was capped when it was fetched."""
    magic, blocks = peek(raw_blocks(body), 4)
    if magic[:2] == _GZIP:
        inner = _gunzip_stream(blocks, feed, limit)
        nested, inner = peek(inner, 4)
        if nested[:2] == _GZIP or nested[:4] == b"PK\x03\x04":
            return raw_blocks(unpack(b"".join(inner), feed, limit, 1)), True
        return inner, True
    if magic[:4] in _ZIP:
        return raw_blocks(unpack(b"".join(blocks), feed, limit)), True
    return blocks, False


def _gunzip_stream(blocks: Iterable[bytes], feed: str, limit: int) -> Iterator[bytes]:
    """:func:`_gunzip`, block by block: multi-member, trailing padding ignored, the cap checked as it expands."""
    inflater = zlib.decompressobj(wbits=31)
    total = 0
    pending = b""
    try:
        for block in blocks:
            data = pending + block if pending else block
            pending = b""
            while data:
                if inflater.eof:  # another member, or padding after the last one
                    if len(data) < 2:
                        pending = data
                        break
                    if data[:2] != _GZIP:
                        return
                    inflater = zlib.decompressobj(wbits=31)
                out = inflater.decompress(data, _CHUNK)
                total += len(out)
                if total > limit:
                    raise BodyTooLarge(f"feed {feed}: gzip body expands beyond the {limit}-byte cap; rejected")
                if out:
                    yield out
                data = inflater.unused_data if inflater.eof else inflater.unconsumed_tail
        while not inflater.eof and (out := inflater.flush(_CHUNK)):
            total += len(out)
            if total > limit:
                raise BodyTooLarge(f"feed {feed}: gzip body expands beyond the {limit}-byte cap; rejected")
            yield out
        if not inflater.eof:
            raise BodyUnreadable(f"feed {feed}: gzip body is truncated")
    except zlib.error as exc:
        raise BodyUnreadable(f"feed {feed}: gzip body is corrupt ({exc})") from None


def unpack(body: bytes, feed: str = "file", limit: int = MAX_DECOMPRESSED, _depth: int = 0) -> bytes:
    """The decompressed body (gzip, possibly multi-member, or zip: members joined by newlines)."""
    if body[:2] == b"\x1f\x8b":
        data = _gunzip(body, feed, limit)
    elif body[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        data = _unzip(body, feed, limit)
    else:
        if len(body) > limit:
            raise BodyTooLarge(f"feed {feed}: body of {len(body)} bytes is over the {limit}-byte cap")
        return body
    if _depth < 1 and (data[:2] == b"\x1f\x8b" or data[:4] == b"PK\x03\x04"):
        return unpack(data, feed, limit, _depth + 1)  # a .csv.gz inside a .zip, or .tar-less double gzip
    return data


def _gunzip(body: bytes, feed: str, limit: int) -> bytes:
    out = bytearray()
    data = body
    try:
        while data:
            inflater = zlib.decompressobj(wbits=31)
            while data:
                out += inflater.decompress(data, _CHUNK)
                if len(out) > limit:
                    raise BodyTooLarge(f"feed {feed}: gzip body expands beyond the {limit}-byte cap; rejected")
                data = inflater.unconsumed_tail
            while not inflater.eof and (chunk := inflater.flush(_CHUNK)):
                out += chunk
                if len(out) > limit:
                    raise BodyTooLarge(f"feed {feed}: gzip body expands beyond the {limit}-byte cap; rejected")
            if not inflater.eof:
                raise BodyUnreadable(f"feed {feed}: gzip body is truncated")
            data = inflater.unused_data
            # trailing zero padding after the last member is common and harmless
            if data and data[:2] != b"\x1f\x8b":
                break
    except zlib.error as exc:
        raise BodyUnreadable(f"feed {feed}: gzip body is corrupt ({exc})") from None
    return bytes(out)


def _unzip(body: bytes, feed: str, limit: int) -> bytes:
    parts: list[bytes] = []
    total = 0
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            for info in sorted(archive.infolist(), key=lambda i: i.filename):
                if info.is_dir():
                    continue
                with archive.open(info) as member:
                    while chunk := member.read(_CHUNK):
                        total += len(chunk)
                        if total > limit:
                            raise BodyTooLarge(f"feed {feed}: zip members expand beyond the {limit}-byte cap; rejected")
                        parts.append(chunk)
                parts.append(b"\n")
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        raise BodyUnreadable(f"feed {feed}: zip body is unreadable ({exc})") from None
    return b"".join(parts)


def to_text(data: bytes) -> tuple[str, bool]:
    """Decode to ``str`` with ``\\n`` line endings; ``(text, had_invalid_utf8)``.

    UTF-8 (with or without BOM) is the norm; UTF-16 is recognised by its BOM. Undecodable bytes become
    lone surrogates (``surrogateescape``) so each parser can count and clean the lines that hold them.
    """
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        text = data.decode("utf-16", "replace")
        bad = "\ufffd" in text
    else:
        if data[:3] == b"\xef\xbb\xbf":
            data = data[3:]
        try:
            text = data.decode("utf-8")
            bad = False
        except UnicodeDecodeError:
            text = data.decode("utf-8", "surrogateescape")
            bad = True
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text, bad
