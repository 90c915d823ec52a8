"""The shapes that travel between the stages: what each Lambda returns and the state machine passes on.

Step Functions moves JSON between the functions, so a key renamed in one stage used to break another only at run
time. Each shape is a ``TypedDict`` (JSON in, JSON out, no conversion step): mypy checks every stage that builds or
reads one, and ``tools/asl_lint.py`` checks that every JSONPath the state machine reads from a task's result is a
key of that task's contract (:data:`TASK_RESULTS`).

``NotRequired`` marks a key that only some results carry (a failed fetch has no ``raw``, a rollback no ``guard``);
a key the state machine reads is required unless a Choice only tests whether it ``IsPresent``.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

# --------------------------------------------------------------------------- pointers


class S3Object(TypedDict):
    """An object in the data bucket (``S3Pointer.as_dict()``); ``version_id`` when the bucket gave one."""

    bucket: str
    key: str
    version_id: NotRequired[str]


class ItemsPointer(TypedDict):
    """Where the plan put the run's feed items for the fetch Map's ``ItemReader``, and how many there are."""

    bucket: str
    key: str
    count: int


class FetchedPointer(TypedDict):
    """The fetch Map's output: its ``ResultWriter`` manifest (the results are in S3, never in the payload)."""

    bucket: str
    key: str
    map_run: NotRequired[str]


# --------------------------------------------------------------------------- plan


class Skipped(TypedDict):
    feed: str
    reason: str


class Run(TypedDict):
    """The run document every state passes along: its identity, its clock and what the caller asked for."""

    id: str
    started_at: str
    trigger: str
    force: bool
    dry_run: bool
    rollback_to: str | None
    regions: list[str]
    feeds: NotRequired[list[str]]  # dropped once the items are staged (``feed_count`` instead)
    feed_count: NotRequired[int]
    # True when the caller named the feeds (an urgent run of a few): the others keep what they contributed
    partial: NotRequired[bool]
    skipped: NotRequired[list[Skipped]]
    own_addresses: NotRequired[list[str]]
    own_addresses_problems: NotRequired[list[str]]


class RunClock(TypedDict):
    """The part of the run a fetch receives (the fetch Map's ItemSelector): its id and its single clock."""

    id: str
    started_at: str


class MachineSettings(TypedDict):
    """The state machine's own settings (DefinitionSubstitutions), checked and made numbers by the plan."""

    feed_concurrency: int
    region_concurrency: int
    poll_seconds: int
    max_checks: int


class Plan(TypedDict):
    """The plan's output: the run, its Regions and settings; the feeds travel as ``items`` (a pointer) once
    staged, as ``feeds`` (the catalogue entries) before."""

    run: Run
    regions: list[str]
    settings: MachineSettings
    feeds: NotRequired[list[dict[str, Any]]]
    items: NotRequired[ItemsPointer]


# --------------------------------------------------------------------------- fetch


class FetchResult(TypedDict):
    """One feed's fetch: ``ok``/``empty`` with a pointer to the raw body, or ``failed`` with error and cause."""

    feed: str
    outcome: str
    status: NotRequired[int]
    format: NotRequired[str]
    options: NotRequired[dict[str, Any]]
    bytes: NotRequired[int]
    sha256: NotRequired[str]
    raw: NotRequired[S3Object]
    cursor: NotRequired[dict[str, Any]]
    error: NotRequired[str | None]
    cause: NotRequired[str | None]


# --------------------------------------------------------------------------- transform


class ListPointer(TypedDict):
    """One GuardDuty list as a publish receives it: where its body is, what it holds, what GuardDuty had before.

    Built by :func:`threatfeed.pipeline.transform.list_pointer` only. ``addresses``/``previous_addresses`` are for
    threat lists (the allow-list is not size-guarded).
    """

    kind: str
    index: int
    name: str
    set_type: str
    format: str
    bucket: str
    key: str
    sha256: str
    entries: int
    addresses: NotRequired[int | None]
    previous_sha256: str | None
    previous_entries: int | None
    previous_addresses: NotRequired[int | None]
    unchanged: bool


class TransformBase(TypedDict):
    """What the whole transform result and the payload's compacted one share."""

    publish: bool
    reason: str
    guarded: bool
    guard: NotRequired[str | None]
    manifest: S3Object
    lists: list[ListPointer]
    dropped: NotRequired[dict[str, int]]
    suppressed: NotRequired[dict[str, int]]


class TransformResult(TransformBase):
    """The whole transform result (``runs/<run>/transform.json``): every feed and every guard finding."""

    feeds: dict[str, dict[str, Any]]
    findings: NotRequired[list[dict[str, Any]]]


class TransformPayload(TransformBase):
    """The transform's result as it travels in the state payload (``items.compact_transform``): bounded."""

    findings: list[dict[str, Any]]
    findings_omitted: NotRequired[int]
    feed_counts: dict[str, int]
    details: S3Object
    verify: bool


# --------------------------------------------------------------------------- publish


class RegionResult(TypedDict):
    """One Region's publish or check. The state machine's RegionFailed/ActivationTimedOut states make the failed
    shape (region, outcome, lists, error, cause) without a detector."""

    region: str
    outcome: str
    lists: list[dict[str, Any]]
    detector_id: NotRequired[str]
    pending: bool
    checks: int
    waiting: NotRequired[list[str]]
    error: NotRequired[str]
    cause: NotRequired[str]


# --------------------------------------------------------------------------- summary


class Failure(TypedDict):
    """Why the run failed, for the Fail state and the notification: the state to blame, error and cause."""

    state: str
    error: str
    cause: str


class Attention(TypedDict):
    """What a guard that only reports found: the run succeeds and a person is told."""

    error: str
    cause: str


class Summary(TypedDict):
    """The run's whole summary (``runs/<run>/summary.json``): every feed, every Region, the outcome."""

    run: str
    trigger: str | None
    ok: bool
    published: bool
    reason: str
    feeds: dict[str, dict[str, Any]]
    regions: dict[str, dict[str, Any]]
    failed_regions: list[str]
    dropped: dict[str, int]
    suppressed: dict[str, int]
    guards: list[dict[str, Any]]
    manifest: str | None
    repaired: NotRequired[list[dict[str, Any]]]
    failure: NotRequired[Failure]
    attention: NotRequired[Attention]


class SummaryPayload(Summary):
    """The run's output (``items.compact_summary``): the summary with per-feed detail bounded, and ``details``."""

    feeds_omitted: NotRequired[int]
    guards_omitted: NotRequired[int]
    feed_counts: dict[str, int]
    details: str


#: What each stage function returns into the state payload, by the ``DefinitionSubstitutions`` name the state
#: machine invokes it with (tools/asl_lint.py checks the JSONPaths read from each against these).
TASK_RESULTS: dict[str, type] = {
    "PlanFunctionArn": Plan,
    "FetchFunctionArn": FetchResult,
    "TransformFunctionArn": TransformPayload,
    "PublishFunctionArn": RegionResult,
    "SummarizeFunctionArn": SummaryPayload,
}
