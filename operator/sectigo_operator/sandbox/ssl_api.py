"""Handlers for the SCM SSL API, ``/api/ssl/v1`` (reference §5, checklist items 4-16)."""

from __future__ import annotations

from aiohttp import web

from . import bodies, errors
from .csr import check_key_allowed, parse_csr
from .formats import canonical_format
from .keys import SANDBOX
from .names import check_names, dedupe_names, normalize_serial
from .store import Order
from .views import profile_json, ssl_details, ssl_list_item

PREFIX = "/api/ssl/v1"
MAX_PAGE = 200


async def types(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    org = request.query.get("organizationId")
    if org:
        org_id = bodies.int_value(org, "organizationId")
        if org_id not in sandbox.config.org_ids:
            raise errors.invalid_org()
    return web.json_response([profile_json(p) for p in sandbox.config.ssl_profiles])


async def custom_fields(request: web.Request) -> web.Response:
    fields = request.app[SANDBOX].config.custom_fields
    return web.json_response(
        [{"id": f.id, "name": f.name, "mandatory": f.mandatory} for f in fields]
    )


async def enroll(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    body = await bodies.json_body(request)
    org_id = bodies.req_int(body, "orgId")
    if org_id not in sandbox.config.org_ids:
        raise errors.invalid_org()
    if body.get("certType") is None:
        raise errors.missing_field("certType")
    profile = sandbox.config.ssl_profile(bodies.int_value(body["certType"], "certType"))
    if profile is None:
        raise errors.invalid_profile()
    if body.get("term") is None:
        raise errors.missing_field("term")
    term = bodies.int_value(body["term"], "term")
    if term not in profile.terms:
        raise errors.invalid_term()
    if body.get("csr") in (None, ""):
        raise errors.missing_field("csr")
    csr = parse_csr(body["csr"])
    check_key_allowed(csr, profile.key_types)
    fields = bodies.custom_fields(body, sandbox.config.custom_fields, profile)
    sans_text = body.get("subjAltNames") or ""
    if not isinstance(sans_text, str):
        raise errors.invalid_field("subjAltNames")
    extra = [s.strip() for s in sans_text.split(",") if s.strip()]
    comments = bodies.opt_str(body, "comments", 1024)
    requester = bodies.opt_str(body, "externalRequester", 512)
    common_name = csr.common_name or (extra[0] if extra else "")
    if not common_name:
        raise errors.missing_field("commonName")
    check_names(common_name, [*extra, *csr.dns_names])
    order = Order(
        kind="ssl",
        status="Init",
        org_id=org_id,
        cert_type=profile.id,
        term=term,
        csr=csr.pem,
        key_type=csr.key_type,
        requested=0.0,
        common_name=common_name,
        sans=dedupe_names([common_name, *extra, *csr.dns_names]),
        comments=comments,
        external_requester=requester,
        custom_fields=fields,
    )
    order = sandbox.enroll(order, profile)
    return web.json_response({"sslId": order.id, "renewId": order.renew_id})


async def collect(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    order_id = bodies.path_int(request, "sslId")
    fmt = canonical_format(
        request.match_info.get("format") or request.query.get("format") or "base64"
    )
    order = sandbox.require(order_id, "ssl")
    data, filename = sandbox.collect(order, fmt)
    return collect_response(data, filename)


def collect_response(data: bytes, filename: str) -> web.Response:
    return web.Response(
        body=data,
        headers={
            "Content-Type": "application/octet-stream;charset=UTF-8",
            "Content-Disposition": f'attachment; filename="{filename}"',
        },
    )


async def details(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    order = sandbox.require(bodies.path_int(request, "sslId"), "ssl")
    return web.json_response(ssl_details(order, sandbox.profile(order), sandbox.config.login))


async def list_certificates(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    q = request.query
    size = bodies.query_int(request, "size", MAX_PAGE, maximum=MAX_PAGE)
    position = bodies.query_int(request, "position", 0)
    equals: dict[str, object] = {}
    if q.get("commonName"):
        equals["common_name"] = q["commonName"]
    if q.get("status"):
        equals["status"] = q["status"].replace("SA Approved", "SAApproved")
    if q.get("sslTypeId"):
        equals["cert_type"] = bodies.int_value(q["sslTypeId"], "sslTypeId")
    if q.get("orgId"):
        equals["org_id"] = bodies.int_value(q["orgId"], "orgId")
    if q.get("serialNumber"):
        equals["serial"] = normalize_serial(q["serialNumber"])
    orders = sandbox.select("ssl", **equals)
    san = q.get("subjectAlternativeName")
    if san:
        orders = [o for o in orders if san.lower() in (s.lower() for s in o.sans)]
    if "status" in equals:  # the lifecycle may have moved orders since the SQL filter
        orders = [o for o in orders if o.status.lower() == str(equals["status"]).lower()]
    page = orders[position : position + size]
    return web.json_response(
        [ssl_list_item(o) for o in page], headers={"X-Total-Count": str(len(orders))}
    )


async def renew_by_id(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    source = sandbox.require(bodies.path_int(request, "sslId"), "ssl")
    body = await bodies.json_body(request, allow_empty=True)
    csr = parse_csr(body["csr"]) if body.get("csr") else None
    profile = sandbox.profile(source)
    if csr is not None and profile is not None:
        check_key_allowed(csr, profile.key_types)
    new = sandbox.renew(source, csr)
    return web.json_response({"sslId": new.id})


async def renew_by_renew_id(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    found = sandbox.store.by_renew_id(request.match_info["renewId"])
    if found is None:
        raise errors.wrong_renew_id()
    source = sandbox.advance(found)
    body = await bodies.json_body(request, allow_empty=True)
    csr = parse_csr(body["csr"]) if body.get("csr") else None
    sandbox.renew(source, csr)
    return web.Response(status=204)


async def replace(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    order = sandbox.require(bodies.path_int(request, "sslId"), "ssl")
    body = await bodies.json_body(request)
    if body.get("csr") in (None, ""):
        raise errors.missing_field("csr")
    csr = parse_csr(body["csr"])
    bodies.req_str(body, "reason", 512)
    common_name = bodies.opt_str(body, "commonName", 64) or None
    sans = bodies.str_list(body, "subjectAlternativeNames")
    profile = sandbox.profile(order)
    if profile is not None:
        check_key_allowed(csr, profile.key_types)
    check_names(common_name or csr.common_name or order.common_name, [*(sans or []),
                *csr.dns_names])  # fmt: skip
    sandbox.replace(order, csr, common_name or csr.common_name or None, sans)
    return web.Response(status=204)


async def _revoke(request: web.Request, order: Order) -> web.Response:
    sandbox = request.app[SANDBOX]
    body = await bodies.json_body(request)
    bodies.req_str(body, "reason", 512)
    reason_code = sandbox.reason_code(body)
    sandbox.revoke(order, reason_code)
    return web.Response(status=204)


async def revoke(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    order = sandbox.require(bodies.path_int(request, "sslId"), "ssl")
    return await _revoke(request, order)


async def revoke_by_serial(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    serial = request.match_info["serialNumber"]
    found = sandbox.store.by_serial(normalize_serial(serial), "ssl")
    if found is None:
        raise errors.not_found(serial)
    return await _revoke(request, sandbox.advance(found))


async def _message(request: web.Request) -> None:
    body = await bodies.json_body(request)
    bodies.req_str(body, "message", 512)


async def approve(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    order = sandbox.require(bodies.path_int(request, "sslId"), "ssl")
    await _message(request)
    sandbox.approve(order)
    return web.Response(status=204)


async def decline(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    order = sandbox.require(bodies.path_int(request, "sslId"), "ssl")
    await _message(request)
    sandbox.decline(order)
    return web.Response(status=204)


def add_routes(router: web.UrlDispatcher, base: str = "") -> None:
    p = base + PREFIX
    router.add_get(f"{p}/types", types)
    router.add_get(f"{p}/customFields", custom_fields)
    router.add_post(f"{p}/enroll", enroll)
    router.add_get(f"{p}/collect/{{sslId}}", collect)
    router.add_get(f"{p}/collect/{{sslId}}/{{format}}", collect)
    router.add_post(f"{p}/renewById/{{sslId}}", renew_by_id)
    router.add_post(f"{p}/renew/{{renewId}}", renew_by_renew_id)
    router.add_post(f"{p}/replace/{{sslId}}", replace)
    router.add_post(f"{p}/revoke/serial/{{serialNumber}}", revoke_by_serial)
    router.add_post(f"{p}/revoke/{{sslId}}", revoke)
    router.add_post(f"{p}/approve/{{sslId}}", approve)
    router.add_post(f"{p}/decline/{{sslId}}", decline)
    router.add_get(p, list_certificates)
    router.add_get(f"{p}/{{sslId}}", details)
