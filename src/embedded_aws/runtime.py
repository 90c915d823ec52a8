"""The embedded AWS: moto with its ASL interpreter running the real state machine and the real handlers.

One object, used by ``threatfeed local run``, the demo and the tests:

* moto in-process (decorator mode) with ``execute_state_machine`` on, plus the GuardDuty list backend that
  moto lacks (``embedded_aws.guardduty``);
* template.yaml deployed into moto's CloudFormation (``embedded_aws.stack``), so functions, their
  environment, the bucket, topic, secret and catalogue are the template's own;
* the state machine created from ``statemachine/`` with the template's ``DefinitionSubstitutions``;
* Lambda invocations answered by the real handlers (``embedded_aws.lambdas``);
* a loopback feed server replaying the bundled samples, and GuardDuty detectors in every Region.

The only deliberate differences from a deployment: feeds are served over http on 127.0.0.1
(``THREATFEED_ALLOW_HTTP_LOOPBACK=true`` is added to the fetch function), and the catalogue points at them.

Your own catalogue (``threatfeed local run|serve --catalogue FILE``): :class:`LocalCatalogue` serves each feed
whose URL is a local file (``file:…`` or a plain path, relative to the catalogue's folder) from the loopback feed
server, and ``secrets`` (``--secrets FILE``) are created in the embedded Secrets Manager under the stack's
``threatfeed/<stack>/`` prefix, which the fetch role may read. Only the embedded AWS does this: in AWS the
catalogue refuses any URL but ``https://``.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = REPO_ROOT / "template.yaml"
DEMO_PUBLIC_KEY = "demo-public-key"
DEMO_PRIVATE_KEY = "demo-private-key-0123456789"

_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
}


@dataclass
class ExecutionResult:
    """An execution as the console shows it: status, output, and its history events."""

    arn: str
    name: str
    status: str
    output: dict[str, Any] | None
    error: str | None
    cause: str | None
    events: list[dict[str, Any]] = field(default_factory=list)

    def entered_states(self) -> list[str]:
        return [e["stateEnteredEventDetails"]["name"] for e in self.events if e["type"].endswith("StateEntered")]


def demo_catalogue(feed_server: Any, secret_arn: str) -> dict[str, Any]:
    """The sample feeds, four source types at once: iSIGHT (signed), two public-list shapes (``http_list``), a
    TAXII 2.1 collection and a MISP instance, all over the loopback server (the API fakes are
    ``embedded_aws.fake_apis``). The TAXII and MISP credentials are in the Secrets Manager secrets the embedded
    AWS creates next to the stack's own (``threatfeed/<stack>/demo-taxii``, ``…/demo-misp``), never here."""
    from embedded_aws.fake_apis import DEMO_MISP_SECRET, DEMO_TAXII_SECRET, TAXII_API_ROOT, demo_secret_name

    return {
        "feeds": [
            {
                "name": "isight",
                "type": "isight",
                "url": feed_server.url(""),
                "secret": secret_arn,
                "format": "fireeye",
                "enabled": True,
                "options": {},
            },
            {
                "name": "blocklist",
                "type": "http_list",
                "url": feed_server.url("/samples/blocklist.txt"),
                "format": "txt",
                "enabled": True,
                "options": {},
            },
            {
                "name": "csv-list",
                "type": "http_list",
                "url": feed_server.url("/samples/indicators.csv"),
                "format": "csv",
                "enabled": True,
                "options": {"column": "indicator"},
            },
            {
                "name": "taxii-hvi",
                "type": "taxii",
                "url": feed_server.url(TAXII_API_ROOT + "/"),
                "secret": demo_secret_name(secret_arn, DEMO_TAXII_SECRET),
                "format": "stix",
                "enabled": True,
                # Incremental: each run asks only for what was added since the last one, so the body adds to
                # what the feed gave before instead of replacing it.
                "options": {"collection": "High Value Indicators", "replace": False},
            },
            {
                "name": "misp",
                "type": "misp",
                "url": feed_server.url(""),
                "secret": demo_secret_name(secret_arn, DEMO_MISP_SECRET),
                "format": "misp",
                "enabled": True,
                "options": {},
            },
        ]
    }


FILE_ROUTES = "/files/"
"""Where :class:`LocalCatalogue` serves local feed files on the loopback feed server: ``/files/<feed>/<file>``."""
_STACK_SECRETS = ("threatfeed/", "arn:")  # secrets named in full: the stack's own and the demo's


class LocalCatalogue:
    """A catalogue file for the embedded AWS, used as ``EmbeddedAws(catalogue=LocalCatalogue(path, secrets))``.

    A feed ``url`` that is a local file (``file:feeds/list.txt``, ``file:///abs/list.txt`` or a plain path,
    relative to the catalogue's folder) is served by the loopback feed server, read afresh at each request (edit
    the file, run again). A ``secret`` naming a key of ``secrets`` becomes ``threatfeed/<stack>/<name>``, the secret
    the embedded AWS creates from it. Everything else is kept as written, and checked by the catalogue's own rules
    (:func:`threatfeed.catalogue.parse_catalogue`) in :meth:`check`, before the embedded AWS starts.
    """

    def __init__(self, path: Path, secrets: dict[str, dict[str, Any]] | None = None) -> None:
        from threatfeed.errors import ConfigError

        self.path = Path(path)
        self.secrets = dict(secrets or {})
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except OSError as error:
            raise ConfigError(f"cannot read the catalogue {path}: {error.strerror or error}") from None
        except ValueError as error:
            raise ConfigError(f"the catalogue {path} is not valid JSON ({error})") from None
        if not isinstance(document, dict) or not isinstance(document.get("feeds"), list):
            raise ConfigError(f'the catalogue {path} must be a JSON object {{"feeds": [...]}}')
        self.document: dict[str, Any] = document
        self.files: dict[str, Path] = {}
        problems = []
        for number, feed in enumerate(document["feeds"], 1):
            if not isinstance(feed, dict):
                continue
            label = f"catalogue feed #{number} {feed.get('name')!r}"
            secret = feed.get("secret")
            if isinstance(secret, str) and secret not in self.secrets and not secret.startswith(_STACK_SECRETS):
                problems.append(f"{label}: secret {secret!r} is not in the secrets file (pass --secrets FILE)")
            try:
                local = self._local_path(feed["url"]) if isinstance(feed.get("url"), str) else None
            except ValueError as error:
                problems.append(f"{label}: {error}")
                continue
            if local is None:
                continue
            if not local.is_file():
                problems.append(f"{label}: no file {local} (url {feed['url']!r}, relative to {self.path.parent})")
            elif not isinstance(feed.get("name"), str):
                problems.append(f"{label}: a feed served from a file needs a name")
            else:
                self.files[feed["name"]] = local
        if problems:
            raise ConfigError(f"{path}: " + "; ".join(problems))

    def _local_path(self, url: str) -> Path | None:
        from urllib.parse import urlsplit
        from urllib.request import url2pathname

        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme == "file":
            if parts.netloc not in ("", "localhost"):
                raise ValueError(f"{url!r} names host {parts.netloc}: write file:///path or file:relative/path")
            local = Path(url2pathname(parts.path))
        elif scheme == "" and not url.startswith("//"):
            local = Path(url)
        else:
            return None
        return local if local.is_absolute() else (self.path.parent / local).resolve()

    def check(self) -> None:
        """The catalogue's own rules, on the catalogue as the embedded AWS will store it (before it starts)."""
        from threatfeed.catalogue import parse_catalogue
        from threatfeed.errors import ConfigError

        try:
            parse_catalogue(json.dumps(self.resolve("http://127.0.0.1:4566", "threatfeed/threatfeed/isight")))
        except ConfigError as error:
            raise ConfigError(f"{self.path}: {error}") from None

    def resolve(self, base_url: str, stack_secret: str) -> dict[str, Any]:
        """The catalogue with local files as loopback URLs under ``base_url`` and secrets under the stack's prefix."""
        from urllib.parse import quote

        prefix = stack_secret.split(":secret:", 1)[-1].rsplit("/", 1)[0]
        feeds = []
        for feed in self.document["feeds"]:
            if isinstance(feed, dict):
                feed = dict(feed)
                if feed.get("name") in self.files:
                    local = self.files[feed["name"]]
                    feed["url"] = f"{base_url}{FILE_ROUTES}{quote(feed['name'])}/{quote(local.name)}"
                if isinstance(feed.get("secret"), str) and feed["secret"] in self.secrets:
                    feed["secret"] = f"{prefix}/{feed['secret']}"
            feeds.append(feed)
        return {**self.document, "feeds": feeds}

    def __call__(self, feed_server: Any, stack_secret: str) -> dict[str, Any]:
        from urllib.parse import quote

        for name, local in self.files.items():
            feed_server.set_handler(f"{FILE_ROUTES}{quote(name)}/{quote(local.name)}", _file_handler(local))
        return self.resolve(feed_server.url(""), stack_secret)


def _file_handler(path: Path) -> Callable[[Any], tuple[int, dict[str, str], bytes]]:
    import mimetypes

    content_type, encoding = mimetypes.guess_type(path.name)
    if encoding:
        content_type = "application/gzip" if encoding == "gzip" else "application/octet-stream"
    content_type = content_type or "application/octet-stream"
    if content_type.startswith("text/"):
        content_type += "; charset=utf-8"

    def answer(_request: Any) -> tuple[int, dict[str, str], bytes]:
        try:
            return 200, {"Content-Type": content_type}, path.read_bytes()
        except OSError:
            return 404, {"Content-Type": "text/plain"}, f"{path.name} is gone\n".encode()

    return answer


class EmbeddedAws:
    """Start with ``with EmbeddedAws() as aws:``; everything stops and the environment is restored on exit."""

    def __init__(
        self,
        *,
        regions: Sequence[str] = ("us-east-1", "eu-west-1"),
        stack_region: str = "us-east-1",
        stack_name: str = "threatfeed",
        parameters: dict[str, str] | None = None,
        catalogue: Callable[[Any, str], dict[str, Any]] | None = demo_catalogue,
        retry_sleep: bool = True,
        template: Path = TEMPLATE,
        secrets: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.template = template  # another template (tests: a copy with a permission removed)
        self.regions = list(regions)
        self.stack_region = stack_region
        self.stack_name = stack_name
        self.parameters = {
            "PublicKey": DEMO_PUBLIC_KEY,
            "PrivateKey": DEMO_PRIVATE_KEY,
            "Regions": ",".join(self.regions),
            **(parameters or {}),
        }
        self._catalogue = catalogue
        self._secrets = dict(secrets or {})  # name -> JSON object, created as threatfeed/<stack>/<name>
        self._retry_sleep = retry_sleep
        self._stack = ExitStack()
        self._names = 0

    # -- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> EmbeddedAws:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _start(self) -> None:
        from moto import mock_aws

        import embedded_aws.faults  # noqa: F401  (registers its hook before any client exists)
        from embedded_aws import guardduty
        from embedded_aws.cloudtrail import management_events
        from embedded_aws.distributed_map import distributed_map_emulated
        from embedded_aws.events import lambda_targets_delivered
        from embedded_aws.fake_apis import install_demo_apis
        from embedded_aws.feed_server import FeedServer
        from embedded_aws.iam import Principals, attach_template_managed_policies, iam_enforced
        from embedded_aws.lambdas import HandlerRegistry, captured_stdout, handlers_installed, thread_environ
        from embedded_aws.moto_logs import internals_at_debug
        from embedded_aws.stack import deploy_stack
        from threatfeed.aws import reset_clients

        self._stack.enter_context(_environment({**_FAKE_CREDENTIALS, "AWS_DEFAULT_REGION": self.stack_region}))
        guardduty.install()
        self._stack.enter_context(mock_aws(config={"stepfunctions": {"execute_state_machine": True}}))
        self._stack.enter_context(internals_at_debug())  # moto's failure dumps stay out of the user's output
        reset_clients()
        self._stack.callback(reset_clients)
        self._stack.enter_context(simulated_waits())
        if not self._retry_sleep:
            self._stack.enter_context(_instant_http_retries())

        self.feed_server = self._stack.enter_context(
            FeedServer(isight_keys={self.parameters["PublicKey"]: self.parameters["PrivateKey"]})
        )
        # The TAXII and MISP fakes of the demo catalogue; their credentials only in secrets under the stack's prefix.
        self.demo_apis = install_demo_apis(
            self.feed_server,
            self.client("secretsmanager"),
            secret_prefix=f"threatfeed/{self.stack_name}",
            tags={"threatfeed:stack": self.stack_name},
        )
        for region in self.regions:
            self.client("guardduty", region).create_detector(Enable=True)

        self.stack = deploy_stack(
            self.template, stack_name=self.stack_name, region=self.stack_region, parameters=self.parameters
        )
        self._stack.enter_context(captured_stdout())
        self._stack.enter_context(thread_environ())
        # IAM as AWS enforces it: each function with its execution role, the state machine with its role (moto's
        # interpreter signs with the access key "ak"), triggers with theirs; the harness itself is unrestricted.
        self.principals = Principals()
        attach_template_managed_policies(self.stack)
        self.principals.register("ak", self.stack.state_machine_role_arn, "states-execution")
        self.registry = HandlerRegistry(
            {f.name: REPO_ROOT / f.code_dir for f in self.stack.functions.values()},
            log_groups=self._function_log_groups(),
            on_log=self._write_logs,
            credentials=self.principals.credentials_for,
        )
        self.iam = self._stack.enter_context(iam_enforced(self.principals))
        # The Distributed Map as AWS runs it: results files, tolerated failures, child executions authorized.
        self.map_runs = self._stack.enter_context(distributed_map_emulated(self.iam))
        self._stack.enter_context(handlers_installed(self.registry))
        # EventBridge as AWS delivers it: rules with Lambda targets (the sightings and tamper functions), fed by
        # GuardDuty's findings and CloudTrail's GuardDuty management events.
        self.deliveries = self._stack.enter_context(lambda_targets_delivered(self.registry))
        self._stack.enter_context(management_events(self.principals))
        self._allow_loopback_feeds()
        sm = self.client("secretsmanager")
        for name, value in self._secrets.items():
            sm.create_secret(
                Name=f"threatfeed/{self.stack_name}/{name}",
                Description="threatfeed local secret (--secrets)",
                SecretString=json.dumps(value),
                Tags=[{"Key": "threatfeed:stack", "Value": self.stack_name}],
            )
        if self._catalogue is not None:
            self.put_catalogue(self._catalogue(self.feed_server, self.stack.secret_arn))

    def _function_log_groups(self) -> dict[str, str]:
        """Each function's log group, as its ``LoggingConfig`` in template.yaml names it (moto ignores it)."""
        groups: dict[str, str] = {}
        resources = self.stack.template.get("Resources", {})
        for logical_id, function in self.stack.functions.items():
            ref = resources.get(logical_id, {}).get("Properties", {}).get("LoggingConfig", {}).get("LogGroup")
            if isinstance(ref, dict) and "Ref" in ref:
                groups[function.name] = self.stack.physical_id(ref["Ref"])
            elif isinstance(ref, str):
                groups[function.name] = ref
        return groups

    def _write_logs(self, group: str, function_name: str, text: str) -> None:
        """What a handler printed goes to CloudWatch Logs, as in Lambda (one stream per invocation)."""
        logs = self.client("logs")
        stream = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
        with suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        now = int(time.time() * 1000)
        events = [{"timestamp": now, "message": line} for line in text.splitlines() if line.strip()]
        if events:
            logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)

    def log_lines(self) -> list[str]:
        """Every line the functions logged, from CloudWatch Logs (for tests that scan logs)."""
        logs = self.client("logs")
        lines: list[str] = []
        for group in logs.describe_log_groups()["logGroups"]:
            name = group["logGroupName"]
            for stream in logs.describe_log_streams(logGroupName=name)["logStreams"]:
                events = logs.get_log_events(logGroupName=name, logStreamName=stream["logStreamName"])["events"]
                lines.extend(e["message"] for e in events)
        return lines

    def _allow_loopback_feeds(self) -> None:
        lam = self.client("lambda")
        fetch = self.stack.functions["FetchFunction"]
        env = {**fetch.environment, "THREATFEED_ALLOW_HTTP_LOOPBACK": "true"}
        lam.update_function_configuration(FunctionName=fetch.name, Environment={"Variables": env})

    def serve(self, port: int = 0) -> str:
        """Also answer AWS API calls over HTTP on 127.0.0.1 (``threatfeed local serve``); returns the endpoint.

        The server shares this process's moto backends, so executions started through it run the same
        handlers, and everything the in-process calls create is visible through it.
        """
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        self._stack.callback(server.stop)
        host, bound = server.get_host_and_port()
        return f"http://{host}:{bound}"

    # -- helpers ---------------------------------------------------------------------------------
    def client(self, service: str, region: str | None = None) -> Any:
        import boto3

        return boto3.client(service, region_name=region or self.stack_region)

    def put_catalogue(self, catalogue: dict[str, Any]) -> None:
        """Replace the catalogue, as an operator does (``threatfeed feeds import``)."""
        from threatfeed.storage import CATALOGUE_KEY

        self.client("s3").put_object(
            Bucket=self.stack.bucket,
            Key=CATALOGUE_KEY,
            Body=json.dumps(catalogue).encode(),
            ContentType="application/json",
        )

    def next_name(self, prefix: str = "local") -> str:
        self._names += 1
        return f"{prefix}-{time.strftime('%Y%m%dT%H%M%S')}-{self._names}"

    def finding(self, indicator: str, region: str | None = None) -> Any:
        """Have GuardDuty in ``region`` (the stack's by default) see activity with ``indicator``: a finding if one
        of its ACTIVE threat lists holds it, delivered to the stack's rule, and waited for
        (``embedded_aws.guardduty.findings.FindingResult``; ``raised`` False, with the reason, otherwise)."""
        from embedded_aws.guardduty.findings import raise_and_deliver

        return raise_and_deliver(self.stack.account_id, region or self.stack_region, indicator)

    # -- executions ------------------------------------------------------------------------------
    def start(self, execution_input: dict[str, Any] | None = None, *, name: str | None = None) -> str:
        """Start an execution (always named: moto needs it) and return its ARN."""
        sfn = self.client("stepfunctions")
        response = sfn.start_execution(
            stateMachineArn=self.stack.state_machine_arn,
            name=name or self.next_name(),
            input=json.dumps(execution_input or {"trigger": "manual"}),
        )
        return response["executionArn"]

    def history(self, arn: str) -> list[dict[str, Any]]:
        from threatfeed.operate import iter_history

        return list(iter_history(self.client, arn))

    def wait(
        self, arn: str, *, timeout: float = 300, on_event: Callable[[dict[str, Any]], None] | None = None
    ) -> ExecutionResult:
        """Wait for the execution to end, passing each new history event to ``on_event`` as it happens
        (the CLI's own ``follow``, with this embedded AWS as its clients)."""
        from threatfeed.operate import follow

        described = follow(self.client, arn, on_event, poll=0.05, timeout=timeout)
        output = described.get("output")
        return ExecutionResult(
            arn=arn,
            name=described["name"],
            status=described["status"],
            output=json.loads(output) if output else None,
            error=described.get("error"),
            cause=described.get("cause"),
            events=self.history(arn),
        )

    def trigger(self, name: str) -> str:
        """Start an execution the way one of the stack's triggers does (``Deployed``: the EventBridge rule on the
        stack's deployment; ``RunSchedule``: EventBridge Scheduler), with that trigger's own role, so a role that
        may not start the state machine fails here as it would in AWS. Returns the execution ARN."""
        import boto3

        if name not in self.stack.triggers or name not in self.stack.trigger_roles:
            raise KeyError(f"no trigger {name!r}; the stack has {', '.join(sorted(self.stack.triggers))}")
        service = "scheduler" if self.stack.emulated.get(name) == "AWS::Scheduler::Schedule" else "events"
        credentials = self.principals.credentials_for(self.stack.trigger_roles[name], f"{service}-{name}")
        sfn = boto3.session.Session(
            aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=credentials["AWS_SESSION_TOKEN"],
            region_name=self.stack_region,
        ).client("stepfunctions")
        # Scheduler names runs scheduled-<its execution id> (template.yaml); EventBridge rules give a random id.
        execution = f"scheduled-{uuid.uuid4()}" if service == "scheduler" else str(uuid.uuid4())
        response = sfn.start_execution(
            stateMachineArn=self.stack.state_machine_arn, name=execution, input=json.dumps(self.stack.triggers[name])
        )
        return str(response["executionArn"])

    def run(
        self,
        execution_input: dict[str, Any] | None = None,
        *,
        name: str | None = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        timeout: float = 300,
    ) -> ExecutionResult:
        return self.wait(self.start(execution_input, name=name), on_event=on_event, timeout=timeout)


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def _instant_http_retries() -> Iterator[None]:
    """Feed downloads retry without waiting (tests): the same Retry policy, zero back-off."""
    from threatfeed.http import new_session, set_default_session

    set_default_session(new_session(backoff_factor=0, backoff_jitter=0, retry_after_max=0))
    try:
        yield
    finally:
        set_default_session(None)


@contextmanager
def simulated_waits() -> Iterator[None]:
    """The interpreter's Wait states and Retry back-off advance the simulated clock instead of sleeping.

    Where AWS takes minutes (GuardDuty activating a list), the embedded AWS takes simulated minutes
    (:mod:`embedded_aws.clock`): a run waits exactly as long as its state machine says, in simulated time, and
    a state machine that does not wait long enough sees the list still ``ACTIVATING``. Only moto's Wait
    function and the retrier module's view of ``time`` are replaced, never the process-wide ``time.sleep``.
    """
    import types

    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

    from embedded_aws.clock import clock

    def _wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
        clock.sleep(wait_seconds)

    original_time = retrier_decl.time
    original_wait = WaitFunction._wait_interval
    retrier_decl.time = types.SimpleNamespace(sleep=clock.sleep)  # type: ignore[assignment]
    WaitFunction._wait_interval = _wait_interval  # type: ignore[method-assign]
    try:
        yield
    finally:
        retrier_decl.time = original_time  # type: ignore[assignment]
        WaitFunction._wait_interval = original_wait  # type: ignore[method-assign]
