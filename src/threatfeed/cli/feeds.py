"""``threatfeed feeds``: the catalogue (``s3://<data bucket>/config/catalogue.json``), managed from the CLI.

Every change is validated with the checks the run makes (:func:`threatfeed.catalogue.parse_catalogue`) before it
is written, and written with an S3 conditional write on the version it started from (``If-Match`` on its ETag, or
``If-None-Match`` when there was none): two people editing at once never silently lose an edit. The bucket is
versioned, so every earlier catalogue stays (``feeds history``) and can be put back (``feeds restore``).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from threatfeed import operate
from threatfeed.cli.failures import CliError
from threatfeed.cli.tables import table

VERBS = ("show", "list", "export", "validate", "import", "add", "remove", "enable", "disable", "history", "restore")
EDIT_ATTEMPTS = 3
LOCAL_FILES_HINT = (
    "a feed URL must be https:// (a local file is served only on the embedded AWS: "
    "`threatfeed local run --catalogue FILE`)"
)

DESCRIPTION = """\
The catalogue is s3://<data bucket>/config/catalogue.json (stack output CatalogueLocation), yours to edit.

  feeds [show [NAME]] [--json]      the feeds, with each one's last outcome
  feeds add NAME --type T [--url U] [--format F] [--option k=v ...] [--secret S] [--disabled] [--replace] [--try]
  feeds remove|enable|disable NAME
  feeds export [VERSION] > FILE     the catalogue as the next run reads it (or an earlier version)
  feeds validate FILE [--try]       the checks a run makes, without the stack
  feeds import FILE [--try] [--if-match ETAG]
  feeds history [-n N]              earlier versions (kept 90 days), what each changed
  feeds restore VERSION             make an earlier version the current one

Each change is validated before it is written (an invalid catalogue is never stored) and written only over the
version it was made from (S3 If-Match). --try fetches and parses the feed once on this computer, shows what the
run would accept and reject, and writes nothing if the feed fails; --secrets FILE gives it the feed's secret
(JSON: name → object) instead of reading Secrets Manager.
"""


def add_parser(commands: Any, common: argparse.ArgumentParser, func: Callable[..., int]) -> None:
    fds = commands.add_parser(
        "feeds",
        parents=[common],
        help="the catalogue: show, add, remove, enable, disable, export, validate, import, history, restore",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fds.add_argument("verb", nargs="?", default="show", choices=VERBS, metavar="VERB")
    fds.add_argument("target", nargs="?", help="the feed NAME, catalogue FILE or VERSION the verb works on")
    fds.add_argument("--type", dest="feed_type", help="add: the feed type (http_list, taxii, misp, preset, …)")
    fds.add_argument("--url", help="add: the feed's https:// URL (a preset takes its own)")
    fds.add_argument("--format", dest="feed_format", help="add: the body format (default auto)")
    fds.add_argument(
        "--option", action="append", default=[], metavar="KEY=VALUE", help="add: an option (repeatable; JSON values)"
    )
    fds.add_argument("--secret", help="add: the Secrets Manager secret holding the feed's credentials")
    fds.add_argument("--disabled", action="store_true", help="add: add it disabled")
    fds.add_argument("--replace", action="store_true", help="add: replace a feed of the same name")
    fds.add_argument("--try", dest="try_", action="store_true", help="add, validate, import: fetch and parse once")
    fds.add_argument("--secrets", help="with --try: a JSON file of secret name → object")
    fds.add_argument("--if-match", help="import: only if the catalogue is still this ETag (printed by export)")
    fds.add_argument("-n", type=int, default=10, help="history: how many versions (default 10)")
    fds.set_defaults(func=func)


def feeds_command(args: argparse.Namespace, out: TextIO, connect: Callable[[argparse.Namespace], Any]) -> int:
    verb = "show" if args.verb == "list" else args.verb
    _check_options(args, verb)
    handler = {
        "show": _show,
        "export": _export,
        "validate": _validate,
        "import": _import,
        "add": _add,
        "remove": _remove,
        "enable": _enable,
        "disable": _disable,
        "history": _history,
        "restore": _restore,
    }[verb]
    return int(handler(args, out, connect))


def _check_options(args: argparse.Namespace, verb: str) -> None:
    add_only = {
        "--type": args.feed_type,
        "--url": args.url,
        "--format": args.feed_format,
        "--option": args.option,
        "--secret": args.secret,
        "--disabled": args.disabled,
        "--replace": args.replace,
    }
    misplaced = [name for name, value in add_only.items() if value and verb != "add"]
    if args.try_ and verb not in ("add", "validate", "import"):
        misplaced.append("--try")
    if args.if_match and verb != "import":
        misplaced.append("--if-match")
    if args.secrets and not args.try_:
        misplaced.append("--secrets (it goes with --try)")
    if misplaced:
        raise CliError(f"{', '.join(misplaced)} do(es) not go with `feeds {verb}`; see `threatfeed feeds --help`")
    needs = {
        "add": "NAME",
        "remove": "NAME",
        "enable": "NAME",
        "disable": "NAME",
        "validate": "FILE",
        "import": "FILE",
        "restore": "VERSION",
    }
    if verb in needs and not args.target:
        raise CliError(f"`feeds {verb}` needs the {needs[verb]}: threatfeed feeds {verb} {needs[verb]}")
    if verb == "history" and args.target:
        raise CliError("`feeds history` takes no argument (-n N for more versions)")


# ----------------------------------------------------------------------------------------------- helpers
def allow_loopback(args: argparse.Namespace) -> bool:
    """Loopback feed URLs are accepted only for the embedded AWS (a loopback --endpoint-url), never for AWS."""
    from threatfeed.netpolicy import is_loopback_host

    if not args.endpoint_url:
        return False
    try:
        return is_loopback_host(urlsplit(args.endpoint_url).hostname or "")
    except ValueError:
        return False


def validated(
    text: str, label: str, *, allow_http_loopback: bool, entry_only: bool = False, writing: bool = True
) -> list[Any]:
    """The catalogue's entries, or a CliError naming each bad entry and field (nothing is written)."""
    from threatfeed.catalogue import parse_catalogue
    from threatfeed.errors import ConfigError

    try:
        return parse_catalogue(text, allow_http_loopback=allow_http_loopback)
    except ConfigError as error:
        message = f"{label}: {error}" + (" (nothing was written)" if writing else "")
        if entry_only:  # one entry: its label says it all
            detail = re.sub(r"catalogue feed #1( '[^']*')?: ", "", str(error).removeprefix("Invalid feed catalogue: "))
            message = f"{label} refused (nothing was written): {detail}"
        if _has_local_paths(text):
            message += f"\n  {LOCAL_FILES_HINT}"
        raise CliError(message) from None


def _has_local_paths(text: str) -> bool:
    try:
        feeds = json.loads(text).get("feeds", [])
    except (ValueError, AttributeError):
        return False
    for feed in feeds if isinstance(feeds, list) else []:
        url = feed.get("url") if isinstance(feed, dict) else None
        if isinstance(url, str) and urlsplit(url).scheme.lower() not in ("http", "https"):
            return True
    return False


def _read_file(path: str) -> str:
    try:
        return sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise CliError(f"cannot read {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise CliError(f"{path} is not UTF-8 text; a catalogue is a JSON file") from None


def _dump(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"


def _names(document: dict[str, Any]) -> list[str]:
    return [str(f.get("name")) for f in document.get("feeds", []) if isinstance(f, dict)]


def _find(document: dict[str, Any], name: str, stack: str) -> dict[str, Any]:
    for feed in document.get("feeds", []):
        if isinstance(feed, dict) and feed.get("name") == name:
            return feed
    names = ", ".join(_names(document)) or "no feeds"
    raise CliError(f"no feed {name!r} in the catalogue of stack {stack!r} (it has: {names})")


def _parse_options(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs: the value as JSON when it is JSON (``3``, ``true``, ``["a"]``), else as text. The
    engine's options are read as ``threatfeed parse --option`` reads them (``threatfeed.catalogue.parse_option``:
    e.g. a comma-separated list); the adapters' (``collection``, ``days_requested``…) as above."""
    from threatfeed.catalogue import parse_option

    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise CliError(f"--option {pair!r}: write KEY=VALUE, e.g. --option column=indicator")
        try:
            options.update([parse_option(pair)])
            continue
        except ValueError:
            pass  # not an engine option: the adapter's
        try:
            options[key] = json.loads(value)
        except ValueError:
            options[key] = value
    return options


def _try_entries(args: argparse.Namespace, entries: list[Any], out: TextIO, connect: Any) -> bool:
    """Try each entry (enabled ones, unless named); True when none failed."""
    from threatfeed.cli.tryfeed import load_secrets_file, local_secret, print_try, try_feed
    from threatfeed.errors import ConfigError

    local = load_secrets_file(args.secrets) if args.secrets else {}
    remote: dict[str, Any] = {}

    def lookup(secret_id: str) -> Any:
        found = local_secret(local, secret_id)
        if found is not None:
            return found
        if "clients" not in remote:
            remote["clients"] = operate.Clients(
                region=args.region, profile=args.profile, endpoint_url=args.endpoint_url
            )
        try:
            value = remote["clients"]("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
            return json.loads(value)
        except Exception as error:  # said as the feed's failure, with what to do
            raise ConfigError(
                f"secret {secret_id} could not be read from Secrets Manager ({type(error).__name__}); "
                "pass --secrets FILE with its JSON"
            ) from None

    ok = True
    for entry in entries:
        result = try_feed(entry, secret_lookup=lookup, allow_http_loopback=allow_loopback(args))
        if args.json:
            print(json.dumps({"try": result}, default=str), file=out)
        else:
            print_try(result, out)
        ok = ok and result["outcome"] != "failed"
    return ok


def _edit(
    args: argparse.Namespace, out: TextIO, connect: Any, change: Callable[[dict[str, Any], str], str | None]
) -> int:
    """Read the catalogue, apply ``change`` (which returns what it did, or None for nothing to do), validate,
    write over exactly the version read; on a concurrent edit, start again from the new version."""
    clients, refs = connect(args)
    for _attempt in range(EDIT_ATTEMPTS):
        stored = operate.load_catalogue(clients, refs)
        if stored is None:
            document: dict[str, Any] = {"feeds": []}
        else:
            try:
                document = json.loads(stored.text)
                if not isinstance(document, dict) or not isinstance(document.get("feeds"), list):
                    raise ValueError("not {'feeds': [...]}")
            except ValueError:
                raise CliError(
                    f"the catalogue of stack {refs.stack_name!r} is not valid JSON: put a valid one back with "
                    "`threatfeed feeds history` and `feeds restore VERSION`, or `feeds import FILE`"
                ) from None
        done = change(document, refs.stack_name)
        if done is None:
            return 0
        text = _dump(document)
        validated(text, f"the catalogue of stack {refs.stack_name!r}", allow_http_loopback=allow_loopback(args))
        try:
            version = _replace(args, clients, refs, stored, text)
        except operate.CatalogueConflict:
            continue  # someone else wrote in between: redo the change on their version
        undo = _undo_hint(stored)
        if stored is None:
            done += " (there was no catalogue yet: the run's default one is now never written)"
        if args.json:
            print(json.dumps({"done": done, "version": version, "previous": stored and stored.version_id}), file=out)
        else:
            print(f"{done} (S3 version {version}{undo})", file=out)
        return 0
    raise CliError(
        f"the catalogue of stack {refs.stack_name!r} changed {EDIT_ATTEMPTS} times during this edit; nothing was "
        "written: run the command again"
    )


# ----------------------------------------------------------------------------------------------- verbs
def _replace(
    args: argparse.Namespace, clients: Any, refs: Any, stored: operate.StoredCatalogue | None, text: str
) -> str:
    """Write ``text`` as the catalogue only if the stored one is still ``stored`` (still absent when ``None``);
    returns the new S3 version id. Every command that replaces the catalogue goes through this conditional write,
    so a change made in between is never silently overwritten: :class:`operate.CatalogueConflict` instead."""
    return operate.write_catalogue(
        clients,
        refs,
        text,
        if_match=stored.etag if stored else None,
        if_absent=stored is None,
        allow_http_loopback=allow_loopback(args),
    )


def _undo_hint(stored: operate.StoredCatalogue | None) -> str:
    """How to go back to the catalogue a write replaced (its S3 version), or nothing when there was none."""
    return f"; undo: threatfeed feeds restore {stored.version_id}" if stored and stored.version_id else ""


def _show(args: argparse.Namespace, out: TextIO, connect: Any) -> int:
    clients, refs = connect(args)
    rows = operate.feeds(clients, refs)
    if args.target:
        rows = [r for r in rows if r["name"] == args.target]
        if not rows:
            _find(json.loads(operate.read_catalogue(clients, refs)), args.target, refs.stack_name)
    if args.json:
        print(json.dumps(rows, default=str), file=out)
        return 0
    columns = ["name", "type", "format", "enabled", "last_outcome", "accepted", "rejected", "hits", "last_run"]
    table(rows, columns, out)
    return 0


def _export(args: argparse.Namespace, out: TextIO, connect: Any) -> int:
    clients, refs = connect(args)
    stored = operate.load_catalogue(clients, refs, version_id=args.target)
    if stored is None:
        operate.read_catalogue(clients, refs)  # the LookupError that says there is none yet
        return 2
    out.write(stored.text)
    if not args.target:
        print(
            f"threatfeed: catalogue version {stored.version_id} (ETag {stored.etag}); `threatfeed feeds import FILE "
            f"--if-match '{stored.etag}'` refuses to overwrite an edit made after this export",
            file=sys.stderr,
        )
    return 0


def _validate(args: argparse.Namespace, out: TextIO, connect: Any) -> int:
    text = _read_file(args.target)
    entries = validated(text, args.target, allow_http_loopback=allow_loopback(args), writing=False)
    print(f"{args.target}: valid, {len(entries)} feed(s), {sum(e.enabled for e in entries)} enabled", file=out)
    if args.try_ and not _try_entries(args, [e for e in entries if e.enabled], out, connect):
        return 1
    return 0


def _import(args: argparse.Namespace, out: TextIO, connect: Any) -> int:
    text = _read_file(args.target)
    entries = validated(text, args.target, allow_http_loopback=allow_loopback(args))
    if args.try_ and not _try_entries(args, [e for e in entries if e.enabled], out, connect):
        raise CliError(f"{args.target}: a feed failed its try; nothing was written", code=1)
    clients, refs = connect(args)
    stored = operate.load_catalogue(clients, refs)
    if args.if_match and (stored is None or stored.etag.strip('"') != args.if_match.strip('"')):
        current = stored.etag if stored else "none"
        raise CliError(
            f"the catalogue of stack {refs.stack_name!r} changed since it was exported (ETag {args.if_match}, now "
            f"{current}); nothing was written: export it again, redo your edit, import"
        )
    try:
        version = _replace(args, clients, refs, stored, text)
    except operate.CatalogueConflict as error:
        raise CliError(f"{error}: export it again, redo your edit, import") from None
    undo = _undo_hint(stored)
    print(
        f"Catalogue of {refs.stack_name} replaced ({len(entries)} feeds; S3 version {version}{undo}).",
        file=out,
    )
    return 0


def _add(args: argparse.Namespace, out: TextIO, connect: Any) -> int:
    name = args.target
    entry: dict[str, Any] = {"name": name}
    if args.feed_type is None:
        raise CliError(f"`feeds add {name}` needs --type (http_list, taxii, misp, otx, mandiant, isight or preset)")
    entry["type"] = args.feed_type
    if args.url is not None:
        entry["url"] = args.url
    if args.feed_format is not None:
        entry["format"] = args.feed_format
    if args.secret is not None:
        entry["secret"] = args.secret
    entry["enabled"] = not args.disabled
    options = _parse_options(args.option)
    if options:
        entry["options"] = options
    # The entry on its own first: a mistake is said before anything is read or fetched.
    (parsed,) = validated(
        _dump({"feeds": [entry]}), f"feed {name!r}", allow_http_loopback=allow_loopback(args), entry_only=True
    )
    if args.try_ and not _try_entries(args, [parsed], out, connect):
        raise CliError(f"feed {name!r} failed its try; nothing was written", code=1)

    def change(document: dict[str, Any], stack: str) -> str:
        feeds = document["feeds"]
        same = [n for n, f in enumerate(feeds) if isinstance(f, dict) and f.get("name") == name]
        if same and not args.replace:
            raise CliError(
                f"feed {name!r} is already in the catalogue of stack {stack!r}: add --replace to replace it, or "
                f"`threatfeed feeds remove {name}` first"
            )
        if same:
            feeds[same[0]] = entry
            return f"Feed {name!r} replaced in the catalogue of stack {stack!r}"
        feeds.append(entry)
        when = "" if args.disabled else f"; run it now: threatfeed start --urgent --feeds {name}"
        return f"Feed {name!r} added to the catalogue of stack {stack!r} ({len(feeds)} feeds{when})"

    return _edit(args, out, connect, change)


def _remove(args: argparse.Namespace, out: TextIO, connect: Any) -> int:
    def change(document: dict[str, Any], stack: str) -> str:
        feed = _find(document, args.target, stack)
        document["feeds"] = [f for f in document["feeds"] if f is not feed]
        return (
            f"Feed {args.target!r} removed from the catalogue of stack {stack!r}; its entries age out of the lists "
            "over the next runs"
        )

    return _edit(args, out, connect, change)


def _set_enabled(args: argparse.Namespace, out: TextIO, connect: Any, enabled: bool) -> int:
    word = "enabled" if enabled else "disabled"

    def change(document: dict[str, Any], stack: str) -> str | None:
        feed = _find(document, args.target, stack)
        if feed.get("enabled", True) == enabled:
            print(f"Feed {args.target!r} is already {word}; nothing written", file=out)
            return None
        feed["enabled"] = enabled
        return f"Feed {args.target!r} {word} in the catalogue of stack {stack!r}"

    return _edit(args, out, connect, change)


def _enable(args: argparse.Namespace, out: TextIO, connect: Any) -> int:
    return _set_enabled(args, out, connect, True)


def _disable(args: argparse.Namespace, out: TextIO, connect: Any) -> int:
    return _set_enabled(args, out, connect, False)


def _history(args: argparse.Namespace, out: TextIO, connect: Any) -> int:
    clients, refs = connect(args)
    rows = operate.catalogue_versions(clients, refs, limit=max(1, args.n))
    if args.json:
        print(json.dumps(rows, default=str), file=out)
        return 0
    table(rows, ["version", "at", "current", "feeds", "enabled", "change"], out)
    return 0


def _restore(args: argparse.Namespace, out: TextIO, connect: Any) -> int:
    clients, refs = connect(args)
    wanted = operate.load_catalogue(clients, refs, version_id=args.target)
    assert wanted is not None  # a missing version is a LookupError
    entries = validated(
        wanted.text, f"version {args.target} of the catalogue", allow_http_loopback=allow_loopback(args)
    )
    stored = operate.load_catalogue(clients, refs)
    if stored is not None and stored.version_id == args.target:
        print(f"Version {args.target} is already the current catalogue; nothing written", file=out)
        return 0
    try:
        version = _replace(args, clients, refs, stored, wanted.text)
    except operate.CatalogueConflict as error:
        raise CliError(f"{error}: look at `threatfeed feeds history` and restore again") from None
    print(
        f"Catalogue of {refs.stack_name} restored from version {args.target} ({len(entries)} feeds) as S3 version "
        f"{version}",
        file=out,
    )
    return 0
