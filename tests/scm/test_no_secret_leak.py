"""The password appears nowhere: logs at DEBUG (client, httpx, httpcore), errors, reprs, tracebacks.

Runs successful and failing calls of every kind against the sandbox over real HTTP (so httpx's and
httpcore's own debug logging is exercised, unlike with a mock transport), then searches everything
captured for the right and a wrong password.
"""

from __future__ import annotations

import logging
import traceback

import pytest

from sectigo_operator.sandbox.config import SandboxConfig
from sectigo_operator.sandbox.testing import SandboxHandle
from sectigo_operator.scm import ScmClient, ScmError, SslEnrollRequest

from .conftest import connection_for, make_csr

PASSWORD = "Leak-Canary-7f3a9c"
WRONG_PASSWORD = "Wrong-Canary-2b8d41"


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(password=PASSWORD)


def texts_of(error: BaseException) -> list[str]:
    return [str(error), repr(error), "".join(traceback.format_exception(error))]


async def test_password_never_leaks(
    sandbox_scm: SandboxHandle, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox = sandbox_scm
    for name in ("httpx", "httpcore", "sectigo_operator.scm", ""):
        caplog.set_level(logging.DEBUG, logger=name)
    seen: list[str] = []
    errors: list[ScmError] = []

    async def expect_error(call: object) -> None:
        try:
            await call  # type: ignore[misc]
        except ScmError as exc:
            errors.append(exc)
            seen.extend(texts_of(exc))
        else:
            raise AssertionError("the call should have failed")

    conn = connection_for(sandbox, read_timeout=0.2)
    async with ScmClient(conn) as scm:
        seen += [repr(scm), str(scm), repr(conn), str(conn), str(conn.model_dump())]
        # Successes.
        await scm.check_credentials()
        order = await scm.ssl.enroll(
            SslEnrollRequest(
                org_id=sandbox.org_id,
                csr=make_csr("leak.example.com"),
                cert_type=51,
                term=365,
                comments="k8s:leak:1",
            )
        )
        await scm.ssl.collect(order.ssl_id, "x509CO")
        await scm.ssl.details(order.ssl_id)
        # Failures of every kind.
        sandbox.inject_fault("error", "/api/ssl/v1/types", count=None, status=500)
        await expect_error(scm.ssl.types())
        sandbox.clear_faults()
        sandbox.inject_fault("rate_limit", "/api/ssl/v1/customFields", count=None, retry_after=60)
        await expect_error(scm.ssl.custom_fields())
        sandbox.clear_faults()
        sandbox.inject_fault("response_lost", "/api/ssl/v1/revoke/*")
        await expect_error(scm.ssl.revoke(order.ssl_id, reason_code=0, reason="x"))
        sandbox.inject_fault("reset", "/api/ssl/v1/*", count=None)
        await expect_error(scm.ssl.details(order.ssl_id))
        sandbox.clear_faults()
        sandbox.inject_fault("latency", "/api/ssl/v1/*", count=None, latency_seconds=0.5)
        await expect_error(scm.ssl.details(order.ssl_id))
        sandbox.clear_faults()
        await expect_error(scm.ssl.details(99999999))
        await expect_error(scm.ssl.revoke(order.ssl_id, reason_code=0, reason="x"))

    async with ScmClient(connection_for(sandbox, password=WRONG_PASSWORD)) as bad:
        await expect_error(bad.check_credentials())

    kinds = {type(e).__name__ for e in errors}
    assert kinds >= {
        "ScmRetryableError",
        "ScmResponseLost",
        "ScmTransportError",
        "ScmNotFoundError",
        "ScmAlreadyRevokedError",
        "ScmAuthenticationError",
    }
    loggers = {record.name.split(".")[0] for record in caplog.records}
    assert {"httpx", "httpcore", "sectigo_operator"} <= loggers, loggers
    seen.append(caplog.text)
    seen.extend(record.getMessage() for record in caplog.records)
    seen.extend(repr(record.__dict__) for record in caplog.records)
    everything = "\n".join(seen)
    assert PASSWORD not in everything
    assert WRONG_PASSWORD not in everything
    # The check can fail: the canary really was sent on the wire during this test.
    assert sandbox.password == PASSWORD
