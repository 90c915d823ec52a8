"""The existing resources the authorization rules need, read from moto's backends (and the GuardDuty list
backend of ``embedded_aws.guardduty``) as they are at the moment of the request.

Every lookup is read-only and answers None ("unknown") rather than raising when moto lacks the resource: the
request then goes on to the service, which answers its own NotFound as AWS would.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from embedded_aws.iam.requests import KmsKey, ResourceState, SecretInfo

__all__ = ["MotoState"]

_AWS_MANAGED_SECRETS_KEY = "alias/aws/secretsmanager"


class MotoState(ResourceState):
    """:class:`~embedded_aws.iam.requests.ResourceState` over moto 5.2.5's in-process backends."""

    # -- S3 --

    @staticmethod
    def _bucket(account: str, bucket: str) -> Any:
        from moto.s3.models import s3_backends

        return s3_backends[account]["aws"].buckets.get(bucket)

    def s3_bucket_policy(self, account: str, bucket: str) -> Mapping[str, Any] | str | None:
        found = self._bucket(account, bucket)
        if found is None or not found.policy:
            return None
        policy = found.policy
        return json.loads(policy.decode() if isinstance(policy, bytes) else policy)

    def _s3_key(self, account: str, bucket: str, key: str, version_id: str | None) -> Any:
        """moto's current version of ``key`` (or the given version), without moto's read side effects."""
        found = self._bucket(account, bucket)
        if found is None:
            return None
        if version_id is None:
            return found.keys.get(key)
        for candidate in found.keys.getlist(key, default=[]):
            if str(candidate.version_id) == str(version_id):
                return candidate
        return None

    def s3_object_exists(self, account: str, bucket: str, key: str, version_id: str | None) -> bool | None:
        from moto.s3.models import FakeDeleteMarker, FakeKey

        if self._bucket(account, bucket) is None:
            return None  # no such bucket: S3 answers NoSuchBucket, not this rule's business
        current = self._s3_key(account, bucket, key, version_id)
        if isinstance(current, FakeKey):
            return True
        # A version that is a delete marker exists (S3 answers 405 for it); a current delete marker does not.
        return version_id is not None and isinstance(current, FakeDeleteMarker)

    def s3_object_tags(self, account: str, bucket: str, key: str, version_id: str | None) -> Mapping[str, str] | None:
        from moto.s3.models import FakeKey, s3_backends

        current = self._s3_key(account, bucket, key, version_id)
        if not isinstance(current, FakeKey):
            return None
        try:
            return dict(s3_backends[account]["aws"].tagger.get_tag_dict_for_resource(current.arn))
        except Exception:  # moto's tagging internals: treat as untagged rather than break the request
            return None

    # -- GuardDuty --

    def guardduty_tags(self, account: str, region: str, arn: str) -> Mapping[str, str] | None:
        from moto.guardduty.models import guardduty_backends

        from embedded_aws.guardduty.models import guardduty_lists_backends

        resource = arn.split(":", 5)[-1]  # detector/<id>[/<segment>/<set id>]
        parts = resource.split("/")
        arn_region = arn.split(":")[3] if arn.count(":") >= 5 else region
        if len(parts) == 4 and parts[0] == "detector":
            found = guardduty_lists_backends[account][arn_region].sets.get(parts[3])
            return dict(found.tags) if found is not None else None
        if len(parts) == 2 and parts[0] == "detector":
            detector = guardduty_backends[account][arn_region].detectors.get(parts[1])
            return dict(detector.tags or {}) if detector is not None else None
        return None

    def guardduty_set_location(self, account: str, region: str, set_id: str) -> str | None:
        from embedded_aws.guardduty.models import guardduty_lists_backends

        found = guardduty_lists_backends[account][region].sets.get(set_id)
        return found.location if found is not None else None

    # -- Secrets Manager --

    def secret(self, account: str, region: str, secret_id: str) -> SecretInfo | None:
        from moto.secretsmanager.models import secretsmanager_backends

        try:
            found = secretsmanager_backends[account][region].secrets.get(secret_id)
        except Exception:  # an identifier moto cannot even parse: the service will reject it
            return None
        if found is None:
            return None
        tags = {t["Key"]: t["Value"] for t in (getattr(found, "tags", None) or [])}
        key = getattr(found, "kms_key_id", None)
        return SecretInfo(found.arn, tags, None if key in (None, "", _AWS_MANAGED_SECRETS_KEY) else key)

    # -- SNS and KMS --

    def sns_topic_kms_key(self, account: str, region: str, topic_arn: str) -> str | None:
        from moto.sns.models import sns_backends

        topic = sns_backends[account][region].topics.get(topic_arn)
        return (topic.kms_master_key_id or None) if topic is not None else None

    def kms_key(self, account: str, region: str, key_id: str) -> KmsKey | None:
        from moto.kms.models import kms_backends

        backend = kms_backends[account][region]
        raw = backend.get_key_id(backend.get_alias_name(key_id))
        if raw.startswith("alias/"):
            raw = next((k.id for k in backend.keys.values() if raw in k.aliases), raw)
        found = backend.keys.get(raw)
        if found is None:
            return None
        aws_managed = bool(found.aliases) and all(alias.startswith("alias/aws/") for alias in found.aliases)
        return KmsKey(found.arn, found.policy, aws_managed)

    def kms_key_of_ciphertext(self, account: str, region: str, blob: bytes) -> KmsKey | None:
        from moto.kms.utils import KEY_ID_LEN  # moto's blob starts with the key id (moto's own format)

        try:
            key_id = bytes(blob[:KEY_ID_LEN]).decode("utf-8")
        except (UnicodeDecodeError, TypeError):
            return None
        return self.kms_key(account, region, key_id)
