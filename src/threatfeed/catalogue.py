"""The feed catalogue: which feeds exist, how to reach them, and what their bodies are.

The catalogue is JSON kept in the data bucket, ``config/catalogue.json`` (``docs/ARCHITECTURE.md``)::

    {"feeds": [{"name": "feodo", "type": "http_list", "url": "https://…/ipblocklist.txt",
                "format": "txt", "secret": null, "enabled": true, "options": {}}]}

:func:`parse_catalogue` checks everything it can before anything is downloaded, and reports every problem
at once, each naming its entry, so a mistyped catalogue fails the Plan state with one readable message.
This module stays free of ``requests`` and ``boto3``: the Plan function and the CLI import it.

Field rules:

* ``name``: 1-64 characters of ``a-z 0-9 - _``, unique (it names S3 keys and log lines);
* ``type``: a registered feed type (:data:`threatfeed.feeds.registry.FEED_TYPES`);
* ``url`` (:func:`threatfeed.urls.url_problem`): ``https://`` with a host, no ``user:password@`` and no secret-looking
  query parameter (``key``, ``token``, …): credentials belong in the secret. The host may not be a non-public IP
  address (private, loopback, link-local/metadata, …) nor a non-canonical numeric spelling such as ``127.1``
  (:mod:`threatfeed.netpolicy`; names are checked when the Fetch stage resolves them). Loopback, over ``http://`` or
  ``https://``, is accepted only where loopback feeds are allowed (the embedded AWS), and never on port 9001 (the
  Lambda Runtime API);
* ``format``: a format the engine parses (``auto`` sniffs);
* ``secret``: a Secrets Manager secret id or ARN (required by some types, e.g. ``isight``);
* ``enabled``: true or false;
* ``options``: an object; the common keys ``days_requested`` (1-30), ``max_bytes`` (body cap) and
  ``timeout`` (seconds) are checked here, and so are the engine's (:func:`engine_option_problems`: how a body is
  read, e.g. ``column``, ``delimiter``, ``records``/``select`` for JSON, ``zero_padded``, ``kinds``); the others
  belong to the adapter.

A ``type: preset`` entry names a public list instead of a URL (``{"name": "spamhaus-drop", "type": "preset"}``):
:func:`threatfeed.feeds.presets.expand` fills in its ``url`` and ``format`` before these rules run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from threatfeed.errors import ConfigError
from threatfeed.feeds.presets import expand
from threatfeed.feeds.registry import FEED_TYPES, FeedEntry, FeedType
from threatfeed.urls import redact_url, url_problem

NAME_PATTERN = re.compile(r"^[a-z0-9_-]{1,64}$")
#: Largest body cap a catalogue entry may ask for: that of the stack's MaxFeedBytes (``threatfeed.config``), as
#: lists are streamed to S3 and parsed chunk by chunk; compressed bodies still expand to 200 MB at most (the
#: engine's decompression cap).
MAX_BODY_CAP = 8 * 1024 * 1024 * 1024
MAX_TIMEOUT_SECONDS = 300

#: Formats the engine parses (``threatfeed.engine.model.FORMATS``; a test keeps the two equal). Kept here so
#: that validating a catalogue does not import the engine.
FORMATS = ("auto", "txt", "csv", "stix", "otx", "alienvault", "proofpoint", "fireeye", "misp", "tor", "json")

_FIELDS = ("name", "type", "url", "format", "secret", "enabled", "options")


# ------------------------------------------------------------------------------------------ catalogue
@dataclass(frozen=True)
class Selection:
    """The feeds a run was asked for by name, looked up in the catalogue: ``unknown`` names no entry,
    ``disabled`` names a disabled one; ``by_name`` is every entry of the catalogue."""

    by_name: dict[str, FeedEntry]
    unknown: list[str]
    disabled: list[str]


def select_by_name(entries: Sequence[FeedEntry], wanted: Sequence[str]) -> Selection:
    """Look ``wanted`` up in the catalogue. The CLI (before it starts a run) and the plan (in the run) refuse the
    same names, each in its own words: one lookup keeps them from disagreeing on which."""
    by_name = {e.name: e for e in entries}
    unknown = [name for name in wanted if name not in by_name]
    disabled = [name for name in wanted if name in by_name and not by_name[name].enabled]
    return Selection(by_name, unknown, disabled)


def parse_catalogue(text: str, *, allow_http_loopback: bool = True) -> list[FeedEntry]:
    """Parse and validate the catalogue JSON; raise :class:`ConfigError` listing every problem.

    ``allow_http_loopback`` decides whether loopback URLs (``127.0.0.0/8``, ``::1``, ``localhost``, over http
    or https) pass. It defaults to true because the Plan function does not get ``THREATFEED_ALLOW_HTTP_LOOPBACK``:
    the Fetch stage refuses them anyway unless allowed, before connecting. ``http://`` to any other host, other
    non-public addresses and loopback port 9001 are always refused.
    """
    try:
        document = json.loads(text)
    except (TypeError, ValueError) as error:
        raise ConfigError(
            f"The feed catalogue is not valid JSON ({error}); fix it (threatfeed feeds export, edit, import)"
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("feeds"), list):
        raise ConfigError(
            'The feed catalogue must be a JSON object {"feeds": [...]}; fix it (threatfeed feeds export, edit, import)'
        )
    unknown_top = sorted(set(document) - {"feeds"})
    if unknown_top:
        raise ConfigError(f"The feed catalogue has unknown top-level key(s) {', '.join(unknown_top)}; only 'feeds'")

    entries: list[FeedEntry] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(document["feeds"], 1):
        label = f"catalogue feed #{number}"
        if isinstance(raw, dict) and isinstance(raw.get("name"), str):
            label += f" {raw['name']!r}"
        raw, errors = _expand_preset(raw)
        errors += _entry_problems(raw, allow_http_loopback=allow_http_loopback)
        if not errors:
            name = raw["name"]
            if name in seen:
                errors.append(f"the name is already used by feed #{seen[name]}; names must be unique")
            else:
                seen[name] = number
        if errors:
            problems.extend(f"{label}: {e}" for e in errors)
            continue
        entries.append(
            FeedEntry(
                name=raw["name"],
                type=raw["type"],
                url=raw["url"],
                format=raw.get("format", "auto"),
                secret=raw.get("secret") or None,
                enabled=raw.get("enabled", True),
                options=dict(raw.get("options") or {}),
            )
        )
    if problems:
        raise ConfigError("Invalid feed catalogue: " + "; ".join(problems))
    return entries


def _expand_preset(raw: Any) -> tuple[Any, list[str]]:
    """A ``type: preset`` entry with its preset's URL and format filled in (``threatfeed.feeds.presets``)."""
    if not isinstance(raw, dict) or raw.get("type") != "preset":
        return raw, []
    return expand(raw)


def _format_and_secret_problems(raw: Mapping[str, Any], spec: FeedType | None, feed_type: Any) -> list[str]:
    """The entry's format (one the engine reads, and one its feed type delivers) and its secret (one it needs)."""
    problems: list[str] = []
    fmt = raw.get("format", "auto")
    if not isinstance(fmt, str) or fmt not in FORMATS:
        problems.append(f"format {fmt!r} is not one of: {', '.join(FORMATS)}")
    elif spec is not None and spec.formats is not None and fmt not in spec.formats:
        problems.append(f"a {feed_type} feed's format must be one of: {', '.join(spec.formats)} (not {fmt!r})")
    secret = raw.get("secret")
    if secret is not None and (not isinstance(secret, str) or len(secret) > 2048):
        problems.append("secret must be a Secrets Manager secret name or ARN (a string)")
    elif spec is not None and spec.needs_secret and not secret:
        keys = ", ".join(spec.secret_keys)
        problems.append(f"a {feed_type} feed needs 'secret': a Secrets Manager secret holding JSON keys {keys}")
    return problems


def _entry_problems(raw: Any, *, allow_http_loopback: bool) -> list[str]:
    if not isinstance(raw, dict):
        return ["each feed must be a JSON object"]
    problems: list[str] = []
    unknown = sorted(set(raw) - set(_FIELDS))
    if unknown:
        problems.append(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(_FIELDS)}")
    for required in ("name", "type", "url"):
        if required not in raw and not (required == "url" and raw.get("type") == "preset"):
            problems.append(f"'{required}' is missing")

    name = raw.get("name")
    if "name" in raw and (not isinstance(name, str) or not NAME_PATTERN.match(name)):
        problems.append(f"name {name!r} must be 1-64 characters of a-z, 0-9, '-' and '_'")

    feed_type = raw.get("type")
    spec = FEED_TYPES.get(feed_type) if isinstance(feed_type, str) else None
    if "type" in raw and spec is None:
        problems.append(f"type {feed_type!r} is not one of: {', '.join(sorted(FEED_TYPES))}")

    if "url" in raw:
        why = url_problem(raw["url"], allow_http_loopback=allow_http_loopback)
        if why:
            problems.append(f"{why} (url {redact_url(raw['url']) if isinstance(raw['url'], str) else raw['url']!r})")

    problems += _format_and_secret_problems(raw, spec, feed_type)
    fmt = raw.get("format", "auto")

    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        problems.append(f"enabled must be true or false, not {enabled!r}")

    options = raw.get("options", {})
    if options is None:
        options = {}
    if not isinstance(options, dict):
        problems.append("options must be a JSON object")
    else:
        problems.extend(_option_problems(options))
        problems.extend(engine_option_problems(options, fmt if isinstance(fmt, str) else "auto"))
    return problems


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


#: The engine's options (how a body is read), with what each takes. ``threatfeed parse --option`` takes the same.
ENGINE_OPTIONS = {
    "column": "the indicator column of a csv feed: a header name or a 0-based index",
    "columns": "several indicator columns of a csv feed: a list of header names or 0-based indexes",
    "delimiter": "the csv delimiter, one character (default: sniffed; a pipe table is split on its padded pipes)",
    "confidence": "0-100, the confidence of the feed's indicators where the format carries none (default 50)",
    "confidence_column": "a csv column holding a 0-100 confidence",
    "records": "json: a JMESPath expression selecting the records (default: the list found in the document)",
    "select": "json: a JMESPath expression giving a record's indicator(s) (default: the first indicator field)",
    "confidence_select": "json: a JMESPath expression giving a record's 0-100 confidence",
    "zero_padded": "true: dotted quads are zero-padded decimal (109.230.155.061); default: as the feed's header says",
    "kinds": 'the indicator kinds the feed may contribute: a list of "ipv4" and "domain" (default both)',
    "misp_to_ids": "misp: only attributes flagged for detection (default true)",
    "priority": "a whole number; higher wins when the lists overflow (default 0)",
    "replace": "true: the body is the feed's whole list (delisted at once); false: earlier entries age out",
}
_JSON_OPTIONS = ("records", "select", "confidence_select")
_CSV_OPTIONS = ("column", "columns", "delimiter", "confidence_column")
#: Options ``threatfeed parse --option`` reads as a comma-separated list when not written as JSON.
LIST_OPTIONS = ("columns", "kinds")


def _is_column(value: Any) -> bool:
    return (isinstance(value, str) and bool(value.strip())) or (_is_int(value) and value >= 0)


def _is_columns(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(_is_column(c) for c in value)


def _is_delimiter(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 1 and value not in '"\r\n'


def _is_confidence(value: Any) -> bool:
    return _is_int(value) and 0 <= value <= 100


def _is_kinds(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and set(value) <= {"ipv4", "domain"}


#: Each engine option whose value alone decides whether it is valid: its check, and what it must be.
_OPTION_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "column": (_is_column, "a header name or a 0-based index"),
    "columns": (_is_columns, "a non-empty list of header names or indexes"),
    "delimiter": (_is_delimiter, "one character (tab, comma, semicolon, pipe...)"),
    "confidence": (_is_confidence, "a whole number 0..100"),
    "confidence_column": (_is_column, "a header name"),
    "zero_padded": (lambda v: isinstance(v, bool), "true or false"),
    "misp_to_ids": (lambda v: isinstance(v, bool), "true or false"),
    "replace": (lambda v: isinstance(v, bool), "true or false"),
    "priority": (_is_int, "a whole number"),
    "kinds": (_is_kinds, 'a non-empty list of "ipv4" and "domain"'),
}


def engine_option_problems(options: Mapping[str, Any], fmt: str = "auto") -> list[str]:
    """What is wrong with the engine's options of a feed read as ``fmt`` (each a sentence)."""
    problems = [
        f"options.{key} must be {what}, not {options[key]!r}"
        for key, (valid, what) in _OPTION_CHECKS.items()
        if key in options and not valid(options[key])
    ]
    problems += _json_option_problems(options, fmt)
    if fmt not in ("csv", "auto"):
        misplaced = [key for key in _CSV_OPTIONS if key in options]
        if misplaced:
            problems.append(f"options.{', options.'.join(misplaced)} apply to format csv, not {fmt}")
    return problems


def _json_option_problems(options: Mapping[str, Any], fmt: str) -> list[str]:
    """The JMESPath options (``records``, ``select``…): each a compiling expression, and only for JSON."""
    problems: list[str] = []
    for key in _JSON_OPTIONS:
        if key not in options:
            continue
        expression = options[key]
        if not isinstance(expression, str) or not expression.strip():
            problems.append(f"options.{key} must be a JMESPath expression (a string), not {expression!r}")
            continue
        why = _jmespath_problem(expression)
        if why:
            problems.append(f"options.{key} {expression!r} is not a JMESPath expression ({why})")
        if fmt not in ("json", "auto"):
            problems.append(f"options.{key} applies to format json, not {fmt}")
    return problems


def _jmespath_problem(expression: str) -> str | None:
    """Why ``expression`` does not compile as JMESPath (jmespath: in the Lambda runtime; no engine import here, the
    Plan function ships no NumPy)."""
    import jmespath  # lazy: cold start; only a catalogue with JSON options pays for it
    from jmespath.exceptions import JMESPathError

    try:
        jmespath.compile(expression)
    except JMESPathError as error:
        return " ".join(str(error).split())
    return None


def parse_option(text: str) -> tuple[str, Any]:
    """``key=value`` (``threatfeed parse --option``) as the catalogue would hold it: the value read as JSON when
    it is JSON (``true``, ``3``, ``["ipv4"]``, ``"text"``), else as text (a comma-separated list for
    :data:`LIST_OPTIONS`). ``ValueError`` for an unknown key or a missing ``=``."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ValueError(f"--option {text!r}: write key=value")
    if key not in ENGINE_OPTIONS:
        raise ValueError(f"--option {key}: not an engine option; one of {', '.join(ENGINE_OPTIONS)}")
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = [v.strip() for v in raw.split(",") if v.strip()] if key in LIST_OPTIONS else raw
    if key in LIST_OPTIONS and isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    return key, value


def _option_problems(options: Mapping[str, Any]) -> list[str]:
    problems = []
    if "days_requested" in options:
        days = options["days_requested"]
        if not _is_int(days) or not 1 <= days <= 30:
            problems.append(f"options.days_requested must be a whole number of days 1..30, not {days!r}")
    if "max_bytes" in options:
        cap = options["max_bytes"]
        if not _is_int(cap) or not 1 <= cap <= MAX_BODY_CAP:
            problems.append(f"options.max_bytes must be a whole number 1..{MAX_BODY_CAP}, not {cap!r}")
    if "timeout" in options:
        timeout = options["timeout"]
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not 0 < timeout <= 300:
            problems.append(f"options.timeout must be seconds in (0, {MAX_TIMEOUT_SECONDS}], not {timeout!r}")
    return problems


__all__ = [
    "ENGINE_OPTIONS",
    "FORMATS",
    "LIST_OPTIONS",
    "MAX_BODY_CAP",
    "NAME_PATTERN",
    "FeedEntry",
    "engine_option_problems",
    "parse_catalogue",
    "parse_option",
    "redact_url",
    "url_problem",
]
