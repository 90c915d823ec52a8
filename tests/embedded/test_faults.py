"""Fault injection at the botocore level (embedded_aws.faults)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectTimeoutError, ReadTimeoutError
from moto import mock_aws
from moto.core.base_backend import BackendDict

from embedded_aws import guardduty
from embedded_aws.faults import (
    active_faults,
    clear_faults,
    fast_retries,
    fault_log,
    fired_count,
    inject_fault,
    patch_client,
)

REGION = "eu-west-1"
BUCKET = "threatfeed-faults"
NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})
THREE_ATTEMPTS = Config(retries={"mode": "standard", "total_max_attempts": 3})


@pytest.fixture(scope="module")
def mocked() -> Iterator[dict[str, Any]]:
    guardduty.install()
    with mock_aws():
        yield {
            (service, name): boto3.client(service, region_name=REGION, config=config)
            for service in ("s3", "guardduty", "sns", "secretsmanager")
            for name, config in (("once", NO_RETRIES), ("retry", THREE_ATTEMPTS))
        }


@pytest.fixture
def client(mocked: dict[str, Any]) -> Iterator[Any]:
    BackendDict.reset()
    clear_faults()
    yield lambda service, retries=False: mocked[(service, "retry" if retries else "once")]
    clear_faults()


@pytest.fixture
def detector(client: Any) -> str:
    return client("guardduty").create_detector(Enable=True)["DetectorId"]


def call(service: str, c: Any, detector: str | None = None) -> Any:
    """One cheap read of ``service``."""
    if service == "guardduty":
        return c.list_threat_intel_sets(DetectorId=detector)
    if service == "s3":
        return c.list_buckets()
    if service == "sns":
        return c.list_topics()
    return c.list_secrets()


EXPECTED = {
    # (service, kind): (HTTP status, error code)
    ("guardduty", "throttle"): (400, "ThrottlingException"),
    ("guardduty", "5xx"): (500, "InternalServerErrorException"),
    ("guardduty", "access_denied"): (403, "AccessDeniedException"),
    ("s3", "throttle"): (503, "SlowDown"),
    ("s3", "5xx"): (500, "InternalError"),
    ("s3", "access_denied"): (403, "AccessDenied"),
    ("sns", "throttle"): (400, "Throttling"),
    ("sns", "5xx"): (500, "InternalError"),
    ("sns", "access_denied"): (403, "AuthorizationError"),
    ("secretsmanager", "throttle"): (400, "ThrottlingException"),
    ("secretsmanager", "5xx"): (500, "InternalServiceError"),
    ("secretsmanager", "access_denied"): (403, "AccessDeniedException"),
}


@pytest.mark.parametrize(("service", "kind"), sorted(EXPECTED))
def test_response_faults(service: str, kind: str, client: Any, detector: str) -> None:
    c = client(service)
    with inject_fault(service, kind=kind, count=1) as fault:
        with pytest.raises(ClientError) as info:
            call(service, c, detector)
        assert fault.fired == 1
    status, code = EXPECTED[(service, kind)]
    assert info.value.response["Error"]["Code"] == code
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert fired_count(service) == 1
    call(service, c, detector)  # count used up: the next call goes through


@pytest.mark.parametrize("service", ["guardduty", "s3"])
@pytest.mark.parametrize(("kind", "error"), [("timeout", ReadTimeoutError), ("connect_timeout", ConnectTimeoutError)])
def test_timeouts(service: str, kind: str, error: type[Exception], client: Any, detector: str) -> None:
    with inject_fault(service, kind=kind), pytest.raises(error):
        call(service, client(service), detector)
    assert [(e.service, e.kind) for e in fault_log()] == [(service, kind)]


def test_503_and_overrides(client: Any, detector: str) -> None:
    gd = client("guardduty")
    with inject_fault("guardduty", kind="5xx", status=503), pytest.raises(ClientError) as info:
        call("guardduty", gd, detector)
    assert info.value.response["Error"]["Code"] == "ServiceUnavailable"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    override = {"status": 429, "code": "TooManyRequestsException", "message": "slow"}
    with inject_fault("guardduty", kind="throttle", **override), pytest.raises(ClientError) as info:
        call("guardduty", gd, detector)
    assert info.value.response["Error"] == {"Code": "TooManyRequestsException", "Message": "slow"}


def test_s3_head_error_has_no_body(client: Any) -> None:
    s3 = client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    with inject_fault("s3", kind="access_denied"), pytest.raises(ClientError) as info:
        s3.head_bucket(Bucket=BUCKET)
    assert info.value.response["Error"]["Code"] == "403"  # what S3 answers to HEAD


def test_failed_requests_have_no_side_effects(client: Any, detector: str) -> None:
    s3, gd = client("s3"), client("guardduty")
    with inject_fault("s3", kind="5xx"), pytest.raises(ClientError):
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    assert s3.list_buckets()["Buckets"] == []
    with inject_fault("guardduty", kind="throttle"), pytest.raises(ClientError):
        gd.create_threat_intel_set(
            DetectorId=detector, Name="tf", Format="TXT", Location=f"s3://{BUCKET}/k", Activate=False
        )
    assert gd.list_threat_intel_sets(DetectorId=detector)["ThreatIntelSetIds"] == []


@pytest.mark.parametrize("service", ["guardduty", "s3"])
@pytest.mark.parametrize("kind", ["throttle", "5xx", "timeout"])
def test_count_is_per_attempt_and_retries_absorb_it(service: str, kind: str, client: Any, detector: str) -> None:
    c = client(service, retries=True)  # 3 attempts in all
    with fast_retries() as sleeps:
        with inject_fault(service, kind=kind, count=2) as fault:
            response = call(service, c, detector)
        assert response["ResponseMetadata"]["RetryAttempts"] == 2
        assert fault.fired == 2
        assert len(sleeps) == 2

        inject_fault(service, kind=kind, count=3)
        with pytest.raises((ClientError, ReadTimeoutError)) as info:
            call(service, c, detector)
        if isinstance(info.value, ClientError):
            assert info.value.response["ResponseMetadata"]["RetryAttempts"] == 2
    assert fired_count(service, kind=kind) == 5
    assert active_faults() == []


def test_access_denied_is_not_retried(client: Any, detector: str) -> None:
    with inject_fault("guardduty", kind="access_denied", count=3) as fault, pytest.raises(ClientError):
        call("guardduty", client("guardduty", retries=True), detector)
    assert (fault.fired, fault.remaining) == (1, 2)


@pytest.mark.parametrize(
    "operation", ["UpdateThreatIntelSet", "guardduty:UpdateThreatIntelSet", "update_threat_intel_set"]
)
def test_operation_filter(operation: str, client: Any, detector: str) -> None:
    gd = client("guardduty")
    with inject_fault("guardduty", kind="throttle", count=1, operations={operation}) as fault:
        set_id = gd.create_threat_intel_set(
            DetectorId=detector, Name="tf", Format="TXT", Location=f"s3://{BUCKET}/k", Activate=False
        )["ThreatIntelSetId"]
        gd.get_threat_intel_set(DetectorId=detector, ThreatIntelSetId=set_id)
        client("s3").list_buckets()
        assert fault.fired == 0
        with pytest.raises(ClientError, match="ThrottlingException"):
            gd.update_threat_intel_set(DetectorId=detector, ThreatIntelSetId=set_id, Name="tf-2")
    gd.update_threat_intel_set(DetectorId=detector, ThreatIntelSetId=set_id, Name="tf-2")
    assert [(e.operation, e.kind) for e in fault_log()] == [("UpdateThreatIntelSet", "throttle")]


def test_unlimited_fault_until_removed_and_order(client: Any) -> None:
    s3 = client("s3")
    forever = inject_fault("s3", kind="throttle", count=None)
    later = inject_fault("s3", kind="5xx", count=1)
    for _ in range(3):
        with pytest.raises(ClientError, match="SlowDown"):
            s3.list_buckets()
    forever.remove()
    with pytest.raises(ClientError, match="InternalError"):
        s3.list_buckets()
    s3.list_buckets()
    assert (forever.fired, later.fired, fired_count("s3")) == (3, 1, 4)


def test_clear_faults(client: Any) -> None:
    inject_fault("s3", kind="throttle", count=5)
    with pytest.raises(ClientError):
        client("s3").list_buckets()
    clear_faults(keep_log=True)
    client("s3").list_buckets()
    assert len(fault_log()) == 1
    clear_faults()
    assert fault_log() == []


def test_patched_twice_counts_once(client: Any) -> None:
    s3 = patch_client(patch_client(client("s3")))  # on top of the handler it got at creation
    with inject_fault("s3", kind="throttle", count=2) as fault:
        with pytest.raises(ClientError):
            s3.list_buckets()
        assert fault.remaining == 1


def test_new_default_session_gets_the_handler(mocked: Any, client: Any) -> None:
    boto3.setup_default_session()
    fresh = boto3.client("s3", region_name=REGION, config=NO_RETRIES)
    with inject_fault("s3", kind="access_denied"), pytest.raises(ClientError, match="AccessDenied"):
        fresh.list_buckets()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"service": "guardduty", "kind": "flaky"}, "kind"),
        ({"service": "guardduty", "kind": "throttle", "count": 0}, "count"),
        ({"service": "guardduty", "kind": "throttle", "operations": {"NoSuchOperation"}}, "not an operation"),
        ({"service": "guardduty", "kind": "throttle", "operations": {"s3:ListBuckets"}}, "not an operation"),
        ({"service": "no-such-service", "kind": "throttle"}, "unknown service"),
        ({"service": "s3", "kind": "timeout", "status": 500}, "status"),
        ({"service": "s3", "kind": "5xx", "status": 404}, "500"),
    ],
)
def test_invalid_injections(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        inject_fault(**kwargs)
    assert active_faults() == []
