"""The SCM client's aiohttp transport, where the sandbox cannot show it: answers compressed by a
front end, a refusal before anything was sent (retried, even for an enrollment), a connection
dropped after the request was sent (never re-posted), an answer that trickles in forever (ended
by the total timeout), and a closed transport. The sandbox fault
tests (``test_sandbox_errors``) cover lost answers, resets and timeouts against the real server."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import httpx
import pytest
from aiohttp import web
from pydantic import SecretStr

from sectigo_operator.scm import (
    RetryPolicy,
    ScmClient,
    ScmConnection,
    ScmResponseLost,
    ScmTransportError,
    SslEnrollRequest,
)
from sectigo_operator.scm.aiohttp_transport import AiohttpTransport, _text, _unreadable

from .conftest import make_csr

FAST = RetryPolicy(max_attempts=3, initial_backoff=0.001, max_backoff=0.002, jitter=0)


def connection(url: str) -> ScmConnection:
    return ScmConnection(
        base_url=url, customer_uri="c", login="l", password=SecretStr("Password-Canary"), retry=FAST
    )


def enrollment() -> SslEnrollRequest:
    return SslEnrollRequest(
        org_id=1, csr=make_csr("t.example.com"), cert_type=51, term=365, comments="k8s:t:1"
    )


@pytest.fixture
async def front() -> AsyncIterator[tuple[str, list[str]]]:
    """A server on 127.0.0.1 standing in for a front end of SCM: gzip answers for the profile
    list, a dropped connection for every enrollment; it records the requests it received."""
    seen: list[str] = []

    async def types(request: web.Request) -> web.StreamResponse:
        names = " ".join(sorted(name.decode() for name, _ in request.raw_headers))
        seen.append(f"{request.method} {request.path} {request.headers.get('Accept-Encoding')}")
        seen.append(f"header names: {names}")
        body = gzip.compress(json.dumps([{"id": 51, "name": "Gzipped", "terms": [365]}]).encode())
        return web.Response(
            body=body, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
        )

    async def enroll(request: web.Request) -> web.StreamResponse:
        await request.read()
        seen.append(f"{request.method} {request.path}")
        assert request.transport is not None
        request.transport.close()  # sent, then no answer
        return web.Response()

    app = web.Application()
    app.router.add_get("/api/ssl/v1/types", types)
    app.router.add_post("/api/ssl/v1/enroll", enroll)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", seen
    finally:
        await runner.cleanup()


async def test_a_compressed_answer_is_decoded(front: tuple[str, list[str]]) -> None:
    url, seen = front
    async with ScmClient(connection(url)) as scm:
        profiles = await scm.ssl.types()
    assert [(p.id, p.name) for p in profiles] == [(51, "Gzipped")]
    assert seen[0].startswith("GET /api/ssl/v1/types ") and "gzip" in seen[0]
    # header names go out as the client wrote them, as httpx's own transport sent them
    assert "customerUri" in seen[1].split() and "login" in seen[1].split()


async def test_an_enrollment_sent_and_unanswered_is_lost_never_posted_again(
    front: tuple[str, list[str]],
) -> None:
    url, seen = front
    async with ScmClient(connection(url)) as scm:
        with pytest.raises(ScmResponseLost) as raised:
            await scm.ssl.enroll(enrollment())
    assert raised.value.operation == "ssl enroll"
    assert seen == ["POST /api/ssl/v1/enroll"]
    chain: list[BaseException] = []
    error: BaseException | None = raised.value
    while error is not None:  # nothing of aiohttp's is kept: some reprs show the headers
        chain.append(error)
        error = error.__cause__ or error.__context__
    assert not any(type(e).__module__.startswith("aiohttp") for e in chain), chain


async def test_an_enrollment_refused_before_sending_is_tried_again() -> None:
    with socket.socket() as sock:  # bound, not listening: every connection is refused
        sock.bind(("127.0.0.1", 0))
        async with ScmClient(connection(f"http://127.0.0.1:{sock.getsockname()[1]}")) as scm:
            with pytest.raises(ScmTransportError) as raised:
                await scm.ssl.enroll(enrollment())
    assert not isinstance(raised.value, ScmResponseLost)
    assert "ConnectError" in str(raised.value)


async def lost_enrollment(reply: bytes) -> tuple[str, list[bytes]]:
    """An enrollment sent to a server on 127.0.0.1 that answers ``reply`` and closes: the text
    of the ``ScmResponseLost`` it must end in, and the request lines the server received."""
    posts: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        posts.append(await reader.readuntil(b"\r\n"))
        writer.write(reply)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        async with ScmClient(connection(url)) as scm:
            with pytest.raises(ScmResponseLost) as raised:
                await scm.ssl.enroll(enrollment())
    finally:
        server.close()
        await server.wait_closed()
    return str(raised.value), posts


async def test_an_answer_that_cannot_be_parsed_is_named_so_not_a_400() -> None:
    """aiohttp reports an answer it cannot parse as its own status 400; the error says what
    happened instead, and an enrollment with such an answer is lost, never posted again."""
    text, posts = await lost_enrollment(b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n{}")
    assert "could not be read: Invalid character in Content-Length" in text, text
    assert "400" not in text and "abc" not in text, text
    assert len(posts) == 1 and posts[0].startswith(b"POST /api/ssl/v1/enroll ")


async def test_a_closed_transport_sends_nothing(front: tuple[str, list[str]]) -> None:
    url, seen = front
    transport = AiohttpTransport(None, httpx.Limits(max_connections=1))
    request = httpx.Request("GET", f"{url}/api/ssl/v1/types")
    assert (await transport.handle_async_request(request)).status_code == 200
    await transport.aclose()
    with pytest.raises(httpx.ConnectError):  # read by the client as "nothing was sent"
        await transport.handle_async_request(request)
    assert len([s for s in seen if s.startswith("GET")]) == 1


async def test_a_transport_of_another_event_loop_sends_nothing(
    front: tuple[str, list[str]],
) -> None:
    url, seen = front
    transport = AiohttpTransport(None, httpx.Limits(max_connections=1))
    request = httpx.Request("GET", f"{url}/api/ssl/v1/types")

    def elsewhere() -> None:  # a first request in a loop of its own
        async def first() -> None:
            await transport.handle_async_request(request)

        asyncio.run(first())

    await asyncio.to_thread(elsewhere)
    with pytest.raises(httpx.ConnectError, match="another event loop"):
        await transport.handle_async_request(request)
    assert len([s for s in seen if s.startswith("GET")]) == 1


async def test_closing_during_a_name_lookup_fails_the_request_not_the_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    looking_up = asyncio.Event()

    async def forever(*_: object, **__: object) -> list[dict[str, object]]:
        looking_up.set()
        await asyncio.Event().wait()
        return []

    monkeypatch.setattr(aiohttp.ThreadedResolver, "resolve", forever)
    transport = AiohttpTransport(None, httpx.Limits(max_connections=1))
    request = httpx.Request("POST", "http://localhost:9/api/ssl/v1/enroll", content=b"{}")
    sending = asyncio.create_task(transport.handle_async_request(request))
    await looking_up.wait()
    await transport.aclose()
    with pytest.raises(httpx.ReadError, match="closed"):  # not CancelledError out of a handler
        await sending
    assert not sending.cancelled()


async def test_an_https_url_in_capitals_still_gets_the_tls_settings() -> None:
    insecure = connection("HTTPS://127.0.0.1:9").model_copy(update={"verify_tls": False})
    async with ScmClient(insecure) as scm:
        transport = scm._transport._http._transport
        assert isinstance(transport, AiohttpTransport) and isinstance(
            transport._ssl, ssl.SSLContext
        )
        assert transport._ssl.verify_mode == ssl.CERT_NONE  # verify_tls: false, as configured


@pytest.fixture
async def trickle() -> AsyncIterator[tuple[str, list[bytes]]]:
    """A server on 127.0.0.1 whose answer never ends: headers promising a body, then one byte
    every 50 ms, each well within the read timeout, until the client goes away."""
    requests: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        requests.append(await reader.readuntil(b"\r\n"))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        writer.write(b"Content-Length: 100000\r\n\r\n")
        try:
            while True:
                writer.write(b" ")
                await writer.drain()
                await asyncio.sleep(0.05)  # the server's pace, not the test's synchronisation
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", requests
    finally:
        server.close()
        await server.wait_closed()


def patient(url: str, attempts: int) -> ScmConnection:
    """A read timeout the trickle always meets, a total timeout it cannot."""
    retry = RetryPolicy(max_attempts=attempts, initial_backoff=0.001, max_backoff=0.002, jitter=0)
    return ScmConnection(
        base_url=url,
        customer_uri="c",
        login="l",
        password=SecretStr("Password-Canary"),
        read_timeout=5,
        total_timeout=0.5,
        retry=retry,
    )


async def test_an_answer_that_trickles_in_forever_ends_at_the_total_timeout(
    trickle: tuple[str, list[bytes]],
) -> None:
    url, requests = trickle
    async with ScmClient(patient(url, attempts=2)) as scm:
        with pytest.raises(ScmTransportError) as raised:
            await asyncio.wait_for(scm.ssl.types(), 20)  # without the bound: TimeoutError here
    assert not isinstance(raised.value, ScmResponseLost)
    assert "no complete answer within 0.5 s" in str(raised.value)
    assert len(requests) == 2  # a GET is asked again, within the retry policy
    assert all(r.startswith(b"GET /api/ssl/v1/types ") for r in requests)


async def test_an_enrollment_that_trickles_in_forever_is_lost_never_posted_again(
    trickle: tuple[str, list[bytes]],
) -> None:
    url, requests = trickle
    async with ScmClient(patient(url, attempts=3)) as scm:
        with pytest.raises(ScmResponseLost) as raised:
            await asyncio.wait_for(scm.ssl.enroll(enrollment()), 20)
    assert raised.value.operation == "ssl enroll"
    assert "no complete answer within 0.5 s" in str(raised.value)
    assert len(requests) == 1 and requests[0].startswith(b"POST /api/ssl/v1/enroll ")


@dataclass
class LongHeader:
    """A server on 127.0.0.1 answering the profile list with one ``Set-Cookie`` line of
    ``size`` bytes, like a front end's large cookie; it counts the requests it received."""

    url: str
    size: int = 0
    requests: int = 0


@pytest.fixture
async def long_header() -> AsyncIterator[LongHeader]:
    state = LongHeader(url="")

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        state.requests += 1
        body = json.dumps([{"id": 51, "name": "Behind a proxy", "terms": [365]}]).encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        cookie = b"session=" + (b"s3cr3t" * state.size)[: state.size]
        writer.write(b"Set-Cookie: " + cookie + b"\r\n")
        writer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    state.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield state
    finally:
        server.close()
        await server.wait_closed()


async def test_an_answer_with_a_header_line_past_aiohttps_default_is_read(
    long_header: LongHeader,
) -> None:
    """20,000 bytes: over aiohttp's default 8,190, within h11's 16 KiB that httpx took before."""
    long_header.size = 20000
    async with ScmClient(connection(long_header.url)) as scm:
        types = await scm.ssl.types()
    assert [t.name for t in types] == ["Behind a proxy"]
    assert long_header.requests == 1


async def test_a_header_line_past_the_limit_is_named_not_quoted(long_header: LongHeader) -> None:
    """aiohttp's message quotes the line's first 100 bytes, here a session cookie: the error
    keeps what happened and drops the quote."""
    long_header.size = 70000
    async with ScmClient(connection(long_header.url)) as scm:
        with pytest.raises(ScmTransportError) as raised:
            await scm.ssl.types()
    text = str(raised.value)
    assert "could not be read: Got more than 65536 bytes when reading" in text, text
    assert "s3cr3t" not in text and "session" not in text and "400" not in text, text
    assert long_header.requests == FAST.max_attempts  # a GET is asked again, within the policy


async def test_a_header_block_cut_off_is_lost_without_the_headers_received() -> None:
    """The connection closes amid the answer's headers: aiohttp's error shows every header
    received so far, a session cookie among them. The enrollment is lost (it was sent), and
    its error says so in words of its own."""
    text, posts = await lost_enrollment(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Set-Cookie: JSESSIONID=c00k1e-Leak-Canary; Path=/; HttpOnly\r\n"
    )  # no blank line: the header block never ends
    assert "the connection closed before the answer was complete" in text, text
    assert "Leak-Canary" not in text and "JSESSIONID" not in text, text
    assert len(posts) == 1


@pytest.mark.parametrize(
    ("message", "shown"),
    [
        # aiohttp's C parser quotes bytes, its pure-Python parser (AIOHTTP_NO_EXTENSIONS) text
        (
            "Got more than 8190 bytes when reading: b'lb=Leak-Canary...'.",
            "Got more than 8190 bytes when reading",
        ),
        ("Bad status line 'HTTP/1.1 2x0 SESSION=Leak-Canary'", "Bad status line"),
        ('Invalid header value char\n  b"SESSION=Leak-Canary"\n  ^', "Invalid header value char"),
        ("Invalid character in chunk size:\n  b'Leak-Canary'", "Invalid character in chunk size"),
        # the pure-Python parser's message for a bad chunk-size line is the line itself
        ("SESSION=Leak-Canary", ""),
        ("Leak-Canary", ""),
    ],
)
def test_an_unparsable_answer_is_named_without_its_quote(message: str, shown: str) -> None:
    request = httpx.Request("GET", "http://127.0.0.1/api/ssl/v1/types")
    error = aiohttp.ClientResponseError(None, (), status=400, message=message)  # type: ignore[arg-type]
    text = str(_unreadable(error, request))
    if shown:
        assert text == f"the answer could not be read: {shown}", text
    else:
        assert text == "the answer could not be read", text


def test_a_body_the_parser_refused_is_named_without_its_bytes() -> None:
    text = _text(aiohttp.ClientPayloadError("400, message:\n  zz SESSION=Leak-Canary\r"))
    assert text == "ClientPayloadError: the answer's body could not be read"
    assert _text(ConnectionResetError(104, "Connection reset by peer")) == (
        "ConnectionResetError: [Errno 104] Connection reset by peer"
    )
    assert _text(ValueError("Leak-Canary")) == "ValueError"
