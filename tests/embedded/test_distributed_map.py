"""The Distributed Map on the embedded AWS, as AWS runs it: moto's interpreter with ``embedded_aws.distributed_map``.

Each test runs a small state machine on bare moto (no stack): items from S3 (``ItemReader``), a child workflow that
fails for the items that ask it to, results to S3 (``ResultWriter``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from embedded_aws.distributed_map import distributed_map_emulated

REGION = "us-east-1"
BUCKET = "map-data"
ROLE = "arn:aws:iam::123456789012:role/map-role"
#: What bare moto wants in the environment: fake credentials and the tests' Region.
ENVIRONMENT = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Bare moto with fake credentials (monkeypatch puts the environment back) and the Distributed Map emulated."""
    for key, value in ENVIRONMENT.items():
        monkeypatch.setenv(key, value)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}), distributed_map_emulated() as runs:
        boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
        yield runs


def _definition(**map_fields: Any) -> str:
    return json.dumps(
        {
            "StartAt": "Items",
            "States": {
                "Items": {
                    "Type": "Map",
                    "ItemReader": {
                        "Resource": "arn:aws:states:::s3:getObject",
                        "ReaderConfig": {"InputType": "JSON"},
                        "Parameters": {"Bucket": BUCKET, "Key.$": "$.key"},
                    },
                    "ItemSelector": {"item.$": "$$.Map.Item.Value", "tag.$": "$.tag"},
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                        "StartAt": "Check",
                        "States": {
                            "Check": {
                                "Type": "Choice",
                                "Choices": [{"Variable": "$.item.fail", "BooleanEquals": True, "Next": "Boom"}],
                                "Default": "Done",
                            },
                            "Boom": {"Type": "Fail", "Error": "Boom", "Cause": "item asked to fail"},
                            "Done": {
                                "Type": "Pass",
                                "Parameters": {"name.$": "$.item.name", "tag.$": "$.tag"},
                                "End": True,
                            },
                        },
                    },
                    "ResultWriter": {
                        "Resource": "arn:aws:states:::s3:putObject",
                        "Parameters": {"Bucket": BUCKET, "Prefix": "results"},
                    },
                    **map_fields,
                    "End": True,
                }
            },
        }
    )


def _run(items: list[dict[str, Any]], **map_fields: Any) -> dict[str, Any]:
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_object(Bucket=BUCKET, Key="items.json", Body=json.dumps(items).encode())
    sfn = boto3.client("stepfunctions", region_name=REGION)
    machine = sfn.create_state_machine(
        name=f"m{time.monotonic_ns()}", definition=_definition(**map_fields), roleArn=ROLE
    )
    arn = sfn.start_execution(
        stateMachineArn=machine["stateMachineArn"], name="run", input=json.dumps({"key": "items.json", "tag": "t"})
    )["executionArn"]
    deadline = time.monotonic() + 120
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the execution did not end"
        time.sleep(0.05)
    return described


def _results(described: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    s3 = boto3.client("s3", region_name=REGION)
    pointer = json.loads(described["output"])["ResultWriterDetails"]
    manifest = json.loads(s3.get_object(Bucket=pointer["Bucket"], Key=pointer["Key"])["Body"].read())
    files = {}
    for status, listed in manifest["ResultFiles"].items():
        entries = []
        for item in listed:
            body = s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
            assert len(body) == item["Size"]
            entries.extend(json.loads(body))
        files[status] = entries
    return manifest, files


def test_the_result_writer_writes_each_child_execution_to_the_file_of_its_status(aws: Any) -> None:
    items = [{"name": f"item-{i}", "fail": i == 2} for i in range(4)]

    described = _run(items, ToleratedFailureCount=1)

    assert described["status"] == "SUCCEEDED", described.get("cause")
    manifest, files = _results(described)
    assert manifest["DestinationBucket"] == BUCKET
    assert manifest["MapRunArn"].split(":")[-1] in json.loads(described["output"])["ResultWriterDetails"]["Key"]
    assert json.loads(described["output"])["ResultWriterDetails"]["Key"].startswith("results/")
    succeeded = sorted(json.loads(entry["Output"])["name"] for entry in files["SUCCEEDED"])
    assert succeeded == ["item-0", "item-1", "item-3"]
    assert all(json.loads(entry["Output"])["tag"] == "t" for entry in files["SUCCEEDED"])  # ItemSelector applied
    [failed] = files["FAILED"]
    assert (failed["Status"], failed["Error"], failed["Cause"]) == ("FAILED", "Boom", "item asked to fail")
    assert json.loads(failed["Input"]) == {"item": {"name": "item-2", "fail": True}, "tag": "t"}
    machine, _, child = failed["ExecutionArn"].partition(":execution:")[2].partition("/")  # <machine>/<label>:<id>
    assert machine.startswith("m") and child.count(":") == 1 and child.endswith(failed["Name"])
    assert files["PENDING"] == []
    assert aws[-1].counts()["SUCCEEDED"] == 3 and aws[-1].counts()["FAILED"] == 1


def test_more_failed_children_than_tolerated_fail_the_map_state(aws: Any) -> None:
    items = [{"name": f"item-{i}", "fail": i < 2} for i in range(4)]

    tolerated = _run(items, ToleratedFailurePercentage=50.0)
    exceeded = _run(items, ToleratedFailurePercentage=25.0)
    none_tolerated = _run(items[1:])

    assert tolerated["status"] == "SUCCEEDED"
    assert exceeded["status"] == "FAILED" and exceeded["error"] == "States.ExceedToleratedFailureThreshold"
    assert none_tolerated["status"] == "FAILED" and none_tolerated["error"] == "States.ExceedToleratedFailureThreshold"


def test_a_thousand_items_on_one_worker_run_without_recursion(aws: Any) -> None:
    described = _run([{"name": f"item-{i}", "fail": False} for i in range(1000)], MaxConcurrency=1)

    assert described["status"] == "SUCCEEDED", described.get("cause")
    assert aws[-1].counts()["SUCCEEDED"] == 1000
    assert aws[-1].transitions == 2000  # Check and Done in each child: what a Standard child workflow bills
