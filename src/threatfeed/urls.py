"""URL policy and redaction: which feed URLs may be fetched, and how a URL is written where people read it.

A leaf (the standard library, :mod:`threatfeed.netpolicy` and nothing else) because both ends of a feed need it:
the catalogue checks URLs before anything is downloaded (the Plan function, which must not import ``requests``)
and :mod:`threatfeed.http` checks every URL again, redirects included, before it connects. Keeping it here, not in
either of them, is what lets the catalogue know the feed types without the HTTP layer importing the catalogue.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from threatfeed.netpolicy import host_problem, is_loopback_host

MAX_URL_LENGTH = 2048
_SECRET_PARAM_ENDINGS = (
    "key",
    "token",
    "secret",
    "password",
    "passwd",
    "pwd",
    "signature",
    "sig",
    "auth",
    "credential",
    "credentials",
)


def is_secret_param(name: str) -> bool:
    """Whether a query parameter name looks like it carries a credential (``apikey``, ``auth-token``…)."""
    norm = "".join(ch for ch in name.lower() if ch.isalnum())
    return norm.endswith(_SECRET_PARAM_ENDINGS)


def redact_url(url: str) -> str:
    """``url`` safe for logs and metadata: no ``user:password@``, secret-looking query values replaced."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<unparsable URL>"
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(is_secret_param(k) for k, _ in pairs):
            query = urlencode([(k, "REDACTED" if is_secret_param(k) else v) for k, v in pairs])
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def url_problem(url: str, *, allow_http_loopback: bool) -> str | None:
    """Why ``url`` may not be fetched, or ``None`` when it may.

    ``https`` with a host is required; ``http`` only to a loopback host and only when
    ``allow_http_loopback``. URLs with credentials in them are refused, and so are hosts that are, as
    written, not public (:func:`threatfeed.netpolicy.host_problem`: IP literals and ``localhost``; no DNS here).
    """
    if not isinstance(url, str) or not url:
        return "the URL is empty"
    if len(url) > MAX_URL_LENGTH:
        return f"the URL is longer than {MAX_URL_LENGTH} characters"
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        return "the URL contains spaces or control characters"
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as error:
        return f"the URL cannot be parsed ({error})"
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        return f"the URL scheme is {scheme or 'missing'}; only https:// is allowed"
    if not host:
        return "the URL has no host"
    if parts.username is not None or parts.password is not None:
        return "the URL carries credentials (user:password@); put them in the feed's secret instead"
    secret_params = sorted({k for k, _ in parse_qsl(parts.query, keep_blank_values=True) if is_secret_param(k)})
    if secret_params:
        return (
            f"the URL has secret-looking query parameter(s) {', '.join(secret_params)}; credentials never go in "
            "URLs: put them in the feed's secret and send them as a header"
        )
    refused = host_problem(host, parts.port or (443 if scheme == "https" else 80), allow_loopback=allow_http_loopback)
    if refused is not None:
        return f"{refused}; {refused.advice}"
    if scheme == "http" and not is_loopback_host(host):
        return f"http:// to {host} is not allowed; use https://"
    return None
