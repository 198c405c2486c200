"""``kube_http.LoopApi`` against a small aiohttp server on 127.0.0.1: the answers a real API
server gives only in rare moments (a token that expired in flight, a dropped connection) and the
mapping of refusals to the operator's errors, without the response body."""

from __future__ import annotations

import asyncio
import json
import pathlib
import ssl
from collections.abc import AsyncIterator, Callable
from typing import Any

import kubernetes
import pytest
from aiohttp import web

from sectigo_operator import kube_http
from sectigo_operator.controlplane_ca import LocalCA, pem_cert
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


async def test_a_refusal_as_invalid_names_the_fields_never_the_messages(served: Any) -> None:
    """An immutable Secret refuses new data: the paths of the causes are named, their messages
    (which may quote a value) are not."""
    server, api, _ = served
    refusal = {
        "kind": "Status",
        "reason": "Invalid",
        "message": "Secret is invalid: data: Forbidden: tls.key=c2VjcmV0",
        "details": {
            "causes": [
                {"field": "data", "message": "field is immutable, tls.key=c2VjcmV0"},
                {"field": "data", "message": "again"},
                {"field": "metadata.labels", "message": "Invalid value: c2VjcmV0"},
            ]
        },
    }
    server.script.append(answer(422, refusal))
    with pytest.raises(KubeInvalid) as raised:
        await api.request("PUT", "/s", "replace secrets", {"a": 1})
    assert raised.value.fields == ("data", "metadata.labels")
    assert "(replace secrets; fields: data, metadata.labels)" in str(raised.value)
    assert "c2VjcmV0" not in str(raised.value) and "immutable" not in str(raised.value)


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


async def test_an_answer_that_is_not_json_is_an_error_without_its_text(served: Any) -> None:
    server, api, _ = served

    async def page(_: web.Request) -> web.Response:
        return web.Response(text="<html>proxy says tls.key=c2VjcmV0</html>", status=200)

    server.script.append(page)
    with pytest.raises(KubeError) as raised:
        await api.request("GET", "/x", "get secrets")
    assert raised.value.status == 200 and "undecodable answer (get secrets)" in str(raised.value)
    assert "c2VjcmV0" not in str(raised.value)


async def test_a_request_after_close_is_refused_and_opens_nothing(served: Any) -> None:
    server, api, _ = served
    server.script.append(answer(200))
    await api.request("GET", "/x", "get secrets")
    await api.close()
    with pytest.raises(KubeError) as raised:
        await api.request("GET", "/x", "get secrets")
    assert raised.value.status == 0 and api._session is None
    assert len(server.seen) == 1


async def test_many_requests_at_once_ask_for_the_token_once(served: Any) -> None:
    server, api, _ = served
    asked = 0
    settings = api.configuration.auth_settings

    def counted() -> Any:
        nonlocal asked
        asked += 1
        return settings()

    api.configuration.auth_settings = counted
    server.script += [answer(200) for _ in range(8)]
    await asyncio.gather(*(api.request("GET", f"/{i}", "get secrets") for i in range(8)))
    assert asked == 1 and len(server.seen) == 8


def test_a_proxy_is_used_unless_no_proxy_names_the_server_and_socks_is_refused() -> None:
    configuration = kubernetes.client.Configuration()
    configuration.host = "https://10.0.0.1:6443"
    configuration.proxy = "http://proxy.internal:3128"
    assert kube_http._proxy(configuration) == "http://proxy.internal:3128"
    configuration.no_proxy = "localhost,10.0.0.0/8"
    assert kube_http._proxy(configuration) is None
    configuration.no_proxy = None
    configuration.proxy = "socks5://proxy.internal:1080"
    with pytest.raises(ValueError, match="SOCKS"):
        kube_http._proxy(configuration)


@pytest.fixture
async def tls_server(
    tmp_path: pathlib.Path,
) -> AsyncIterator[tuple[int, pathlib.Path, kubernetes.client.Configuration]]:
    """A TLS server on 127.0.0.1 that answers only a client presenting a certificate of its
    client CA; the configuration carries that client certificate and no server CA."""
    server_ca, client_ca = LocalCA.create("server-ca"), LocalCA.create("client-ca")
    for name, (cert, key) in {
        "server": server_ca.issue("127.0.0.1", server=True),
        "client": client_ca.issue("operator"),
    }.items():
        (tmp_path / f"{name}.crt").write_bytes(cert)
        (tmp_path / f"{name}.key").write_bytes(key)
    (tmp_path / "server-ca.crt").write_bytes(pem_cert(server_ca.cert))
    (tmp_path / "client-ca.crt").write_bytes(pem_cert(client_ca.cert))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "server.crt", tmp_path / "server.key")
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(tmp_path / "client-ca.crt")

    async def ok(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/x", ok)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context).start()
    port = runner.addresses[0][1]
    configuration = kubernetes.client.Configuration()
    configuration.host = f"https://127.0.0.1:{port}"
    configuration.cert_file = str(tmp_path / "client.crt")
    configuration.key_file = str(tmp_path / "client.key")
    try:
        yield port, tmp_path, configuration
    finally:
        await runner.cleanup()


async def ask(configuration: kubernetes.client.Configuration) -> dict[str, Any]:
    api = kube_http.LoopApi(configuration, 1)
    try:
        return await api.request("GET", "/x", "get secrets")
    finally:
        await api.close()


async def test_tls_verifies_the_server_and_presents_the_client_certificate(
    tls_server: Any,
) -> None:
    _, certs, configuration = tls_server
    with pytest.raises(KubeError) as raised:  # the server's CA is not known: not verified
        await ask(configuration)
    assert raised.value.status == 0
    configuration.ssl_ca_cert = str(certs / "server-ca.crt")
    assert await ask(configuration) == {"ok": True}
    configuration.ssl_ca_cert = None
    configuration.ca_cert_data = (certs / "server-ca.crt").read_text()
    assert await ask(configuration) == {"ok": True}


async def test_without_verification_the_client_certificate_is_still_presented(
    tls_server: Any,
) -> None:
    _, _, configuration = tls_server
    configuration.verify_ssl = False
    assert await ask(configuration) == {"ok": True}
    configuration.cert_file = configuration.key_file = None  # the server refuses the handshake
    with pytest.raises(KubeError) as raised:
        await ask(configuration)
    assert raised.value.status == 0


def test_an_https_server_named_in_capitals_gets_the_tls_settings() -> None:
    configuration = kubernetes.client.Configuration()
    configuration.host = "HTTPS://127.0.0.1:6443"
    context = kube_http._ssl_context(configuration)
    assert isinstance(context, ssl.SSLContext) and context.verify_mode == ssl.CERT_REQUIRED
