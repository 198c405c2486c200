"""Logging: the lines that repeat for every certificate stay out of the log unless verbose."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from sectigo_operator.runner import configure_logging


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def objects() -> Iterator[tuple[logging.Logger, Collect]]:
    """Kopf's object logger with a collecting handler; the global logging state restored."""
    root, logger, httpx = (logging.getLogger(n) for n in ("", "kopf.objects", "httpx"))
    saved = (root.level, root.handlers[:], logger.filters[:], httpx.level)
    collect = Collect()
    logger.addHandler(collect)
    yield logger, collect
    logger.removeHandler(collect)
    root.level, root.handlers[:], logger.filters[:], _ = saved
    httpx.setLevel(saved[3])


@pytest.mark.parametrize("verbose", [False, True])
def test_routine_lines_only_when_verbose(
    objects: tuple[logging.Logger, Collect], verbose: bool
) -> None:
    logger, collect = objects
    configure_logging(verbose, "plain")
    routine = [
        "Handler 'certificate-create' succeeded.",
        "Creation is processed: 1 succeeded; 0 failed.",
        "Resuming is processed: 1 succeeded; 0 failed.",
    ]
    kept = [
        "Handler 'certificate-create' failed temporarily: SCM is down",
        "Creation is processed: 0 succeeded; 1 failed.",
        "Handler 'certificate-create' succeeded. (not Kopf's wording)",
    ]
    for line in routine + kept:
        logger.info(line)
    assert collect.messages == (routine + kept if verbose else kept)
    assert logging.getLogger("httpx").isEnabledFor(logging.INFO) == verbose
    assert logging.getLogger("httpx").isEnabledFor(logging.WARNING)
