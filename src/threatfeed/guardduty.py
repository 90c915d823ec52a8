"""GuardDuty list management: find the detector, find the project's own lists, create or update and activate.

threatfeed only ever modifies lists it created: each carries the tag ``threatfeed:stack = <stack name>`` and
a stable name. A list with the same name but without that tag belongs to someone else and stops the publish
with an error that says so; lists with other names are never read beyond their name and tags.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from threatfeed.aws import aws_errors, error_code
from threatfeed.config import OWNER_TAG_KEY
from threatfeed.errors import ListRejected

BUSY_STATES = frozenset({"ACTIVATING", "DEACTIVATING", "DELETE_PENDING"})
"""GuardDuty refuses any change to a list in these states."""


@dataclass(frozen=True)
class SetApi:
    """The GuardDuty operations of one kind of list (their names differ only by the kind)."""

    set_type: str
    create: str
    get: str
    list: str
    update: str
    id_param: str
    ids_field: str


SET_APIS = {
    "threat_intel_set": SetApi(
        "threat_intel_set",
        "create_threat_intel_set",
        "get_threat_intel_set",
        "list_threat_intel_sets",
        "update_threat_intel_set",
        "ThreatIntelSetId",
        "ThreatIntelSetIds",
    ),
    "threat_entity_set": SetApi(
        "threat_entity_set",
        "create_threat_entity_set",
        "get_threat_entity_set",
        "list_threat_entity_sets",
        "update_threat_entity_set",
        "ThreatEntitySetId",
        "ThreatEntitySetIds",
    ),
    "trusted_entity_set": SetApi(
        "trusted_entity_set",
        "create_trusted_entity_set",
        "get_trusted_entity_set",
        "list_trusted_entity_sets",
        "update_trusted_entity_set",
        "TrustedEntitySetId",
        "TrustedEntitySetIds",
    ),
}


def s3_location(bucket: str, key: str) -> str:
    """The Location form GuardDuty documents for an object in S3."""
    return f"https://s3.amazonaws.com/{bucket}/{key}"


def parse_s3_location(location: str) -> tuple[str, str] | None:
    """(bucket, key) of a list Location in the forms threatfeed writes (``s3_location``) or ``s3://``."""
    for prefix in ("s3://", "https://s3.amazonaws.com/"):
        if location.startswith(prefix):
            bucket, _, key = location[len(prefix) :].partition("/")
            return (bucket, key) if bucket and key else None
    return None


def list_name(stack_name: str, kind: str, index: int) -> str:
    """Stable list name: the same stack always updates the same list instead of filling the six slots."""
    return f"threatfeed-{stack_name}-{kind}-{index + 1}"[:300]


def find_detector(gd: Any, region: str) -> str:
    """The Region's detector id; GuardDuty allows one per Region."""
    with aws_errors(f"GuardDuty in {region}"):
        ids = gd.list_detectors().get("DetectorIds", [])
    if not ids:
        raise ListRejected(
            f"GuardDuty is not enabled in {region} (no detector): enable it there in the administrator "
            "account, or remove the Region from the Regions parameter"
        )
    detector: str = ids[0]
    return detector


def _iter_set_ids(gd: Any, api: SetApi, detector_id: str, region: str) -> Iterator[str]:
    token = None
    while True:
        kwargs: dict[str, Any] = {"DetectorId": detector_id, "MaxResults": 50}
        if token:
            kwargs["NextToken"] = token
        with aws_errors(f"GuardDuty in {region}"):
            page = getattr(gd, api.list)(**kwargs)
        yield from page.get(api.ids_field, [])
        token = page.get("NextToken")
        if not token:
            return


def iter_sets(gd: Any, detector_id: str, region: str) -> Iterator[tuple[SetApi, str, dict[str, Any]]]:
    """Every custom list of every kind in the detector: (its kind's API, its id, what Get returns)."""
    for api in SET_APIS.values():
        for set_id in _iter_set_ids(gd, api, detector_id, region):
            with aws_errors(f"GuardDuty in {region}"):
                yield api, set_id, getattr(gd, api.get)(DetectorId=detector_id, **{api.id_param: set_id})


@dataclass
class ListState:
    """What a Region's GuardDuty holds for one of the project's lists; small enough for a state payload."""

    name: str
    kind: str
    set_type: str
    id: str
    status: str
    location: str
    sha256: str
    action: str = "none"
    error: str | None = None
    entries: int | None = None
    superseded_by: str | None = None  # the newer run that published this list (action "superseded")
    drift: str | None = None  # what had changed it outside threatfeed (action "repaired"): deactivated, deleted...

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if v is not None}
        return out


class GuardDutyLists:
    """The project's lists in one Region."""

    def __init__(self, gd: Any, region: str, stack_name: str) -> None:
        self._gd = gd
        self.region = region
        self.stack_name = stack_name
        self.detector_id = find_detector(gd, region)

    def _get(self, api: SetApi, set_id: str) -> dict[str, Any]:
        with aws_errors(f"GuardDuty in {self.region}"):
            info: dict[str, Any] = getattr(self._gd, api.get)(DetectorId=self.detector_id, **{api.id_param: set_id})
            return info

    def find_by_name(self, api: SetApi, name: str) -> tuple[str, dict[str, Any]] | None:
        for set_id in _iter_set_ids(self._gd, api, self.detector_id, self.region):
            info = self._get(api, set_id)
            if info.get("Name") == name:
                return set_id, info
        return None

    def owns(self, info: dict[str, Any]) -> bool:
        return bool(info.get("Tags", {}).get(OWNER_TAG_KEY) == self.stack_name)

    def publish(
        self, spec: dict[str, Any], *, force: bool, run_id: str, last_published: str | None = None
    ) -> ListState:
        """Create the list, or point the existing one at ``spec``'s object and activate it again.

        GuardDuty reads the object only when a list is activated, so an update always passes
        ``Activate=True``; an unchanged, ACTIVE list is left alone unless ``force``.

        ``last_published`` is the key threatfeed last gave this list in this Region (its Region pointer): a list
        that is no longer there, was deactivated, or points elsewhere was changed outside threatfeed, and is put
        back (action ``repaired``, with ``drift`` saying what had happened).
        """
        api = SET_APIS[spec["set_type"]]
        name = spec["name"]
        location = s3_location(spec["bucket"], spec["key"])
        found = self.find_by_name(api, name)
        what = f"{api.set_type} {name!r} in {self.region}"
        if found is None:
            drift = "deleted" if last_published else None
            token = hashlib.sha256(f"{run_id}/{self.region}/{name}".encode()).hexdigest()[:64]
            try:
                with aws_errors(f"GuardDuty in {self.region}"):
                    created = getattr(self._gd, api.create)(
                        DetectorId=self.detector_id,
                        Name=name,
                        Format=spec.get("format", "TXT"),
                        Location=location,
                        Activate=True,
                        ClientToken=token,
                        Tags={OWNER_TAG_KEY: self.stack_name},
                    )
            except Exception as error:
                raise _rejected(error, what, creating=True, api=api) from error
            state = _state(spec, api, created[api.id_param], "ACTIVATING", location, "created")
            return _repaired(state, drift)
        set_id, info = found
        if not self.owns(info):
            raise ListRejected(
                f"{what} exists but was not created by threatfeed stack {self.stack_name!r} (no "
                f"{OWNER_TAG_KEY} tag); threatfeed never modifies lists it did not create: rename or delete "
                "that list, or deploy threatfeed under another stack name"
            )
        status = info.get("Status", "")
        if status == "ACTIVATING" and info.get("Location") == location:
            # Already activating this very content (an earlier attempt of this run, or a run with the same
            # lists): nothing to change, the state machine waits for it like for its own activation.
            return _state(spec, api, set_id, status, location, "activating")
        if status in BUSY_STATES:
            # GuardDuty refuses any change for the minutes this takes (up to 40): the state machine waits and
            # tries again (CheckLists), instead of failing the Region after a few quick retries.
            waiting = _state(spec, api, set_id, status, location, "waiting")
            waiting.error = None
            return waiting
        if info.get("Location") == location and status == "ACTIVE" and not force:
            return _state(spec, api, set_id, status, location, "unchanged")
        drift = _drift(info, status, s3_location(spec["bucket"], last_published) if last_published else None)
        try:
            with aws_errors(f"GuardDuty in {self.region}"):
                getattr(self._gd, api.update)(
                    DetectorId=self.detector_id, Location=location, Activate=True, **{api.id_param: set_id}
                )
        except Exception as error:
            raise _rejected(error, what, creating=False, api=api) from error
        return _repaired(_state(spec, api, set_id, "ACTIVATING", location, "updated"), drift)

    def current(self, spec: dict[str, Any]) -> ListState:
        """The list as GuardDuty has it now (used when a newer run already published it)."""
        api = SET_APIS[spec["set_type"]]
        found = self.find_by_name(api, spec["name"])
        if found is None:
            raise ListRejected(f"{api.set_type} {spec['name']!r} in {self.region} disappeared; run again")
        set_id, info = found
        return _state(spec, api, set_id, info.get("Status", ""), info.get("Location", ""), "none")

    def refresh(self, state: dict[str, Any]) -> ListState:
        """Read a list's status again (the state machine's polling step)."""
        api = SET_APIS[state["set_type"]]
        info = self._get(api, state["id"])
        current = ListState(**{**state, "status": info.get("Status", "UNKNOWN")})
        if current.status == "ERROR":
            current.error = error_message(api, state["name"], self.region, info, state["location"])
        return current


def error_message(api: SetApi, name: str, region: str, info: dict[str, Any], location: str) -> str:
    """Why a list is in ERROR, in GuardDuty's words where it gives any.

    ``Get*EntitySet`` returns ``ErrorDetails`` as a plain string (botocore's model); ``GetThreatIntelSet``
    returns none, so for IP lists the message says where to look instead.
    """
    details = info.get("ErrorDetails")
    head = f"GuardDuty put {api.set_type} {name!r} in {region} into ERROR"
    if isinstance(details, str) and details.strip():
        return f"{head}: {details.strip()}"
    if isinstance(details, dict) and details:  # not botocore's shape, but never lose what GuardDuty said
        return f"{head}: " + " ".join(str(v) for v in details.values())
    return f"{head}; GuardDuty gives no detail for this kind of list: check the object at {location}"


def _state(spec: dict[str, Any], api: SetApi, set_id: str, status: str, location: str, action: str) -> ListState:
    return ListState(
        spec["name"],
        spec["kind"],
        api.set_type,
        set_id,
        status,
        location,
        spec["sha256"],
        action=action,
        entries=spec.get("entries"),
    )


def _drift(info: dict[str, Any], status: str, expected_location: str | None) -> str | None:
    """What changed a list outside threatfeed, if anything: threatfeed only ever leaves its lists ACTIVE (or on
    their way there) at the location it last gave them."""
    if expected_location is None:
        return None
    if status == "INACTIVE":
        return "deactivated"
    if info.get("Location") != expected_location:
        return f"repointed to {info.get('Location')}"
    return None


def _repaired(state: ListState, drift: str | None) -> ListState:
    if drift:
        state.action, state.drift = "repaired", drift
    return state


def _rejected(error: Exception, what: str, *, creating: bool, api: SetApi) -> Exception:
    """Explain GuardDuty's refusals (quota, validation) in terms of what to do; pass other errors on."""
    from botocore.exceptions import ClientError

    if not isinstance(error, ClientError) or error_code(error) != "BadRequestException":
        return error
    message = error.response.get("Error", {}).get("Message", "")
    hint = ""
    if creating and ("limit" in message.lower() or "maximum" in message.lower()):
        hint = " " + quota_hint(api)
    return ListRejected(f"GuardDuty refused {what}: {message}.{hint} The previous list stays in use.")


def quota_hint(api: SetApi) -> str:
    """What to do when GuardDuty has no room for one more list of this kind in a Region."""
    if api.set_type == "trusted_entity_set":
        return (
            "GuardDuty allows 1 trusted entity list per Region and another one exists there: delete it, or set "
            "PublishAllowList=false (the allow-list still keeps its entries out of threatfeed's lists)."
        )
    return (
        "GuardDuty allows 6 threat lists per Region: delete an unused list there, or lower the number of lists "
        "threatfeed publishes."
    )
