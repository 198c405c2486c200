"""JSON views of orders: SSL details and list items, S/MIME details and list items, admin rows.

Pure functions of an order, its profile and the CA; field names exactly as SCM spells them (§5.4,
§5.5, §6.6). Dates: ``MM/dd/yyyy`` for SSL, ``yyyy-MM-dd`` for the S/MIME list.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from .config import Profile
from .lifecycle import smime_state
from .store import Order

VENDOR = "Sandbox SCM"


def us_date(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%m/%d/%Y")


def iso_date(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d")


def profile_json(profile: Profile) -> dict[str, Any]:
    return {
        "id": profile.id,
        "name": profile.name,
        "description": profile.description,
        "terms": list(profile.terms),
        "keyTypes": {k: list(v) for k, v in profile.key_types.items()},
        "useSecondaryOrgName": profile.use_secondary_org_name,
    }


def certificate_details(order: Order) -> dict[str, str] | None:
    if not order.cert_pem:
        return None
    cert = x509.load_pem_x509_certificate(order.cert_pem.encode())
    der = cert.public_bytes(Encoding.DER)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans = ", ".join(
            [f"dNSName={n}" for n in san.get_values_for_type(x509.DNSName)]
            + [f"iPAddress={n}" for n in san.get_values_for_type(x509.IPAddress)]
            + [f"rfc822Name={n}" for n in san.get_values_for_type(x509.RFC822Name)]
        )
    except x509.ExtensionNotFound:
        sans = ""
    return {
        "issuer": cert.issuer.rfc4514_string(),
        "subject": cert.subject.rfc4514_string(),
        "subjectAltNames": sans,
        "md5Hash": hashlib.md5(der, usedforsecurity=False).hexdigest().upper(),
        "sha1Hash": hashlib.sha1(der, usedforsecurity=False).hexdigest().upper(),
    }


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


def _key_fields(order: Order) -> dict[str, Any]:
    algorithm, _, param = order.key_type.partition(" - ")
    return {
        "signatureAlg": "SHA256WITHECDSA",
        "keyAlgorithm": algorithm,
        "keySize": int(param) if param.isdigit() else None,
        "keyType": order.key_type,
    }


def ssl_details(order: Order, profile: Profile | None, login: str) -> dict[str, Any]:
    is_ec = order.key_type.startswith("EC")
    data: dict[str, Any] = {
        "id": order.id,
        "sslId": order.id,
        "commonName": order.common_name,
        "orgId": order.org_id,
        "status": order.status,
        "orderNumber": order.order_number,
        "backendCertId": order.backend_cert_id,
        "vendor": VENDOR,
        "certType": profile_json(profile) if profile else {"id": order.cert_type},
        "subType": "Organization Validation (OV)",
        "validationType": "OV",
        "term": order.term,
        "owner": login,
        "ownerId": 1,
        "requester": login,
        "requesterId": 1,
        "requestedVia": "REST API",
        "externalRequester": order.external_requester,
        "comments": order.comments,
        "requested": us_date(order.requested),
        "approved": us_date(order.approved),
        "issued": us_date(order.issued),
        "declined": us_date(order.declined),
        "expires": us_date(order.not_after),
        "replaced": us_date(order.replaced),
        "revoked": us_date(order.revoked),
        "renewedDate": us_date(order.renewed_date),
        "reasonCode": order.reason_code,
        "renewed": order.renewed,
        "serialNumber": order.serial,
        **_key_fields(order),
        "keyUsages": ["digitalSignature"] + ([] if is_ec else ["keyEncipherment"]),
        "extendedKeyUsages": ["serverAuth", "clientAuth"],
        "subjectAlternativeNames": list(order.sans),
        "customFields": list(order.custom_fields),
        "certificateDetails": certificate_details(order),
        "autoInstallDetails": {"state": "NOT_STARTED", "nodes": []},
        "autoRenewDetails": {"state": "Not scheduled", "daysBeforeExpiration": 30},
        "suspendNotifications": False,
    }
    return _drop_none(data)


def ssl_list_item(order: Order) -> dict[str, Any]:
    data: dict[str, Any] = {
        "sslId": order.id,
        "commonName": order.common_name,
        "subjectAlternativeNames": list(order.sans),
    }
    if order.serial:
        data["serialNumber"] = order.serial
    return data


def smime_list_item(order: Order) -> dict[str, Any]:
    return _drop_none(
        {
            "id": order.id,
            "state": smime_state(order.status),
            "certificateDetails": certificate_details(order),
            "orderNumber": order.order_number,
            "serialNumber": order.serial,
            "backendCertId": order.backend_cert_id,
            "expires": iso_date(order.not_after),
            "comments": order.comments,
        }
    )


def smime_details(order: Order, profile: Profile | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "commonName": order.common_name,
        "id": order.id,
        "subType": "Private",
        "orgId": order.org_id,
        "status": smime_state(order.status),
        "backendCertId": order.backend_cert_id,
        "certType": profile_json(profile) if profile else {"id": order.cert_type},
        "term": order.term,
        "requestedVia": "REST Enroll API",
        "requested": us_date(order.requested),
        "issued": us_date(order.issued),
        "expires": us_date(order.not_after),
        "revoked": us_date(order.revoked),
        "reasonCode": order.reason_code,
        "serialNumber": order.serial,
        **_key_fields(order),
        "keyUsages": ["digitalSignature", "keyEncipherment"],
        "extendedKeyUsages": ["clientAuth", "emailProtection"],
        "subjectAlternativeNames": [order.email, *order.secondary_emails],
        "customFields": list(order.custom_fields),
        "certificateDetails": certificate_details(order),
        "suspendNotifications": False,
        "comments": order.comments,
    }
    return _drop_none(data)


def admin_order(order: Order) -> dict[str, Any]:
    """The admin endpoint's view: everything a test wants to assert on."""
    return {
        "kind": order.kind,
        "id": order.id,
        "orderNumber": order.order_number,
        "backendCertId": order.backend_cert_id,
        "renewId": order.renew_id,
        "status": order.status,
        "state": smime_state(order.status) if order.kind == "smime" else None,
        "commonName": order.common_name,
        "email": order.email,
        "subjectAlternativeNames": list(order.sans),
        "comments": order.comments,
        "certType": order.cert_type,
        "term": order.term,
        "serialNumber": order.serial,
        "collectCalls": order.collect_calls,
        "pendingAnswers": order.pending_answers,
        "renewed": order.renewed,
        "renewedFrom": order.renewed_from,
        "reasonCode": order.reason_code,
        "certificate": order.cert_pem or None,
    }
