"""GuardDuty custom lists for the embedded AWS (moto 5.2.5's GuardDuty has detectors and filters only).

Call :func:`install` once, before the first GuardDuty request (for a ``ThreadedMotoServer``: before its first
GuardDuty request, since moto builds a service's routes then). It adds this package's URL paths to moto's
``moto.guardduty.urls.url_paths``, which both decorator mode (``mock_aws``; the botocore stubber reads the paths
on every request) and server mode route by. The lists live in :data:`models.guardduty_lists_backends`, a moto
``BackendDict``, so moto's reset clears them too.

Settings (see :mod:`embedded_aws.guardduty.models`): :func:`configure_activation`, :func:`activation`,
:func:`reset_activation_settings`, :func:`backend` (``.hold(set_id, reads)``), and the limit constants.
"""

from __future__ import annotations

import threading

from moto.core import DEFAULT_ACCOUNT_ID

from .models import (
    GuardDutyListsBackend,
    activation,
    activation_settings,
    configure_activation,
    forced_error,
    guardduty_lists_backends,
    reset_activation_settings,
)

__all__ = [
    "GuardDutyListsBackend",
    "activation",
    "activation_settings",
    "backend",
    "configure_activation",
    "forced_error",
    "guardduty_lists_backends",
    "install",
    "installed",
    "reset_activation_settings",
]

_lock = threading.Lock()


def install() -> None:
    """Route GuardDuty's list and tag operations to this backend, in decorator and server mode. Idempotent."""
    from moto.guardduty import urls as moto_urls

    from . import urls

    with _lock:
        for path, handler in urls.url_paths.items():
            moto_urls.url_paths.setdefault(path, handler)


def installed() -> bool:
    from moto.guardduty import urls as moto_urls

    from . import urls

    return all(path in moto_urls.url_paths for path in urls.url_paths)


def backend(region: str = "us-east-1", account_id: str = DEFAULT_ACCOUNT_ID) -> GuardDutyListsBackend:
    """The lists backend of one account and Region (for tests: ``backend("eu-west-1").hold(set_id, 3)``)."""
    return guardduty_lists_backends[account_id][region]
