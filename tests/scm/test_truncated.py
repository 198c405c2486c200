"""Truncated answers over a real socket: a raw server that promises more bytes than it sends.

The sandbox cannot produce a response cut off mid-body, so a tiny asyncio server on 127.0.0.1
does; GETs are retried (then a transport error), an enroll is never re-posted (response lost).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from sectigo_operator.scm import (
    RetryPolicy,
    ScmClient,
    ScmConnection,
    ScmResponseLost,
    ScmTransportError,
    SslEnrollRequest,
)


class TruncatingServer:
    def __init__(self) -> None:
        self.requests: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        if length:
            await reader.readexactly(length)
        self.requests.append(head.split(b"\r\n")[0])
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"sslId": 1, "ren'
        )
        await writer.drain()
        writer.close()


@pytest.fixture
async def truncating() -> AsyncIterator[tuple[TruncatingServer, ScmClient]]:
    fake = TruncatingServer()
    server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    conn = ScmConnection(
        base_url=f"http://127.0.0.1:{port}",
        customer_uri="c",
        login="l",
        password="p",
        retry=RetryPolicy(max_attempts=2, initial_backoff=0.001),
    )
    async with server, ScmClient(conn) as client:
        yield fake, client


async def test_truncated_get_is_retried_then_transport_error(
    truncating: tuple[TruncatingServer, ScmClient],
) -> None:
    fake, scm = truncating
    with pytest.raises(ScmTransportError):
        await scm.ssl.details(1)
    assert len(fake.requests) == 2


async def test_truncated_enroll_is_response_lost_once(
    truncating: tuple[TruncatingServer, ScmClient],
) -> None:
    fake, scm = truncating
    with pytest.raises(ScmResponseLost):
        await scm.ssl.enroll(SslEnrollRequest(org_id=1, csr="C", cert_type=1, term=1))
    assert fake.requests == [b"POST /api/ssl/v1/enroll HTTP/1.1"]
