"""GuardDuty custom lists for the embedded AWS: threat IP sets, threat entity sets, trusted IP sets and trusted
entity sets, which moto 5.2.5's GuardDuty backend lacks.

Shapes, member names and error codes follow botocore's service model (``guardduty`` 2017-11-28); rules and
limits follow the GuardDuty user guide (see ``../shared/reference/FACTS.md``). Everything lives in
:class:`GuardDutyListsBackend`, kept per account and Region in a moto ``BackendDict`` so that moto's own reset
(``mock_aws`` on entry and exit, ``/moto-api/reset`` in server mode) clears it with every other backend.

Quotas, per detector (GuardDuty allows one detector per account and Region, so this is "per account per Region"):

* **Threat lists: 6, shared by threat IP sets and threat entity sets.** The user guide gives "up to six threat
  lists per account per Region" without saying whether the entity lists added in 2025 have their own six; no
  primary source settles it (FACTS.md marks it unconfirmed). The embedded AWS takes the stricter reading, so that
  code written against it also works if AWS counts them together. Set ``THREAT_LISTS_SHARE_QUOTA = False`` to give
  each kind its own six.
* Trusted lists: 1 trusted IP set and 1 trusted entity set.
* Entries per list: ``MAX_ENTRIES``: 250,000 per threat IP set, 2,000 per trusted list, and 1,000 per threat entity
  set, the figure GuardDuty's quotas page gives (far below the IP sets'; the stricter reading again, so a list
  over it goes to ``ERROR`` here as it would there).
* File size: ``MAX_LIST_BYTES`` = 35,000,000 bytes. The guide says "35 MB"; the decimal reading is the stricter one.

Status lifecycle. ``Activate=True`` (on create or update) moves a set to ``ACTIVATING``; ``Activate=False`` on an
active (or failed) set moves it to ``DEACTIVATING``; delete moves it to ``DELETE_PENDING``. A transitional state
resolves when the set is *observed* (``Get*`` of that set, or ``List*`` of its kind) once both conditions hold:

* ``activation_settings.delay_seconds`` have passed since the transition began, on the embedded AWS's
  simulated clock (:mod:`embedded_aws.clock`; default ``TRANSITION_SECONDS``, 15 minutes: GuardDuty documents
  "about 15 minutes, up to 40"; the state machine's Wait states advance that clock instead of sleeping), and
* the transition has been held for ``activation_settings.hold_reads`` ``Get*`` calls (default 0). Each ``Get*``
  while held uses up one; ``List*`` never does (and never resolves a held set).

So with the defaults a list is ``ACTIVATING`` for 15 simulated minutes, and tests that are about something else
use ``activation(delay_seconds=0)``. ``ACTIVATING`` resolves to ``ACTIVE`` or ``ERROR``
after reading the list from moto's S3 backend (see :func:`check_list_object`), ``DEACTIVATING`` to ``INACTIVE``,
``DELETE_PENDING`` to ``DELETED``: the set then leaves ``List*``, the quotas and the name check (until then it
still counts), and ``Get*`` keeps answering with status ``DELETED``. No update or delete is accepted while a set
is ``ACTIVATING``, ``DEACTIVATING`` or ``DELETE_PENDING``, nor on a ``DELETED`` set. Use
:func:`configure_activation` / :func:`activation` to change the settings, or :meth:`GuardDutyListsBackend.hold`
to hold one set.
"""

from __future__ import annotations

import contextlib
import csv
import io
import ipaddress
import re
import threading
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from moto.core.base_backend import BackendDict, BaseBackend
from moto.core.exceptions import JsonRESTError
from moto.moto_api._internal import mock_random
from moto.utilities.utils import get_partition

from embedded_aws.clock import clock

# --- limits (module-level so tests can patch them) ----------------------------------------------------------------

MAX_THREAT_LISTS = 6
THREAT_LISTS_SHARE_QUOTA = True
MAX_TRUSTED_LISTS = 1
MAX_LIST_BYTES = 35_000_000
MAX_ENTRIES = {
    "ThreatIntelSet": 250_000,
    "ThreatEntitySet": 1_000,
    "IPSet": 2_000,
    "TrustedEntitySet": 2_000,
}
MAX_NAME_LENGTH = 300
MAX_LOCATION_LENGTH = 300
MAX_TAGS = 200
MAX_RESULTS = 50

FORMATS = ("TXT", "STIX", "OTX_CSV", "ALIEN_VAULT", "PROOF_POINT", "FIRE_EYE")

INACTIVE = "INACTIVE"
ACTIVATING = "ACTIVATING"
ACTIVE = "ACTIVE"
DEACTIVATING = "DEACTIVATING"
ERROR = "ERROR"
DELETE_PENDING = "DELETE_PENDING"
DELETED = "DELETED"
TRANSITIONAL = frozenset({ACTIVATING, DEACTIVATING, DELETE_PENDING})


# --- activation settings ------------------------------------------------------------------------------------------


TRANSITION_SECONDS = 15 * 60.0
"""Default length of ACTIVATING, DEACTIVATING and DELETE_PENDING: GuardDuty's "about 15 minutes"."""


@dataclass
class ActivationSettings:
    """How long transitional states last (simulated seconds). Read when a transition begins."""

    delay_seconds: float = TRANSITION_SECONDS
    hold_reads: int = 0


activation_settings = ActivationSettings()


def configure_activation(*, delay_seconds: float | None = None, hold_reads: int | None = None) -> None:
    """Change the activation settings for transitions that begin from now on."""
    if delay_seconds is not None:
        if delay_seconds < 0:
            raise ValueError("delay_seconds must be >= 0")
        activation_settings.delay_seconds = float(delay_seconds)
    if hold_reads is not None:
        if hold_reads < 0:
            raise ValueError("hold_reads must be >= 0")
        activation_settings.hold_reads = int(hold_reads)


def reset_activation_settings() -> None:
    configure_activation(delay_seconds=TRANSITION_SECONDS, hold_reads=0)


@contextlib.contextmanager
def activation(*, delay_seconds: float | None = None, hold_reads: int | None = None) -> Iterator[ActivationSettings]:
    """Use other activation settings inside a ``with`` block, e.g. ``with activation(hold_reads=3): ...``."""
    saved = (activation_settings.delay_seconds, activation_settings.hold_reads)
    configure_activation(delay_seconds=delay_seconds, hold_reads=hold_reads)
    try:
        yield activation_settings
    finally:
        configure_activation(delay_seconds=saved[0], hold_reads=saved[1])


# --- errors -------------------------------------------------------------------------------------------------------


class BadRequestException(JsonRESTError):
    """GuardDuty's one client error: HTTP 400, ``X-Amzn-ErrorType: BadRequestException`` (botocore takes the code
    from that header for rest-json), body ``{"message": ..., "__type": "BadRequestException"}``."""

    code = 400

    def __init__(self, message: str) -> None:
        super().__init__("BadRequestException", message)

    def get_headers(self, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        return [("Content-Type", "application/json"), ("X-Amzn-ErrorType", "BadRequestException")]


def _invalid(detail: str) -> BadRequestException:
    return BadRequestException(
        "The request is rejected because an invalid or out-of-range value is specified as an input parameter. " + detail
    )


def detector_not_found() -> BadRequestException:
    return BadRequestException(
        "The request is rejected because the input detectorId is not owned by the current account."
    )


# --- kinds --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListKind:
    name: str  # operation suffix: CreateThreatIntelSet
    segment: str  # URI and ARN segment: threatintelset
    id_member: str  # JSON member of the id: threatIntelSetId
    ids_member: str  # JSON member of List*: threatIntelSetIds
    label: str  # for messages
    threat: bool
    entity: bool  # entity sets also hold domains and return CreatedAt, UpdatedAt, ErrorDetails


THREAT_INTEL_SET = ListKind(
    "ThreatIntelSet", "threatintelset", "threatIntelSetId", "threatIntelSetIds", "threat IP list", True, False
)
THREAT_ENTITY_SET = ListKind(
    "ThreatEntitySet",
    "threatentityset",
    "threatEntitySetId",
    "threatEntitySetIds",
    "threat entity list",
    True,
    True,
)
IP_SET = ListKind("IPSet", "ipset", "ipSetId", "ipSetIds", "trusted IP list", False, False)
TRUSTED_ENTITY_SET = ListKind(
    "TrustedEntitySet",
    "trustedentityset",
    "trustedEntitySetId",
    "trustedEntitySetIds",
    "trusted entity list",
    False,
    True,
)
KINDS: dict[str, ListKind] = {k.segment: k for k in (THREAT_INTEL_SET, THREAT_ENTITY_SET, IP_SET, TRUSTED_ENTITY_SET)}
KINDS_BY_NAME: dict[str, ListKind] = {k.name: k for k in KINDS.values()}


# --- the list model -----------------------------------------------------------------------------------------------


@dataclass
class Transition:
    target: str  # the status it resolves to (ACTIVE/ERROR is decided on resolution)
    not_before: float
    holds_left: int


@dataclass
class ListSet:
    kind: ListKind
    id: str
    detector_id: str
    arn: str
    name: str
    format: str
    location: str
    expected_bucket_owner: str | None
    tags: dict[str, str]
    status: str = INACTIVE
    error_details: str | None = None
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    pending: Transition | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "format": self.format,
            "location": self.location,
            "status": self.status,
        }
        if self.expected_bucket_owner:
            out["expectedBucketOwner"] = self.expected_bucket_owner
        if self.tags:
            out["tags"] = dict(self.tags)
        if self.kind.entity:
            out["createdAt"] = self.created_at
            out["updatedAt"] = self.updated_at
            if self.status == ERROR and self.error_details:
                out["errorDetails"] = self.error_details
        return out


# --- locations ----------------------------------------------------------------------------------------------------

_S3_URI = re.compile(r"^s3://(?P<bucket>[^/]+)/(?P<key>.+)$")
_PATH_STYLE = re.compile(
    r"^https?://s3(?:[.-](?P<region>[a-z0-9-]+))?\.amazonaws\.com(?:\.cn)?/(?P<bucket>[^/]+)/(?P<key>.+)$"
)
_VIRTUAL_HOST = re.compile(
    r"^https?://(?P<bucket>[a-z0-9][a-z0-9.-]*?)\.s3(?:[.-](?P<region>[a-z0-9-]+))?\.amazonaws\.com(?:\.cn)?"
    r"/(?P<key>.+)$"
)


def parse_location(location: str) -> tuple[str, str]:
    """``(bucket, key)`` of a list location in one of the forms GuardDuty accepts, or ``BadRequestException``:
    ``https://s3.amazonaws.com/bucket/key``, ``https://s3-<region>.amazonaws.com/bucket/key``,
    ``http://bucket.s3.amazonaws.com/key``, ``http://bucket.s3-<region>.amazonaws.com/key``, ``s3://bucket/key``
    (also the ``s3.<region>`` dotted variants)."""
    for pattern in (_S3_URI, _PATH_STYLE, _VIRTUAL_HOST):
        match = pattern.match(location)
        if match:
            return match.group("bucket"), unquote(match.group("key"))
    raise _invalid(
        f"location: {location!r} is not an S3 object URL (https://s3.amazonaws.com/bucket/key, "
        "https://s3-region.amazonaws.com/bucket/key, http://bucket.s3.amazonaws.com/key, "
        "http://bucket.s3-region.amazonaws.com/key or s3://bucket/key)."
    )


# --- list content checks ------------------------------------------------------------------------------------------

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"^{_OCTET}(?:\.{_OCTET}){{3}}$")
_IPV4_CIDR = re.compile(rf"^{_OCTET}(?:\.{_OCTET}){{3}}/(?:3[0-2]|[12]?\d)$")
_DOMAIN = re.compile(
    r"^(?:\*\.)?(?=.{1,253}$)(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$",
    re.IGNORECASE,
)


class ListContentError(Exception):
    """The list cannot be activated; the message becomes ``ErrorDetails``."""


def _is_ipv6(value: str) -> bool:
    if ":" not in value:
        return False
    try:
        return ipaddress.ip_network(value, strict=False).version == 6
    except ValueError:
        return False


def check_entry(value: str, *, entity: bool, where: str, allow_cidr: bool = True) -> None:
    """Raise :class:`ListContentError` unless ``value`` is an IPv4 address (or CIDR), or, for entity lists, a
    domain or ``*.domain``."""
    if _IPV4.match(value) or (allow_cidr and _IPV4_CIDR.match(value)):
        return
    if _is_ipv6(value):
        raise ListContentError(f"{where}: {value!r} is an IPv6 address; GuardDuty lists accept IPv4 only.")
    if entity and _DOMAIN.match(value):
        return
    expected = "an IPv4 address, IPv4 CIDR or domain" if entity else "an IPv4 address or IPv4 CIDR"
    raise ListContentError(f"{where}: {value!r} is not {expected}.")


def _text_lines(text: str) -> Iterator[tuple[int, str]]:
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line and not line.startswith("#"):
            yield number, line


def _entries_txt(text: str, entity: bool) -> Iterator[None]:
    for number, line in _text_lines(text):
        check_entry(line, entity=entity, where=f"line {number}")
        yield None


def _csv_rows(text: str) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text), skipinitialspace=True)
    for row in reader:
        cells = [cell.strip() for cell in row]
        if any(cells) and not cells[0].startswith("#"):
            yield reader.line_num, cells


def _header(rows: Iterator[tuple[int, list[str]]], fmt: str) -> list[str]:
    first = next(rows, None)
    if first is None:
        raise ListContentError(f"the file does not match the declared format {fmt}: no header row.")
    return [cell.lower() for cell in first[1]]


def _entries_otx(text: str, entity: bool) -> Iterator[None]:
    rows = _csv_rows(text)
    header = _header(rows, "OTX_CSV")
    if "indicator type" not in header or "indicator" not in header:
        raise ListContentError(
            "the file does not match the declared format OTX_CSV: the header must name the columns "
            "'Indicator type' and 'Indicator'."
        )
    type_col, value_col = header.index("indicator type"), header.index("indicator")
    for number, cells in rows:
        if len(cells) <= max(type_col, value_col):
            raise ListContentError(f"line {number}: too few columns for OTX_CSV.")
        indicator_type, value = cells[type_col].lower(), cells[value_col]
        where = f"line {number}"
        if indicator_type == "ipv4":
            check_entry(value, entity=False, where=where, allow_cidr=False)
        elif indicator_type == "cidr":
            check_entry(value, entity=False, where=where)
        elif indicator_type == "ipv6":
            raise ListContentError(f"{where}: {value!r} is an IPv6 address; GuardDuty lists accept IPv4 only.")
        elif entity and indicator_type in ("domain", "domain name", "hostname"):
            check_entry(value, entity=True, where=where)
        else:
            continue  # other indicator types (URL, file hashes, ...) are not list entries
        yield None


def _entries_alien_vault(text: str, entity: bool) -> Iterator[None]:
    for number, line in _text_lines(text):
        fields = line.split("#")
        if len(fields) < 4:
            raise ListContentError(
                f"line {number}: the file does not match the declared format ALIEN_VAULT "
                "(expected 'ip#reliability#risk#type#country#city#latlon#...')."
            )
        check_entry(fields[0].strip(), entity=entity, where=f"line {number}")
        yield None


def _entries_proof_point(text: str, entity: bool) -> Iterator[None]:
    rows = _csv_rows(text)
    header = _header(rows, "PROOF_POINT")
    if not header or header[0] != "ip" or "category" not in header or "score" not in header:
        raise ListContentError(
            "the file does not match the declared format PROOF_POINT: the header must be "
            "'ip, category, score, first_seen, last_seen, ports (|)'."
        )
    for number, cells in rows:
        check_entry(cells[0], entity=entity, where=f"line {number}")
        yield None


def _entries_fire_eye(text: str, entity: bool) -> Iterator[None]:
    rows = _csv_rows(text)
    header = _header(rows, "FIRE_EYE")
    columns = {name: header.index(name) for name in ("ip", "cidr", "domain") if name in header}
    if "ip" not in columns and "cidr" not in columns:
        raise ListContentError(
            "the file does not match the declared format FIRE_EYE: the iSIGHT CSV header has no 'ip' or 'cidr' column."
        )
    for number, cells in rows:
        for name, col in columns.items():
            value = cells[col] if col < len(cells) else ""
            if not value:
                continue
            if name == "domain":
                if entity:
                    check_entry(value, entity=True, where=f"line {number}, column domain")
                    yield None
                continue
            check_entry(value, entity=False, where=f"line {number}, column {name}", allow_cidr=name == "cidr")
            yield None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


_XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"


def _entries_stix(text: str, entity: bool) -> Iterator[None]:
    """STIX 1.x XML: cybox ``AddressObj`` (``Address_Value``) and, for entity lists, ``DomainNameObj``
    (``Value``); other observables are not list entries."""
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as error:
        raise ListContentError(f"the file does not match the declared format STIX: not XML ({error}).") from None
    if _local(root.tag) != "STIX_Package":
        raise ListContentError("the file does not match the declared format STIX: the root is not a STIX_Package.")
    for element in root.iter():
        xsi_type = element.get(_XSI_TYPE, "")
        if "AddressObjectType" in xsi_type:
            if element.get("category", "ipv4-addr") not in ("ipv4-addr", "ipv6-addr", "cidr"):
                continue  # e-mail, MAC, ... addresses
            child, is_domain = "Address_Value", False
        elif "DomainNameObjectType" in xsi_type and entity:
            child, is_domain = "Value", True
        else:
            continue
        for value_element in element:
            if _local(value_element.tag) != child:
                continue
            for value in (v.strip() for v in (value_element.text or "").split("##comma##")):
                if value:
                    check_entry(value, entity=is_domain, where=f"STIX {child}")
                    yield None


_PARSERS = {
    "TXT": _entries_txt,
    "OTX_CSV": _entries_otx,
    "ALIEN_VAULT": _entries_alien_vault,
    "PROOF_POINT": _entries_proof_point,
    "FIRE_EYE": _entries_fire_eye,
    "STIX": _entries_stix,
}


def check_list_content(body: bytes, fmt: str, kind: ListKind) -> int:
    """Number of entries in ``body``, or :class:`ListContentError`. Stops at the first entry over the limit."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ListContentError(f"the file does not match the declared format {fmt}: it is not UTF-8 text.") from None
    limit = MAX_ENTRIES[kind.name]
    count = 0
    entries: Iterable[None] = _PARSERS[fmt](text, kind.entity)
    for _ in entries:
        count += 1
        if count > limit:
            raise ListContentError(f"the list has more than {limit} entries, the maximum for a {kind.label}.")
    return count


forced_errors: dict[str, tuple[str, str | None]] = {}
"""Region -> (message, operation suffix or None for every kind): activations there end in ``ERROR`` whatever the
object holds (fault injection)."""


@contextlib.contextmanager
def forced_error(
    region: str, message: str = "forced by the embedded AWS", *, kind: str | None = None
) -> Iterator[None]:
    """Inside the block, every list activation in ``region`` ends in ``ERROR`` with ``message``: for rehearsing
    GuardDuty refusing a list in one Region only (the same S3 object serves every Region). ``kind`` (an operation
    suffix such as ``"ThreatEntitySet"``) limits the fault to that kind of list, so a test need not depend on which
    of two lists settles first."""
    forced_errors[region] = (message, kind)
    try:
        yield
    finally:
        forced_errors.pop(region, None)


def check_list_object(account_id: str, region_name: str, lst: ListSet) -> None:
    """Read the list from moto's S3 backend as GuardDuty does on activation; :class:`ListContentError` if GuardDuty
    would set the list to ``ERROR``."""
    if region_name in forced_errors:
        message, kind = forced_errors[region_name]
        if kind is None or kind == lst.kind.name:
            raise ListContentError(message)
    from moto.s3.exceptions import MissingBucket
    from moto.s3.models import s3_backends

    bucket_name, key_name = parse_location(lst.location)
    s3 = s3_backends[account_id][get_partition(region_name)]
    where = f"s3://{bucket_name}/{key_name}"
    try:
        bucket = s3.get_bucket(bucket_name)
    except MissingBucket:
        raise ListContentError(f"cannot read {where}: the bucket does not exist.") from None
    except Exception as error:  # cross-account access refused by moto's settings, etc.
        raise ListContentError(f"cannot read {where}: {error}") from None
    owner = getattr(bucket, "account_id", account_id)
    if lst.expected_bucket_owner and owner != lst.expected_bucket_owner:
        raise ListContentError(
            f"cannot read {where}: the bucket is not owned by the expected bucket owner {lst.expected_bucket_owner}."
        )
    if lst.kind.entity and owner != account_id:
        raise ListContentError(f"cannot read {where}: entity lists must be in a bucket the detector's account owns.")
    key = s3.get_object(bucket_name, key_name)
    if key is None:
        raise ListContentError(f"cannot read {where}: the object does not exist.")
    if key.size > MAX_LIST_BYTES:
        raise ListContentError(f"{where} is {key.size} bytes; the maximum list size is {MAX_LIST_BYTES} bytes.")
    check_list_content(key.value, lst.format, lst.kind)


# --- the backend --------------------------------------------------------------------------------------------------

_NAME_CHARS = re.compile(r"^[A-Za-z0-9_-]+$")
_ARN = re.compile(
    r"^arn:(?P<partition>[^:]+):guardduty:(?P<region>[^:]*):(?P<account>\d+):detector/(?P<detector>[^/]+)"
    r"(?:/(?P<segment>threatintelset|threatentityset|ipset|trustedentityset)/(?P<set>[^/]+))?$"
)


class GuardDutyListsBackend(BaseBackend):
    """The four kinds of GuardDuty custom lists of one account and Region."""

    def __init__(self, region_name: str, account_id: str):
        super().__init__(region_name, account_id)
        self.lock = threading.RLock()
        self.sets: dict[str, ListSet] = {}  # by id, in creation order; DELETED sets stay for Get*
        self.client_tokens: dict[tuple[str, str, str], str] = {}
        #: findings raised from the custom lists (embedded_aws.guardduty.findings), by (type, indicator)
        self.findings: dict[tuple[str, str], dict[str, Any]] = {}

    # -- helpers --

    def _detector(self, detector_id: str) -> Any:
        from moto.guardduty.models import guardduty_backends

        detectors = guardduty_backends[self.account_id][self.region_name].detectors
        if detector_id not in detectors:
            raise detector_not_found()
        return detectors[detector_id]

    def _live(self, detector_id: str, kinds: Iterable[ListKind]) -> list[ListSet]:
        wanted = set(kinds)
        return [
            s for s in self.sets.values() if s.detector_id == detector_id and s.kind in wanted and s.status != DELETED
        ]

    def _get(self, kind: ListKind, detector_id: str, set_id: str) -> ListSet:
        self._detector(detector_id)
        lst = self.sets.get(set_id)
        if lst is None or lst.kind is not kind or lst.detector_id != detector_id:
            raise BadRequestException(
                f"The request is rejected because the input {kind.id_member} is not owned by the current account."
            )
        return lst

    @staticmethod
    def _check_name(name: Any) -> str:
        if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME_LENGTH:
            raise _invalid(f"name: must be 1 to {MAX_NAME_LENGTH} characters.")
        if not _NAME_CHARS.match(name):
            raise _invalid("name: may contain only letters, digits, dash (-) and underscore (_).")
        return name

    @staticmethod
    def _check_location(location: Any) -> str:
        if not isinstance(location, str) or not 1 <= len(location) <= MAX_LOCATION_LENGTH:
            raise _invalid(f"location: must be 1 to {MAX_LOCATION_LENGTH} characters.")
        parse_location(location)
        return location

    @staticmethod
    def _check_owner(owner: Any) -> str | None:
        if owner is None:
            return None
        if not isinstance(owner, str) or not re.fullmatch(r"\d{12}", owner):
            raise _invalid("expectedBucketOwner: must be a 12-digit AWS account ID.")
        return owner

    @staticmethod
    def _check_tags(tags: Any) -> dict[str, str]:
        if tags is None:
            return {}
        if not isinstance(tags, dict) or len(tags) > MAX_TAGS:
            raise _invalid(f"tags: at most {MAX_TAGS} tags.")
        for key, value in tags.items():
            if not isinstance(key, str) or not 1 <= len(key) <= 128 or key.lower().startswith("aws:"):
                raise _invalid(f"tags: invalid tag key {key!r}.")
            if not isinstance(value, str) or len(value) > 256:
                raise _invalid(f"tags: invalid value for tag {key!r}.")
        return dict(tags)

    def _check_name_free(self, kind: ListKind, detector_id: str, name: str, except_id: str | None = None) -> None:
        for other in self._live(detector_id, [kind]):
            if other.name == name and other.id != except_id:
                raise BadRequestException(
                    f"The request is rejected because a {kind.label} named {name} already exists "
                    f"for detector {detector_id}."
                )

    def _check_quota(self, kind: ListKind, detector_id: str) -> None:
        if kind.threat:
            kinds = [THREAT_INTEL_SET, THREAT_ENTITY_SET] if THREAT_LISTS_SHARE_QUOTA else [kind]
            limit, what = MAX_THREAT_LISTS, "threat lists (threat IP lists and threat entity lists together)"
            if not THREAT_LISTS_SHARE_QUOTA:
                what = f"{kind.label}s"
        else:
            kinds, limit, what = [kind], MAX_TRUSTED_LISTS, f"{kind.label}s"
        if len(self._live(detector_id, kinds)) >= limit:
            raise BadRequestException(
                f"The request is rejected because the number of {what} has reached the limit of {limit} "
                "per account per Region."
            )

    @staticmethod
    def _begin(lst: ListSet, status: str, target: str) -> None:
        lst.status = status
        lst.error_details = None
        lst.pending = Transition(
            target=target,
            not_before=clock.now() + activation_settings.delay_seconds,
            holds_left=activation_settings.hold_reads,
        )

    def _observe(self, lst: ListSet, *, get: bool) -> None:
        pending = lst.pending
        if pending is None:
            return
        if pending.holds_left > 0:
            if get:
                pending.holds_left -= 1
            return
        if clock.now() < pending.not_before:
            return
        lst.pending = None
        if pending.target == ACTIVE:
            try:
                check_list_object(self.account_id, self.region_name, lst)
            except ListContentError as error:
                lst.status, lst.error_details = ERROR, str(error)[:1].upper() + str(error)[1:]
            except BadRequestException as error:  # a location that no longer parses
                lst.status, lst.error_details = ERROR, error.message
            else:
                lst.status = ACTIVE
        else:
            lst.status = pending.target
        lst.updated_at = time.time()

    @staticmethod
    def _check_settled(lst: ListSet, action: str) -> None:
        if lst.status in TRANSITIONAL or lst.status == DELETED:
            raise BadRequestException(
                f"The request is rejected because the {lst.kind.label} {lst.id} is {lst.status}; "
                f"it cannot be {action} until that completes."
            )

    # -- API --

    def create_set(
        self,
        kind: ListKind,
        detector_id: str,
        name: Any,
        fmt: Any,
        location: Any,
        activate: Any,
        client_token: str | None,
        tags: Any,
        expected_bucket_owner: Any,
    ) -> str:
        with self.lock:
            self._detector(detector_id)
            if client_token and (kind.name, detector_id, client_token) in self.client_tokens:
                return self.client_tokens[(kind.name, detector_id, client_token)]
            name = self._check_name(name)
            if fmt not in FORMATS:
                raise _invalid(f"format: must be one of {', '.join(FORMATS)}.")
            location = self._check_location(location)
            if not isinstance(activate, bool):
                raise _invalid("activate: required, true or false.")
            owner = self._check_owner(expected_bucket_owner)
            tag_map = self._check_tags(tags)
            self._check_name_free(kind, detector_id, name)
            self._check_quota(kind, detector_id)
            set_id = mock_random.get_random_hex(32)
            arn = (
                f"arn:{get_partition(self.region_name)}:guardduty:{self.region_name}:{self.account_id}:"
                f"detector/{detector_id}/{kind.segment}/{set_id}"
            )
            lst = ListSet(kind, set_id, detector_id, arn, name, fmt, location, owner, tag_map)
            if activate:
                self._begin(lst, ACTIVATING, ACTIVE)
            self.sets[set_id] = lst
            if client_token:
                self.client_tokens[(kind.name, detector_id, client_token)] = set_id
            return set_id

    def get_set(self, kind: ListKind, detector_id: str, set_id: str) -> ListSet:
        with self.lock:
            lst = self._get(kind, detector_id, set_id)
            self._observe(lst, get=True)
            return lst

    def list_sets(
        self, kind: ListKind, detector_id: str, max_results: int | None, next_token: str | None
    ) -> tuple[list[str], str | None]:
        with self.lock:
            self._detector(detector_id)
            if max_results is None:
                max_results = MAX_RESULTS
            if not 1 <= max_results <= MAX_RESULTS:
                raise _invalid(f"maxResults: must be 1 to {MAX_RESULTS}.")
            start = 0
            if next_token:
                if not next_token.isdigit():
                    raise _invalid("nextToken: not a token this operation returned.")
                start = int(next_token)
            for lst in self._live(detector_id, [kind]):
                self._observe(lst, get=False)
            ids = [lst.id for lst in self._live(detector_id, [kind])]
            page = ids[start : start + max_results]
            token = str(start + max_results) if start + max_results < len(ids) else None
            return page, token

    def update_set(
        self,
        kind: ListKind,
        detector_id: str,
        set_id: str,
        name: Any,
        location: Any,
        activate: Any,
        expected_bucket_owner: Any,
    ) -> None:
        with self.lock:
            lst = self._get(kind, detector_id, set_id)
            self._check_settled(lst, "updated")
            if name is not None:
                name = self._check_name(name)
                self._check_name_free(kind, detector_id, name, except_id=set_id)
            if location is not None:
                location = self._check_location(location)
            if activate is not None and not isinstance(activate, bool):
                raise _invalid("activate: true or false.")
            owner = self._check_owner(expected_bucket_owner)
            if name is not None:
                lst.name = name
            if location is not None:
                lst.location = location
            if owner is not None:
                lst.expected_bucket_owner = owner
            if activate is True:
                self._begin(lst, ACTIVATING, ACTIVE)
            elif activate is False and lst.status in (ACTIVE, ERROR):
                self._begin(lst, DEACTIVATING, INACTIVE)
            lst.updated_at = time.time()

    def delete_set(self, kind: ListKind, detector_id: str, set_id: str) -> None:
        with self.lock:
            lst = self._get(kind, detector_id, set_id)
            self._check_settled(lst, "deleted")
            self._begin(lst, DELETE_PENDING, DELETED)
            lst.updated_at = time.time()

    def hold(self, set_id: str, reads: int) -> None:
        """Keep ``set_id``'s current transition (e.g. ``ACTIVATING``) for ``reads`` more ``Get*`` calls."""
        with self.lock:
            lst = self.sets[set_id]
            if lst.pending is None:
                raise ValueError(f"{set_id} is {lst.status}, not in a transition")
            lst.pending.holds_left = reads

    # -- tags (for the four kinds of lists and for detectors) --

    def _tag_target(self, resource_arn: str) -> dict[str, str]:
        match = _ARN.match(resource_arn)
        if not match or match.group("account") != self.account_id or match.group("region") != self.region_name:
            raise _invalid(f"resourceArn: {resource_arn!r} is not a GuardDuty resource of this account and Region.")
        detector = self._detector(match.group("detector"))
        if match.group("segment") is None:
            if detector.tags is None:
                detector.tags = {}
            return detector.tags
        lst = self._get(KINDS[match.group("segment")], match.group("detector"), match.group("set"))
        if lst.status == DELETED:
            raise BadRequestException(
                f"The request is rejected because the input {lst.kind.id_member} is not owned by the current account."
            )
        return lst.tags

    def tag_resource(self, resource_arn: str, tags: Any) -> None:
        with self.lock:
            target = self._tag_target(resource_arn)
            new = self._check_tags(tags)
            if not new:
                raise _invalid("tags: at least one tag is required.")
            if len({**target, **new}) > MAX_TAGS:
                raise _invalid(f"tags: a resource can have at most {MAX_TAGS} tags.")
            target.update(new)

    def untag_resource(self, resource_arn: str, tag_keys: list[str]) -> None:
        with self.lock:
            target = self._tag_target(resource_arn)
            if not tag_keys:
                raise _invalid("tagKeys: at least one tag key is required.")
            for key in tag_keys:
                target.pop(key, None)

    def list_tags_for_resource(self, resource_arn: str) -> dict[str, str]:
        with self.lock:
            return dict(self._tag_target(resource_arn))


guardduty_lists_backends = BackendDict(GuardDutyListsBackend, "guardduty")
