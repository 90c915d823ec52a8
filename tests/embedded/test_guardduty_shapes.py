"""The embedded GuardDuty answers with exactly the members and types botocore's model declares.

botocore does not check a response against its model: a structure where the model says string (GuardDuty's
``ErrorDetails``) reaches the caller unchanged, so code written against a kinder emulator breaks on AWS. These
tests read the raw JSON the emulator sends and hold it to the model.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.session
import pytest
from moto import mock_aws

from embedded_aws import guardduty

REGION = "eu-west-1"
BUCKET = "shape-lists"
MODEL = botocore.session.get_session().get_service_model("guardduty")
KINDS = ("ThreatIntelSet", "ThreatEntitySet", "IPSet", "TrustedEntitySet")


def problems(shape: Any, value: Any, where: str) -> Iterator[str]:
    """Where ``value`` (raw JSON) does not match ``shape``: unknown members, wrong JSON types."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            yield f"{where}: {type(value).__name__}, the model says structure"
            return
        by_wire = {member.serialization.get("name", name): member for name, member in shape.members.items()}
        for key, item in value.items():
            if key not in by_wire:
                yield f"{where}.{key}: not in the model ({sorted(by_wire)})"
            else:
                yield from problems(by_wire[key], item, f"{where}.{key}")
    elif kind == "list":
        if not isinstance(value, list):
            yield f"{where}: {type(value).__name__}, the model says list"
            return
        for index, item in enumerate(value):
            yield from problems(shape.member, item, f"{where}[{index}]")
    elif kind == "map":
        if not isinstance(value, dict):
            yield f"{where}: {type(value).__name__}, the model says map"
            return
        for key, item in value.items():
            yield from problems(shape.value, item, f"{where}[{key!r}]")
    elif kind == "string" and not isinstance(value, str):
        yield f"{where}: {type(value).__name__}, the model says string"
    elif kind == "boolean" and not isinstance(value, bool):
        yield f"{where}: {type(value).__name__}, the model says boolean"
    elif kind in ("integer", "long") and (isinstance(value, bool) or not isinstance(value, int)):
        yield f"{where}: {type(value).__name__}, the model says {kind}"
    elif kind == "timestamp" and not isinstance(value, int | float | str):
        yield f"{where}: {type(value).__name__}, the model says timestamp"


@pytest.fixture
def calls() -> Iterator[tuple[Any, list[tuple[str, dict[str, Any]]], str]]:
    """A GuardDuty client whose raw response bodies are recorded, a detector, and a list object."""
    guardduty.install()
    with mock_aws(), guardduty.activation(delay_seconds=0):
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_object(Bucket=BUCKET, Key="ok.txt", Body=b"198.51.100.1\n")
        gd = boto3.client("guardduty", region_name=REGION)
        recorded: list[tuple[str, dict[str, Any]]] = []

        def record(operation_model: Any, response_dict: dict[str, Any], **_: Any) -> None:
            body = response_dict.get("body") or b""
            recorded.append((operation_model.name, json.loads(body) if body else {}))

        gd.meta.events.register("before-parse.guardduty", record)
        detector = gd.create_detector(Enable=True)["DetectorId"]
        yield gd, recorded, detector


@pytest.mark.parametrize("kind", KINDS)
def test_every_answer_matches_botocore_s_model_even_in_error(kind: str, calls: Any) -> None:
    gd, recorded, detector = calls
    snake = {"ThreatIntelSet": "threat_intel_set", "ThreatEntitySet": "threat_entity_set", "IPSet": "ip_set"}.get(
        kind, "trusted_entity_set"
    )
    id_param = {"IPSet": "IpSetId"}.get(kind, f"{kind}Id")
    set_id = getattr(gd, f"create_{snake}")(
        DetectorId=detector,
        Name="shape",
        Format="TXT",
        Location=f"s3://{BUCKET}/ok.txt",
        Activate=True,
        Tags={"a": "b"},
    )[id_param]
    getattr(gd, f"get_{snake}")(DetectorId=detector, **{id_param: set_id})  # ACTIVE
    getattr(gd, f"list_{snake}s")(DetectorId=detector)
    with guardduty.forced_error(REGION, "the object is not a valid list"):
        getattr(gd, f"update_{snake}")(DetectorId=detector, Activate=True, **{id_param: set_id})
        got = getattr(gd, f"get_{snake}")(DetectorId=detector, **{id_param: set_id})  # ERROR
    assert got["Status"] == "ERROR"
    if "ErrorDetails" in MODEL.operation_model(f"Get{kind}").output_shape.members:
        assert isinstance(got["ErrorDetails"], str) and "not a valid list" in got["ErrorDetails"]
    else:
        assert "ErrorDetails" not in got

    found = [
        problem
        for operation, body in recorded
        for problem in problems(MODEL.operation_model(operation).output_shape, body, operation)
    ]
    assert {operation for operation, _ in recorded} >= {f"Create{kind}", f"Get{kind}", f"Update{kind}"}
    assert not found, found
