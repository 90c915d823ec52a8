"""Undo defanging and reduce URLs to their host.

Analysts "defang" indicators (``1.2.3[.]4``, ``hxxp://evil[.]com``) so nobody clicks them; GuardDuty
matches hosts, not URLs, so a URL is as good as its host. Both happen only on the slow path, after the
cheap shapes (plain addresses and names) failed to match.
"""

from __future__ import annotations

import re

_DOTS = re.compile(r"\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)|\{dot\}|\s+dot\s+|\[\s*\.\s*\]", re.IGNORECASE)
_SCHEME = re.compile(r"^(?:hxxp|hXXp|h\[xx\]p|h__p|meow)(s?)(\[?:\]?//|://)", re.IGNORECASE)
#: Cheap test before the substitutions: any bracket, a defanged scheme, a spelled-out " dot ".
looks_defanged = re.compile(r"[\[({]|hxxp|meow|\sdot\s", re.IGNORECASE).search


def refang(value: str) -> str:
    """``hxxp://evil[.]com`` -> ``http://evil.com``; other text is returned unchanged."""
    out = value.replace("[.]", ".")
    if out[:4] in ("hxxp", "HXXP", "hXXp"):
        out = "http" + out[4:]
    elif _SCHEME.match(out):
        out = _SCHEME.sub(r"http\1://", out)
    if "[" in out or "(" in out or "{" in out or " " in out:
        out = out.replace("[://]", "://").replace("[:]", ":")
        out = _DOTS.sub(".", out)
    return out


def looks_like_url(value: str) -> bool:
    """A scheme, a path, user info or a single ``:port``: something to reduce to a host."""
    return "://" in value or "/" in value or "@" in value or value.count(":") == 1 or "?" in value


def host_of(value: str) -> str | None:
    """The host part of a URL, ``host/path`` or ``host:port``; None when there is none."""
    rest = value
    scheme = value.find("://")
    if scheme != -1:
        rest = value[scheme + 3 :]
    for sep in "/?#":
        cut = rest.find(sep)
        if cut != -1:
            rest = rest[:cut]
    if "@" in rest:
        rest = rest.rsplit("@", 1)[1]
    if rest.startswith("["):  # [IPv6]:port
        close = rest.find("]")
        return rest[1:close] if close > 1 else None
    if rest.count(":") == 1:
        host, port = rest.split(":")
        if port and not port.isdigit():
            return None
        rest = host
    return rest or None
