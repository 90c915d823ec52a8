"""The embedded AWS's GuardDuty lists (threat IP / threat entity / trusted IP / trusted entity sets), through boto3."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core.base_backend import BackendDict
from moto.server import ThreadedMotoServer

from embedded_aws import guardduty
from embedded_aws.guardduty import models

REGION = "eu-west-1"
ACCOUNT = "123456789012"
BUCKET = "threatfeed-lists"
NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})
DETECTOR_MESSAGE = "The request is rejected because the input detectorId is not owned by the current account."


@dataclass(frozen=True)
class Kind:
    """The boto3 names of one kind of list."""

    name: str  # ThreatIntelSet
    snake: str  # threat_intel_set
    id_param: str  # ThreatIntelSetId
    segment: str  # threatintelset
    entity: bool

    @property
    def ids_key(self) -> str:
        return self.id_param + "s"

    def create(self, gd: Any, detector: str, **kwargs: Any) -> str:
        kwargs.setdefault("Format", "TXT")
        kwargs.setdefault("Activate", False)
        return getattr(gd, f"create_{self.snake}")(DetectorId=detector, **kwargs)[self.id_param]

    def get(self, gd: Any, detector: str, set_id: str) -> dict[str, Any]:
        return getattr(gd, f"get_{self.snake}")(DetectorId=detector, **{self.id_param: set_id})

    def status(self, gd: Any, detector: str, set_id: str) -> str:
        return self.get(gd, detector, set_id)["Status"]

    def list(self, gd: Any, detector: str, **kwargs: Any) -> dict[str, Any]:
        return getattr(gd, f"list_{self.snake}s")(DetectorId=detector, **kwargs)

    def update(self, gd: Any, detector: str, set_id: str, **kwargs: Any) -> None:
        getattr(gd, f"update_{self.snake}")(DetectorId=detector, **{self.id_param: set_id}, **kwargs)

    def delete(self, gd: Any, detector: str, set_id: str) -> None:
        getattr(gd, f"delete_{self.snake}")(DetectorId=detector, **{self.id_param: set_id})

    def arn(self, detector: str, set_id: str) -> str:
        return f"arn:aws:guardduty:{REGION}:{ACCOUNT}:detector/{detector}/{self.segment}/{set_id}"


THREAT_INTEL = Kind("ThreatIntelSet", "threat_intel_set", "ThreatIntelSetId", "threatintelset", False)
THREAT_ENTITY = Kind("ThreatEntitySet", "threat_entity_set", "ThreatEntitySetId", "threatentityset", True)
TRUSTED_IP = Kind("IPSet", "ip_set", "IpSetId", "ipset", False)
TRUSTED_ENTITY = Kind("TrustedEntitySet", "trusted_entity_set", "TrustedEntitySetId", "trustedentityset", True)
ALL_KINDS = [THREAT_INTEL, THREAT_ENTITY, TRUSTED_IP, TRUSTED_ENTITY]
KIND_IDS = [k.name for k in ALL_KINDS]


def error_code(info: pytest.ExceptionInfo[ClientError]) -> str:
    return info.value.response["Error"]["Code"]


@pytest.fixture(autouse=True)
def _defaults() -> Iterator[None]:
    """These tests are about shapes and rules: transitions resolve on the next read unless a test says otherwise
    (the default, 15 simulated minutes, has its own test)."""
    guardduty.install()
    guardduty.configure_activation(delay_seconds=0, hold_reads=0)
    yield
    guardduty.reset_activation_settings()


@pytest.fixture(scope="module")
def clients() -> Iterator[tuple[Any, Any]]:
    """One mock and one pair of clients for the module (creating clients is the slow part); each test resets."""
    guardduty.install()
    with mock_aws():
        yield (
            boto3.client("s3", region_name=REGION),
            boto3.client("guardduty", region_name=REGION, config=NO_RETRIES),
        )


@pytest.fixture
def aws(clients: tuple[Any, Any]) -> tuple[Any, Any]:
    BackendDict.reset()  # what mock_aws does on entry
    return clients


@pytest.fixture
def s3(aws: tuple[Any, Any]) -> Any:
    client = aws[0]
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    return client


@pytest.fixture
def gd(aws: tuple[Any, Any]) -> Any:
    return aws[1]


@pytest.fixture
def detector(gd: Any) -> str:
    return gd.create_detector(Enable=True)["DetectorId"]


@pytest.fixture
def location(s3: Any) -> str:
    return put(s3, "lists/good.txt", b"# a comment\n198.51.100.1\n192.0.2.0/24\n\n")


def put(s3: Any, key: str, body: bytes) -> str:
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    return f"s3://{BUCKET}/{key}"


# --- lifecycle ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ALL_KINDS, ids=KIND_IDS)
def test_lifecycle(kind: Kind, gd: Any, detector: str, location: str) -> None:
    set_id = kind.create(gd, detector, Name="tf-list", Location=location, Tags={"owner": "threatfeed"})
    got = kind.get(gd, detector, set_id)
    assert (got["Name"], got["Format"], got["Location"], got["Status"]) == ("tf-list", "TXT", location, "INACTIVE")
    assert got["Tags"] == {"owner": "threatfeed"}
    assert ("CreatedAt" in got) is kind.entity  # only entity sets have timestamps
    assert "ErrorDetails" not in got
    assert kind.list(gd, detector)[kind.ids_key] == [set_id]

    with guardduty.activation(hold_reads=1):  # see each transitional state once
        kind.update(gd, detector, set_id, Activate=True)
        assert kind.status(gd, detector, set_id) == "ACTIVATING"
        assert kind.status(gd, detector, set_id) == "ACTIVE"

        kind.update(gd, detector, set_id, Name="tf-renamed", Activate=False)
        assert kind.status(gd, detector, set_id) == "DEACTIVATING"
        got = kind.get(gd, detector, set_id)
        assert (got["Status"], got["Name"]) == ("INACTIVE", "tf-renamed")

        kind.delete(gd, detector, set_id)
        assert kind.status(gd, detector, set_id) == "DELETE_PENDING"
        assert kind.status(gd, detector, set_id) == "DELETED"
    assert kind.list(gd, detector)[kind.ids_key] == []


@pytest.mark.parametrize("kind", ALL_KINDS, ids=KIND_IDS)
def test_create_active_resolves_on_next_get(kind: Kind, gd: Any, detector: str, location: str) -> None:
    set_id = kind.create(gd, detector, Name="tf", Location=location, Activate=True)
    assert kind.status(gd, detector, set_id) == "ACTIVE"


def test_list_resolves_but_never_uses_a_hold(gd: Any, detector: str, location: str) -> None:
    kind = THREAT_ENTITY
    with guardduty.activation(hold_reads=2):
        set_id = kind.create(gd, detector, Name="tf", Location=location, Activate=True)
    assert kind.list(gd, detector)[kind.ids_key] == [set_id]
    assert kind.status(gd, detector, set_id) == "ACTIVATING"
    kind.list(gd, detector)
    assert kind.status(gd, detector, set_id) == "ACTIVATING"
    kind.list(gd, detector)  # holds used up: a List resolves it too
    assert guardduty.backend(REGION).sets[set_id].status == "ACTIVE"


def test_activation_delay(gd: Any, detector: str, location: str) -> None:
    with guardduty.activation(delay_seconds=0.05):
        set_id = THREAT_INTEL.create(gd, detector, Name="tf", Location=location, Activate=True)
    assert THREAT_INTEL.status(gd, detector, set_id) == "ACTIVATING"
    time.sleep(0.06)
    assert THREAT_INTEL.status(gd, detector, set_id) == "ACTIVE"


def test_by_default_a_list_activates_in_fifteen_simulated_minutes(gd: Any, detector: str, location: str) -> None:
    from embedded_aws.clock import clock

    guardduty.reset_activation_settings()
    set_id = THREAT_INTEL.create(gd, detector, Name="tf", Location=location, Activate=True)
    clock.advance(14 * 60)
    assert THREAT_INTEL.status(gd, detector, set_id) == "ACTIVATING"
    with pytest.raises(ClientError) as refused:  # and GuardDuty refuses any change meanwhile
        THREAT_INTEL.update(gd, detector, set_id, Activate=True)
    assert refused.value.response["Error"]["Code"] == "BadRequestException"
    clock.advance(61)
    assert THREAT_INTEL.status(gd, detector, set_id) == "ACTIVE"


def test_hold_one_set(gd: Any, detector: str, location: str) -> None:
    set_id = THREAT_INTEL.create(gd, detector, Name="tf", Location=location, Activate=True)
    guardduty.backend(REGION).hold(set_id, 3)
    assert [THREAT_INTEL.status(gd, detector, set_id) for _ in range(4)] == ["ACTIVATING"] * 3 + ["ACTIVE"]
    with pytest.raises(ValueError):
        guardduty.backend(REGION).hold(set_id, 1)  # no transition to hold


@pytest.mark.parametrize("kind", ALL_KINDS, ids=KIND_IDS)
def test_no_update_or_delete_while_in_transition(kind: Kind, gd: Any, detector: str, location: str) -> None:
    with guardduty.activation(hold_reads=1):
        set_id = kind.create(gd, detector, Name="tf", Location=location, Activate=True)
        for action in (
            lambda: kind.update(gd, detector, set_id, Activate=True),
            lambda: kind.update(gd, detector, set_id, Name="other"),
            lambda: kind.delete(gd, detector, set_id),
        ):
            with pytest.raises(ClientError) as info:
                action()
            assert error_code(info) == "BadRequestException"
            assert "ACTIVATING" in info.value.response["Error"]["Message"]
        assert kind.status(gd, detector, set_id) == "ACTIVATING"
        assert kind.status(gd, detector, set_id) == "ACTIVE"

        kind.update(gd, detector, set_id, Activate=False)
        with pytest.raises(ClientError, match="DEACTIVATING"):
            kind.update(gd, detector, set_id, Activate=True)
        kind.get(gd, detector, set_id)
        kind.get(gd, detector, set_id)

        kind.delete(gd, detector, set_id)
        with pytest.raises(ClientError, match="DELETE_PENDING"):
            kind.delete(gd, detector, set_id)
        kind.get(gd, detector, set_id)
        assert kind.status(gd, detector, set_id) == "DELETED"
    with pytest.raises(ClientError, match="DELETED"):
        kind.update(gd, detector, set_id, Activate=True)


def test_update_from_error_reactivates(s3: Any, gd: Any, detector: str) -> None:
    missing = f"s3://{BUCKET}/lists/later.txt"
    set_id = THREAT_ENTITY.create(gd, detector, Name="tf", Location=missing, Activate=True)
    assert THREAT_ENTITY.status(gd, detector, set_id) == "ERROR"
    put(s3, "lists/later.txt", b"203.0.113.7\n")
    THREAT_ENTITY.update(gd, detector, set_id, Activate=True)
    got = THREAT_ENTITY.get(gd, detector, set_id)
    assert got["Status"] == "ACTIVE"
    assert "ErrorDetails" not in got


def test_client_token_is_idempotent(gd: Any, detector: str, location: str) -> None:
    first = THREAT_INTEL.create(gd, detector, Name="tf", Location=location, ClientToken="token-1")
    again = THREAT_INTEL.create(gd, detector, Name="tf", Location=location, ClientToken="token-1")
    assert first == again
    assert THREAT_INTEL.list(gd, detector)["ThreatIntelSetIds"] == [first]


# --- listing and tags ---------------------------------------------------------------------------------------------


def test_pagination(gd: Any, detector: str, location: str) -> None:
    ids = [THREAT_INTEL.create(gd, detector, Name=f"tf-{i}", Location=location) for i in range(6)]
    page = THREAT_INTEL.list(gd, detector, MaxResults=4)
    assert page["ThreatIntelSetIds"] == ids[:4]
    rest = THREAT_INTEL.list(gd, detector, MaxResults=4, NextToken=page["NextToken"])
    assert rest["ThreatIntelSetIds"] == ids[4:]
    assert "NextToken" not in rest
    full = gd.get_paginator("list_threat_intel_sets").paginate(DetectorId=detector, PaginationConfig={"PageSize": 2})
    assert [i for p in full for i in p["ThreatIntelSetIds"]] == ids
    for bad in ({"MaxResults": 51}, {"NextToken": "not-a-token"}):
        with pytest.raises(ClientError) as info:
            THREAT_INTEL.list(gd, detector, **bad)
        assert error_code(info) == "BadRequestException"


@pytest.mark.parametrize("kind", ALL_KINDS, ids=KIND_IDS)
def test_tags(kind: Kind, gd: Any, detector: str, location: str) -> None:
    set_id = kind.create(gd, detector, Name="tf", Location=location, Tags={"a": "1"})
    arn = kind.arn(detector, set_id)
    gd.tag_resource(ResourceArn=arn, Tags={"b": "2", "c": "3"})
    assert gd.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"a": "1", "b": "2", "c": "3"}
    gd.untag_resource(ResourceArn=arn, TagKeys=["a", "c"])
    assert gd.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"b": "2"}
    assert kind.get(gd, detector, set_id)["Tags"] == {"b": "2"}
    gd.untag_resource(ResourceArn=arn, TagKeys=["b"])
    assert "Tags" not in kind.get(gd, detector, set_id)


def test_tags_of_detector_and_unknown_resources(gd: Any, detector: str) -> None:
    detector_arn = f"arn:aws:guardduty:{REGION}:{ACCOUNT}:detector/{detector}"
    gd.tag_resource(ResourceArn=detector_arn, Tags={"stack": "threatfeed"})
    assert gd.list_tags_for_resource(ResourceArn=detector_arn)["Tags"] == {"stack": "threatfeed"}
    for arn in (THREAT_INTEL.arn(detector, "0" * 32), f"arn:aws:guardduty:{REGION}:{ACCOUNT}:detector/{'f' * 32}"):
        with pytest.raises(ClientError) as info:
            gd.list_tags_for_resource(ResourceArn=arn)
        assert error_code(info) == "BadRequestException"


# --- rules --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ALL_KINDS, ids=KIND_IDS)
def test_detector_must_exist(kind: Kind, gd: Any, location: str) -> None:
    for call in (
        lambda: kind.create(gd, "0" * 32, Name="tf", Location=location),
        lambda: kind.list(gd, "0" * 32),
        lambda: kind.get(gd, "0" * 32, "1" * 32),
    ):
        with pytest.raises(ClientError) as info:
            call()
        assert error_code(info) == "BadRequestException"
        assert info.value.response["Error"]["Message"] == DETECTOR_MESSAGE
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_unknown_set_id(gd: Any, detector: str, location: str) -> None:
    THREAT_INTEL.create(gd, detector, Name="tf", Location=location)
    with pytest.raises(gd.exceptions.BadRequestException):
        THREAT_INTEL.get(gd, detector, "0" * 32)
    other_kind = TRUSTED_IP.create(gd, detector, Name="tf", Location=location)
    with pytest.raises(gd.exceptions.BadRequestException):
        THREAT_INTEL.get(gd, detector, other_kind)


def test_names_unique_per_detector_and_kind(gd: Any, detector: str, location: str) -> None:
    first = THREAT_INTEL.create(gd, detector, Name="tf", Location=location)
    with pytest.raises(ClientError, match="already exists") as info:
        THREAT_INTEL.create(gd, detector, Name="tf", Location=location)
    assert error_code(info) == "BadRequestException"
    THREAT_ENTITY.create(gd, detector, Name="tf", Location=location)  # another kind: fine
    second = THREAT_INTEL.create(gd, detector, Name="tf-2", Location=location)
    with pytest.raises(ClientError, match="already exists"):
        THREAT_INTEL.update(gd, detector, second, Name="tf")
    THREAT_INTEL.update(gd, detector, first, Name="tf")  # its own name


def test_seventh_threat_list_is_rejected(gd: Any, detector: str, location: str) -> None:
    """Threat IP sets and threat entity sets share the six (see models' docstring)."""
    intel = [THREAT_INTEL.create(gd, detector, Name=f"ip-{i}", Location=location) for i in range(4)]
    for i in range(2):
        THREAT_ENTITY.create(gd, detector, Name=f"entity-{i}", Location=location)
    for kind in (THREAT_INTEL, THREAT_ENTITY):
        with pytest.raises(ClientError, match="limit of 6") as info:
            kind.create(gd, detector, Name="seventh", Location=location)
        assert error_code(info) == "BadRequestException"
    TRUSTED_IP.create(gd, detector, Name="trusted", Location=location)  # trusted lists have their own quota

    THREAT_INTEL.delete(gd, detector, intel[0])
    with pytest.raises(ClientError, match="limit of 6"):  # DELETE_PENDING still counts...
        THREAT_INTEL.create(gd, detector, Name="seventh", Location=location)
    assert THREAT_INTEL.status(gd, detector, intel[0]) == "DELETED"  # ...until deletion completes
    THREAT_INTEL.create(gd, detector, Name="seventh", Location=location)


def test_separate_threat_quotas_setting(gd: Any, detector: str, location: str, monkeypatch: Any) -> None:
    monkeypatch.setattr(models, "THREAT_LISTS_SHARE_QUOTA", False)
    for i in range(6):
        THREAT_INTEL.create(gd, detector, Name=f"ip-{i}", Location=location)
    THREAT_ENTITY.create(gd, detector, Name="entity", Location=location)
    with pytest.raises(ClientError, match="limit of 6"):
        THREAT_INTEL.create(gd, detector, Name="seventh", Location=location)


@pytest.mark.parametrize("kind", [TRUSTED_IP, TRUSTED_ENTITY], ids=["IPSet", "TrustedEntitySet"])
def test_one_trusted_list_per_kind(kind: Kind, gd: Any, detector: str, location: str) -> None:
    kind.create(gd, detector, Name="trusted", Location=location)
    with pytest.raises(ClientError, match="limit of 1"):
        kind.create(gd, detector, Name="trusted-2", Location=location)


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"Name": "x" * 301}, "name"),
        ({"Name": "has space"}, "name"),
        ({"Format": "CSV"}, "format"),
        ({"Location": "s3://" + BUCKET + "/" + "k" * 300}, "location"),
        ({"Location": "ftp://example.com/list.txt"}, "location"),
        ({"Location": "https://example.com/list.txt"}, "location"),
        ({"ExpectedBucketOwner": "12345678901x"}, "expectedBucketOwner"),
        ({"Tags": {"aws:reserved": "x"}}, "tags"),
    ],
)
def test_invalid_parameters(gd: Any, detector: str, location: str, overrides: dict[str, Any], fragment: str) -> None:
    params = {"Name": "tf", "Location": location, **overrides}
    with pytest.raises(ClientError) as info:
        THREAT_INTEL.create(gd, detector, **params)
    assert error_code(info) == "BadRequestException"
    assert fragment in info.value.response["Error"]["Message"]


@pytest.mark.parametrize(
    "form",
    [
        "https://s3.amazonaws.com/{bucket}/{key}",
        "https://s3-eu-west-1.amazonaws.com/{bucket}/{key}",
        "http://{bucket}.s3.amazonaws.com/{key}",
        "http://{bucket}.s3-eu-west-1.amazonaws.com/{key}",
        "s3://{bucket}/{key}",
    ],
)
def test_location_forms(s3: Any, gd: Any, detector: str, form: str) -> None:
    put(s3, "lists/dir/list.txt", b"198.51.100.1\n")
    location = form.format(bucket=BUCKET, key="lists/dir/list.txt")
    set_id = THREAT_INTEL.create(gd, detector, Name="tf", Location=location, Activate=True)
    assert THREAT_INTEL.status(gd, detector, set_id) == "ACTIVE"


# --- activation: ERROR ----------------------------------------------------------------------------------------------


def activate(kind: Kind, gd: Any, detector: str, location: str, fmt: str = "TXT") -> dict[str, Any]:
    set_id = kind.create(gd, detector, Name=f"tf-{uuid.uuid4().hex[:8]}", Location=location, Format=fmt, Activate=True)
    return kind.get(gd, detector, set_id)


@pytest.mark.parametrize(
    ("body", "fmt", "details"),
    [
        (b"198.51.100.1\n2001:db8::1\n", "TXT", "IPv6"),
        (b"198.51.100.0/24\n2001:db8::/32\n", "TXT", "IPv6"),
        (b"198.51.100.1\nnot an address\n", "TXT", "line 2"),
        (b"198.51.100.1 ; SBL1\n", "TXT", "line 1"),
        (b"198.51.100.999\n", "TXT", "line 1"),
        (b"198.51.100.1\n", "OTX_CSV", "OTX_CSV"),
        (b"Indicator type, Indicator, Description\nIPv6, 2001:db8::1, x\n", "OTX_CSV", "IPv6"),
        (b"198.51.100.1\n", "PROOF_POINT", "PROOF_POINT"),
        (b"198.51.100.1\n", "ALIEN_VAULT", "ALIEN_VAULT"),
        (b"reportId,title\nr1,t1\n", "FIRE_EYE", "FIRE_EYE"),
        (b"198.51.100.1\n", "STIX", "STIX"),
        (b"<root/>", "STIX", "STIX_Package"),
        (b"\xff\xfe\x00garbage", "TXT", "UTF-8"),
    ],
)
@pytest.mark.parametrize("kind", [THREAT_INTEL, THREAT_ENTITY], ids=["ThreatIntelSet", "ThreatEntitySet"])
def test_error_on_bad_content(kind: Kind, s3: Any, gd: Any, detector: str, body: bytes, fmt: str, details: str) -> None:
    got = activate(kind, gd, detector, put(s3, "lists/bad", body), fmt)
    assert got["Status"] == "ERROR"
    if kind.entity:
        assert details.lower() in got["ErrorDetails"].lower()
    else:
        assert "ErrorDetails" not in got  # GetThreatIntelSet has no such member


def test_domains_only_in_entity_lists(s3: Any, gd: Any, detector: str) -> None:
    location = put(s3, "lists/domains.txt", b"example.com\n*.example.org\n198.51.100.1\n")
    assert activate(THREAT_INTEL, gd, detector, location)["Status"] == "ERROR"
    assert activate(THREAT_ENTITY, gd, detector, location)["Status"] == "ACTIVE"


@pytest.mark.parametrize("kind", [THREAT_INTEL, THREAT_ENTITY], ids=["ThreatIntelSet", "ThreatEntitySet"])
def test_error_when_object_or_bucket_missing(kind: Kind, s3: Any, gd: Any, detector: str) -> None:
    got = activate(kind, gd, detector, f"s3://{BUCKET}/lists/absent.txt")
    assert got["Status"] == "ERROR"
    missing_bucket = activate(kind, gd, detector, "s3://no-such-threatfeed-bucket/list.txt")
    assert missing_bucket["Status"] == "ERROR"
    if kind.entity:
        assert "does not exist" in got["ErrorDetails"]
        assert "bucket does not exist" in missing_bucket["ErrorDetails"]


def test_error_when_expected_bucket_owner_differs(s3: Any, gd: Any, detector: str, location: str) -> None:
    set_id = THREAT_ENTITY.create(
        gd, detector, Name="tf", Location=location, Activate=True, ExpectedBucketOwner="210987654321"
    )
    got = THREAT_ENTITY.get(gd, detector, set_id)
    assert (got["Status"], got["ExpectedBucketOwner"]) == ("ERROR", "210987654321")
    assert "expected bucket owner" in got["ErrorDetails"]


def test_error_when_larger_than_35_mb(s3: Any, gd: Any, detector: str) -> None:
    assert models.MAX_LIST_BYTES == 35_000_000
    body = b"198.51.100.1\n" * (models.MAX_LIST_BYTES // 13) + b"\n" * (models.MAX_LIST_BYTES % 13 + 1)
    got = activate(THREAT_ENTITY, gd, detector, put(s3, "lists/over", body))
    assert got["Status"] == "ERROR"
    assert "35000001 bytes" in got["ErrorDetails"]


def test_size_limit_boundary(s3: Any, gd: Any, detector: str, monkeypatch: Any) -> None:
    monkeypatch.setattr(models, "MAX_LIST_BYTES", 26)
    assert activate(THREAT_ENTITY, gd, detector, put(s3, "a", b"198.51.100.1\n" * 2))["Status"] == "ACTIVE"
    got = activate(THREAT_ENTITY, gd, detector, put(s3, "b", b"198.51.100.1\n" * 2 + b"#"))
    assert (got["Status"], "27 bytes" in got["ErrorDetails"]) == ("ERROR", True)


def test_entry_limits(s3: Any, gd: Any, detector: str) -> None:
    def addresses(n: int) -> bytes:
        return b"".join(b"10.%d.%d.%d\n" % (i >> 16 & 255, i >> 8 & 255, i & 255) for i in range(n))

    assert activate(THREAT_INTEL, gd, detector, put(s3, "250k", addresses(250_000)))["Status"] == "ACTIVE"
    assert activate(THREAT_INTEL, gd, detector, put(s3, "250k1", addresses(250_001)))["Status"] == "ERROR"
    # threat entity sets: the quotas page's 1,000 entities per list
    assert activate(THREAT_ENTITY, gd, detector, put(s3, "1k", addresses(1_000)))["Status"] == "ACTIVE"
    got = activate(THREAT_ENTITY, gd, detector, put(s3, "1k1", addresses(1_001)))
    assert got["Status"] == "ERROR"
    assert "more than 1000 entries" in got["ErrorDetails"]
    assert activate(TRUSTED_IP, gd, detector, put(s3, "2k1", addresses(2_001)))["Status"] == "ERROR"
    assert activate(TRUSTED_ENTITY, gd, detector, put(s3, "2k", addresses(2_000)))["Status"] == "ACTIVE"


STIX = b"""<?xml version="1.0" encoding="UTF-8"?>
<stix:STIX_Package xmlns:stix="http://stix.mitre.org/stix-1" xmlns:cybox="http://cybox.mitre.org/cybox-2"
    xmlns:AddressObj="http://cybox.mitre.org/objects#AddressObject-2"
    xmlns:DomainNameObj="http://cybox.mitre.org/objects#DomainNameObject-1"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <stix:Observables cybox_major_version="2" cybox_minor_version="1">
    <cybox:Observable><cybox:Object>
      <cybox:Properties xsi:type="AddressObj:AddressObjectType" category="ipv4-addr">
        <AddressObj:Address_Value condition="Equals" apply_condition="ANY"
          >198.51.100.1##comma##192.0.2.0/24</AddressObj:Address_Value>
      </cybox:Properties>
    </cybox:Object></cybox:Observable>
    <cybox:Observable><cybox:Object>
      <cybox:Properties xsi:type="DomainNameObj:DomainNameObjectType">
        <DomainNameObj:Value>example.com</DomainNameObj:Value>
      </cybox:Properties>
    </cybox:Object></cybox:Observable>
  </stix:Observables>
</stix:STIX_Package>
"""
FORMAT_SAMPLES = {
    "TXT": b"198.51.100.1\n192.0.2.0/24\nexample.com\n*.example.org\n",
    "OTX_CSV": b"Indicator type, Indicator, Description\nIPv4, 198.51.100.1, x\nCIDR, 192.0.2.0/24, x\n"
    b"Domain name, example.net, x\nURL, http://example.net/a, ignored\n",
    "ALIEN_VAULT": b"198.51.100.1#4#2#Malicious Host#US##0.0,0.0#3\n",
    "PROOF_POINT": b"ip, category, score, first_seen, last_seen, ports (|)\n"
    b"198.51.100.1, 9, 100, 2026-11-01, 2026-11-27, 22|80\n192.0.2.1, 9, 100, 2026-11-01, 2026-11-27,\n",
    "FIRE_EYE": b"reportId,title,cidr,domain,ip,port,observationTime\n"
    b"r1,t1,192.0.2.0/24,,198.51.100.1,443,1700000000\nr2,t2,,example.com,,,1700000000\nr3,md5 only,,,,,1\n",
    "STIX": STIX,
}


@pytest.mark.parametrize("fmt", sorted(FORMAT_SAMPLES))
def test_valid_formats_activate(fmt: str, s3: Any, gd: Any, detector: str) -> None:
    location = put(s3, f"lists/sample.{fmt}", FORMAT_SAMPLES[fmt])
    assert activate(THREAT_ENTITY, gd, detector, location, fmt)["Status"] == "ACTIVE"
    if fmt not in ("TXT", "OTX_CSV"):  # those two samples hold domains, not allowed in IP lists
        assert activate(THREAT_INTEL, gd, detector, location, fmt)["Status"] == "ACTIVE"


def test_changing_the_object_does_nothing_until_reactivated(s3: Any, gd: Any, detector: str, location: str) -> None:
    set_id = THREAT_INTEL.create(gd, detector, Name="tf", Location=location, Activate=True)
    assert THREAT_INTEL.status(gd, detector, set_id) == "ACTIVE"
    put(s3, "lists/good.txt", b"2001:db8::1\n")
    assert THREAT_INTEL.status(gd, detector, set_id) == "ACTIVE"
    THREAT_INTEL.update(gd, detector, set_id, Activate=True)
    assert THREAT_INTEL.status(gd, detector, set_id) == "ERROR"


# --- server mode ----------------------------------------------------------------------------------------------------


def test_server_mode_routes_lists_and_tags() -> None:
    BackendDict.reset()  # the server serves this process's backends
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        options = {
            "region_name": REGION,
            "endpoint_url": endpoint,
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
            "config": NO_RETRIES,
        }
        s3 = boto3.client("s3", **options)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        location = put(s3, "lists/server.txt", b"198.51.100.1\n")
        gd = boto3.client("guardduty", **options)
        detector = gd.create_detector(Enable=True)["DetectorId"]
        with guardduty.activation(hold_reads=1):
            set_id = THREAT_ENTITY.create(gd, detector, Name="tf", Location=location, Activate=True)
        assert THREAT_ENTITY.status(gd, detector, set_id) == "ACTIVATING"
        assert THREAT_ENTITY.status(gd, detector, set_id) == "ACTIVE"
        assert THREAT_ENTITY.list(gd, detector, MaxResults=1)["ThreatEntitySetIds"] == [set_id]
        arn = THREAT_ENTITY.arn(detector, set_id)
        gd.tag_resource(ResourceArn=arn, Tags={"k": "v"})
        assert gd.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"k": "v"}
        gd.untag_resource(ResourceArn=arn, TagKeys=["k"])
        assert gd.list_tags_for_resource(ResourceArn=arn)["Tags"] == {}
        with pytest.raises(gd.exceptions.BadRequestException, match="detectorId"):
            THREAT_INTEL.list(gd, "0" * 32)
        THREAT_ENTITY.delete(gd, detector, set_id)
        assert THREAT_ENTITY.status(gd, detector, set_id) == "DELETED"
    finally:
        server.stop()
        BackendDict.reset()


def test_install_is_idempotent() -> None:
    from moto.guardduty import urls as moto_urls

    before = dict(moto_urls.url_paths)
    guardduty.install()
    guardduty.install()
    assert moto_urls.url_paths == before
    assert guardduty.installed()


def test_moto_reset_clears_lists(gd: Any, detector: str, location: str) -> None:
    THREAT_INTEL.create(gd, detector, Name="tf", Location=location)
    assert guardduty.backend(REGION).sets
    BackendDict.reset()  # what mock_aws (outermost entry and exit) and /moto-api/reset call
    assert not guardduty.backend(REGION).sets
