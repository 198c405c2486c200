"""Collect semantics of Sectigo's own integrations (scm-api.md §5.3, §9, §10.4, §10.5).

``collect_once`` asks SCM once and answers :class:`Issued` or :class:`Pending`; an operator calls it
once per wake-up. ``collect_until`` loops like the Vault plugin / Pycert / Go-cert: every
``loop_period`` seconds until ``max_timeout``, then answers :class:`TimedOutStateSaved` (the order
id is kept by the caller; collect again later). Any other SCM error is raised. Both are coroutines;
the clock and the sleep are injectable so tests need no real waiting.

Pending codes are those of §5.3 "Operator guidance" (SSL) plus ``-1`` for S/MIME (Pycert's set).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from .errors import ScmError, ScmOrderFailedError, ScmPendingError, ScmTemporaryError

SSL_COLLECT_PENDING_CODES: Final = frozenset({0, -1400, -183, -109, -195, -140})
SMIME_COLLECT_PENDING_CODES: Final = SSL_COLLECT_PENDING_CODES | {-1}

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Issued:
    """The certificate, in the requested format (PEM text as bytes, or DER for ``bin``)."""

    material: bytes
    format: str | None

    @property
    def text(self) -> str:
        """The material as text (PEM formats)."""
        return self.material.decode("ascii", "replace")


@dataclass(frozen=True)
class Pending:
    """Not issued yet. ``status`` is the order's SCM status when it was cross-checked."""

    code: int | None
    description: str | None
    status: str | None = None

    @property
    def awaiting_approval(self) -> bool:
        """The order waits for an SCM administrator (SSL ``Requested``, S/MIME ``requested``)."""
        return self.status is not None and self.status.lower() == "requested"


@dataclass(frozen=True)
class TimedOutStateSaved:
    """``max_timeout`` passed while the order was still pending; collect again later."""

    code: int | None
    description: str | None
    status: str | None
    elapsed: float
    attempts: int


CollectResult = Issued | Pending


async def collect_once(
    fetch: Callable[[], Awaitable[bytes]],
    *,
    format: str | None,
    pending_codes: frozenset[int],
    status_of: Callable[[], Awaitable[str | None]] | None = None,
    failed_statuses: frozenset[str] = frozenset(),
) -> CollectResult:
    """One collect attempt: Issued, Pending, or raise the SCM error.

    When ``status_of`` is given, a pending answer is cross-checked against the order's status: a
    failed status (Declined, Rejected, Invalid...) raises :class:`ScmOrderFailedError`, otherwise
    the status is reported in :class:`Pending` (``Requested`` = awaiting approval). A temporary
    failure of the cross-check is ignored (the answer stays Pending without a status).
    """
    try:
        material = await fetch()
    except ScmError as err:
        if not _is_pending(err, pending_codes):
            raise
        status: str | None = None
        if status_of is not None:
            try:
                status = await status_of()
            except ScmTemporaryError:
                status = None
        if status is not None and status in failed_statuses:
            raise ScmOrderFailedError(
                status, err.description, code=err.code, http_status=err.http_status
            ) from err
        return Pending(code=err.code, description=err.description, status=status)
    return Issued(material=material, format=format)


async def collect_until(
    once: Callable[[], Awaitable[CollectResult]],
    *,
    loop_period: float,
    max_timeout: float,
    clock: Clock = time.monotonic,
    sleep: Sleep = asyncio.sleep,
) -> Issued | TimedOutStateSaved:
    """Call ``once`` every ``loop_period`` s until issued or ``max_timeout`` s have passed.

    The last attempt happens at the deadline (the final sleep is shortened to reach it).
    """
    if loop_period <= 0 or max_timeout < 0:
        raise ValueError("loop_period must be > 0 and max_timeout >= 0")
    start = clock()
    attempts = 0
    while True:
        attempts += 1
        result = await once()
        if isinstance(result, Issued):
            return result
        elapsed = clock() - start
        if elapsed >= max_timeout:
            return TimedOutStateSaved(
                code=result.code,
                description=result.description,
                status=result.status,
                elapsed=elapsed,
                attempts=attempts,
            )
        await sleep(min(loop_period, max_timeout - elapsed))


def _is_pending(err: ScmError, pending_codes: frozenset[int]) -> bool:
    if isinstance(err, ScmPendingError):
        return True  # SCM's "not issued yet" family, or an empty 2xx answer
    return err.code is not None and err.code in pending_codes
