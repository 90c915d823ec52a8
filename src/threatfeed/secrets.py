"""Feed credentials from AWS Secrets Manager, through Powertools Parameters (cached for a few minutes in a
warm Lambda, so a Map of feeds sharing a secret reads it once).

A secret is a JSON object, e.g. ``{"public_key": "...", "private_key": "..."}`` for iSIGHT. Values never
appear in messages or logs: errors name the secret id and the problem only.
"""

from __future__ import annotations

from typing import Any

from threatfeed.aws import aws_errors, client, error_code
from threatfeed.errors import ConfigError

#: Seconds a secret stays cached in a warm Lambda (a rotated key is picked up within this time).
SECRET_MAX_AGE = 300

_provider: tuple[Any, Any] | None = None  # (the boto3 client it wraps, the SecretsProvider)


def _secrets_provider() -> Any:
    """A SecretsProvider on threatfeed's own cached client, rebuilt when the clients are reset (the
    embedded AWS resets them so that they see its endpoint)."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    global _provider
    current = client("secretsmanager")
    if _provider is None or _provider[0] is not current:
        _provider = (current, SecretsProvider(boto3_client=current))
    return _provider[1]


def reset_secret_cache() -> None:
    """Forget cached secret values (tests; after rotating a key in the embedded AWS)."""
    global _provider
    _provider = None


def get_secret_json(secret_id: str, *, max_age: int = SECRET_MAX_AGE, force_fetch: bool = False) -> dict[str, Any]:
    """The secret ``secret_id`` parsed as a JSON object (cached ``max_age`` seconds; ``force_fetch`` skips
    the cache).

    Raises :class:`ConfigError` when the secret does not exist, is empty or is not a JSON object;
    ``AwsThrottled``/``AwsUnavailable``/``AwsAccessDenied`` for the corresponding AWS failures.
    """
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError, TransformParameterError
    from botocore.exceptions import ClientError

    if not secret_id or not isinstance(secret_id, str):
        raise ConfigError("A feed names an empty secret; set 'secret' to a Secrets Manager secret name or ARN")
    what = f"Secrets Manager secret {secret_id}"
    try:
        value = _secrets_provider().get(secret_id, max_age=max_age, transform="json", force_fetch=force_fetch)
    except TransformParameterError:
        raise ConfigError(f'{what} is not valid JSON; store a JSON object such as {{"key": "value"}}') from None
    except GetParameterError as error:
        cause = error.__cause__ or error.__context__
        if isinstance(cause, ClientError):
            code = error_code(cause)
            if code in ("ResourceNotFoundException", "InvalidRequestException"):
                raise ConfigError(
                    f"{what} does not exist or has no current value ({code}); create it or fix the feed's "
                    "'secret' in the catalogue"
                ) from None
            try:
                with aws_errors(what):
                    raise cause
            except ClientError:
                raise ConfigError(f"{what} could not be read ({code}); check the secret and its KMS key") from None
        raise ConfigError(f"{what} could not be read ({type(cause or error).__name__})") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{what} must hold a JSON object, not a JSON {type(value).__name__}")
    if not value:
        raise ConfigError(f"{what} is an empty JSON object; store the feed's credentials in it")
    return {str(k): v for k, v in value.items()}
