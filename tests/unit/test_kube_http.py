"""``kube_http.LoopApi`` against a small aiohttp server on 127.0.0.1: the answers a real API
server gives only in rare moments (a token that expired in flight, a dropped connection) and the
mapping of refusals to the operator's errors, without the response body."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import kubernetes
import pytest
from aiohttp import web

from sectigo_operator import kube_http
from sectigo_operator.kube_types import KubeConflict, KubeError, KubeInvalid

Handler = Callable[[web.Request], Any]


class Server:
    """Answers each request with the next scripted handler; records what it was sent."""

    def __init__(self) -> None:
        self.script: list[Handler] = []
        self.seen: list[tuple[str, str, str | None, str | None, Any]] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append(
            (
                request.method,
                request.path,
                request.headers.get("Authorization"),
                request.headers.get("Content-Type"),
                json.loads(body) if body else None,
            )
        )
        result: web.StreamResponse = await self.script.pop(0)(request)
        return result


@pytest.fixture
async def served() -> AsyncIterator[tuple[Server, kube_http.LoopApi, list[str]]]:
    server = Server()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    configuration = kubernetes.client.Configuration()
    configuration.host = f"http://127.0.0.1:{port}"
    tokens = ["first", "second", "third"]
    configuration.api_key = {"authorization": tokens[0]}
    configuration.api_key_prefix = {"authorization": "Bearer"}

    def refresh(conf: kubernetes.client.Configuration) -> None:  # the loader's hook
        conf.api_key = {"authorization": tokens[0]}

    configuration.refresh_api_key_hook = refresh
    api = kube_http.LoopApi(configuration, 4)
    try:
        yield server, api, tokens
    finally:
        await api.close()
        await runner.cleanup()


def answer(status: int, body: Any = None, reason: str | None = None) -> Handler:
    async def handler(_: web.Request) -> web.Response:
        return web.json_response(body if body is not None else {}, status=status, reason=reason)

    return handler


async def test_a_write_sends_json_with_the_token_and_returns_the_answer(served: Any) -> None:
    server, api, _ = served
    server.script.append(answer(201, {"metadata": {"resourceVersion": "7"}}))
    written = await api.request("POST", "/api/v1/namespaces/a/secrets", "create secrets", {"x": 1})
    assert written == {"metadata": {"resourceVersion": "7"}}
    assert server.seen == [
        ("POST", "/api/v1/namespaces/a/secrets", "Bearer first", "application/json", {"x": 1})
    ]


async def test_a_token_that_expired_in_flight_is_asked_for_again_once(served: Any) -> None:
    server, api, tokens = served
    server.script += [answer(200), answer(401), answer(200, {"ok": True})]
    await api.request("GET", "/x", "get secrets")  # the token is kept from here on
    tokens[0] = "rotated"
    assert await api.request("GET", "/x", "get secrets") == {"ok": True}
    assert [seen[2] for seen in server.seen] == ["Bearer first", "Bearer first", "Bearer rotated"]
    server.script += [answer(401), answer(401)]
    with pytest.raises(KubeError) as raised:  # refused twice: an error, no loop
        await api.request("GET", "/x", "get secrets")
    assert raised.value.status == 401


@pytest.mark.parametrize(
    ("status", "error"), [(409, KubeConflict), (422, KubeInvalid), (500, KubeError)]
)
async def test_a_refusal_names_status_reason_and_verb_never_the_body(
    served: Any, status: int, error: type[KubeError]
) -> None:
    server, api, _ = served
    echo = {"kind": "Status", "message": "secret data tls.key=c2VjcmV0 is invalid"}
    server.script.append(answer(status, echo))
    with pytest.raises(error) as raised:
        await api.request(
            "PATCH", "/o", "patch things/status", {"a": 1}, "application/merge-patch+json"
        )
    assert type(raised.value) is error and raised.value.status == status
    assert "(patch things/status)" in str(raised.value)
    assert "c2VjcmV0" not in str(raised.value) and "tls.key" not in str(raised.value)
    assert server.seen[0][3] == "application/merge-patch+json"


async def test_404_is_its_own_answer(served: Any) -> None:
    server, api, _ = served
    server.script.append(answer(404, {"kind": "Status"}))
    with pytest.raises(kube_http.NotFound):
        await api.request("GET", "/missing", "get secrets")


async def test_a_dropped_connection_is_an_error_without_an_answer(served: Any) -> None:
    server, api, _ = served

    async def drop(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.close()
        return web.Response()

    server.script += [drop, drop]  # aiohttp itself tries an idempotent request once more
    with pytest.raises(KubeError) as raised:
        await api.request("DELETE", "/gone", "delete secrets")
    assert raised.value.status == 0 and "delete secrets" in str(raised.value)
    server.script.append(drop)
    with pytest.raises(KubeError) as raised:
        await api.request("POST", "/made", "create secrets", {"a": 1})
    assert raised.value.status == 0 and "create secrets" in str(raised.value)


async def test_nothing_is_listening_is_an_error_without_an_answer() -> None:
    configuration = kubernetes.client.Configuration()
    configuration.host = "http://127.0.0.1:9"  # discard: nothing listens there
    api = kube_http.LoopApi(configuration, 1)
    try:
        with pytest.raises(KubeError) as raised:
            await api.request("GET", "/x", "get secrets")
    finally:
        await api.close()
    assert raised.value.status == 0


def test_tls_settings_follow_the_clients_configuration() -> None:
    configuration = kubernetes.client.Configuration()
    configuration.host = "https://127.0.0.1:6443"
    configuration.verify_ssl = False
    assert kube_http._ssl_context(configuration) is False
    configuration.verify_ssl = True
    context = kube_http._ssl_context(configuration)
    assert not isinstance(context, bool) and context.verify_mode.name == "CERT_REQUIRED"
