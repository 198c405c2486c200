"""The aiohttp application: routes plus the middlewares that make every answer SCM-shaped.

Middleware order (outermost first): ``errors`` (ScmError and anything unexpected → JSON envelope,
never a stack trace), ``count`` (calls per endpoint), ``faults`` (injected latency, errors, 429,
resets, lost responses), ``auth`` (SCM headers on ``/api`` and ``/private/api``).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import struct
from collections.abc import Awaitable, Callable

from aiohttp import web

from . import admin_api, errors, smime_api, ssl_api
from .keys import SANDBOX
from .service import Sandbox

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json_error(exc: errors.ScmError, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(exc.body(), status=exc.status, headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except errors.ScmError as exc:
        return _json_error(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return web.json_response({"code": -1, "description": exc.reason}, status=exc.status)
    except (asyncio.CancelledError, ConnectionError):
        raise
    except Exception:
        log.exception("unexpected error handling %s %s", request.method, request.path)
        return _json_error(errors.internal_error())


def _endpoint(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return f"{request.method} {resource.canonical if resource else request.path}"


@web.middleware
async def count_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request.app[SANDBOX].counters.calls_by_endpoint[_endpoint(request)] += 1
    return await handler(request)


def _drop(request: web.Request) -> web.Response:
    """Abort the connection with a TCP reset; the returned response is never sent."""
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:  # SO_LINGER 0: the close becomes a TCP reset
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        transport.abort()
    return web.Response(status=204)


@web.middleware
async def fault_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith(admin_api.PREFIX):
        return await handler(request)
    rule = request.app[SANDBOX].faults.take(request.method, request.path)
    if rule is None:
        return await handler(request)
    log.info("fault %s on %s %s", rule.kind, request.method, request.path)
    if rule.kind == "latency":
        await asyncio.sleep(rule.latency_seconds)
        return await handler(request)
    if rule.kind == "error":
        return _json_error(errors.ScmError(rule.status, rule.code, rule.description))
    if rule.kind == "rate_limit":
        return _json_error(
            errors.ScmError(429, rule.code if rule.code != -2 else -1, "Too many requests"),
            headers={"Retry-After": str(rule.retry_after)},
        )
    if rule.kind == "reset":
        return _drop(request)
    # response_lost: let the request take effect (and commit), then answer nothing.
    await handler(request)
    return _drop(request)


def _same(given: str | None, expected: str) -> bool:
    return secrets.compare_digest((given or "").encode(), expected.encode())


def _authorized(request: web.Request, sandbox: Sandbox, private: bool) -> bool:
    config = sandbox.config
    h = request.headers  # case-insensitive, as SCM clients rely on
    ok = _same(h.get("login"), config.login) & _same(h.get("customerUri"), config.customer_uri)
    if private:
        peer = request.transport.get_extra_info("peercert") if request.transport else None
        return ok and bool(peer)
    return ok & _same(h.get("password"), config.password.get_secret_value())


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    path = request.path
    private = path.startswith("/private/")
    if (private or path.startswith("/api/")) and not _authorized(
        request, request.app[SANDBOX], private
    ):
        raise errors.unknown_user()
    return await handler(request)


def build_app(sandbox: Sandbox) -> web.Application:
    app = web.Application(
        middlewares=[error_middleware, count_middleware, fault_middleware, auth_middleware],
        client_max_size=1024 * 1024,
    )
    app[SANDBOX] = sandbox
    admin_api.add_routes(app.router)
    for base in ("", "/private"):
        ssl_api.add_routes(app.router, base)
        smime_api.add_routes(app.router, base)
    return app
