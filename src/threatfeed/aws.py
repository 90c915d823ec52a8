"""The one way threatfeed makes AWS clients and turns AWS errors into the stage errors of ``threatfeed.errors``.

Clients are cached per (service, Region) for the life of a Lambda container, and per the credentials in the
environment (``AWS_ACCESS_KEY_ID`` when the client is asked for): in the embedded AWS every function runs in one
process, each with its own execution role's credentials, and must never reuse another function's client.
botocore's own retries stay on (standard mode, a few attempts) for blips inside one invocation; longer outages
surface as ``AwsThrottled`` or ``AwsUnavailable`` so the state machine retries them with backoff and jitter,
visibly, in the run history.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionError, ConnectTimeoutError, ReadTimeoutError

from threatfeed.errors import AwsAccessDenied, AwsThrottled, AwsUnavailable

_CLIENT_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 3},
    connect_timeout=5,
    read_timeout=30,
    user_agent_extra="threatfeed",
)

_THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "SlowDown",
        "RequestThrottled",
        "RequestThrottledException",
    }
)
_ACCESS_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "AuthorizationError",
        "KMSAccessDeniedException",
    }
)


def client(service: str, region: str | None = None) -> Any:
    """A client for ``service`` in ``region`` (the function's own Region by default), signed with the
    credentials the environment holds now.

    Made with botocore itself, not through boto3: a boto3 client is that same botocore client, and importing boto3
    (its resources, and s3transfer) cost every cold start about 100 ms for nothing threatfeed calls."""
    return _cached_client(service, region, os.environ.get("AWS_ACCESS_KEY_ID"))


@cache
def _cached_client(service: str, region: str | None, access_key_id: str | None) -> Any:
    """One client per (service, Region, access key): ``access_key_id`` is only the cache key; the new session
    reads the whole credential set from the environment itself."""
    return botocore.session.Session().create_client(service, region_name=region, config=_CLIENT_CONFIG)


def reset_clients() -> None:
    """Forget cached clients (the embedded AWS calls this when it starts, so clients see its endpoint)."""
    _cached_client.cache_clear()


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


@contextmanager
def aws_errors(what: str) -> Iterator[None]:
    """Re-raise AWS failures of ``what`` (e.g. "GuardDuty in eu-west-1") as retryable or final stage errors."""
    try:
        yield
    except ClientError as error:
        code = error_code(error)
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        message = error.response.get("Error", {}).get("Message", str(error))
        if code in _THROTTLING_CODES or status == 429:
            raise AwsThrottled(f"{what} throttled the request ({code}); retrying with backoff") from error
        if status >= 500 or code in ("InternalServerError", "InternalError", "ServiceUnavailable"):
            raise AwsUnavailable(f"{what} answered {status or code}: {message}") from error
        if code in _ACCESS_CODES or status == 403:
            raise AwsAccessDenied(
                f"{what} denied access ({code}): {message}. Check the function's role in template.yaml "
                "and any resource or SCP policy."
            ) from error
        raise
    except (ConnectTimeoutError, ReadTimeoutError, ConnectionError) as error:
        raise AwsUnavailable(f"{what} did not answer in time: {error}") from error
