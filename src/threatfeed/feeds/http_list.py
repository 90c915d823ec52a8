"""Generic HTTPS list: a plain-text or CSV (or STIX/MISP document) feed served at one URL.

Examples: abuse.ch Feodo ``ipblocklist.txt``, Spamhaus DROP, DShield ``block.txt``, a CSV export. The body
is downloaded as is (gzip and zip bodies are kept compressed; the engine unpacks them) and checked to look
like the declared ``format`` before it is accepted: an HTML login page, a JSON error object or binary junk
is rejected instead of being published.

Optional authentication comes from the feed's secret (a Secrets Manager secret holding JSON), one of:

* ``{"header": "Authorization", "value": "Bearer abc"}``: one header;
* ``{"headers": {"Auth-Key": "abc", "X-Client": "x"}}``: several headers;
* ``{"token": "abc"}``: ``Authorization: Bearer abc``;
* ``{"username": "u", "password": "p"}``: HTTP Basic.

Credentials go in headers only, never in the URL (the catalogue refuses ``key=``-style query parameters).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any

from threatfeed.errors import ConfigError
from threatfeed.feeds.base import check_body, content_type_of, get, max_bytes_of, raise_for_status
from threatfeed.feeds.context import FetchContext, FetchedFeed
from threatfeed.feeds.registry import FeedEntry
from threatfeed.urls import redact_url

_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$")
_FORBIDDEN_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection", "cookie2"})
_ACCEPT = {
    "txt": "text/plain, */*;q=0.5",
    "tor": "text/plain, */*;q=0.5",
    "alienvault": "text/plain, */*;q=0.5",
    "csv": "text/csv, text/plain;q=0.9, */*;q=0.5",
    "otx": "text/csv, text/plain;q=0.9, */*;q=0.5",
    "proofpoint": "text/csv, text/plain;q=0.9, */*;q=0.5",
    "fireeye": "text/csv, text/plain;q=0.9, */*;q=0.5",
    "stix": "application/xml, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5",
    "misp": "application/json, */*;q=0.5",
}


def auth_headers(entry: FeedEntry, secret: Mapping[str, Any] | None) -> dict[str, str]:
    """The request headers the feed's secret asks for (see the module docstring for the shapes)."""
    if not secret:
        if entry.secret:
            raise ConfigError(f"feed {entry.name}: secret {entry.secret} is empty; store the feed's credentials")
        return {}
    where = f"feed {entry.name}: secret {entry.secret}"
    headers: dict[str, str] = {}
    if "headers" in secret:
        given = secret["headers"]
        if not isinstance(given, Mapping) or not given:
            raise ConfigError(f'{where}: "headers" must be a non-empty object of header name to value')
        headers.update({str(k): v for k, v in given.items()})
    if "header" in secret or "value" in secret:
        if not secret.get("header") or "value" not in secret:
            raise ConfigError(f'{where}: give both "header" (its name) and "value"')
        headers[str(secret["header"])] = secret["value"]
    if "token" in secret:
        headers["Authorization"] = f"Bearer {secret['token']}"
    if "username" in secret or "password" in secret:
        user, password = str(secret.get("username", "")), str(secret.get("password", ""))
        if not user or ":" in user:
            raise ConfigError(f'{where}: "username" must be non-empty and without ":"')
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    if not headers:
        raise ConfigError(
            f'{where}: no credentials found; use {{"header": ..., "value": ...}}, {{"headers": {{...}}}}, '
            '{"token": ...} or {"username": ..., "password": ...}'
        )
    for name, value in headers.items():
        if not _TOKEN.match(name) or name.lower() in _FORBIDDEN_HEADERS:
            raise ConfigError(f"{where}: {name!r} is not a header name that may be set")
        if not isinstance(value, str) or not value or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise ConfigError(f"{where}: the value of header {name} must be a non-empty single-line string")
    return headers


def fetch(entry: FeedEntry, context: FetchContext) -> FetchedFeed:
    """Download the list at ``entry.url``. The window is unused: a list is a snapshot.

    With the context's ``sink`` (the fetch stage's S3 upload, which keeps the body's first bytes as ``head``) the
    body is streamed there, capped by the stack's ``max_feed_bytes`` unless the entry sets ``options.max_bytes``,
    and checked on its head; the caller commits or abandons the upload on the verdict."""
    sink = context.sink
    credentials = auth_headers(entry, context.secret)
    headers = {"Accept": _ACCEPT.get(entry.format, "*/*"), **credentials}
    source = redact_url(entry.url)
    cap = max_bytes_of(entry, context.max_feed_bytes if sink is not None else None)
    status, response_headers, body = get(entry, context, entry.url, headers=headers, max_bytes=cap, sink=sink)
    secrets = tuple(credentials.values())
    if entry.secret:
        hint = f"check the credentials in secret {entry.secret}; not retried"
    else:
        hint = "the feed wants credentials: name a secret in the catalogue entry; not retried"
    raise_for_status(entry.name, status, body, source=source, auth_hint=hint, secrets=secrets)
    content_type = content_type_of(response_headers)
    if status == 204:
        return FetchedFeed.empty(entry.name, source, content_type)
    if sink is not None:
        head = getattr(sink, "head", b"")
        check_body(entry.name, head, entry.format, content_type=content_type, source=source, secrets=secrets)
        return FetchedFeed(entry.name, status, b"", content_type, source, streamed=True)
    check_body(entry.name, body, entry.format, content_type=content_type, source=source, secrets=secrets)
    return FetchedFeed(entry.name, status, body, content_type, source)
