"""An incremental TAXII feed, run after run, on the embedded AWS (the real state machine and handlers).

Each run asks the TAXII server only for what was added after the previous run's ``X-TAXII-Date-Added-Last``
(the cursor the transform keeps in ``state/cursors/<feed>.json`` once it has used the body). What earlier runs
listed stays listed (``replace: false``), a later version with ``revoked: true`` takes its indicator off the
lists, and a run whose fetch fails leaves the cursor where it was, so nothing added meanwhile is skipped.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from embedded_aws.fake_apis import HVI_COLLECTION, FakeTaxii, taxii_timestamp
from embedded_aws.feed_server import ApiRequest
from embedded_aws.runtime import EmbeddedAws
from threatfeed.guardduty import parse_s3_location

FEED = "partner-taxii"
CURSOR_KEY = f"state/cursors/{FEED}.json"
USER, PASSWORD = "partner-reader", "taxii-password-0123456789"
#: Where the test's objects were "added" (date_added), hours before the test runs: inside the 7-day window.
START = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=6)


def indicator(kind: str, value: str, *, revoked: bool = False) -> dict[str, Any]:
    """A STIX 2.1 indicator whose id comes from its value, so a revocation names the same object."""
    created = "2025-11-20T08:00:00.000Z"
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid5(uuid.NAMESPACE_URL, 'threatfeed-test:' + value)}",
        "created": created,
        "modified": "2025-11-24T08:00:00.000Z" if revoked else created,
        "pattern": f"[{kind}:value = '{value}']",
        "pattern_type": "stix",
        "valid_from": created,
        "revoked": revoked,
    }


@pytest.fixture
def taxii_run() -> Iterator[tuple[EmbeddedAws, FakeTaxii]]:
    """The stack with one catalogue feed, a TAXII collection whose server wants credentials (in a secret under the
    stack's prefix, as the fetch role may read only that one)."""
    secret = f"threatfeed/threatfeed/{FEED}"

    def catalogue(server: Any, _stack_secret: str) -> dict[str, Any]:
        feed = {
            "name": FEED,
            "type": "taxii",
            "url": server.url("/api1/"),
            "secret": secret,
            "format": "stix",
            "enabled": True,
            "options": {"collection": "hvi", "replace": False},
        }
        return {"feeds": [feed]}

    with EmbeddedAws(retry_sleep=False, catalogue=catalogue) as aws:
        aws.client("secretsmanager").create_secret(
            Name=secret, SecretString=json.dumps({"username": USER, "password": PASSWORD})
        )
        yield aws, FakeTaxii(users={USER: PASSWORD}).install(aws.feed_server)


def cursor(aws: EmbeddedAws) -> dict[str, Any]:
    return json.loads(aws.client("s3").get_object(Bucket=aws.stack.bucket, Key=CURSOR_KEY)["Body"].read())


def raw_body(aws: EmbeddedAws, run: str) -> bytes:
    """The feed's body as the run stored it (``raw/<run>/<feed>``)."""
    return aws.client("s3").get_object(Bucket=aws.stack.bucket, Key=f"raw/{run}/{FEED}")["Body"].read()


def listed(aws: EmbeddedAws) -> dict[str, dict[str, set[str]]]:
    """Per Region, the entries of the IP list and the domain list GuardDuty points at now."""
    kinds = {"ip": ("list_threat_intel_sets", "ThreatIntelSetIds", "get_threat_intel_set", "ThreatIntelSetId")}
    kinds["domain"] = ("list_threat_entity_sets", "ThreatEntitySetIds", "get_threat_entity_set", "ThreatEntitySetId")
    out: dict[str, dict[str, set[str]]] = {}
    for region in aws.regions:
        gd = aws.client("guardduty", region)
        detector = gd.list_detectors()["DetectorIds"][0]
        out[region] = {}
        for kind, (list_op, ids_key, get_op, id_param) in kinds.items():
            ids = getattr(gd, list_op)(DetectorId=detector)[ids_key]
            out[region][kind] = set()
            if not ids:
                continue
            (set_id,) = ids
            location = getattr(gd, get_op)(DetectorId=detector, **{id_param: set_id})["Location"]
            bucket, key = parse_s3_location(location)
            body = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode()
            out[region][kind] = set(body.split())
    return out


def test_each_run_asks_for_what_is_new_keeps_what_was_listed_and_drops_what_is_revoked(taxii_run) -> None:
    aws, fake = taxii_run
    fake.add(START, indicator("ipv4-addr", "45.137.21.9"), indicator("domain-name", "first-run-sample.top"))
    fake.add(START + timedelta(minutes=2), indicator("ipv4-addr", "91.208.197.201"))

    first = aws.run()

    assert first.status == "SUCCEEDED", (first.error, first.cause)
    assert cursor(aws) == {"added_after": taxii_timestamp(START + timedelta(minutes=2))}  # Date-Added-Last
    window_start = datetime.fromisoformat(fake.added_after[0].replace("Z", "+00:00"))
    assert timedelta(days=7) - timedelta(minutes=5) < datetime.now(UTC) - window_start < timedelta(days=7, minutes=5)
    assert all(
        lists == {"ip": {"45.137.21.9", "91.208.197.201"}, "domain": {"first-run-sample.top"}}
        for lists in listed(aws).values()
    )

    fake.add(START + timedelta(hours=1), indicator("ipv4-addr", "185.225.74.55"))
    fake.add(START + timedelta(hours=1, seconds=1), indicator("ipv4-addr", "91.208.197.201", revoked=True))
    second = aws.run()

    assert second.status == "SUCCEEDED", (second.error, second.cause)
    assert fake.added_after[1:] == [taxii_timestamp(START + timedelta(minutes=2))]  # only what is newer
    body = raw_body(aws, second.name)
    assert [o["pattern"] for o in json.loads(body)["objects"]] == [
        "[ipv4-addr:value = '185.225.74.55']",
        "[ipv4-addr:value = '91.208.197.201']",
    ], body
    for region, lists in listed(aws).items():
        # The first run's indicators stay (incremental, not replaced); the revoked one is gone.
        assert lists == {"ip": {"45.137.21.9", "185.225.74.55"}, "domain": {"first-run-sample.top"}}, region
    assert second.output["feeds"][FEED]["accepted"] == 1
    assert cursor(aws) == {"added_after": taxii_timestamp(START + timedelta(hours=1, seconds=1))}


def test_a_run_whose_taxii_fetch_fails_does_not_move_the_cursor(taxii_run) -> None:
    aws, fake = taxii_run
    fake.add(START, indicator("ipv4-addr", "45.137.21.9"))
    assert aws.run().status == "SUCCEEDED"
    kept = cursor(aws)
    assert kept == {"added_after": taxii_timestamp(START)}

    # Two new objects, one a page: the first page (with a newer X-TAXII-Date-Added-Last) comes back, then the
    # server breaks on the second, on every attempt.
    fake.add(START + timedelta(hours=1), indicator("ipv4-addr", "194.180.49.151"))
    fake.add(START + timedelta(hours=2), indicator("domain-name", "second-page-sample.xyz"))
    fake.server_limit = 1

    def broken_after_one_page(request: ApiRequest) -> tuple[int, dict[str, str], str]:
        if "next" in request.query:
            return 503, {"Content-Type": "text/plain"}, "unavailable"
        return fake.get_objects(HVI_COLLECTION, request)

    aws.feed_server.set_handler(fake.objects_path(), broken_after_one_page)
    failed = aws.run()

    assert failed.status == "FAILED" and failed.error == "FeedsFailed", (failed.error, failed.cause)
    assert set(fake.added_after[1:]) == {kept["added_after"]}
    statuses = [r.status for r in aws.feed_server.requests_to(fake.objects_path())][1:]
    assert statuses[:2] == [200, 503] and set(statuses) == {200, 503}  # page one came back, then page two broke
    assert cursor(aws) == kept
    assert all(lists["ip"] == {"45.137.21.9"} for lists in listed(aws).values())  # the last good list stays

    fake.install(aws.feed_server)  # the server works again
    asked_before = len(fake.added_after)
    recovered = aws.run()

    assert recovered.status == "SUCCEEDED", (recovered.error, recovered.cause)
    assert fake.added_after[asked_before] == kept["added_after"]  # nothing added meanwhile is skipped
    for region, lists in listed(aws).items():
        assert lists == {"ip": {"45.137.21.9", "194.180.49.151"}, "domain": {"second-page-sample.xyz"}}, region
    assert cursor(aws) == {"added_after": taxii_timestamp(START + timedelta(hours=2))}
