"""The operator's start-up pieces that can be checked without a cluster."""

from __future__ import annotations

import logging

import pytest

from sectigo_operator.handlers.lifecycle import QuietRetries


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
