"""The sandbox-only admin endpoint under ``/sandbox-admin/`` (not part of SCM; no auth, loopback).

Routes (JSON in and out):

==========================================  ==============================================
``GET  /sandbox-admin/health``              ``{"ok": true}``
``GET  /sandbox-admin/ca``                  ``{"root": PEM, "intermediate": PEM}``
``GET  /sandbox-admin/orders``              order rows; filters ``commonName``, ``email``, ``kind``
``GET  /sandbox-admin/orders/{id}``         one order row
``POST /sandbox-admin/orders/{id}/{action}`` ``approve`` ``decline`` ``reject`` ``issue``
                                            ``expire`` ``revoke`` (body ``{"reasonCode": n}``)
``GET  /sandbox-admin/counters``            enrolls per CN/email, collects per order, revocations,
                                            renewals, replacements, calls per endpoint
``GET|POST /sandbox-admin/faults``          list / add a fault rule (``FaultRule`` fields)
``DELETE /sandbox-admin/faults[/{id}]``     remove all / one fault
``GET|PATCH /sandbox-admin/settings``       runtime settings (pendingCode, strictReasonCode, ...)
``POST /sandbox-admin/clock``               ``{"advanceSeconds": n}`` moves the sandbox clock
``POST /sandbox-admin/reset``               forget orders, counters, faults, settings (keep CA)
==========================================  ==============================================

Errors use the SCM envelope too; state errors are 409 (the admin endpoint is ours, not SCM's).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives.serialization import Encoding
from pydantic import ValidationError

from . import bodies, errors
from .config import FaultRule
from .keys import SANDBOX
from .service import Sandbox
from .store import Kind
from .views import admin_order

PREFIX = "/sandbox-admin"


def _bad(description: str) -> errors.ScmError:
    return errors.ScmError(400, -1601, description)


async def health(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def ca(request: web.Request) -> web.Response:
    authority = request.app[SANDBOX].ca
    return web.json_response(
        {
            "root": authority.root.public_bytes(Encoding.PEM).decode(),
            "intermediate": authority.intermediate.public_bytes(Encoding.PEM).decode(),
        }
    )


async def orders(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    q = request.query
    kinds: list[Kind] = ["ssl", "smime"]
    if q.get("kind"):
        if q["kind"] not in ("ssl", "smime"):
            raise _bad("kind must be ssl or smime")
        kinds = [q["kind"]]  # type: ignore[list-item]
    equals: dict[str, object] = {}
    if q.get("commonName"):
        equals["common_name"] = q["commonName"]
    if q.get("email"):
        equals["email"] = q["email"]
    rows = [o for kind in kinds for o in sandbox.select(kind, **equals)]
    rows.sort(key=lambda o: o.id)
    return web.json_response([admin_order(o) for o in rows])


async def order(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    return web.json_response(admin_order(sandbox.require(bodies.path_int(request, "id"))))


async def order_action(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    target = sandbox.require(bodies.path_int(request, "id"))
    action = request.match_info["action"]
    try:
        if action == "approve":
            sandbox.approve(target)
        elif action == "decline":
            sandbox.decline(target)
        elif action == "reject":
            sandbox.reject(target)
        elif action == "issue":
            sandbox.force_issue(target)
        elif action == "expire":
            sandbox.expire(target)
        elif action == "revoke":
            body = await bodies.json_body(request, allow_empty=True)
            sandbox.revoke(target, sandbox.reason_code(body))
        else:
            raise _bad(f"unknown action {action!r}")
    except errors.ScmError as exc:
        if exc.status == 400 and exc.code != -1601:
            raise errors.ScmError(409, exc.code, exc.description) from None
        raise
    return web.json_response(admin_order(sandbox.require(target.id)))


def counters_json(sandbox: Sandbox) -> dict[str, Any]:
    c = sandbox.counters
    return {
        "enrollsByCommonName": dict(c.enrolls_by_common_name),
        "enrollsByEmail": dict(c.enrolls_by_email),
        "collectCallsByOrder": {
            str(o.id): o.collect_calls for o in sandbox.store.select() if o.collect_calls
        },
        "callsByEndpoint": dict(c.calls_by_endpoint),
        "revocations": c.revocations,
        "renewals": c.renewals,
        "replacements": c.replacements,
    }


async def counters(request: web.Request) -> web.Response:
    return web.json_response(counters_json(request.app[SANDBOX]))


async def list_faults(request: web.Request) -> web.Response:
    return web.json_response([f.as_json() for f in request.app[SANDBOX].faults.list()])


async def add_fault(request: web.Request) -> web.Response:
    body = await bodies.json_body(request)
    try:
        rule = FaultRule.model_validate(body)
    except ValidationError as exc:
        raise _bad(f"invalid fault rule: {exc.error_count()} error(s)") from None
    return web.json_response(request.app[SANDBOX].faults.add(rule).as_json(), status=201)


async def clear_faults(request: web.Request) -> web.Response:
    request.app[SANDBOX].faults.clear()
    return web.Response(status=204)


async def remove_fault(request: web.Request) -> web.Response:
    if not request.app[SANDBOX].faults.remove(bodies.path_int(request, "id")):
        raise errors.ScmError(404, -1, "No such fault")
    return web.Response(status=204)


_SETTINGS = {
    "pendingCode": "pending_code",
    "strictReasonCode": "strict_reason_code",
    "issueDelaySeconds": "issue_delay_seconds",
    "issueAfterCollects": "issue_after_collects",
    "approvalMode": "approval_mode",
    "rejectNext": "reject_next",
    "lifetimeSeconds": "lifetime_seconds",
}


def _setting_ok(key: str, value: object) -> bool:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if key == "pendingCode":
        return number and value in (0, -1400, -183)
    if key == "strictReasonCode":
        return isinstance(value, bool)
    if key == "approvalMode":
        return value in ("profile", "always", "never")
    if key == "issueDelaySeconds":
        return number and float(value) >= 0  # type: ignore[arg-type]
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


async def settings(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    if request.method == "PATCH":
        body = await bodies.json_body(request)
        for key, value in body.items():
            if key not in _SETTINGS:
                raise _bad(f"unknown setting {key!r}")
            if not _setting_ok(key, value):
                raise _bad(f"invalid value for {key}")
        for key, value in body.items():
            setattr(sandbox.settings, _SETTINGS[key], value)
    return web.json_response(sandbox.settings.as_json())


async def clock(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    body = await bodies.json_body(request)
    seconds = body.get("advanceSeconds")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
        raise _bad("advanceSeconds must be a non-negative number")
    sandbox.settings.clock_offset += float(seconds)
    return web.json_response({"now": sandbox.now(), **sandbox.settings.as_json()})


async def reset(request: web.Request) -> web.Response:
    request.app[SANDBOX].reset()
    return web.Response(status=204)


def add_routes(router: web.UrlDispatcher) -> None:
    p = PREFIX
    router.add_get(f"{p}/health", health)
    router.add_get(f"{p}/ca", ca)
    router.add_get(f"{p}/orders", orders)
    router.add_get(f"{p}/orders/{{id}}", order)
    router.add_post(f"{p}/orders/{{id}}/{{action}}", order_action)
    router.add_get(f"{p}/counters", counters)
    router.add_get(f"{p}/faults", list_faults)
    router.add_post(f"{p}/faults", add_fault)
    router.add_delete(f"{p}/faults", clear_faults)
    router.add_delete(f"{p}/faults/{{id}}", remove_fault)
    router.add_get(f"{p}/settings", settings)
    router.add_patch(f"{p}/settings", settings)
    router.add_post(f"{p}/clock", clock)
    router.add_post(f"{p}/reset", reset)
