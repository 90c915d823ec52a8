"""The Distributed Map on the embedded AWS: what moto 5.2.5's interpreter leaves out, done as AWS does it.

moto runs a ``Map`` with ``ProcessorConfig.Mode: DISTRIBUTED`` and an S3 ``ItemReader``, but

* its ``ResultWriter`` writes only an empty ``manifest.json`` (``ResultFiles`` all empty): AWS writes the child
  executions' results to ``<Prefix>/<map run id>/SUCCEEDED_n.json`` / ``FAILED_n.json`` / ``PENDING_n.json``
  (JSON arrays of ``ExecutionArn, Input, InputDetails, Name, Output, OutputDetails, RedriveCount, RedriveStatus,
  RedriveStatusReason, StartDate, StateMachineArn, Status, StopDate``; a failed execution has ``Error`` and
  ``Cause`` instead of ``Output``) and lists them, with their sizes, in the manifest;
* it counts failed child executions but never fails the Map Run: AWS fails it (``States.ExceedToleratedFailure
  Threshold``) once more children failed than ``ToleratedFailureCount``/``ToleratedFailurePercentage`` allow
  (neither given: none may fail);
* it starts the child executions inside the interpreter, not through the API, so the IAM layer never sees the
  ``states:StartExecution`` AWS authorizes against the state machine's role (the role must be allowed to start
  the state machine itself, and to describe and stop its executions);
* it runs a worker's items by recursion (a worker with 1,000 items would pass Python's recursion limit) and keeps
  the child executions' history events in a throw-away event list.

:func:`distributed_map_emulated` patches those four places for the duration of the block; it keeps per map run
what the children did (:class:`MapRun`: items per status, state transitions, the largest state payload), which
the cost tool prices (child executions of a Standard workflow bill their transitions) and the scale test bounds.
The ItemReader's ``s3:GetObject`` and the ResultWriter's ``s3:PutObject`` are requests of moto's interpreter key,
so :mod:`embedded_aws.iam` already authorizes them against the state machine's role. Only a Map written with
``ItemProcessor`` is covered (the legacy ``Iterator`` field keeps moto's behaviour).

What is not confirmed in a primary source (FIDELITY.md): the exact cause text of
``States.ExceedToleratedFailureThreshold``, which error name the Map state reports when its role may not start
the child executions (the embedded AWS answers ``AccessDeniedException`` with AWS's denial message), and which
ARN ``states:DescribeExecution``/``StopExecution`` are checked on (the parent execution here, which the
documented ``execution:<state machine name>:*`` resource covers).
"""

from __future__ import annotations

import datetime
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

INTERPRETER_KEY = "ak"
"""The access key id moto's interpreter signs its own AWS calls with (``asl.utils.boto_client``)."""
STATUSES = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING")
PAYLOAD_FIELDS = ("input", "output", "parameters")


@dataclass
class ChildExecution:
    """One child execution of a map run, as AWS reports it in the ResultWriter's files."""

    index: int
    name: str
    input: Any
    status: str = "PENDING"
    output: Any = None
    error: str | None = None
    cause: str | None = None
    start: str = ""
    stop: str = ""


@dataclass
class MapRun:
    """What one Distributed Map run did: its children, their state transitions and largest state payload."""

    map_run_arn: str
    execution_arn: str
    state_machine_arn: str
    children: list[ChildExecution] = field(default_factory=list)
    transitions: int = 0
    largest_payload: int = 0
    result_files: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, child: ChildExecution) -> None:
        with self._lock:
            self.children.append(child)

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATUSES, 0)
        for child in self.children:
            out[child.status] = out.get(child.status, 0) + 1
        return out


class MapRuns(list[MapRun]):
    """Every map run of the embedded AWS while the emulation is on, in start order."""

    def of(self, execution_arn: str) -> list[MapRun]:
        return [run for run in self if run.execution_arn == execution_arn]

    def transitions(self, execution_arn: str) -> int:
        """State transitions of the child executions an execution's map runs started (billed like its own)."""
        return sum(run.transitions for run in self.of(execution_arn))


def _now() -> str:
    """AWS's timestamps in the results files, on the embedded AWS's simulated clock."""
    from embedded_aws.clock import clock

    moment = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=clock.skipped)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _child_arn(map_run: MapRun, name: str) -> str:
    """``arn:…:execution:<state machine>/<map run label>:<name>``, as a map run names its children."""
    machine = map_run.map_run_arn.rsplit(":", 1)[0].replace(":mapRun:", ":execution:")
    return f"{machine}:{name}"


def _payload_size(event: dict[str, Any]) -> int:
    largest = 0
    for key, details in event.items():
        if key.endswith("EventDetails") and isinstance(details, dict):
            for name in PAYLOAD_FIELDS:
                value = details.get(name)
                if isinstance(value, str):
                    largest = max(largest, len(value.encode()))
    return largest


@contextmanager
def distributed_map_emulated(enforcement: Any = None) -> Iterator[MapRuns]:
    """Patch moto's Distributed Map for the block (see the module's doc); ``enforcement`` is the embedded AWS's
    :class:`embedded_aws.iam.IamEnforcement` (None: child executions are not authorized). Yields the map runs."""
    from moto.stepfunctions.parser.api import (
        ExecutionFailedEventDetails,
        HistoryEventType,
        MapRunFailedEventDetails,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import EvalTimeoutError
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.item_reader_decl import ItemReader
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
        distributed_iteration_component as component,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
        distributed_item_processor_worker as worker,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval import (
        resource_eval_s3 as writer,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.result_writer_decl import (
        ResultWriter,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramError, ProgramStopped
    from moto.stepfunctions.parser.asl.eval.states import ItemData, MapData
    from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

    runs = MapRuns()
    by_record: dict[int, MapRun] = {}
    lock = threading.Lock()

    def map_run_of(record: Any) -> MapRun:
        with lock:
            found = by_record.get(id(record))
            if found is None:
                found = MapRun(record.map_run_arn, record.execution_arn, record.map_state_machine_arn)
                by_record[id(record)] = found
                runs.append(found)
            return found

    def fail(env: Any, error: str, cause: str, *, states_error: Any = None) -> FailureEventException:
        name = StatesErrorName(typ=states_error) if states_error is not None else CustomErrorName(error)
        return FailureEventException(
            failure_event=FailureEvent(
                env=env,
                error_name=name,
                event_type=HistoryEventType.MapRunFailed,
                event_details=EventDetails(mapRunFailedEventDetails=MapRunFailedEventDetails(error=error, cause=cause)),
            )
        )

    # -- each child execution: its input, status, output or error, and its dates --------------------------
    def eval_job(self: Any, env: Any, job: Any) -> None:
        record = self._map_run_record
        map_run = map_run_of(record)
        name = str(uuid.uuid4())
        child = ChildExecution(index=job.job_index, name=name, input=job.job_input, start=_now())
        record.item_counter.total.count()
        record.item_counter.running.count()
        record.execution_counter.total.count()
        record.execution_counter.running.count()
        job_output = None
        try:
            env.states.context_object.context_object_data["Map"] = MapData(
                Item=ItemData(Index=job.job_index, Value=job.job_input)
            )
            env.states.reset(job.job_input)
            env.stack.append(env.states.get_input())
            self._eval_input(env_frame=env)
            child.input = env.states.get_input()
            job.job_program.eval(env)
            state = env.program_state()
            if isinstance(state, ProgramError):
                details: ExecutionFailedEventDetails = state.error or {}
                child.status, child.error, child.cause = "FAILED", details.get("error"), details.get("cause")
                record.execution_counter.failed.count()
                record.item_counter.failed.count()
            elif isinstance(state, ProgramStopped):
                child.status, child.error, child.cause = "ABORTED", state.error, state.cause
                record.execution_counter.aborted.count()
                record.item_counter.aborted.count()
            else:
                child.status = "SUCCEEDED"
                job_output = env.states.get_input()
                child.output = job_output
                record.item_counter.succeeded.count()
                record.item_counter.results_written.count()
                record.execution_counter.succeeded.count()
                record.execution_counter.results_written.count()
                record.execution_counter.running.offset(-1)
        except EvalTimeoutError as timeout:
            child.status, child.error, child.cause = "TIMED_OUT", "States.Timeout", str(timeout)
            record.item_counter.timed_out.count()
        except FailureEventException as failure:
            error, cause = failure.extract_error_cause_pair() or (None, None)
            child.status, child.error, child.cause = "FAILED", error, cause
            record.item_counter.failed.count()
        except Exception as exception:  # a child's crash is its own failure, as in AWS
            child.status, child.error, child.cause = "FAILED", "States.Runtime", repr(exception)
            record.item_counter.failed.count()
        finally:
            record.item_counter.running.offset(-1)
            job.job_output = job_output
            child.stop = _now()
            map_run.add(child)

    def eval_pool(self: Any, job: Any, worker_frame: Any) -> None:
        """moto's worker loop without its recursion (one level per item). As there, the worker's frame is closed
        before its last job: the map run goes on once every job is closed."""
        while job is not None:
            job_frame = worker_frame.open_inner_frame()
            self._eval_job(env=job_frame, job=job)
            worker_frame.delete_frame(job_frame)
            next_job = None
            if not (isinstance(job.job_output, Exception) or self.stopped()):
                next_job = self._job_pool.next_job()
            if next_job is None:
                self._env.delete_frame(worker_frame)
                self._job_pool.close_job(job)
                return
            self._job_pool.close_job(job)
            job = next_job
        self._env.delete_frame(worker_frame)

    # -- the map run: its children are authorized, counted, and held to the tolerated failures ----------------
    original_map_run = component.DistributedIterationComponent._map_run

    def map_run(self: Any, env: Any, eval_input: Any) -> None:
        record = eval_input.map_run_record
        run = map_run_of(record)
        denial = _authorize_children(enforcement, record)
        if denial is not None:
            env.stack.pop()  # the items the ItemReader read: no child execution starts
            raise fail(env, denial.code, denial.message)
        try:
            original_map_run(self, env, eval_input)
        finally:
            events = env.event_manager.get_event_history()
            run.transitions = sum(1 for e in events if str(e.get("type", "")).endswith("StateEntered"))
            run.largest_payload = max((_payload_size(e) for e in events), default=0)
        failed = sum(1 for c in run.children if c.status in ("FAILED", "TIMED_OUT", "ABORTED"))
        total = len(run.children)
        count, percent = eval_input.tolerated_failure_count, eval_input.tolerated_failure_percentage
        checks_count = bool(count) or not percent  # neither given: no failure is tolerated
        checks_percent = bool(percent)
        exceeded = (checks_count and failed > (count or 0)) or (
            checks_percent and total and failed * 100.0 / total > float(percent)
        )
        if exceeded:
            raise fail(
                env,
                "States.ExceedToleratedFailureThreshold",
                f"The specified tolerated failure threshold was exceeded: {failed} of {total} child executions "
                f"failed (ToleratedFailureCount {count or 0}, ToleratedFailurePercentage {percent or 0.0}).",
                states_error=StatesErrorNameType.StatesExceedToleratedFailureThreshold,
            )

    # -- ResultWriter: the results files AWS writes, and their manifest ---------------------------------------
    def put_object(env: Any, resource_runtime_part: Any, state_credentials: Any) -> None:
        parameters = env.stack.pop()
        env.stack.pop()  # the children's outputs: the results files carry them, with everything else
        record = env.map_run_record_pool_manager.get_all()[-1]
        run = map_run_of(record)
        s3 = boto_client_for(service="s3", region=resource_runtime_part.region, state_credentials=state_credentials)
        prefix = str(parameters.get("Prefix") or "")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        folder = f"{prefix}{record.map_run_arn.split(':')[-1]}/"
        bucket = parameters["Bucket"]
        files: dict[str, list[dict[str, Any]]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
        by_status: dict[str, list[dict[str, Any]]] = {}
        for child in run.children:  # completion order, as AWS (no order is promised)
            group = "FAILED" if child.status in ("FAILED", "TIMED_OUT", "ABORTED") else child.status
            by_status.setdefault(group, []).append(_result_entry(run, child))
        for status, entries in by_status.items():
            body = json.dumps(entries).encode()
            key = f"{folder}{status}_0.json"
            s3.put_object(Bucket=bucket, Key=key, Body=body)
            files.setdefault(status, []).append({"Key": key, "Size": len(body)})
        run.result_files = files
        manifest = {"DestinationBucket": bucket, "MapRunArn": record.map_run_arn, "ResultFiles": files}
        key = f"{folder}manifest.json"
        s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(manifest, indent=2).encode())
        env.stack.append({"MapRunArn": record.map_run_arn, "ResultWriterDetails": {"Bucket": bucket, "Key": key}})

    # -- an S3 error of the ItemReader or the ResultWriter (a denial, a missing key) fails the Map state with the
    # -- error AWS names for it, the S3 error as its cause (moto: States.Runtime without a cause) ----------------
    def named_failure(original: Any, error: str, typ: Any) -> Any:
        def eval_body(self: Any, env: Any) -> None:
            from botocore.exceptions import ClientError

            try:
                original(self, env)
            except ClientError as failure:
                raise fail(env, error, str(failure), states_error=typ) from failure

        return eval_body

    patches = [
        (
            ItemReader,
            "_eval_body",
            named_failure(ItemReader._eval_body, "States.ItemReaderFailed", StatesErrorNameType.StatesItemReaderFailed),
        ),
        (
            ResultWriter,
            "_eval_body",
            named_failure(
                ResultWriter._eval_body, "States.ResultWriterFailed", StatesErrorNameType.StatesResultWriterFailed
            ),
        ),
        (worker.DistributedItemProcessorWorker, "_eval_job", eval_job),
        (worker.DistributedItemProcessorWorker, "_eval_pool", eval_pool),
        (component.DistributedIterationComponent, "_map_run", map_run),
        (writer.ResourceEvalS3, "_handle_put_object", staticmethod(put_object)),
    ]
    saved = [(owner, name, owner.__dict__[name]) for owner, name, _ in patches]
    for owner, name, replacement in patches:
        setattr(owner, name, replacement)
    try:
        yield runs
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


def _result_entry(run: MapRun, child: ChildExecution) -> dict[str, Any]:
    arn = _child_arn(run, child.name)
    entry: dict[str, Any] = {
        "ExecutionArn": arn,
        "Input": json.dumps(child.input),
        "InputDetails": {"Included": True},
        "Name": child.name,
        "RedriveCount": 0,
        "RedriveStatus": "NOT_REDRIVABLE" if child.status == "SUCCEEDED" else "REDRIVABLE",
        "StartDate": child.start,
        "StateMachineArn": run.state_machine_arn,
        "Status": child.status,
        "StopDate": child.stop,
    }
    if child.status == "SUCCEEDED":
        entry["Output"] = json.dumps(child.output)
        entry["OutputDetails"] = {"Included": True}
        entry["RedriveStatusReason"] = "Execution is SUCCEEDED and cannot be redriven"
    else:
        entry["Error"] = child.error
        entry["Cause"] = child.cause
    return entry


def _authorize_children(enforcement: Any, record: Any) -> Any:
    """The denial, if the state machine's role may not start and watch the map run's child executions."""
    if enforcement is None:
        return None
    caller = enforcement.principals.get(INTERPRETER_KEY)
    if caller is None:
        return None
    machine = record.map_state_machine_arn.rsplit("/", 1)[0]  # the child workflow's: the state machine itself
    region = machine.split(":")[3]
    checks = (
        ("StartExecution", {"stateMachineArn": machine}),
        ("DescribeExecution", {"executionArn": record.execution_arn}),
        ("StopExecution", {"executionArn": record.execution_arn}),
    )
    for operation, params in checks:
        denial = enforcement.decide(caller, "stepfunctions", operation, params, region, protocol="json")
        if denial is not None:
            return denial
    return None
