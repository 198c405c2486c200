"""The operator's start-up pieces that can be checked without a cluster."""

from __future__ import annotations

import logging

import kopf
import pytest
from kopf._cogs.structs import references

from sectigo_operator.handlers import secret
from sectigo_operator.handlers.lifecycle import QuietRetries, tune
from sectigo_operator.models import GROUP, VERSION
from sectigo_operator.settings import LABEL_MANAGED_BY, MANAGED_BY, OperatorSettings


@pytest.mark.parametrize(
    ("level", "message", "expected"),
    [
        pytest.param(
            logging.ERROR,
            "Handler 'x' failed temporarily: pending",
            logging.INFO,
            id="routine wait downgraded",
        ),
        pytest.param(
            logging.ERROR,
            "Handler 'x' failed with an exception",
            logging.ERROR,
            id="real failure kept",
        ),
        pytest.param(
            logging.WARNING, "failed temporarily", logging.WARNING, id="other levels kept"
        ),
    ],
)
def test_quiet_retries(level: int, message: str, expected: int) -> None:
    record = logging.LogRecord("kopf.objects", level, __file__, 1, message, None, None)
    assert QuietRetries().filter(record) is True
    assert record.levelno == expected
    assert record.levelname == logging.getLevelName(expected)


def _resource(group: str, version: str, plural: str) -> references.Resource:
    return references.Resource(group=group, version=version, plural=plural, namespaced=True)


def test_only_managed_secrets_are_listed_and_watched() -> None:
    """Kopf's handler label filters are client-side: without a server-side selector it would
    list and watch every Secret of the watched namespaces (service-account tokens, TLS Secrets
    of other tools, their keys) and keep each listed body in memory until handled."""
    settings = kopf.OperatorSettings()
    tune(settings, OperatorSettings.from_env({}))
    secrets = _resource("", "v1", "secrets")
    assert settings.watching.label_selectors.collect(secrets) == [secret.SELECTOR]
    assert secret.SELECTOR.startswith(f"{LABEL_MANAGED_BY}={MANAGED_BY},")
    ours = _resource(GROUP, VERSION, "sectigocertificates")
    assert settings.watching.label_selectors.collect(ours) == []
    assert settings.watching.chunk_size == (OperatorSettings.from_env({}).list_chunk_size or None)
