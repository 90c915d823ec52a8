"""The errors a stage raises, by class name.

A Lambda error reaches Step Functions as its exception class name, so these names are the contract with the
state machine's ``Retry`` and ``Catch`` clauses: the ``*Unavailable``/``*Throttled`` ones are retried with
backoff, the others fail the run at once (retrying a 401 or a malformed body only hides the problem).
Every message names the feed, Region or list concerned and says what to do.
"""

from __future__ import annotations


class ThreatfeedError(Exception):
    """Base of every error threatfeed raises on purpose."""


class ConfigError(ThreatfeedError):
    """The deployment or the execution input is wrong; fix the configuration, retrying will not help."""


class FeedUnavailable(ThreatfeedError):
    """A feed could not be reached or answered 429/5xx: worth retrying later."""


class FeedRejected(ThreatfeedError):
    """A feed answered, but not with usable data (4xx, wrong content, over a size cap): not retried."""


class AwsThrottled(ThreatfeedError):
    """An AWS API throttled the call: retried with backoff and jitter."""


class AwsUnavailable(ThreatfeedError):
    """An AWS API answered 5xx or timed out: retried with backoff and jitter."""


class AwsAccessDenied(ThreatfeedError):
    """An AWS API refused the call for permissions: fix the role or the resource policy."""


class PublishInProgress(ThreatfeedError):
    """Another run is publishing to the same Region: retried once it has finished."""


class ListRejected(ThreatfeedError):
    """GuardDuty refused a list (validation, quota, ERROR state): the previous list stays in use."""


#: Error names the state machine retries; kept here so the ASL lint can check the two agree.
RETRYABLE_ERRORS = ("FeedUnavailable", "AwsThrottled", "AwsUnavailable", "PublishInProgress")
