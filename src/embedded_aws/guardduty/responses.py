"""HTTP layer of the GuardDuty lists (rest-json): parses requests the way botocore serializes them and answers
with the members botocore's model expects."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote

from moto.guardduty.responses import GuardDutyResponse

from .models import KINDS, GuardDutyListsBackend, ListKind, guardduty_lists_backends

_SET_PATH = re.compile(
    r"/detector/(?P<detector>[^/]+)/(?P<segment>threatintelset|threatentityset|ipset|trustedentityset)"
    r"(?:/(?P<set>[^/]+))?/?$"
)
_TAGS_PATH = re.compile(r"/tags/(?P<arn>.+)$")


_JSON = {"Content-Type": "application/json"}
_Answer = tuple[str, dict[str, Any]]


def _changeable(body: dict[str, Any]) -> dict[str, Any]:
    """The members a Create*Set and an Update*Set request share, as the backend's keyword arguments."""
    return {
        "name": body.get("name"),
        "location": body.get("location"),
        "activate": body.get("activate"),
        "expected_bucket_owner": body.get("expectedBucketOwner"),
    }


class GuardDutyListsResponse(GuardDutyResponse):
    """moto's ``GuardDutyResponse`` plus the list operations (its detector and filter actions still work here)."""

    @property
    def lists_backend(self) -> GuardDutyListsBackend:
        return guardduty_lists_backends[self.current_account][self.region]

    # -- request helpers --

    def _json_body(self) -> dict[str, Any]:
        if not self.body:
            return {}
        try:
            body = json.loads(self.body)
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}

    def _set_path(self) -> tuple[ListKind, str, str | None]:
        match = _SET_PATH.search(unquote(self.path))
        assert match, self.path
        return KINDS[match.group("segment")], match.group("detector"), match.group("set")

    def _resource_arn(self) -> str:
        match = _TAGS_PATH.search(self.path)
        assert match, self.path
        return unquote(match.group("arn"))

    def _query(self, name: str) -> list[str]:
        values = self.querystring.get(name) if "?" in self.uri else None
        return list(values or [])

    def _trail(self, event_name: str, parameters: dict[str, Any], response: dict[str, Any] | None = None) -> None:
        """The call's CloudTrail management event, delivered to EventBridge (``embedded_aws.cloudtrail``)."""
        from embedded_aws import cloudtrail

        cloudtrail.record(
            account=self.current_account,
            region=self.region,
            event_name=event_name,
            headers=dict(self.headers),
            request_parameters=parameters,
            response_elements=response,
        )

    # -- the four kinds share one implementation --

    def _create(self) -> _Answer:
        kind, detector_id, _ = self._set_path()
        body = self._json_body()
        set_id = self.lists_backend.create_set(
            kind,
            detector_id,
            fmt=body.get("format"),
            client_token=body.get("clientToken"),
            tags=body.get("tags"),
            **_changeable(body),
        )
        self._trail(f"Create{kind.name}", {"detectorId": detector_id, **body}, {kind.id_member: set_id})
        return json.dumps({kind.id_member: set_id}), dict(_JSON)

    def _read(self) -> _Answer:
        kind, detector_id, set_id = self._set_path()
        assert set_id is not None
        return json.dumps(self.lists_backend.get_set(kind, detector_id, set_id).to_json()), dict(_JSON)

    def _list(self) -> _Answer:
        kind, detector_id, _ = self._set_path()
        max_results = self._query("maxResults")
        next_token = self._query("nextToken")
        try:
            limit = int(max_results[0]) if max_results else None
        except ValueError:
            limit = 0  # rejected by the backend
        ids, token = self.lists_backend.list_sets(kind, detector_id, limit, next_token[0] if next_token else None)
        out: dict[str, Any] = {kind.ids_member: ids}
        if token:
            out["nextToken"] = token
        return json.dumps(out), dict(_JSON)

    def _update(self) -> _Answer:
        kind, detector_id, set_id = self._set_path()
        assert set_id is not None
        body = self._json_body()
        self.lists_backend.update_set(kind, detector_id, set_id, **_changeable(body))
        self._trail(f"Update{kind.name}", {"detectorId": detector_id, kind.id_member: set_id, **body})
        return "{}", dict(_JSON)

    def _delete(self) -> _Answer:
        kind, detector_id, set_id = self._set_path()
        assert set_id is not None
        self.lists_backend.delete_set(kind, detector_id, set_id)
        self._trail(f"Delete{kind.name}", {"detectorId": detector_id, kind.id_member: set_id})
        return "{}", dict(_JSON)

    create_threat_intel_set = _create
    get_threat_intel_set = _read
    list_threat_intel_sets = _list
    update_threat_intel_set = _update
    delete_threat_intel_set = _delete

    create_threat_entity_set = _create
    get_threat_entity_set = _read
    list_threat_entity_sets = _list
    update_threat_entity_set = _update
    delete_threat_entity_set = _delete

    create_ip_set = _create
    get_ip_set = _read
    list_ip_sets = _list
    update_ip_set = _update
    delete_ip_set = _delete

    create_trusted_entity_set = _create
    get_trusted_entity_set = _read
    list_trusted_entity_sets = _list
    update_trusted_entity_set = _update
    delete_trusted_entity_set = _delete

    # -- tags --

    def tag_resource(self) -> _Answer:
        self.lists_backend.tag_resource(self._resource_arn(), self._json_body().get("tags"))
        return "", {"status": 204}

    def untag_resource(self) -> _Answer:
        self.lists_backend.untag_resource(self._resource_arn(), self._query("tagKeys"))
        return "", {"status": 204}

    def list_tags_for_resource(self) -> _Answer:
        return json.dumps({"tags": self.lists_backend.list_tags_for_resource(self._resource_arn())}), dict(_JSON)
