"""Fault injection for the embedded AWS: make the next N calls to a service (optionally only some of its
operations) be throttled, answer 5xx, time out, or be denied, for every boto3/botocore client in this process.

    from embedded_aws.faults import inject_fault, clear_faults, fault_log, fast_retries

    with inject_fault("guardduty", kind="throttle", count=2, operations={"CreateThreatIntelSet"}) as fault:
        ...                      # fault.fired: how many requests it failed
    inject_fault("s3", kind="5xx", count=1)   # without ``with``: until it has fired, or clear_faults()

Kinds (``kind=``) and the error each protocol's real service sends (override with ``status=``, ``code=``,
``message=``):

* ``throttle``: json/rest-json 400 ``ThrottlingException`` (429 ``TooManyRequestsException`` where the service
  models it, e.g. Lambda); query (SNS, STS) 400 ``Throttling``; rest-xml (S3)
  503 ``SlowDown``; EC2 503 ``RequestLimitExceeded``.
* ``5xx``: 500 with the service's modeled internal error if it has one (GuardDuty ``InternalServerErrorException``,
  Secrets Manager ``InternalServiceError``, SNS ``InternalError``), else ``InternalServerError`` (json/rest-json),
  ``InternalError`` (query, S3, EC2); ``status=503`` gives ``ServiceUnavailable``. Any status 500-599.
* ``access_denied``: json/rest-json 403 ``AccessDeniedException``; query 403 ``AccessDenied`` (SNS:
  ``AuthorizationError``); S3 403 ``AccessDenied`` (no body for HEAD, as S3 does); EC2 ``UnauthorizedOperation``.
* ``timeout``: botocore's ``ReadTimeoutError``; ``connect_timeout``: botocore's ``ConnectTimeoutError``.

How it works: a ``before-send`` handler registered *first* (``REGISTER_FIRST`` in botocore's
``BUILTIN_HANDLERS``, so every session created from now on has it, including the fresh ``boto3.DEFAULT_SESSION``
``mock_aws`` creates; :func:`install` also adds it to the current default session). It runs before moto's own
``before-send`` stubber and before any real HTTP send, and either raises the timeout or returns an
``AWSResponse`` that botocore parses into the usual ``ClientError``. The failed request never reaches the service
(moto or a ``ThreadedMotoServer``): no side effects. botocore calls every ``before-send`` handler even after one
answers, so the handler also points the request at an ``.invalid`` URL that moto's stubber does not serve.
Clients created before this module was imported lack the handler: pass them to :func:`patch_client` (or create
them again, e.g. ``threatfeed.aws.reset_clients()``).

Retries: ``count`` is per HTTP *attempt*, and boto3 clients retry by themselves, each attempt meeting the fault
again until ``count`` is used up. botocore's ``retries={"max_attempts": N}`` counts *retries* (N + 1 attempts;
``total_max_attempts`` counts all of them); standard mode without a number makes 3 attempts, legacy mode (the
default) 5. So with ``retries={"mode": "standard", "total_max_attempts": 3}`` a fault with ``count=2`` is absorbed
(``ResponseMetadata["RetryAttempts"] == 2``, ``fault.fired == 2``) and ``count=3`` reaches the caller as the
``ClientError`` (or timeout). Access denied is not retried: each call uses one. botocore sleeps between attempts
(up to seconds after throttling): wrap tests in :func:`fast_retries` to skip the sleeps and record them.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

import botocore.endpoint
import botocore.handlers
import botocore.session
from botocore import xform_name
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError

__all__ = [
    "KINDS",
    "Fault",
    "FaultEvent",
    "active_faults",
    "clear_faults",
    "fast_retries",
    "fault_log",
    "fired_count",
    "inject_fault",
    "install",
    "patch_client",
]

KINDS = ("throttle", "5xx", "timeout", "connect_timeout", "access_denied")
_RESPONSE_PROTOCOLS = ("json", "rest-json", "query", "ec2", "rest-xml")
# Where an answered request is pointed so that later before-send handlers (moto's stubber) leave it alone.
_DIVERTED_URL = "http://fault-injected.embedded-aws.invalid/"
_UNIQUE_ID = "embedded_aws.faults.before_send"
_SEEN = "_embedded_aws_fault_checked"


@dataclass(frozen=True)
class FaultEvent:
    """One request failed by an injected fault."""

    service: str
    operation: str
    kind: str
    status: int | None
    code: str | None
    at: float


@dataclass(eq=False)
class Fault:
    """An injected fault. A context manager: leaving the ``with`` block removes it."""

    service: str
    kind: str
    remaining: int | None  # None: until removed
    operations: frozenset[str] | None
    status: int | None
    code: str | None
    message: str
    service_id: str
    protocol: str
    iam_prefix: str
    fired: int = 0
    active: bool = field(default=True)

    def remove(self) -> None:
        with _lock:
            self.active = False
            if self in _faults:
                _faults.remove(self)

    def __enter__(self) -> Fault:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def matches(self, service_id: str, operation: str) -> bool:
        return (
            self.active
            and self.service_id == service_id
            and (self.operations is None or operation in self.operations)
            and (self.remaining is None or self.remaining > 0)
        )


_lock = threading.Lock()
_faults: list[Fault] = []
_log: list[FaultEvent] = []


# --- public API ---------------------------------------------------------------------------------------------------


def inject_fault(
    service: str,
    kind: str,
    count: int | None = 1,
    operations: Iterable[str] | None = None,
    *,
    status: int | None = None,
    code: str | None = None,
    message: str | None = None,
) -> Fault:
    """Fail the next ``count`` requests (HTTP attempts) to ``service`` (a boto3 service name: ``"guardduty"``,
    ``"s3"``, ``"sns"``, ``"secretsmanager"``...), or only those to ``operations`` (``"UpdateThreatIntelSet"``,
    ``"guardduty:UpdateThreatIntelSet"`` or ``"update_threat_intel_set"``). ``count=None``: every request until
    the fault is removed. Faults are checked in the order they were injected; the first that matches fires."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if count is not None and count < 1:
        raise ValueError("count must be >= 1 (or None for every request)")
    model = _service_model(service)
    protocol = model.resolved_protocol
    if kind not in ("timeout", "connect_timeout") and protocol not in _RESPONSE_PROTOCOLS:
        raise ValueError(f"{service} speaks {protocol}; response faults support {', '.join(_RESPONSE_PROTOCOLS)}")
    if status is not None and kind in ("timeout", "connect_timeout"):
        raise ValueError("status does not apply to timeouts")
    iam_prefix = model.metadata.get("signingName") or model.endpoint_prefix
    ops = None if operations is None else frozenset(_operation_name(model, iam_prefix, op) for op in operations)
    status, code, default_message = _error_for(kind, model, protocol, status, code)
    fault = Fault(
        service=service,
        kind=kind,
        remaining=count,
        operations=ops,
        status=status,
        code=code,
        message=message or default_message,
        service_id=model.service_id.hyphenize(),
        protocol=protocol,
        iam_prefix=iam_prefix,
    )
    install()
    with _lock:
        _faults.append(fault)
    return fault


def clear_faults(*, keep_log: bool = False) -> None:
    """Remove every injected fault (and forget the log unless ``keep_log``)."""
    with _lock:
        for fault in _faults:
            fault.active = False
        _faults.clear()
        if not keep_log:
            _log.clear()


def active_faults() -> list[Fault]:
    with _lock:
        return list(_faults)


def fault_log() -> list[FaultEvent]:
    """Every request failed so far (since the last :func:`clear_faults`), oldest first."""
    with _lock:
        return list(_log)


def fired_count(service: str | None = None, operation: str | None = None, kind: str | None = None) -> int:
    """How many requests injected faults failed, optionally only for one service, operation or kind."""
    with _lock:
        return sum(
            1
            for event in _log
            if (service is None or event.service == service)
            and (operation is None or event.operation == operation)
            and (kind is None or event.kind == kind)
        )


def install() -> None:
    """Register the handler for sessions created from now on, and on ``boto3.DEFAULT_SESSION``. Idempotent; runs
    on import."""
    spec = ("before-send", _before_send, botocore.handlers.REGISTER_FIRST)
    with _lock:
        if spec not in botocore.handlers.BUILTIN_HANDLERS:
            botocore.handlers.BUILTIN_HANDLERS.append(spec)
    import boto3

    session = boto3.DEFAULT_SESSION
    if session is not None:
        session.events.register_first("before-send", _before_send, unique_id=_UNIQUE_ID)


def patch_client(client: Any) -> Any:
    """Add the handler to a client created before this module was imported. Returns the client."""
    client.meta.events.register_first("before-send", _before_send, unique_id=_UNIQUE_ID)
    return client


class _NoSleepTime:
    """Stands in for the ``time`` module inside ``botocore.endpoint`` (used there only to sleep between retries)."""

    def __init__(self, sleeps: list[float]) -> None:
        self._sleeps = sleeps

    def sleep(self, seconds: float) -> None:
        self._sleeps.append(seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@contextlib.contextmanager
def fast_retries() -> Iterator[list[float]]:
    """Skip botocore's sleeps between retry attempts; yields the list of the delays it asked for."""
    sleeps: list[float] = []
    saved = botocore.endpoint.time
    botocore.endpoint.time = _NoSleepTime(sleeps)  # type: ignore[assignment]
    try:
        yield sleeps
    finally:
        botocore.endpoint.time = saved


# --- internals ----------------------------------------------------------------------------------------------------


@functools.cache
def _botocore_session() -> botocore.session.Session:
    return botocore.session.get_session()


@functools.cache
def _service_model(service: str) -> Any:
    try:
        return _botocore_session().get_service_model(service)
    except Exception as error:
        raise ValueError(f"unknown service {service!r}: {error}") from None


def _operation_name(model: Any, iam_prefix: str, operation: str) -> str:
    name = operation
    if ":" in name:
        prefix, name = name.split(":", 1)
        if prefix not in (iam_prefix, model.service_name, model.endpoint_prefix):
            raise ValueError(f"{operation!r} is not an operation of {model.service_name}")
    if name in model.operation_names:
        return name
    by_python_name = {xform_name(op): op for op in model.operation_names}
    if name in by_python_name:
        return by_python_name[name]
    raise ValueError(f"{operation!r} is not an operation of {model.service_name}")


def _modeled_code(model: Any, words: tuple[str, ...]) -> str | None:
    for shape in model.error_shapes:
        if any(word in shape.name for word in words):
            return (shape.metadata.get("error") or {}).get("code") or shape.name
    return None


def _error_for(
    kind: str, model: Any, protocol: str, status: int | None, code: str | None
) -> tuple[int | None, str | None, str]:
    """Status, error code and message of a response fault as ``model``'s service would send them."""
    if kind in ("timeout", "connect_timeout"):
        return None, None, "injected timeout"
    s3_like = protocol == "rest-xml"
    if kind == "throttle":
        if s3_like:
            return status or 503, code or "SlowDown", "Please reduce your request rate."
        if protocol == "ec2":
            return status or 503, code or "RequestLimitExceeded", "Request limit exceeded."
        if protocol == "query":
            return status or 400, code or "Throttling", "Rate exceeded"
        modeled = next((e for e in model.error_shapes if e.name == "TooManyRequestsException"), None)
        if modeled is not None and code is None:  # e.g. Lambda's rate limit
            return status or modeled.metadata.get("error", {}).get("httpStatusCode", 429), modeled.name, "Rate exceeded"
        return status or 400, code or "ThrottlingException", "Rate exceeded"
    if kind == "5xx":
        status = status or 500
        if not 500 <= status <= 599:
            raise ValueError("a 5xx fault needs a status from 500 to 599")
        if status == 503:
            default = _modeled_code(model, ("Unavailable",)) or "ServiceUnavailable"
            return status, code or default, "Service is unavailable. Please try again later."
        if s3_like or protocol == "ec2":
            default = "InternalError"
        else:
            default = _modeled_code(model, ("Internal",)) or (
                "InternalError" if protocol == "query" else "InternalServerError"
            )
        return status, code or default, "We encountered an internal error. Please try again."
    # access_denied
    if s3_like:
        return status or 403, code or "AccessDenied", "Access Denied"
    if protocol == "ec2":
        return status or 403, code or "UnauthorizedOperation", "You are not authorized to perform this operation."
    if protocol == "query":
        default = "AuthorizationError" if model.endpoint_prefix == "sns" else "AccessDenied"
    else:
        default = "AccessDeniedException"
    return status or 403, code or default, ""


class _Body(io.BytesIO):
    def stream(self, **kwargs: Any) -> Iterator[bytes]:
        chunk = self.read()
        while chunk:
            yield chunk
            chunk = self.read()


def _message(fault: Fault, operation: str) -> str:
    if fault.message:
        return fault.message
    return (
        "User: arn:aws:sts::123456789012:assumed-role/embedded/session is not authorized to perform: "
        f"{fault.iam_prefix}:{operation} because no identity-based policy allows the "
        f"{fault.iam_prefix}:{operation} action (injected fault)"
    )


def _response(fault: Fault, request: AWSPreparedRequest, operation: str) -> AWSResponse:
    assert fault.status is not None and fault.code is not None
    request_id = str(uuid.uuid4())
    message = _message(fault, operation)
    code = fault.code
    headers: dict[str, str] = {"x-amzn-RequestId": request_id}
    if fault.protocol == "json":
        headers["Content-Type"] = "application/x-amz-json-1.1"
        body = json.dumps({"__type": code, "message": message}).encode()
    elif fault.protocol == "rest-json":
        headers["Content-Type"] = "application/json"
        headers["X-Amzn-ErrorType"] = code
        body = json.dumps({"message": message, "__type": code}).encode()
    elif fault.protocol == "query":
        headers["Content-Type"] = "text/xml"
        side = "Receiver" if fault.status >= 500 else "Sender"
        body = (
            '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
            f"<Error><Type>{side}</Type><Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
    elif fault.protocol == "ec2":
        headers["Content-Type"] = "text/xml;charset=UTF-8"
        body = (
            f"<Response><Errors><Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
            f"</Errors><RequestID>{request_id}</RequestID></Response>"
        ).encode()
    else:  # rest-xml (S3): HEAD errors carry no body
        headers = {
            "x-amz-request-id": request_id[:16].upper(),
            "x-amz-id-2": request_id,
            "Content-Type": "application/xml",
        }
        body = b""
        if request.method != "HEAD":
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>'
                f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
                f"<RequestId>{headers['x-amz-request-id']}</RequestId><HostId>{request_id}</HostId></Error>"
            ).encode()
    return AWSResponse(request.url, fault.status, headers, _Body(body))


def _before_send(request: AWSPreparedRequest, event_name: str = "", **kwargs: Any) -> AWSResponse | None:
    if not _faults or getattr(request, _SEEN, False):
        return None  # no faults, or the handler was registered twice on this client and already ran
    setattr(request, _SEEN, True)
    parts = event_name.split(".")
    if len(parts) < 3:
        return None
    service_id, operation = parts[1], parts[2]
    with _lock:
        fault = next((f for f in _faults if f.matches(service_id, operation)), None)
        if fault is None:
            return None
        fault.fired += 1
        if fault.remaining is not None:
            fault.remaining -= 1
            if fault.remaining == 0:
                fault.active = False
                _faults.remove(fault)
        _log.append(FaultEvent(fault.service, operation, fault.kind, fault.status, fault.code, time.time()))
    if fault.kind == "timeout":
        raise ReadTimeoutError(endpoint_url=request.url, error="injected read timeout")
    if fault.kind == "connect_timeout":
        raise ConnectTimeoutError(endpoint_url=request.url, error="injected connect timeout")
    response = _response(fault, request, operation)
    request.url = _DIVERTED_URL
    return response


install()
