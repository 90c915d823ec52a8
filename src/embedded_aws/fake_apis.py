"""Loopback fakes of two threat-intelligence APIs: a TAXII 2.1 API root and MISP's ``/attributes/restSearch``.

Each is one small class whose ``install(server)`` registers handler routes on a
:class:`~embedded_aws.feed_server.FeedServer` (``set_handler``). They answer what the adapters
(``threatfeed.feeds.taxii``, ``threatfeed.feeds.misp``) ask the way the real APIs do: the same paths, media
types, query parameters or JSON filters, envelopes, paging, headers and error objects, and credentials checked
on every request. The feed tests use them, and the embedded AWS installs one of each, loaded with the bundled
samples, for the demo catalogue (:func:`install_demo_apis`).

:class:`FakeTaxii` (TAXII 2.1, sections 4 and 5)::

    GET /taxii2/                                  discovery: {"title", "default", "api_roots": [...]}
    GET <root>/                                   API root: {"title", "versions", "max_content_length"}
    GET <root>/collections/                       {"collections": [{"id", "title", "alias", "can_read", ...}]}
    GET <root>/collections/<id>/                  one collection
    GET <root>/collections/<id>/objects/          {"more", "next", "objects"} + X-TAXII-Date-Added-First/-Last
        ?added_after=<t>&limit=<n>&next=<token>&match[type]=a,b&match[id]=...&match[version]=last|first|all|<t>

Objects are sorted by ``date_added``; ``match[version]`` defaults to ``last`` (only the newest version of each
object, so a revocation replaces what it revokes); ``added_after`` is exclusive and applies to the date the
chosen version was added; at most ``server_limit`` objects a page, whatever ``limit`` asks. Errors are TAXII
error messages (``{"title", "description", "http_status"}``): 401 (with ``WWW-Authenticate``) without the
right HTTP Basic credentials when the fake has ``users``, 403 for a collection with ``can_read: false``, 406
for an ``Accept`` that is not TAXII 2.1 JSON, 400 for an unreadable filter or ``next``.

:class:`FakeMisp`::

    POST /attributes/restSearch     Authorization: <auth key>, Accept and Content-Type: application/json
    {"returnFormat": "json", "type": [...], "to_ids": true, "deleted": false, "limit": n, "page": p, ...}
    -> {"response": {"Attribute": [...]}}

A wrong or missing key is MISP's 403 ``{"name": "Authentication failed. …", "message": …, "url": …}``. Filters
applied: ``type``, ``to_ids`` (true: only attributes flagged for IDS; false or absent: all), ``deleted``
(deleted attributes only when asked), ``limit``/``page``. Time filters (``last``, ``timestamp``) and tag
filters are recorded in :attr:`FakeMisp.searches` but not applied: the fake holds only recent events.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from embedded_aws.feed_server import SAMPLES_DIR, ApiRequest, FeedServer

TAXII_MEDIA_TYPE = "application/taxii+json;version=2.1"
STIX_MEDIA_TYPE = "application/stix+json;version=2.1"
TAXII_DISCOVERY_PATH = "/taxii2/"
TAXII_API_ROOT = "/api1"
#: The collections a :class:`FakeTaxii` has unless told otherwise: one readable, one write-only.
HVI_COLLECTION = "91a7b528-80eb-42ed-a74d-c6fbd5a26116"
WRITE_ONLY_COLLECTION = "52892447-4d7e-4f70-b94d-d7f22742ff63"
MISP_SEARCH_PATH = "/attributes/restSearch"
MISP_AUTH_FAILED = (
    "Authentication failed. Please make sure you pass the API key of an API enabled user along in the "
    "Authorization header."
)

#: The bundled samples the demo loads (``embedded_aws/samples/``).
TAXII_SAMPLE = "taxii_indicators.json"
MISP_SAMPLE = "misp_attributes.json"
#: The demo APIs' secrets, next to the stack's own (``threatfeed/<stack>/isight``).
DEMO_TAXII_SECRET = "demo-taxii"
DEMO_MISP_SECRET = "demo-misp"
DEMO_TAXII_USER = "threatfeed-demo"

Answer = tuple[int, dict[str, str], str]


def taxii_timestamp(moment: datetime) -> str:
    """A TAXII timestamp: UTC, microsecond precision, ``Z`` (a naive ``moment`` is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_timestamp(text: str) -> datetime:
    """An RFC 3339 timestamp (``Z`` or an offset, any fraction); ``ValueError`` if it is not one."""
    value = text.strip()
    if "T" not in value.upper():
        raise ValueError(f"{text!r} is not an RFC 3339 timestamp")
    head, sep, fraction = value.partition(".")
    if sep:  # datetime takes at most 6 fractional digits: keep those, and the zone after the digits
        digits = len(fraction) - len(fraction.lstrip("0123456789"))
        value = f"{head}.{fraction[: min(digits, 6)] or '0'}{fraction[digits:]}"
    moment = datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return moment.astimezone(UTC)


def default_collections() -> list[dict[str, Any]]:
    return [
        {
            "id": HVI_COLLECTION,
            "title": "High Value Indicators",
            "alias": "hvi",
            "description": "Indicators for detection (loopback fake)",
            "can_read": True,
            "can_write": False,
            "media_types": [STIX_MEDIA_TYPE],
        },
        {
            "id": WRITE_ONLY_COLLECTION,
            "title": "Write Only",
            "can_read": False,
            "can_write": True,
            "media_types": [STIX_MEDIA_TYPE],
        },
    ]


@dataclass(frozen=True)
class _Stored:
    added: datetime
    seq: int
    obj: dict[str, Any]

    @property
    def version(self) -> datetime:
        """An object's version is its ``modified`` (or ``created``); objects without either, its date added."""
        for name in ("modified", "created"):
            value = self.obj.get(name)
            if isinstance(value, str):
                try:
                    return _parse_timestamp(value)
                except ValueError:
                    pass
        return self.added


class FakeTaxii:
    """A TAXII 2.1 API root at ``api_root`` (default ``/api1``) with ``collections`` (default: "High Value
    Indicators", alias ``hvi``, readable, and "Write Only"), paging at most ``server_limit`` objects, with a
    ``next`` token (``use_next``) or, without one, leaving the client to ask again after
    ``X-TAXII-Date-Added-Last``. ``users`` (name -> password): HTTP Basic required; none: a public server.

    :attr:`requests` holds every request it answered (credentials included: test code only);
    :attr:`added_after` the ``added_after`` of each objects request, in order.
    """

    def __init__(
        self,
        *,
        api_root: str = TAXII_API_ROOT,
        collections: Sequence[Mapping[str, Any]] | None = None,
        users: Mapping[str, str] | None = None,
        server_limit: int = 100,
        use_next: bool = True,
        title: str = "threatfeed loopback TAXII 2.1 server",
    ) -> None:
        self.api_root = "/" + api_root.strip("/")
        self.collections = [dict(c) for c in (default_collections() if collections is None else collections)]
        self.users = dict(users or {})
        self.server_limit = server_limit
        self.use_next = use_next
        self.title = title
        self.requests: list[ApiRequest] = []
        self._store: dict[str, list[_Stored]] = {str(c["id"]): [] for c in self.collections}
        self._seq = 0
        self._lock = threading.Lock()
        self._server: FeedServer | None = None

    # -- setup -----------------------------------------------------------------------------------
    def install(self, server: FeedServer) -> FakeTaxii:
        """Answer the discovery, API root, collections and objects paths on ``server``."""
        self._server = server
        root = self.api_root
        server.set_handler(TAXII_DISCOVERY_PATH, self.discovery)
        server.set_handler(f"{root}/", self.api_root_information)
        server.set_handler(f"{root}/collections/", self.list_collections)
        for collection in self.collections:
            cid = str(collection["id"])
            server.set_handler(f"{root}/collections/{cid}/", lambda r, cid=cid: self.get_collection(cid, r))
            server.set_handler(self.objects_path(cid), lambda r, cid=cid: self.get_objects(cid, r))
        return self

    def objects_path(self, collection: str = HVI_COLLECTION) -> str:
        return f"{self.api_root}/collections/{collection}/objects/"

    def add(self, added: datetime, *objects: Mapping[str, Any], collection: str = HVI_COLLECTION) -> None:
        """Add STIX objects to ``collection`` as if a producer had posted them at ``added`` (their date_added)."""
        if added.tzinfo is None:
            added = added.replace(tzinfo=UTC)
        with self._lock:
            for obj in objects:
                self._seq += 1
                self._store[collection].append(_Stored(added.astimezone(UTC), self._seq, dict(obj)))

    def add_bundle(self, bundle: Mapping[str, Any], *, until: datetime, collection: str = HVI_COLLECTION) -> None:
        """Add a STIX bundle's objects one millisecond apart, in order, the last one added at ``until``."""
        objects = list(bundle.get("objects") or [])
        for n, obj in enumerate(objects):
            self.add(until - timedelta(milliseconds=len(objects) - 1 - n), obj, collection=collection)

    @property
    def added_after(self) -> list[str | None]:
        with self._lock:
            asked = [r for r in self.requests if r.path.endswith("/objects/")]
        return [r.query.get("added_after", [None])[0] for r in asked]

    # -- resources -------------------------------------------------------------------------------
    def discovery(self, request: ApiRequest) -> Answer:
        refused = self._refused(request)
        if refused:
            return refused
        root = self._server.url(self.api_root + "/") if self._server else self.api_root + "/"
        return self._json(200, {"title": self.title, "default": root, "api_roots": [root]})

    def api_root_information(self, request: ApiRequest) -> Answer:
        refused = self._refused(request)
        if refused:
            return refused
        info = {"title": self.title, "versions": [TAXII_MEDIA_TYPE], "max_content_length": 10 * 1024 * 1024}
        return self._json(200, info)

    def list_collections(self, request: ApiRequest) -> Answer:
        return self._refused(request) or self._json(200, {"collections": self.collections})

    def get_collection(self, cid: str, request: ApiRequest) -> Answer:
        return self._refused(request) or self._json(200, self._collection(cid))

    def get_objects(self, cid: str, request: ApiRequest) -> Answer:
        refused = self._refused(request)
        if refused:
            return refused
        if not self._collection(cid).get("can_read"):
            return self._error(403, "Forbidden", "these credentials may not read objects from this collection")
        try:
            selected, start, limit = self._select(cid, request.query)
        except ValueError as problem:
            return self._error(400, "Bad Request", str(problem))
        page = selected[start : start + limit]
        if not page:
            return self._json(200, {"more": False})
        more = start + limit < len(selected)
        envelope: dict[str, Any] = {"more": more, "objects": [item.obj for item in page]}
        if more and self.use_next:
            envelope["next"] = str(start + limit)
        headers = {
            "X-TAXII-Date-Added-First": taxii_timestamp(page[0].added),
            "X-TAXII-Date-Added-Last": taxii_timestamp(page[-1].added),
        }
        return self._json(200, envelope, headers)

    # -- filtering -------------------------------------------------------------------------------
    def _select(self, cid: str, query: Mapping[str, list[str]]) -> tuple[list[_Stored], int, int]:
        def one(name: str) -> str | None:
            values = query.get(name)
            if not values:
                return None
            if len(values) > 1:
                raise ValueError(f"{name} is given more than once")
            return values[0]

        def listed(name: str) -> set[str] | None:
            value = one(name)
            return None if value is None else {v.strip() for v in value.split(",") if v.strip()}

        after_text = one("added_after")
        try:
            after = _parse_timestamp(after_text) if after_text is not None else None
        except ValueError:
            raise ValueError(f"added_after {after_text!r} is not a timestamp") from None
        limit_text = one("limit")
        if limit_text is not None and not (limit_text.isdigit() and int(limit_text) > 0):
            raise ValueError(f"limit {limit_text!r} is not a positive integer")
        limit = min(int(limit_text or self.server_limit), self.server_limit)
        ids, types = listed("match[id]"), listed("match[type]")
        versions = listed("match[version]") or {"last"}
        with self._lock:
            items = sorted(self._store[cid], key=lambda item: (item.added, item.seq))
        items = [i for i in items if (ids is None or i.obj.get("id") in ids)]
        items = [i for i in items if (types is None or i.obj.get("type") in types)]
        chosen = self._versions(items, versions)
        if after is not None:
            chosen = [i for i in chosen if i.added > after]
        token = one("next")
        if token is not None and not (token.isdigit() and int(token) < max(len(chosen), 1)):
            raise ValueError(f"next {token!r} is not a token this server gave")
        return chosen, int(token or 0), limit

    @staticmethod
    def _versions(items: list[_Stored], wanted: set[str]) -> list[_Stored]:
        """``match[version]``: ``last``, ``first``, ``all`` or exact ``modified`` timestamps, per object id."""
        exact = set()
        for value in wanted - {"last", "first", "all"}:
            try:
                exact.add(_parse_timestamp(value))
            except ValueError:
                raise ValueError(f"match[version] {value!r} is not last, first, all or a timestamp") from None
        by_id: dict[str, list[_Stored]] = {}
        for item in items:
            by_id.setdefault(str(item.obj.get("id") or f"#{item.seq}"), []).append(item)
        keep: set[int] = set()
        for versions in by_id.values():
            ordered = sorted(versions, key=lambda item: (item.version, item.added, item.seq))
            if "all" in wanted:
                keep.update(item.seq for item in ordered)
            if "first" in wanted:
                keep.add(ordered[0].seq)
            if "last" in wanted:
                keep.add(ordered[-1].seq)
            keep.update(item.seq for item in ordered if item.version in exact)
        return [item for item in items if item.seq in keep]

    # -- protocol --------------------------------------------------------------------------------
    def _refused(self, request: ApiRequest) -> Answer | None:
        """Credentials first (401), then the media type (406), as a TAXII server checks them."""
        with self._lock:
            self.requests.append(request)
        if request.method not in ("GET", "HEAD"):
            return self._error(405, "Method Not Allowed", "this fake serves GET only")
        if self.users and not self._authenticated(request.header("Authorization")):
            answer = self._error(401, "Unauthorized", "HTTP Basic credentials are required")
            answer[1]["WWW-Authenticate"] = 'Basic realm="TAXII"'
            return answer
        offered = (request.header("Accept") or "").split(",")
        accepted = {part.split(";q=")[0].replace(" ", "").lower() for part in offered}
        if not accepted & {TAXII_MEDIA_TYPE, "application/taxii+json"}:
            return self._error(406, "Not Acceptable", f"send Accept: {TAXII_MEDIA_TYPE}")
        return None

    def _authenticated(self, header: str | None) -> bool:
        scheme, _, encoded = (header or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        expected = self.users.get(user)
        return expected is not None and hmac.compare_digest(expected.encode(), password.encode())

    def _collection(self, cid: str) -> dict[str, Any]:
        return next(c for c in self.collections if str(c["id"]) == cid)

    @staticmethod
    def _json(status: int, doc: Any, headers: Mapping[str, str] | None = None) -> Answer:
        return status, {"Content-Type": TAXII_MEDIA_TYPE, **(headers or {})}, json.dumps(doc)

    @classmethod
    def _error(cls, status: int, title: str, description: str) -> Answer:
        return cls._json(status, {"title": title, "description": description, "http_status": str(status)})


class FakeMisp:
    """``POST /attributes/restSearch`` over ``attributes`` (MISP attribute dicts), for the auth ``keys``.

    :attr:`searches` holds the JSON filters of every accepted search, in order.
    """

    def __init__(self, attributes: Iterable[Mapping[str, Any]] = (), *, keys: Iterable[str]) -> None:
        self.attributes = [dict(a) for a in attributes]
        self.keys = tuple(keys)
        self.searches: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def install(self, server: FeedServer) -> FakeMisp:
        server.set_handler(MISP_SEARCH_PATH, self.search)
        return self

    def search(self, request: ApiRequest) -> Answer:
        if request.method != "POST":
            return self._error(405, "Method Not Allowed", "Method Not Allowed")
        given = request.header("Authorization") or ""
        if not any(hmac.compare_digest(given.encode(), key.encode()) for key in self.keys):
            return self._error(403, MISP_AUTH_FAILED, MISP_AUTH_FAILED)
        if request.header("Content-Type") != "application/json" or request.header("Accept") != "application/json":
            return self._error(400, "Bad request", "send Accept and Content-Type: application/json")
        try:
            filters = json.loads(request.body or b"{}")
        except ValueError:
            return self._error(400, "Bad request", "the request body is not JSON")
        if not isinstance(filters, dict) or filters.get("returnFormat", "json") != "json":
            return self._error(400, "Bad request", "only returnFormat json is served here")
        with self._lock:
            self.searches.append(filters)
        wanted = filters.get("type")
        types = {wanted} if isinstance(wanted, str) else set(wanted) if isinstance(wanted, list) else None
        found = [
            a
            for a in self.attributes
            if (types is None or a.get("type") in types)
            and (a.get("to_ids") in (True, "1", 1) or not _truthy(filters.get("to_ids")))
            and (not _truthy(a.get("deleted")) or _truthy(filters.get("deleted")))
        ]
        limit, page = filters.get("limit"), filters.get("page") or 1
        if isinstance(limit, int) and limit > 0 and isinstance(page, int) and page > 0:
            found = found[(page - 1) * limit : page * limit]
        return 200, {"Content-Type": "application/json"}, json.dumps({"response": {"Attribute": found}})

    @staticmethod
    def _error(status: int, name: str, message: str) -> Answer:
        body = {"name": name, "message": message, "url": MISP_SEARCH_PATH}
        return status, {"Content-Type": "application/json"}, json.dumps(body)


def _truthy(value: Any) -> bool:
    return value in (True, 1, "1", "true", "True")


# -- the demo ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DemoApis:
    """The fakes the embedded AWS serves for the demo catalogue, and the names of their secrets."""

    taxii: FakeTaxii
    misp: FakeMisp
    taxii_secret: str
    misp_secret: str


def demo_secret_name(stack_secret: str, which: str) -> str:
    """The name of demo secret ``which`` (:data:`DEMO_TAXII_SECRET`, :data:`DEMO_MISP_SECRET`), under the prefix
    of the stack's own secret ``stack_secret`` (an ARN or name, ``threatfeed/<stack>/isight``)."""
    name = stack_secret.split(":secret:", 1)[-1]
    return f"{name.rsplit('/', 1)[0]}/{which}"


def install_demo_apis(
    server: FeedServer,
    secretsmanager: Any,
    *,
    secret_prefix: str,
    tags: Mapping[str, str] | None = None,
    now: datetime | None = None,
    samples_dir: Path = SAMPLES_DIR,
) -> DemoApis:
    """Serve a TAXII collection and a MISP instance loaded with the bundled samples on ``server``, with fresh
    credentials stored only in two Secrets Manager secrets, ``<secret_prefix>/demo-taxii`` (``{"username",
    "password"}``) and ``<secret_prefix>/demo-misp`` (``{"key"}``). The TAXII objects are dated as added just
    before ``now``, so they fall in any run's window and the next run finds nothing newer."""
    password, key = secrets.token_urlsafe(24), secrets.token_hex(20)
    taxii = FakeTaxii(users={DEMO_TAXII_USER: password}).install(server)
    bundle = json.loads((samples_dir / TAXII_SAMPLE).read_text())
    taxii.add_bundle(bundle, until=(now or datetime.now(UTC)) - timedelta(seconds=1))
    misp_doc = json.loads((samples_dir / MISP_SAMPLE).read_text())
    misp = FakeMisp(misp_doc["response"]["Attribute"], keys=[key]).install(server)
    tag_list = [{"Key": k, "Value": v} for k, v in (tags or {}).items()]

    def store(which: str, value: Mapping[str, str], description: str) -> str:
        created = secretsmanager.create_secret(
            Name=f"{secret_prefix}/{which}", Description=description, SecretString=json.dumps(value), Tags=tag_list
        )
        return str(created["Name"])

    return DemoApis(
        taxii=taxii,
        misp=misp,
        taxii_secret=store(
            DEMO_TAXII_SECRET,
            {"username": DEMO_TAXII_USER, "password": password},
            "Credentials of the embedded AWS's loopback TAXII 2.1 server (demo).",
        ),
        misp_secret=store(DEMO_MISP_SECRET, {"key": key}, "Auth key of the embedded AWS's loopback MISP (demo)."),
    )
