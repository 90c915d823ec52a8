"""What a failed ``threatfeed`` command tells a person: one or two lines saying what failed, where, and what to do.

:func:`explain` turns any exception that reaches the console command into ``(message, exit code)``. Tracebacks
are for ``--debug`` only. Exit codes keep their meaning: 1 a failed run (or an unexpected error), 2 a usage,
setup or lookup error (no credentials, an endpoint that does not answer, no such stack, feed or run).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

SERVE_HINT = "for the embedded AWS start `threatfeed local serve` and add --endpoint-url http://127.0.0.1:4566"


@dataclass
class Where:
    """What the command was working on, for the message: filled in as the command learns it."""

    stack: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    profile: str | None = None

    def reset(self) -> None:
        self.stack = self.region = self.endpoint_url = self.profile = None

    def describe(self) -> str:
        parts = []
        if self.stack:
            parts.append(f"stack {self.stack!r}")
        if self.region:
            parts.append(f"in {self.region}")
        if self.endpoint_url:
            parts.append(f"at {self.endpoint_url}")
        return " ".join(parts)


#: The current command's context (one command per process).
WHERE = Where()


def note_args(args: argparse.Namespace) -> None:
    """Remember the stack, Region and endpoint an operator command was given."""
    WHERE.stack = getattr(args, "stack_name", None) or WHERE.stack
    WHERE.region = getattr(args, "region", None) or WHERE.region
    WHERE.endpoint_url = getattr(args, "endpoint_url", None) or WHERE.endpoint_url
    WHERE.profile = getattr(args, "profile", None) or WHERE.profile


class CliError(Exception):
    """A failure already phrased for a person; ``code`` is the exit code."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def explain(error: BaseException) -> tuple[str, int]:
    """The message (without the ``threatfeed:`` prefix) and exit code for ``error``."""
    where = WHERE.describe()
    on = f" ({where})" if where else ""
    if isinstance(error, CliError):
        return str(error), error.code
    if isinstance(error, KeyboardInterrupt):
        if WHERE.stack:
            return f"interrupted; a run already started goes on{on} (see `threatfeed history`)", 1
        return "interrupted", 1
    explained = _sdk_error(error, on) or _local_error(error)
    if explained is not None:
        return explained
    return (
        f"unexpected error {type(error).__name__}{on}: {_one_line(str(error))}\n"
        "  run again with --debug for the traceback, and report it",
        1,
    )


def _sdk_error(error: BaseException, on: str) -> tuple[str, int] | None:
    """What the AWS SDK refused or could not do: credentials, profile, SSO, Region, network, the request."""
    from botocore import exceptions as bx

    if isinstance(error, bx.NoCredentialsError | bx.PartialCredentialsError):
        return (
            f"no AWS credentials{on}: set AWS_PROFILE (or pass --profile) or run `aws configure`;\n  {SERVE_HINT}",
            2,
        )
    if isinstance(error, bx.ProfileNotFound):
        return (
            f"no AWS profile {error.kwargs.get('profile')!r} in your AWS configuration: run `aws configure "
            f"--profile {error.kwargs.get('profile')}` or pick one from `aws configure list-profiles`",
            2,
        )
    if isinstance(error, bx.TokenRetrievalError | bx.SSOTokenLoadError | bx.UnauthorizedSSOTokenError):
        return f"your AWS SSO session is missing or expired{on}: run `aws sso login`", 2
    if isinstance(error, bx.NoRegionError):
        return "no AWS Region: pass --region or set AWS_REGION", 2
    if isinstance(
        error,
        bx.EndpointConnectionError | bx.ConnectTimeoutError | bx.ReadTimeoutError | bx.ConnectionClosedError,
    ):
        return _unreachable(error, on)
    if isinstance(error, bx.ParamValidationError):
        return f"a request was refused before it was sent{on}: {_one_line(str(error))}", 2
    if isinstance(error, bx.ClientError):
        return _client_error(error, on)
    if isinstance(error, bx.BotoCoreError):
        return f"AWS SDK error{on}: {_one_line(str(error))}", 2
    return None


def _unreachable(error: BaseException, on: str) -> tuple[str, int]:
    """Nothing answered: a local endpoint (say how to start it) or AWS (say what to check)."""
    if WHERE.endpoint_url:
        stack = f" for stack {WHERE.stack!r}" if WHERE.stack else ""
        return (
            f"cannot reach {WHERE.endpoint_url}{stack}: nothing answers there. Is `threatfeed local serve` "
            "running? It prints the --endpoint-url to use.",
            2,
        )
    url = getattr(error, "kwargs", {}).get("endpoint_url") or "AWS"
    return f"cannot reach {url}{on}: check --region and your network (proxy, VPN)", 2


def _local_error(error: BaseException) -> tuple[str, int] | None:
    """threatfeed's own errors and this computer's: configuration, a file, a port, a wait."""
    from threatfeed.errors import ConfigError, ThreatfeedError

    if isinstance(error, ConfigError):
        return _one_line(str(error), 600), 2
    if isinstance(error, ThreatfeedError):
        return f"{type(error).__name__}: {_one_line(str(error), 600)}", 1
    if isinstance(error, LookupError):
        return str(error.args[0] if error.args else error), 2
    if isinstance(error, TimeoutError):
        return f"{error}; the run goes on (see `threatfeed history`)", 1
    if isinstance(error, FileNotFoundError | IsADirectoryError | PermissionError):
        return f"cannot read {error.filename}: {error.strerror}", 2
    if isinstance(error, OSError) and error.errno == 98:  # EADDRINUSE
        return f"{error.strerror}: another `threatfeed local serve` may be running; pass --port 0 or another port", 2
    return None


_CREDENTIAL_CODES = {
    "InvalidClientTokenId": "AWS does not know these credentials (InvalidClientTokenId)",
    "UnrecognizedClientException": "AWS does not know these credentials (UnrecognizedClientException)",
    "InvalidAccessKeyId": "AWS does not know this access key (InvalidAccessKeyId)",
    "SignatureDoesNotMatch": "AWS refused the request signature: the secret access key is wrong",
    "ExpiredToken": "your AWS credentials have expired",
    "ExpiredTokenException": "your AWS credentials have expired",
    "RequestExpired": "the request expired: check the computer's clock",
}


def _client_error(error: Any, on: str) -> tuple[str, int]:
    info = error.response.get("Error", {})
    code = str(info.get("Code", "Unknown"))
    message = _one_line(str(info.get("Message") or ""))
    operation = getattr(error, "operation_name", "the request")
    if code in _CREDENTIAL_CODES:
        return f"{_CREDENTIAL_CODES[code]}{on}: refresh them (`aws sso login`, `aws configure`) or pick --profile", 2
    if "AccessDenied" in code or code in ("AuthorizationError", "UnauthorizedOperation", "Forbidden", "403"):
        return (
            f"AWS denied {operation}{on} ({code}): {message or 'no detail'};\n  use credentials that may operate "
            "the stack (its state machine, data bucket and GuardDuty)",
            2,
        )
    if code in ("Throttling", "ThrottlingException", "TooManyRequestsException", "SlowDown"):
        return f"AWS throttled {operation}{on}: try again in a minute", 1
    return f"{operation} failed{on}: {code}: {message or 'no detail'}", 2


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
