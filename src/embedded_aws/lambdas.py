"""Run the real Lambda handlers in-process when moto's Lambda is invoked (no Docker here).

moto keeps each function as CloudFormation created it from template.yaml, environment variables included;
we replace only the last step, starting a container, by importing ``functions/<name>/app.py`` and calling
its handler with exactly that environment. ``os.environ`` is process-wide, so invocations of *different*
functions are serialized while concurrent invocations of the *same* function (a Map state's iterations)
run together.

Each invocation runs with its function's execution role credentials, as Lambda does, when the registry is
given a ``credentials`` callback ((role ARN, function name) -> ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/
``AWS_SESSION_TOKEN``; ``embedded_aws.iam.Principals.credentials_for`` registers them for IAM enforcement).
Without one, handlers use the process's credentials. A function's configured environment can never set
these (Lambda reserves them).
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

#: Reserved by Lambda: a function's configured environment cannot set them (only the runtime does).
_ENV_KEEP = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL")
#: (role ARN, function name) -> the credential environment variables of an invocation.
CredentialsFor = Callable[[str, str], Mapping[str, str]]


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


class ThreadEnviron(MutableMapping[str, str]):
    """``os.environ`` while the embedded AWS runs: each invocation thread sees its function's environment
    over the process's own, so different functions (and concurrent executions) run side by side, each with
    exactly the variables template.yaml gives it."""

    def __init__(self, base: MutableMapping[str, str]) -> None:
        self.base = base
        self._local = threading.local()

    def overlay(self) -> dict[str, str] | None:
        return getattr(self._local, "overlay", None)

    @contextmanager
    def use(self, environment: dict[str, str], runtime: Mapping[str, str] | None = None) -> Iterator[None]:
        """Overlay ``environment`` (the function's configuration, reserved names dropped) and ``runtime`` (what
        the Lambda runtime itself sets, such as the execution role's credentials) for this thread."""
        previous = self.overlay()
        overlay = {k: str(v) for k, v in environment.items() if k not in _ENV_KEEP}
        overlay.update({k: str(v) for k, v in (runtime or {}).items()})
        self._local.overlay = overlay
        try:
            yield
        finally:
            self._local.overlay = previous

    def __getitem__(self, key: str) -> str:
        overlay = self.overlay()
        if overlay is not None and key in overlay:
            return overlay[key]
        return self.base[key]

    def __setitem__(self, key: str, value: str) -> None:
        overlay = self.overlay()
        if overlay is not None:
            overlay[key] = value
        else:
            self.base[key] = value

    def __delitem__(self, key: str) -> None:
        overlay = self.overlay()
        if overlay is not None and key in overlay:
            del overlay[key]
        else:
            del self.base[key]

    def __iter__(self) -> Iterator[str]:
        overlay = self.overlay() or {}
        yield from overlay
        yield from (k for k in self.base if k not in overlay)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def copy(self) -> dict[str, str]:
        return dict(self)


@contextmanager
def thread_environ() -> Iterator[ThreadEnviron]:
    """Install :class:`ThreadEnviron` as ``os.environ`` for the block."""
    original = os.environ
    proxy = ThreadEnviron(original)
    os.environ = proxy  # type: ignore[assignment]  # noqa: B003 -- rebinding on purpose, restored below
    try:
        yield proxy
    finally:
        os.environ = original  # noqa: B003


class CapturedStdout(io.TextIOBase):  # one per process: loggers keep the stream they were created with
    """``sys.stdout`` while the embedded AWS runs: inside an invocation, writes go to that invocation's
    buffer (its CloudWatch Logs stream), elsewhere to the real stdout. Per thread, because a Map state runs
    its iterations in threads."""

    def __init__(self, real: TextIO) -> None:
        self.real = real
        self.active = False
        self._local = threading.local()

    def begin(self) -> None:
        self._local.buffer = io.StringIO()

    def end(self) -> str:
        buffer = getattr(self._local, "buffer", None)
        self._local.buffer = None
        return buffer.getvalue() if buffer is not None else ""

    def write(self, text: str) -> int:
        buffer = getattr(self._local, "buffer", None)
        return (buffer or self.real).write(text)

    def flush(self) -> None:
        if getattr(self._local, "buffer", None) is None:
            self.real.flush()


@dataclass(frozen=True)
class Invocation:
    """One handler call: what Lambda would bill (duration at the function's memory size)."""

    function_name: str
    outcome: str
    seconds: float
    memory_mb: int

    @property
    def gb_seconds(self) -> float:
        return self.seconds * self.memory_mb / 1024


class HandlerRegistry:
    """Maps moto's functions to handler files and invokes them."""

    def __init__(
        self,
        code_dirs: dict[str, Path],
        *,
        log_groups: dict[str, str] | None = None,
        on_log: Callable[[str, str, str], None] | None = None,
        credentials: CredentialsFor | None = None,
    ) -> None:
        self._code_dirs = code_dirs  # function name -> folder holding app.py
        self.credentials = credentials  # execution role credentials per invocation; None: the process's
        self._modules: dict[str, ModuleType] = {}
        self._lock = threading.Lock()
        self.log_groups = log_groups or {}  # function name -> its log group (template's LoggingConfig)
        self.on_log = on_log  # (log group, function name, text) after each invocation
        self.invocations: list[Invocation] = []

    def _module(self, function_name: str, handler: str) -> Callable[..., Any]:
        module_file, _, attribute = handler.rpartition(".")
        with self._lock:
            module = self._modules.get(function_name)
            if module is None:
                path = self._code_dirs[function_name] / f"{module_file}.py"
                spec = importlib.util.spec_from_file_location(f"threatfeed_lambda_{function_name}", path)
                assert spec and spec.loader
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                self._modules[function_name] = module
        return getattr(module, attribute)

    def invoke(self, fn: Any, event: Any) -> tuple[str, bool, str]:
        """What moto's ``LambdaFunction._invoke_lambda`` returns: (payload, errored, logs)."""
        if isinstance(event, str | bytes):
            event = json.loads(event or "{}")
        name = fn.function_name
        environment = {
            **fn.environment_vars,
            "AWS_REGION": fn.region,
            "AWS_DEFAULT_REGION": fn.region,
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
        }
        memory = int(fn.memory_size or 128)
        context = LambdaContext(name, fn.function_arn, memory, str(uuid.uuid4()))
        started = time.perf_counter()
        stdout = _CAPTURE if isinstance(_CAPTURE, CapturedStdout) and _CAPTURE.active else None
        if stdout is not None and sys.stdout is not stdout:
            # Something (pytest's capture, say) replaced sys.stdout since the embedded AWS started.
            stdout.real = sys.stdout
            sys.stdout = stdout
        if stdout:
            stdout.begin()
        try:
            environ = os.environ if isinstance(os.environ, ThreadEnviron) else None
            runtime = dict(self.credentials(fn.role, name)) if self.credentials is not None else None
            with environ.use(environment, runtime) if environ else nullcontext():
                handler = self._module(name, fn.handler)
                try:
                    result = handler(event, context)
                except Exception as error:  # the Lambda runtime's error shape, also printed to the log
                    payload = {
                        "errorMessage": str(error),
                        "errorType": type(error).__name__,
                        "stackTrace": traceback.format_exception(error)[-6:],
                    }
                    print(json.dumps({"level": "ERROR", **payload}))
                    self.invocations.append(
                        Invocation(name, type(error).__name__, time.perf_counter() - started, memory)
                    )
                    return json.dumps(payload), True, ""
            self.invocations.append(Invocation(name, "ok", time.perf_counter() - started, memory))
            return json.dumps(result, default=str), False, ""
        finally:
            text = stdout.end() if stdout else ""
            if text and self.on_log:
                self.on_log(self.log_groups.get(name, f"/aws/lambda/{name}"), name, text)


@contextmanager
def handlers_installed(registry: HandlerRegistry) -> Iterator[None]:
    """Route moto's Lambda invocations to ``registry`` for the duration of the block."""
    from moto.awslambda.models import LambdaFunction

    original = LambdaFunction._invoke_lambda

    def _invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
        return registry.invoke(self, event)

    LambdaFunction._invoke_lambda = _invoke_lambda  # type: ignore[method-assign]
    try:
        yield
    finally:
        LambdaFunction._invoke_lambda = original  # type: ignore[method-assign]


_CAPTURE: CapturedStdout | None = None


@contextmanager
def captured_stdout() -> Iterator[CapturedStdout]:
    """Install the process's :class:`CapturedStdout` as ``sys.stdout`` for the block.

    It is one object for the whole process, because Powertools' Logger keeps the stream it was first
    created with: later embedded AWS instances must still receive what those loggers write.
    """
    global _CAPTURE
    real = sys.stdout
    if _CAPTURE is None:
        _CAPTURE = CapturedStdout(real)
    _CAPTURE.real = real
    _CAPTURE.active = True
    sys.stdout = _CAPTURE
    try:
        yield _CAPTURE
    finally:
        _CAPTURE.active = False
        if sys.stdout is _CAPTURE:
            sys.stdout = _CAPTURE.real
