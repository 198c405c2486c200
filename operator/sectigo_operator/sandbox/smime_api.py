"""Handlers for the SCM client-certificate (S/MIME) API, ``/api/smime/v1|v2`` (checklist 17-22)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import bodies, errors
from .csr import check_key_allowed, parse_csr
from .formats import canonical_format
from .keys import SANDBOX
from .names import normalize_serial
from .service import Sandbox
from .ssl_api import MAX_PAGE, collect_response
from .store import Order
from .views import profile_json, smime_details, smime_list_item

_STATES_TO_STATUS = {
    "requested": ("Requested", "Approved", "SAApproved", "Applied"),
    "created": ("Init",),
    "issued": ("Issued",),
    "revoked": ("Revoked",),
    "expired": ("Expired",),
    "rejected": ("Declined", "Rejected", "Invalid"),
}


async def types(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    return web.json_response([profile_json(p) for p in sandbox.config.smime_profiles])


async def custom_fields(request: web.Request) -> web.Response:
    fields = request.app[SANDBOX].config.custom_fields
    return web.json_response(
        [{"id": f.id, "name": f.name, "mandatory": f.mandatory} for f in fields]
    )


def _full_name(body: dict[str, Any]) -> tuple[str, str, str]:
    first = bodies.req_str(body, "firstName", 64)
    middle = bodies.opt_str(body, "middleName", 64)
    last = bodies.req_str(body, "lastName", 64)
    if len(" ".join(p for p in (first, middle, last) if p)) > 64:
        raise errors.invalid_field("firstName")
    return first, middle, last


async def enroll(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    body = await bodies.json_body(request)
    org_id = bodies.req_int(body, "orgId")
    if org_id not in sandbox.config.org_ids:
        raise errors.invalid_org()
    if body.get("certType") is None:
        raise errors.missing_field("certType")
    profile = sandbox.config.smime_profile(bodies.int_value(body["certType"], "certType"))
    if profile is None:
        raise errors.invalid_client_profile()
    if body.get("term") is None:
        raise errors.missing_field("term")
    if bodies.int_value(body["term"], "term") not in profile.terms:
        raise errors.invalid_term()
    address = bodies.email(body.get("email"))
    first, middle, last = _full_name(body)
    secondary = bodies.str_list(body, "secondaryEmails", 128) or []
    for extra in secondary:
        bodies.email(extra, "secondaryEmails")
    if body.get("csr") in (None, ""):
        raise errors.missing_field("csr")
    csr = parse_csr(body["csr"])
    check_key_allowed(csr, profile.key_types)
    fields = bodies.custom_fields(body, sandbox.config.custom_fields, profile)
    common_name = bodies.opt_str(body, "commonName", 64) or " ".join(
        p for p in (first, middle, last) if p
    )
    bodies.opt_str(body, "phone", 32)
    bodies.opt_str(body, "eppn", 128)
    bodies.opt_str(body, "upn", 256)
    order = Order(
        kind="smime",
        status="Init",
        org_id=org_id,
        cert_type=profile.id,
        term=int(body["term"]),
        csr=csr.pem,
        key_type=csr.key_type,
        requested=0.0,
        common_name=common_name,
        email=address,
        first_name=first,
        middle_name=middle,
        last_name=last,
        secondary_emails=secondary,
        comments=bodies.opt_str(body, "comments", 1024),
        custom_fields=fields,
    )
    order = sandbox.enroll(order, profile)
    return web.json_response(_order_ids(order))


def _order_ids(order: Order) -> dict[str, Any]:
    return {"orderNumber": order.order_number, "backendCertId": order.backend_cert_id}


def _by_backend_id(sandbox: Sandbox, raw: str) -> Order:
    number = bodies.int_value(raw, "backendCertId")
    found = sandbox.store.by_order_number(number, "smime")
    if found is None:
        raise errors.not_found(raw)
    return sandbox.advance(found)


def _by_serial(sandbox: Sandbox, raw: str) -> Order:
    found = sandbox.store.by_serial(normalize_serial(raw), "smime")
    if found is None:
        raise errors.not_found(raw)
    return sandbox.advance(found)


async def collect(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    fmt = canonical_format(
        request.match_info.get("format") or request.query.get("format") or "base64"
    )
    order = _by_backend_id(sandbox, request.match_info["backendCertId"])
    data, filename = sandbox.collect(order, fmt)
    return collect_response(data, filename)


async def details(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    order = sandbox.require(bodies.path_int(request, "id"), "smime")
    return web.json_response(smime_details(order, sandbox.profile(order)))


async def list_certificates(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    q = request.query
    size = bodies.query_int(request, "size", MAX_PAGE, maximum=MAX_PAGE)
    position = bodies.query_int(request, "position", 0)
    equals: dict[str, object] = {}
    if q.get("email"):
        equals["email"] = q["email"]
    if q.get("backendCertId"):
        equals["order_number"] = bodies.int_value(q["backendCertId"], "backendCertId")
    if q.get("certTypeId"):
        equals["cert_type"] = bodies.int_value(q["certTypeId"], "certTypeId")
    if q.get("serialNumber"):
        equals["serial"] = normalize_serial(q["serialNumber"])
    orders = sandbox.select("smime", **equals)
    state = q.get("state")
    if state:
        wanted = _STATES_TO_STATUS.get(state.lower(), ())
        orders = [o for o in orders if o.status in wanted]
    page = orders[position : position + size]
    return web.json_response(
        [smime_list_item(o) for o in page], headers={"X-Total-Count": str(len(orders))}
    )


async def renew_by_order(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    source = _by_backend_id(sandbox, request.match_info["backendCertId"])
    return web.json_response(_order_ids(sandbox.renew(source, None)))


async def renew_by_serial(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    source = _by_serial(sandbox, request.match_info["serial"])
    return web.json_response(_order_ids(sandbox.renew(source, None)))


async def _revoke_body(request: web.Request) -> tuple[dict[str, Any], int]:
    sandbox = request.app[SANDBOX]
    body = await bodies.json_body(request)
    bodies.opt_str(body, "reason", 512)
    return body, sandbox.reason_code(body)


async def revoke_by_order(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    order = _by_backend_id(sandbox, request.match_info["backendCertId"])
    _, code = await _revoke_body(request)
    sandbox.revoke(order, code)
    return web.Response(status=204)


async def revoke_by_serial(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    order = _by_serial(sandbox, request.match_info["serial"])
    _, code = await _revoke_body(request)
    sandbox.revoke(order, code)
    return web.Response(status=204)


async def revoke_by_email(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    body, code = await _revoke_body(request)
    address = bodies.email(body.get("email"))
    valid = [o for o in sandbox.select("smime", email=address) if o.status == "Issued"]
    if not valid:
        raise errors.no_client_certificates()
    for order in valid:
        sandbox.revoke(order, code)
    return web.Response(status=204)


async def replace_by_order(request: web.Request) -> web.Response:
    """Legacy (deprecated in SCM) replace: new key for the same order; optionally revoke."""
    sandbox = request.app[SANDBOX]
    order = _by_backend_id(sandbox, request.match_info["orderNumber"])
    body = await bodies.json_body(request)
    if body.get("csr") in (None, ""):
        raise errors.missing_field("csr")
    csr = parse_csr(body["csr"])
    bodies.opt_str(body, "reason", 512)
    profile = sandbox.profile(order)
    if profile is not None:
        check_key_allowed(csr, profile.key_types)
    sandbox.replace(order, csr, None, None)
    return web.Response(status=204)


def add_routes(router: web.UrlDispatcher, base: str = "") -> None:
    for version in ("v1", "v2"):
        p = f"{base}/api/smime/{version}"
        router.add_get(f"{p}/types", types)
        router.add_get(f"{p}/customFields", custom_fields)
        router.add_post(f"{p}/enroll", enroll)
        router.add_get(f"{p}/collect/{{backendCertId}}", collect)
        router.add_get(f"{p}/collect/{{backendCertId}}/{{format}}", collect)
        router.add_post(f"{p}/renew/order/{{backendCertId}}", renew_by_order)
        router.add_post(f"{p}/renew/serial/{{serial}}", renew_by_serial)
        router.add_post(f"{p}/revoke/order/{{backendCertId}}", revoke_by_order)
        router.add_post(f"{p}/revoke/serial/{{serial}}", revoke_by_serial)
        router.add_post(f"{p}/revoke", revoke_by_email)
        router.add_post(f"{p}/replace/order/{{orderNumber}}", replace_by_order)
        if version == "v2":
            router.add_get(p, list_certificates)
        router.add_get(f"{p}/{{id}}", details)
