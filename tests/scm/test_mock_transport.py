"""Client behaviour a real server cannot easily produce: injected transport, no network.

Malformed and empty bodies, gateway answers, timeouts and dropped connections at exact points,
plus the retry rules (what is retried, how long it waits) with an injected sleep.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from sectigo_operator.scm import (
    CertificateFormat,
    Issued,
    Pending,
    RetryPolicy,
    ScmAuthenticationError,
    ScmClient,
    ScmConnection,
    ScmMalformedResponse,
    ScmPendingError,
    ScmResponseLost,
    ScmRetryableError,
    ScmTransportError,
    SslEnrollRequest,
)

PASSWORD = "pa55-Mock-Secret"
Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """Counts requests and records the sleeps the client asked for."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def make_client(recorder: Recorder, **overrides: Any) -> ScmClient:
    values: dict[str, Any] = {
        "base_url": "http://127.0.0.1:9",
        "customer_uri": "acme",
        "login": "admin",
        "password": PASSWORD,
        "retry": RetryPolicy(max_attempts=3, initial_backoff=1, multiplier=2, jitter=0),
    }
    values.update(overrides)
    return ScmClient(
        ScmConnection.model_validate(values),
        transport=httpx.MockTransport(recorder),
        sleep=recorder.sleep,
        rand=lambda: 0.0,
    )


def enroll_request() -> SslEnrollRequest:
    return SslEnrollRequest(org_id=1, csr="CSR", cert_type=1, term=365, comments="k8s:u:1")


def scm_error(status: int, code: int, description: str = "x", **kw: Any) -> httpx.Response:
    return httpx.Response(status, json={"code": code, "description": description}, **kw)


async def test_headers_and_paths_password_login() -> None:
    rec = Recorder(lambda r: httpx.Response(200, json=[]))
    async with make_client(rec) as scm:
        await scm.ssl.types()
    request = rec.requests[0]
    assert request.url.path == "/api/ssl/v1/types"
    assert request.headers["login"] == "admin"
    assert request.headers["customerUri"] == "acme"
    assert request.headers["password"] == PASSWORD


async def test_client_certificate_login_uses_private_prefix_and_no_password() -> None:
    rec = Recorder(lambda r: httpx.Response(200, json=[]))
    cert = {"certificate_pem": b"C", "private_key_pem": b"K"}
    async with make_client(rec, password=None, client_certificate=cert) as scm:
        await scm.smime.types()
    request = rec.requests[0]
    assert request.url.path == "/private/api/smime/v1/types"
    assert "password" not in request.headers
    assert request.headers["login"] == "admin"


async def test_malformed_json_on_get_is_retried_then_raised() -> None:
    rec = Recorder(lambda r: httpx.Response(200, content=b'{"id": 5, "stat'))
    async with make_client(rec) as scm:
        with pytest.raises(ScmMalformedResponse) as info:
            await scm.ssl.details(5)
    assert len(rec.requests) == 3
    assert rec.sleeps == [1.0, 2.0]
    assert info.value.http_status == 200


async def test_wrong_shape_on_get_is_malformed() -> None:
    rec = Recorder(lambda r: httpx.Response(200, json={"not": "a list"}))
    async with make_client(rec, retry=RetryPolicy(max_attempts=1)) as scm:
        with pytest.raises(ScmMalformedResponse):
            await scm.ssl.types()


async def test_malformed_enroll_answer_is_response_lost_and_not_reposted() -> None:
    rec = Recorder(lambda r: httpx.Response(200, content=b"<html>proxy</html>"))
    async with make_client(rec) as scm:
        with pytest.raises(ScmResponseLost) as info:
            await scm.ssl.enroll(enroll_request())
    assert len(rec.requests) == 1
    assert info.value.operation == "ssl enroll"


async def test_empty_2xx_collect_is_pending() -> None:
    rec = Recorder(lambda r: httpx.Response(200, content=b""))
    async with make_client(rec) as scm:
        with pytest.raises(ScmPendingError):
            await scm.ssl.collect(5, CertificateFormat.X509CO)
        result = await scm.ssl.collect_once(5, CertificateFormat.X509CO, check_status=False)
    assert result == Pending(code=None, description="empty certificate answer")
    assert len(rec.requests) == 2  # a pending answer is not retried


@pytest.mark.parametrize(
    "exc",
    [httpx.ReadTimeout("read timed out"), httpx.RemoteProtocolError("peer closed")],
    ids=["read timeout", "connection dropped"],
)
async def test_enroll_after_sending_is_response_lost(exc: Exception) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    rec = Recorder(handler)
    async with make_client(rec) as scm:
        with pytest.raises(ScmResponseLost):
            await scm.ssl.enroll(enroll_request())
        with pytest.raises(ScmResponseLost):
            await scm.smime.renew_by_order("42")
    assert len(rec.requests) == 2
    assert rec.sleeps == []


async def test_get_read_timeout_is_retried_then_transport_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("read timed out")

    rec = Recorder(handler)
    async with make_client(rec) as scm:
        with pytest.raises(ScmTransportError):
            await scm.ssl.details(1)
    assert len(rec.requests) == 3


async def test_enroll_connect_error_is_retried_because_nothing_was_sent() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.ConnectError("connection refused")
        return httpx.Response(200, json={"sslId": 9, "renewId": "r"})

    rec = Recorder(handler)
    async with make_client(rec) as scm:
        result = await scm.ssl.enroll(enroll_request())
    assert result.ssl_id == 9
    assert len(rec.requests) == 2


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(429, headers={"Retry-After": "4"}),
        httpx.Response(503, text="Service Unavailable"),
        httpx.Response(503, headers={"Retry-After": "4"}),
        httpx.Response(500, text="<html>oops</html>"),
        httpx.Response(408),
    ],
    ids=["429", "503", "503 retry-after", "500 html", "408"],
)
async def test_enroll_is_not_reposted_on_statuses_without_scm_code(
    response: httpx.Response,
) -> None:
    answers = [response, httpx.Response(200, json={"sslId": 3, "renewId": "r"})]
    rec = Recorder(lambda r: answers.pop(0))
    async with make_client(rec) as scm:
        with pytest.raises(ScmResponseLost) as info:
            await scm.ssl.enroll(enroll_request())
    assert len(rec.requests) == 1
    assert rec.sleeps == []
    assert info.value.http_status == response.status_code
    assert info.value.operation == "ssl enroll"
    expected = 4.0 if "Retry-After" in response.headers else None
    assert info.value.retry_after == expected


@pytest.mark.parametrize(
    "response",
    [
        scm_error(503, -2, "maintenance"),
        scm_error(429, -1, "Too many requests", headers={"Retry-After": "4"}),
    ],
    ids=["503 with code", "429 with code"],
)
async def test_enroll_refused_with_scm_code_is_raised_without_repost(
    response: httpx.Response,
) -> None:
    answers = [response, httpx.Response(200, json={"sslId": 3, "renewId": "r"})]
    rec = Recorder(lambda r: answers.pop(0))
    async with make_client(rec) as scm:
        with pytest.raises(ScmRetryableError) as info:
            await scm.ssl.enroll(enroll_request())
    assert not isinstance(info.value, ScmResponseLost)
    assert info.value.http_status == response.status_code
    assert len(rec.requests) == 1 and rec.sleeps == []


@pytest.mark.parametrize(
    "call",
    [
        lambda scm: scm.ssl.renew_by_id(7),
        lambda scm: scm.ssl.revoke(7, reason_code=4, reason="superseded"),
        lambda scm: scm.ssl.approve(7, "ok"),
        lambda scm: scm.smime.renew_by_order("42"),
    ],
    ids=["ssl renew", "ssl revoke", "ssl approve", "smime renew"],
)
async def test_other_posts_are_not_reposted_on_503(
    call: Callable[[ScmClient], Awaitable[Any]],
) -> None:
    rec = Recorder(lambda r: httpx.Response(503))
    async with make_client(rec) as scm:
        with pytest.raises(ScmResponseLost):
            await call(scm)
    assert len(rec.requests) == 1 and rec.sleeps == []


async def test_enroll_500_with_scm_body_is_raised_without_retry() -> None:
    rec = Recorder(lambda r: scm_error(500, -2, "internal"))
    async with make_client(rec) as scm:
        with pytest.raises(ScmRetryableError) as info:
            await scm.ssl.enroll(enroll_request())
    assert not isinstance(info.value, ScmResponseLost)
    assert info.value.code == -2
    assert len(rec.requests) == 1


@pytest.mark.parametrize("status", [502, 504])
async def test_enroll_gateway_error_is_response_lost(status: int) -> None:
    rec = Recorder(lambda r: httpx.Response(status, text="Bad gateway"))
    async with make_client(rec) as scm:
        with pytest.raises(ScmResponseLost) as info:
            await scm.ssl.enroll(enroll_request())
    assert info.value.http_status == status
    assert len(rec.requests) == 1


async def test_get_honours_retry_after_then_succeeds() -> None:
    answers = [httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, json=[])]
    rec = Recorder(lambda r: answers.pop(0))
    async with make_client(rec) as scm:
        assert await scm.ssl.custom_fields() == []
    assert rec.sleeps == [7.0]


async def test_retry_after_beyond_the_cap_is_raised_with_the_delay() -> None:
    rec = Recorder(lambda r: httpx.Response(429, headers={"Retry-After": "600"}))
    async with make_client(rec) as scm:
        with pytest.raises(ScmRetryableError) as info:
            await scm.ssl.types()
    assert info.value.retry_after == 600
    assert len(rec.requests) == 1 and rec.sleeps == []


async def test_permanent_errors_are_not_retried() -> None:
    rec = Recorder(lambda r: scm_error(401, -16, "Unknown user"))
    async with make_client(rec) as scm:
        with pytest.raises(ScmAuthenticationError):
            await scm.check_credentials()
    assert len(rec.requests) == 1


async def test_concurrency_is_limited_per_client() -> None:
    in_flight = 0
    peak = 0

    class SlowTransport(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.005)
            in_flight -= 1
            return httpx.Response(200, json=[])

    conn = ScmConnection(
        base_url="http://127.0.0.1:9",
        customer_uri="acme",
        login="admin",
        password=PASSWORD,
        max_concurrency=3,
    )
    async with ScmClient(conn, transport=SlowTransport()) as scm:
        await asyncio.gather(*(scm.ssl.types() for _ in range(12)))
    assert peak == 3


async def test_collect_until_with_fake_clock_times_out_with_state_saved() -> None:
    rec = Recorder(lambda r: scm_error(400, 0, "Being processed by Sectigo"))
    now = 0.0

    def clock() -> float:
        return now

    async def sleep(seconds: float) -> None:
        nonlocal now
        now += seconds

    async with make_client(rec) as scm:
        result = await scm.ssl.collect_until(
            5, "x509CO", loop_period=30, max_timeout=100, check_status=False,
            clock=clock, sleep=sleep,
        )  # fmt: skip
    # Attempts at t = 0, 30, 60, 90 and at the deadline 100.
    assert len(rec.requests) == 5
    assert result.__class__.__name__ == "TimedOutStateSaved"
    assert (result.code, result.attempts, result.elapsed) == (0, 5, 100)  # type: ignore[union-attr]


async def test_collect_until_returns_issued_when_ready() -> None:
    answers = [scm_error(400, -1400), scm_error(400, -183), httpx.Response(200, text="PEM")]
    rec = Recorder(lambda r: answers.pop(0))
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async with make_client(rec) as scm:
        result = await scm.ssl.collect_until(
            5, "x509CO", loop_period=2, max_timeout=60, check_status=False, sleep=sleep
        )
    assert result == Issued(material=b"PEM", format="x509CO")
    assert slept == [2, 2]


async def test_collect_until_raises_other_scm_errors() -> None:
    answers = [scm_error(400, 0), scm_error(400, -110, "revoked")]
    rec = Recorder(lambda r: answers.pop(0))

    async def sleep(seconds: float) -> None:
        return None

    async with make_client(rec) as scm:
        with pytest.raises(Exception) as info:
            await scm.ssl.collect_until(
                5, "pem", loop_period=1, max_timeout=60, check_status=False, sleep=sleep
            )
    assert getattr(info.value, "code", None) == -110


async def test_smime_collect_treats_minus_one_as_pending_but_ssl_does_not() -> None:
    rec = Recorder(lambda r: scm_error(400, -1, "unknown error"))
    async with make_client(rec, retry=RetryPolicy(max_attempts=1)) as scm:
        smime = await scm.smime.collect_once("42", check_status=False)
        assert isinstance(smime, Pending) and smime.code == -1
        with pytest.raises(ScmRetryableError):
            await scm.ssl.collect_once(42, "pem", check_status=False)


async def test_error_description_is_scrubbed_of_the_password() -> None:
    rec = Recorder(lambda r: scm_error(400, -970, f"bad password {PASSWORD} for admin"))
    async with make_client(rec) as scm:
        with pytest.raises(ScmAuthenticationError) as info:
            await scm.ssl.types()
    assert PASSWORD not in str(info.value) and PASSWORD not in repr(info.value)
    assert info.value.code == -970


async def test_the_guard_stops_an_order_after_its_wait_for_a_connection_slot() -> None:
    """The leadership is checked again inside the client: an enroll that waited for the only
    connection slot while the process lost the leadership is never sent; reads still are."""

    class NotLeading(Exception):
        pass

    leading = True

    def guard() -> None:
        if not leading:
            raise NotLeading

    started, release = asyncio.Event(), asyncio.Event()
    rec = Recorder(lambda r: httpx.Response(200, json=[]))
    values: dict[str, Any] = {
        "base_url": "http://127.0.0.1:9",
        "customer_uri": "acme",
        "login": "admin",
        "password": PASSWORD,
        "max_concurrency": 1,
    }

    async def slow(request: httpx.Request) -> httpx.Response:
        rec.requests.append(request)
        started.set()
        await release.wait()
        return httpx.Response(200, json=[])

    scm = ScmClient(
        ScmConnection.model_validate(values), transport=httpx.MockTransport(slow), guard=guard
    )
    async with scm:
        reading = asyncio.create_task(scm.ssl.types())  # holds the only slot
        await started.wait()
        ordering = asyncio.create_task(scm.ssl.enroll(enroll_request()))  # begun while leading
        leading = False
        release.set()
        await reading
        with pytest.raises(NotLeading):
            await ordering
    assert [r.method for r in rec.requests] == ["GET"]
