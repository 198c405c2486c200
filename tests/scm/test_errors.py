"""The error hierarchy: one factory maps (HTTP status, SCM body) to the right class."""

from __future__ import annotations

import json

import pytest

from sectigo_operator.scm import errors as e


def body(code: int, description: str = "text") -> bytes:
    return json.dumps({"code": code, "description": description}).encode()


@pytest.mark.parametrize(
    ("status", "payload", "cls"),
    [
        pytest.param(400, body(0, "Being processed by Sectigo"), e.ScmPendingError, id="pending 0"),
        pytest.param(400, body(-1400), e.ScmPendingError, id="pending -1400"),
        pytest.param(400, body(-183), e.ScmPendingError, id="not collectable -183"),
        pytest.param(400, body(-109), e.ScmPendingError, id="not available -109"),
        pytest.param(400, body(-195), e.ScmRetryableError, id="CA unavailable -195"),
        pytest.param(400, body(-140), e.ScmRetryableError, id="CSR decoding down -140"),
        pytest.param(400, body(-2), e.ScmRetryableError, id="internal -2"),
        pytest.param(400, body(-65), e.ScmRetryableError, id="internal -65"),
        pytest.param(400, body(-1), e.ScmRetryableError, id="unknown -1"),
        pytest.param(500, b"oops", e.ScmRetryableError, id="500 text"),
        pytest.param(502, b"", e.ScmRetryableError, id="502 empty"),
        pytest.param(503, body(-138), e.ScmRetryableError, id="503 wins over a code"),
        pytest.param(429, b"", e.ScmRetryableError, id="429"),
        pytest.param(408, b"", e.ScmRetryableError, id="408"),
        pytest.param(401, body(-16, "Unknown user"), e.ScmAuthenticationError, id="401 -16"),
        pytest.param(401, b"", e.ScmAuthenticationError, id="401 empty body"),
        pytest.param(403, body(-138), e.ScmAuthenticationError, id="403 wins over a code"),
        pytest.param(400, body(-970), e.ScmAuthenticationError, id="bad login -970"),
        pytest.param(400, body(-3), e.ScmAuthenticationError, id="not authorized -3"),
        pytest.param(400, body(-25), e.ScmAuthenticationError, id="not authorized -25"),
        pytest.param(400, body(-37), e.ScmAuthenticationError, id="access denied -37"),
        pytest.param(400, body(-410), e.ScmAuthenticationError, id="customer unknown -410"),
        pytest.param(400, body(-226), e.ScmAuthenticationError, id="org privileges -226"),
        pytest.param(404, body(-5101), e.ScmNotFoundError, id="404 -5101"),
        pytest.param(404, b"", e.ScmNotFoundError, id="404 empty"),
        pytest.param(400, body(-124), e.ScmNotFoundError, id="wrong ssl id -124"),
        pytest.param(400, body(-1104), e.ScmNotFoundError, id="invalid order -1104"),
        pytest.param(404, body(-1108), e.ScmNotFoundError, id="no certificates for e-mail"),
        pytest.param(400, body(-110), e.ScmConflictError, id="revoked -110"),
        pytest.param(400, body(-102), e.ScmConflictError, id="only issued -102"),
        pytest.param(400, body(-1112), e.ScmConflictError, id="cannot approve -1112"),
        pytest.param(400, body(-1148), e.ScmConflictError, id="replace forbidden -1148"),
        pytest.param(400, body(-159), e.ScmAlreadyRevokedError, id="already revoked -159"),
        pytest.param(400, body(-138, "Invalid CSR."), e.ScmInvalidRequestError, id="csr -138"),
        pytest.param(400, body(-36), e.ScmInvalidRequestError, id="term -36"),
        pytest.param(400, body(-39), e.ScmInvalidRequestError, id="profile -39"),
        pytest.param(400, body(-62), e.ScmInvalidRequestError, id="custom field -62"),
        pytest.param(400, body(-126), e.ScmInvalidRequestError, id="format -126"),
        pytest.param(400, b"not json", e.ScmInvalidRequestError, id="400 text"),
        pytest.param(405, b"", e.ScmInvalidRequestError, id="405"),
    ],
)
def test_error_class(status: int, payload: bytes, cls: type[e.ScmError]) -> None:
    error = e.error_from_response(status, payload)
    assert type(error) is cls
    assert error.http_status == status


def test_code_and_description_are_kept_and_shown() -> None:
    error = e.error_from_response(400, body(-36, "The validity period (term) is invalid"))
    assert error.code == -36
    assert error.description == "The validity period (term) is invalid"
    assert "-36" in str(error) and "validity period" in str(error) and "400" in str(error)
    assert "-36" in repr(error)


def test_string_code_and_extra_members_are_tolerated() -> None:
    error = e.error_from_response(
        404, {"code": "-5101", "description": "Certificate not found. 7", "details": "x"}
    )
    assert isinstance(error, e.ScmNotFoundError)
    assert error.code == -5101


def test_long_text_body_is_clipped() -> None:
    error = e.error_from_response(500, b"x" * 10_000)
    assert error.code is None
    assert error.description is not None and len(error.description) <= 300


def test_retry_after_is_kept() -> None:
    error = e.error_from_response(429, b"", retry_after=7)
    assert error.retry_after == 7
    assert "retry after 7s" in str(error)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("5", 5.0),
        (" 2.5 ", 2.5),
        ("-3", 0.0),
        ("", None),
        (None, None),
        ("soon", None),
        ("inf", None),
        ("nan", None),
        ("1e15", None),
    ],
)
def test_parse_retry_after_seconds(header: str | None, expected: float | None) -> None:
    assert e.parse_retry_after(header) == expected


def test_parse_retry_after_http_date() -> None:
    from datetime import UTC, datetime, timedelta
    from email.utils import format_datetime

    later = datetime.now(UTC) + timedelta(seconds=120)
    seconds = e.parse_retry_after(format_datetime(later, usegmt=True))
    assert seconds is not None and 100 < seconds <= 120


def test_top_branches_split_temporary_from_permanent() -> None:
    temporary: list[type[Exception]] = [
        e.ScmPendingError,
        e.ScmRetryableError,
        e.ScmTransportError,
        e.ScmResponseLost,
    ]
    permanent: list[type[Exception]] = [
        e.ScmAuthenticationError,
        e.ScmInvalidRequestError,
        e.ScmNotFoundError,
    ]
    permanent += [e.ScmConflictError, e.ScmAlreadyRevokedError, e.ScmOrderFailedError]
    assert all(issubclass(c, e.ScmTemporaryError) for c in temporary)
    assert all(issubclass(c, e.ScmPermanentError) for c in permanent)
    # A lost answer must not look like an ordinary retryable error (no blind re-post).
    assert not issubclass(e.ScmResponseLost, e.ScmRetryableError)


def test_order_failed_keeps_status() -> None:
    error = e.ScmOrderFailedError("Declined", "not allowed", code=-183, http_status=400)
    assert error.status == "Declined"
    assert "Declined" in str(error) and "not allowed" in str(error)
