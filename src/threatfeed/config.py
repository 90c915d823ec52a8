"""The one place that reads the environment the template gives each function.

Values are parsed and range-checked once, so a mistyped parameter fails at the first state with a message
that names the variable, instead of deep inside a stage.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from threatfeed.errors import ConfigError

DEFAULT_DAYS_REQUESTED = 7
#: Names age more slowly than addresses (an address changes hands within days, a name rarely does).
DEFAULT_DOMAIN_MAX_AGE_DAYS = 30
DEFAULT_WARNINGLISTS: tuple[str, ...] = ("default",)  # the stack's Warninglists parameter's default
#: GuardDuty's quota of entries per threat entity list (the engine's ``GUARDDUTY_MAX_ENTITIES``; not imported
#: from there: every function reads this module, only the transform function ships the engine's NumPy).
DEFAULT_MAX_ENTITIES_PER_LIST = 1_000

#: The coverage ceiling: addresses one list may cover. A list of hosts and /24s covers well under a million
#: addresses, and one /12 (the broadest entry the engine accepts by default) is 1,048,576: 4,194,304 (2**22, a
#: /10, 0.1 % of IPv4) leaves room for a few provider-sized blocks yet refuses a list drifting towards a /8, the
#: public resolvers or a cloud's ranges. Feeds of whole network blocks can need more: raise it knowingly.
DEFAULT_MAX_COVERED_ADDRESSES = 4_194_304


@dataclass(frozen=True)
class GuardSettings:
    """When a run's lists are held back (the active lists stay in use) or reported; ``force`` overrides.

    ``max_drop_percent``: entries a list may lose against the last published list and against the largest of
    the last ``baseline_runs`` published (so a slow drift of allowed drops is caught too). ``max_growth_percent``:
    the same for growth, in covered addresses. ``max_covered_addresses``: the ceiling of any list.
    ``flap_overlap_percent`` / ``flap_runs``: a feed whose contribution overlaps its previous one by less than
    that (Jaccard, addresses and names) in each of its last ``flap_runs`` runs is flapping; ``hold_flapping``
    holds the lists back instead of only reporting it. ``max_benign_jump_percent``: a feed whose share of
    warninglisted or allow-listed values rises by more than these percentage points over its share in the last
    published run is poisoned: held back like a failed feed (0 = off).
    """

    max_drop_percent: int = 50
    max_growth_percent: int = 100
    max_covered_addresses: int = DEFAULT_MAX_COVERED_ADDRESSES
    baseline_runs: int = 5
    flap_overlap_percent: int = 20
    flap_runs: int = 3
    hold_flapping: bool = False
    max_benign_jump_percent: int = 20


#: Default of the stack's MaxFeedBytes: room for the biggest public lists (a few hundred MB), with a bound.
DEFAULT_MAX_FEED_BYTES = 1024 * 1024 * 1024
#: Largest MaxFeedBytes: a body must still be fetched (and parsed) within one Lambda invocation's 900 s.
MAX_FEED_BYTES_LIMIT = 8 * 1024 * 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """Deployment settings shared by every stage."""

    bucket: str
    stack_name: str
    regions: tuple[str, ...]
    days_requested: int
    allow_http_loopback: bool
    guards: GuardSettings = GuardSettings()
    tolerated_region_failures: int = 0
    ip_destination: str = "ip_set"
    allow_list: tuple[str, ...] = ()
    publish_allow_list: bool = False
    max_entities_per_list: int = DEFAULT_MAX_ENTITIES_PER_LIST
    isight_secret: str = ""  # the stack's own iSIGHT secret (ARN), referenced by the default catalogue
    isight_enabled: bool = False  # whether the stack was deployed with iSIGHT keys
    #: MISP warninglists that suppress benign infrastructure (threatfeed.engine.warninglists: "default", groups,
    #: list names, "-name", "none")
    warninglists: tuple[str, ...] = DEFAULT_WARNINGLISTS
    #: days a name stays listed once no feed lists it (addresses: days_requested)
    domain_max_age_days: int = DEFAULT_DOMAIN_MAX_AGE_DAYS
    #: the plan looks up the account's Elastic IPs and NAT gateways in every Region and allow-lists them
    discover_own_addresses: bool = False
    #: largest list body the fetch streams to S3 (a safety limit: bodies are never held whole in memory)
    max_feed_bytes: int = DEFAULT_MAX_FEED_BYTES
    #: the tamper watch: the notification topic, and the publish function's role (its list changes are threatfeed's)
    topic_arn: str = ""
    publish_role_arn: str = ""

    @property
    def owner_tag_value(self) -> str:
        """The value of the ``threatfeed:stack`` tag on every GuardDuty list this stack creates."""
        return self.stack_name


OWNER_TAG_KEY = "threatfeed:stack"


def _int_in_range(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number; set it to {low}..{high}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={value} is outside {low}..{high}; redeploy with a value in range")
    return value


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from ``env`` (the process environment by default)."""
    env = os.environ if env is None else env
    regions = tuple(r.strip() for r in env.get("THREATFEED_REGIONS", "").split(",") if r.strip())
    if not regions:
        fallback = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
        regions = (fallback,) if fallback else ()
    return Settings(
        bucket=env.get("THREATFEED_BUCKET", ""),
        stack_name=env.get("THREATFEED_STACK_NAME", "threatfeed"),
        regions=regions,
        days_requested=_int_in_range(env, "THREATFEED_DAYS_REQUESTED", DEFAULT_DAYS_REQUESTED, 1, 30),
        allow_http_loopback=env.get("THREATFEED_ALLOW_HTTP_LOOPBACK", "").lower() == "true",
        guards=load_guards(env),
        tolerated_region_failures=_int_in_range(env, "THREATFEED_TOLERATED_REGION_FAILURES", 0, 0, 100),
        ip_destination=_choice(env, "THREATFEED_IP_DESTINATION", ("ip_set", "entity_set")),
        allow_list=tuple(v.strip() for v in env.get("THREATFEED_ALLOW_LIST", "").split(",") if v.strip()),
        publish_allow_list=env.get("THREATFEED_PUBLISH_ALLOW_LIST", "").lower() == "true",
        max_entities_per_list=_int_in_range(
            env, "THREATFEED_MAX_ENTITIES_PER_LIST", DEFAULT_MAX_ENTITIES_PER_LIST, 1, 250_000
        ),
        isight_secret=env.get("THREATFEED_ISIGHT_SECRET", ""),
        isight_enabled=env.get("THREATFEED_ISIGHT_ENABLED", "").lower() == "true",
        warninglists=tuple(v.strip() for v in env.get("THREATFEED_WARNINGLISTS", "default").split(",") if v.strip()),
        domain_max_age_days=_int_in_range(env, "THREATFEED_DOMAIN_MAX_AGE_DAYS", DEFAULT_DOMAIN_MAX_AGE_DAYS, 1, 365),
        discover_own_addresses=env.get("THREATFEED_DISCOVER_OWN_ADDRESSES", "").lower() == "true",
        max_feed_bytes=_int_in_range(
            env, "THREATFEED_MAX_FEED_BYTES", DEFAULT_MAX_FEED_BYTES, 1024 * 1024, MAX_FEED_BYTES_LIMIT
        ),
        topic_arn=env.get("THREATFEED_TOPIC_ARN", ""),
        publish_role_arn=env.get("THREATFEED_PUBLISH_ROLE_ARN", ""),
    )


def load_guards(env: Mapping[str, str]) -> GuardSettings:
    """The guards' settings (the transform function's environment)."""
    d = GuardSettings()
    return GuardSettings(
        max_drop_percent=_int_in_range(env, "THREATFEED_MAX_DROP_PERCENT", d.max_drop_percent, 1, 100),
        max_growth_percent=_int_in_range(env, "THREATFEED_MAX_GROWTH_PERCENT", d.max_growth_percent, 1, 100_000),
        max_covered_addresses=_int_in_range(
            env, "THREATFEED_MAX_COVERED_ADDRESSES", d.max_covered_addresses, 1, 1 << 32
        ),
        baseline_runs=_int_in_range(env, "THREATFEED_BASELINE_RUNS", d.baseline_runs, 1, 20),
        flap_overlap_percent=_int_in_range(env, "THREATFEED_FLAP_OVERLAP_PERCENT", d.flap_overlap_percent, 0, 100),
        flap_runs=_int_in_range(env, "THREATFEED_FLAP_RUNS", d.flap_runs, 2, 20),
        hold_flapping=_choice(env, "THREATFEED_FLAP_ACTION", ("notify", "hold")) == "hold",
        max_benign_jump_percent=_int_in_range(
            env, "THREATFEED_MAX_BENIGN_JUMP_PERCENT", d.max_benign_jump_percent, 0, 100
        ),
    )


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str:
    value = env.get(name, "").strip() or allowed[0]
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} must be one of {', '.join(allowed)}; redeploy with a valid value")
    return value


def require(value: str, name: str) -> str:
    """Return ``value`` or fail naming the missing variable."""
    if not value:
        raise ConfigError(f"{name} is not set; deploy with template.yaml, which sets it")
    return value
