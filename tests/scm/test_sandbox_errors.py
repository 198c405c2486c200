"""Every error class and the retry rules against the sandbox SCM, with its injected faults."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from sectigo_operator.sandbox.testing import SandboxHandle
from sectigo_operator.scm import (
    Pending,
    RetryPolicy,
    ScmAuthenticationError,
    ScmClient,
    ScmConnection,
    ScmPendingError,
    ScmResponseLost,
    ScmRetryableError,
    ScmTransportError,
    SmimeEnrollRequest,
    SslEnrollRequest,
)

from .conftest import connection_for, make_csr

ENROLL = "/api/ssl/v1/enroll"


class Sleeps:
    """Records the client's backoff sleeps instead of sleeping."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def scm_fake_sleep(sandbox: SandboxHandle, sleeps: Sleeps) -> AsyncIterator[ScmClient]:
    async with ScmClient(connection_for(sandbox), sleep=sleeps, rand=lambda: 0.0) as client:
        yield client


def request(sandbox: SandboxHandle, cn: str, marker: str) -> SslEnrollRequest:
    return SslEnrollRequest(
        org_id=sandbox.org_id, csr=make_csr(cn), cert_type=51, term=365, comments=marker
    )


def endpoint_calls(sandbox: SandboxHandle, key: str) -> int:
    return int(sandbox.counters()["callsByEndpoint"].get(key, 0))


async def test_wrong_password_is_authentication_error(sandbox: SandboxHandle) -> None:
    async with ScmClient(connection_for(sandbox, password="wrong-password")) as scm:
        with pytest.raises(ScmAuthenticationError) as info:
            await scm.check_credentials()
    assert (info.value.http_status, info.value.code) == (401, -16)
    assert info.value.description == "Unknown user"


async def test_wrong_customer_uri_is_authentication_error(sandbox: SandboxHandle) -> None:
    async with ScmClient(connection_for(sandbox, customer_uri="someone-else")) as scm:
        with pytest.raises(ScmAuthenticationError):
            await scm.ssl.types()


async def test_get_5xx_is_retried_then_succeeds(
    scm_fake_sleep: ScmClient, sandbox: SandboxHandle, sleeps: Sleeps
) -> None:
    sandbox.inject_fault("error", "/api/ssl/v1/types", count=2, status=500, code=-2)
    assert await scm_fake_sleep.ssl.types()
    assert endpoint_calls(sandbox, "GET /api/ssl/v1/types") == 3
    assert sleeps.calls == [0.01, 0.02]


async def test_persistent_5xx_raises_retryable_with_code(
    scm_fake_sleep: ScmClient, sandbox: SandboxHandle
) -> None:
    sandbox.inject_fault("error", "/api/ssl/v1/types", count=None, status=503, code=-2)
    with pytest.raises(ScmRetryableError) as info:
        await scm_fake_sleep.ssl.types()
    assert (info.value.http_status, info.value.code) == (503, -2)
    assert endpoint_calls(sandbox, "GET /api/ssl/v1/types") == 3


async def test_429_retry_after_is_honoured_on_get(
    scm_fake_sleep: ScmClient, sandbox: SandboxHandle, sleeps: Sleeps
) -> None:
    sandbox.inject_fault("rate_limit", "/api/ssl/v1/types", retry_after=2)
    assert await scm_fake_sleep.ssl.types()
    assert sleeps.calls == [2.0]
    assert endpoint_calls(sandbox, "GET /api/ssl/v1/types") == 2


async def test_enroll_429_is_not_reposted(
    scm_fake_sleep: ScmClient, sandbox: SandboxHandle, sleeps: Sleeps
) -> None:
    sandbox.inject_fault("rate_limit", ENROLL, retry_after=2)
    with pytest.raises(ScmRetryableError) as info:
        await scm_fake_sleep.ssl.enroll(request(sandbox, "rl.example.com", "k8s:rl:1"))
    assert (info.value.http_status, info.value.retry_after) == (429, 2.0)
    assert sleeps.calls == []
    assert endpoint_calls(sandbox, f"POST {ENROLL}") == 1


async def test_enroll_503_is_not_reposted(
    scm_fake_sleep: ScmClient, sandbox: SandboxHandle, sleeps: Sleeps
) -> None:
    sandbox.inject_fault("error", ENROLL, count=None, status=503, code=-2)
    with pytest.raises(ScmRetryableError) as info:
        await scm_fake_sleep.ssl.enroll(request(sandbox, "e503.example.com", "k8s:e503:1"))
    assert (info.value.http_status, info.value.code) == (503, -2)
    assert sleeps.calls == []
    assert endpoint_calls(sandbox, f"POST {ENROLL}") == 1


async def test_enroll_500_is_not_reposted(
    scm_fake_sleep: ScmClient, sandbox: SandboxHandle
) -> None:
    sandbox.inject_fault("error", ENROLL, status=500, code=-2)
    with pytest.raises(ScmRetryableError) as info:
        await scm_fake_sleep.ssl.enroll(request(sandbox, "e500.example.com", "k8s:e:1"))
    assert info.value.code == -2
    assert endpoint_calls(sandbox, f"POST {ENROLL}") == 1


async def test_retryable_scm_code_on_collect_becomes_pending(
    scm_fake_sleep: ScmClient, sandbox: SandboxHandle
) -> None:
    order = await scm_fake_sleep.ssl.enroll(request(sandbox, "ca.example.com", "k8s:ca:1"))
    sandbox.inject_fault(
        "error", f"/api/ssl/v1/collect/{order.ssl_id}", count=None, status=400, code=-195
    )
    result = await scm_fake_sleep.ssl.collect_once(order.ssl_id, "x509CO", check_status=False)
    assert isinstance(result, Pending) and result.code == -195


async def test_pending_error_from_collect(scm: ScmClient, sandbox: SandboxHandle) -> None:
    sandbox.update_settings(issueAfterCollects=5)
    order = await scm.ssl.enroll(request(sandbox, "pending.example.com", "k8s:p:1"))
    with pytest.raises(ScmPendingError) as info:
        await scm.ssl.collect(order.ssl_id, "x509CO")
    assert (info.value.code, info.value.description) == (0, "Being processed by Sectigo")


async def test_connection_reset_on_get_is_retried(
    scm_fake_sleep: ScmClient, sandbox: SandboxHandle
) -> None:
    sandbox.inject_fault("reset", "/api/ssl/v1/customFields")
    assert await scm_fake_sleep.ssl.custom_fields()
    assert endpoint_calls(sandbox, "GET /api/ssl/v1/customFields") == 2


async def test_response_lost_on_enroll_then_found_by_marker(
    scm_fake_sleep: ScmClient, sandbox: SandboxHandle
) -> None:
    sandbox.inject_fault("response_lost", ENROLL)
    cn = "lost.example.com"
    with pytest.raises(ScmResponseLost) as info:
        await scm_fake_sleep.ssl.enroll(request(sandbox, cn, "k8s:lost:1"))
    assert info.value.operation == "ssl enroll"
    assert endpoint_calls(sandbox, f"POST {ENROLL}") == 1  # never re-posted
    found = await scm_fake_sleep.find_ssl_order_by_marker(cn, "k8s:lost:1")
    assert found is not None and found.comments == "k8s:lost:1"
    assert sandbox.counters()["enrollsByCommonName"][cn] == 1


async def test_response_lost_on_smime_enroll_then_found_by_marker(
    scm_fake_sleep: ScmClient, sandbox: SandboxHandle
) -> None:
    sandbox.inject_fault("response_lost", "/api/smime/v1/enroll")
    email = "lost@example.com"
    body = SmimeEnrollRequest(
        org_id=sandbox.org_id,
        csr=make_csr("Lost", email=email),
        cert_type=61,
        term=365,
        email=email,
        first_name="Lo",
        last_name="St",
        comments="k8s:lost:2",
    )
    with pytest.raises(ScmResponseLost):
        await scm_fake_sleep.smime.enroll(body)
    found = await scm_fake_sleep.find_smime_order_by_marker(email, "k8s:lost:2")
    assert found is not None and found.backend_cert_id
    assert sandbox.counters()["enrollsByEmail"][email] == 1


async def test_read_timeout_on_enroll_is_response_lost(sandbox: SandboxHandle) -> None:
    sandbox.inject_fault("latency", ENROLL, latency_seconds=0.5)
    conn = connection_for(sandbox, read_timeout=0.1)
    async with ScmClient(conn) as scm:
        with pytest.raises(ScmResponseLost):
            await scm.ssl.enroll(request(sandbox, "slow.example.com", "k8s:slow:1"))
        assert endpoint_calls(sandbox, f"POST {ENROLL}") == 1


async def test_read_timeout_on_get_is_retried(sandbox: SandboxHandle) -> None:
    sandbox.inject_fault("latency", "/api/ssl/v1/types", latency_seconds=0.3)
    async with ScmClient(connection_for(sandbox, read_timeout=0.1)) as scm:
        assert await scm.ssl.types()
    assert endpoint_calls(sandbox, "GET /api/ssl/v1/types") == 2


async def test_connection_refused_is_transport_error() -> None:
    with socket.socket() as sock:  # a port nobody listens on (bound, not listening)
        sock.bind(("127.0.0.1", 0))
        conn = ScmConnection(
            base_url=f"http://127.0.0.1:{sock.getsockname()[1]}",
            customer_uri="c",
            login="l",
            password=SecretStr("p"),
            retry=RetryPolicy(max_attempts=2, initial_backoff=0.001),
        )
        async with ScmClient(conn) as scm:
            with pytest.raises(ScmTransportError) as info:
                await scm.ssl.types()
    assert info.value.http_status is None and "ConnectError" in str(info.value)
