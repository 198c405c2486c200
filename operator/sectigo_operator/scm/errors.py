"""The SCM client's exceptions: one hierarchy, built in one place from SCM's answers.

Every failure of an SCM call raises a subclass of :class:`ScmError`. The exception always keeps
SCM's ``code`` and ``description`` (``None`` when SCM did not send them), the HTTP status, and
``retry_after`` (seconds) when the server asked for a pause. ``str()`` shows them; credentials are
never part of an exception (the client redacts them from any text it puts here).

Handlers translate the two top branches once, at the boundary (style.md, habit 5)::

    ScmError                         code, description, http_status, retry_after
    ├── ScmTemporaryError            "try again later"  -> kopf.TemporaryError(delay=...)
    │   ├── ScmPendingError          not issued yet: 0, -1400, -183, -109, -103, -618, -1113,
    │   │                            or an empty 2xx collect answer
    │   ├── ScmRetryableError        SCM or network trouble: HTTP 5xx, 408, 429 (+Retry-After),
    │   │   │                        codes -1, -2, -65, -195, -140 (on a POST: only with a code)
    │   │   ├── ScmTransportError    no HTTP answer: connect errors, timeouts, dropped connections
    │   │   └── ScmMalformedResponse a 2xx answer of an idempotent call that cannot be parsed
    │   └── ScmResponseLost          a non-idempotent call (enroll, renew, replace, revoke, ...)
    │                                may have reached SCM but its answer was lost (timeout, drop,
    │                                unreadable 2xx, 408/429/5xx without SCM code): do NOT re-post,
    │                                find the order by its marker (ScmClient.find_*_by_marker)
    └── ScmPermanentError            "someone must change something" -> Stalled + PermanentError
        ├── ScmAuthenticationError   HTTP 401/403, codes -16, -970, -3, -25, -37, -226, -410, -429
        ├── ScmInvalidRequestError   any other 4xx: the request itself is wrong (CSR, term,
        │                            profile, custom fields, org, format, ...)
        ├── ScmNotFoundError         HTTP 404, codes -5101, -124, -1104, -1108 (no certificates
        │                            for an e-mail: revoke-all callers may treat it as done)
        └── ScmConflictError         the order's state forbids it: -102, -105, -110, -123, -130,
            │                        -180, -188, -192, -1112, -1140, -1148
            ├── ScmAlreadyRevokedError  -159 (revoke callers usually treat it as done)
            └── ScmOrderFailedError     the order ended Declined / Rejected / Invalid (status kept)

:func:`error_from_response` is the one function that picks the class from an HTTP status and body.
Precedence: 401/403 -> authentication; 408/429/5xx -> retryable; then the SCM code; then 404 ->
not found; then any other status -> invalid request.

Non-idempotent calls (POST: enroll, renew, replace, revoke, approve, decline) are never re-posted
by the client once the request may have left: only a connection that was never established is
retried. Decision (2026-11-27) on 429 and 503: SCM documents neither (scm-api.md §7.3), so neither
guarantees that the request was not processed (a proxy or an overloaded front may answer after
passing the request on). The client therefore treats an HTTP 408, 429 or 5xx *without* an SCM
error body on a POST like a gateway 502/504: :class:`ScmResponseLost` (with ``retry_after`` when
the server sent one), and the caller looks the order up by its marker before doing anything else.
The same statuses *with* an SCM ``code`` are SCM's own refusal and are raised as
:class:`ScmRetryableError` (not retried by the client; the caller backs off, honouring
``retry_after``). GET and HEAD calls are retried on every :class:`ScmRetryableError`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final

PENDING_CODES: Final = frozenset({0, -1400, -183, -109, -103, -618, -1113})
RETRYABLE_CODES: Final = frozenset({-1, -2, -65, -195, -140})
AUTHENTICATION_CODES: Final = frozenset({-16, -970, -3, -25, -37, -226, -410, -429})
NOT_FOUND_CODES: Final = frozenset({-5101, -124, -1104, -1108})
CONFLICT_CODES: Final = frozenset(
    {-102, -105, -110, -123, -130, -180, -188, -192, -1112, -1140, -1148}
)
ALREADY_REVOKED_CODE: Final = -159

_MAX_DESCRIPTION = 300


class ScmError(Exception):
    """Base of every SCM client error; keeps SCM's code and description."""

    def __init__(
        self,
        description: str | None = None,
        *,
        code: int | None = None,
        http_status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.code = code
        self.description = description
        self.http_status = http_status
        self.retry_after = retry_after
        super().__init__(self._message())

    def _message(self) -> str:
        parts = [f"SCM code {self.code}" if self.code is not None else "SCM error"]
        if self.description:
            parts.append(repr(self.description))
        if self.http_status is not None:
            parts.append(f"(HTTP {self.http_status})")
        if self.retry_after is not None:
            parts.append(f"retry after {self.retry_after:g}s")
        return " ".join(parts)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, description={self.description!r}, "
            f"http_status={self.http_status!r}, retry_after={self.retry_after!r})"
        )


class ScmTemporaryError(ScmError):
    """The same call may succeed later; nobody needs to change anything."""


class ScmPendingError(ScmTemporaryError):
    """The certificate is not issued yet (collect's "being processed" family of answers)."""


class ScmRetryableError(ScmTemporaryError):
    """SCM or the network had trouble; retry with backoff (honour ``retry_after``)."""


class ScmTransportError(ScmRetryableError):
    """No HTTP answer arrived (connection refused or reset, timeout, protocol error)."""


class ScmMalformedResponse(ScmRetryableError):
    """A success answer whose body could not be read (truncated, not JSON, wrong shape)."""


class ScmResponseLost(ScmTemporaryError):
    """A non-idempotent call may have been executed by SCM, but its answer was lost.

    Never re-post it blindly: look the result up first (for an enroll, by its marker).
    """

    def __init__(
        self,
        description: str,
        *,
        operation: str,
        http_status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.operation = operation
        super().__init__(
            f"{operation}: {description}", http_status=http_status, retry_after=retry_after
        )


class ScmPermanentError(ScmError):
    """Retrying the same call cannot help: the request, the config or the order must change."""


class ScmAuthenticationError(ScmPermanentError):
    """Credentials, customer URI or permissions are wrong."""


class ScmInvalidRequestError(ScmPermanentError):
    """SCM rejected the request itself (CSR, term, profile, custom fields, org, format...)."""


class ScmNotFoundError(ScmPermanentError):
    """The certificate, order or record does not exist (for this customer)."""


class ScmConflictError(ScmPermanentError):
    """The order's current state forbids the operation (revoked, not issued, declined...)."""


class ScmAlreadyRevokedError(ScmConflictError):
    """SCM says the certificate is already revoked (-159)."""


class ScmOrderFailedError(ScmConflictError):
    """The order ended in a failed state (Declined, Rejected, Invalid); ``status`` says which."""

    def __init__(
        self,
        status: str,
        description: str | None = None,
        *,
        code: int | None = None,
        http_status: int | None = None,
    ) -> None:
        self.status = status
        text = f"order is {status}" + (f": {description}" if description else "")
        super().__init__(text, code=code, http_status=http_status)


def parse_error_body(body: bytes | str | Mapping[str, Any] | None) -> tuple[int | None, str | None]:
    """Return SCM's ``(code, description)`` from an error body; tolerant of anything. The
    description is whole: clip it only once it is scrubbed (a credential cut at the clip no
    longer reads as itself)."""
    data: Any = body
    if isinstance(body, bytes | str):
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        try:
            data = json.loads(text)
        except ValueError:
            stripped = text.strip()
            return None, (stripped or None)
    if not isinstance(data, Mapping):
        return None, None
    raw_code = data.get("code")
    code: int | None = None
    if isinstance(raw_code, int) and not isinstance(raw_code, bool):
        code = raw_code
    elif isinstance(raw_code, str):
        try:
            code = int(raw_code.strip())
        except ValueError:
            code = None
    raw_description = data.get("description")
    description = str(raw_description) if raw_description is not None else None
    return code, description


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP-date); ``None`` if unusable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:  # "inf", "nan" and absurd values are no usable wish
        return max(0.0, seconds) if math.isfinite(seconds) and seconds < 1e9 else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def error_from_response(
    http_status: int,
    body: bytes | str | Mapping[str, Any] | None,
    *,
    retry_after: float | None = None,
    scrub: Callable[[str | None], str | None] = lambda text: text,
) -> ScmError:
    """Build the right :class:`ScmError` subclass from an HTTP status and SCM's error body;
    ``scrub`` cleans the description once decoded (an echo of a credential in JSON escapes
    reads as the credential itself only then), then clips it to ``_MAX_DESCRIPTION``: in that
    order, or a credential cut at the clip would keep its first part."""
    code, description = parse_error_body(body)
    cls = classify(http_status, code)
    scrubbed = scrub(description)
    clipped = _clip(scrubbed) if scrubbed is not None else None
    return cls(clipped, code=code, http_status=http_status, retry_after=retry_after)


def classify(http_status: int | None, code: int | None) -> type[ScmError]:
    """The exception class for an HTTP status and an SCM code (see the module docstring)."""
    if http_status in (401, 403):
        return ScmAuthenticationError
    if http_status is not None and (http_status in (408, 429) or http_status >= 500):
        return ScmRetryableError
    if code is not None:
        if code in PENDING_CODES:
            return ScmPendingError
        if code in RETRYABLE_CODES:
            return ScmRetryableError
        if code in AUTHENTICATION_CODES:
            return ScmAuthenticationError
        if code in NOT_FOUND_CODES:
            return ScmNotFoundError
        if code == ALREADY_REVOKED_CODE:
            return ScmAlreadyRevokedError
        if code in CONFLICT_CODES:
            return ScmConflictError
    if http_status == 404:
        return ScmNotFoundError
    return ScmInvalidRequestError


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_DESCRIPTION else text[: _MAX_DESCRIPTION - 3] + "..."
