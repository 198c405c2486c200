"""The generated CRDs: structural, complete, and free of secret-carrying fields.

Checks the schema the API server will enforce (the behaviour of the CEL rules themselves is
tested on a real API server in tests/e2e/test_api_validation.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sectigo_operator import crdgen
from sectigo_operator.models import RESOURCES, SectigoCertificate, SectigoConfig, SectigoProfile

CRDS = {r.crd.kind: crdgen.crd(r) for r in RESOURCES}


def schema_of(kind: str) -> dict[str, Any]:
    result: dict[str, Any] = CRDS[kind]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return result


def walk(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, sub in node.get("properties", {}).items():
        yield from walk(sub, f"{path}.{name}" if path else name)
    if "items" in node:
        yield from walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from walk(node["additionalProperties"], f"{path}{{}}")


def leaves(kind: str) -> set[str]:
    return {
        p
        for p, n in walk(schema_of(kind))
        if n["type"] not in ("object", "array") or ("properties" not in n and "items" not in n)
    }


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_schema_is_structural(kind: str) -> None:
    for path, node in walk(schema_of(kind)):
        assert "type" in node, path
        for banned in ("$ref", "anyOf", "oneOf", "allOf", "nullable", "title", "$defs"):
            assert banned not in node, f"{path} has {banned}"
        assert "x-kubernetes-preserve-unknown-fields" not in node, path
        assert not ("properties" in node and "additionalProperties" in node), path
        if node.get("x-kubernetes-list-type") == "map":
            keys = node["x-kubernetes-list-map-keys"]
            assert set(keys) <= set(node["items"].get("required", [])), path


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_every_status_field_is_optional(kind: str) -> None:
    status = schema_of(kind)["properties"]["status"]
    assert "required" not in status
    for path, node in walk(status):
        assert "default" not in node, f"status.{path} has a default"


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_every_field_has_a_description(kind: str) -> None:
    spec = schema_of(kind)["properties"]["spec"]
    missing = [
        p for p, n in walk(spec) if p and not p.endswith(("[]", "{}")) and "description" not in n
    ]
    assert missing == []


# The names the issuance controller is written against (issue 5): they must not move.
FIXED = {
    "SectigoConfig": [
        "spec.url",
        "spec.customerUri",
        "spec.orgId",
        "spec.credentialsSecretRef.name",
        "spec.credentialsSecretRef.loginKey",
        "spec.credentialsSecretRef.passwordKey",
        "spec.clientCertificateSecretRef.name",
        "spec.ssl.certType",
        "spec.ssl.term",
        "spec.ssl.format",
        "spec.ssl.serverType",
        "spec.ssl.numberServers",
        "spec.ssl.comments",
        "spec.ssl.externalRequester",
        "spec.ssl.customFields[].name",
        "spec.ssl.customFields[].value",
        "spec.client.certType",
        "spec.client.term",
        "spec.client.format",
        "spec.client.comments",
        "spec.client.customFields[].name",
        "spec.collect.maxTimeout",
        "spec.collect.loopPeriod",
        "spec.renewal.autoRenew",
        "spec.renewal.expiryWindowDays",
        "spec.privateKey.algorithm",
        "spec.privateKey.size",
        "spec.maxConcurrentRequests",
        "status.conditions[].type",
        "status.observedGeneration",
        "status.lastChecked",
    ],
    "SectigoProfile": [
        "spec.configRef.name",
        "spec.certificateType",
        "spec.profileId",
        "spec.profileName",
        "status.profile.id",
        "status.profile.name",
        "status.profile.description",
        "status.profile.terms",
        "status.profile.keyTypes",
        "status.profile.useSecondaryOrgName",
        "status.profile.customFields[].id",
        "status.profile.customFields[].name",
        "status.profile.customFields[].mandatory",
        "status.fetchedAt",
        "status.conditions[].status",
        "status.observedGeneration",
    ],
    "SectigoCertificate": [
        "spec.configRef.name",
        "spec.certificateType",
        "spec.secretName",
        "spec.commonName",
        "spec.dnsNames",
        "spec.ipAddresses",
        "spec.uris",
        "spec.emailAddresses",
        "spec.subject.organizations",
        "spec.subject.countries",
        "spec.email",
        "spec.firstName",
        "spec.middleName",
        "spec.lastName",
        "spec.phone",
        "spec.secondaryEmails",
        "spec.profileRef.name",
        "spec.certType",
        "spec.term",
        "spec.format",
        "spec.comments",
        "spec.externalRequester",
        "spec.customFields[].name",
        "spec.privateKey.algorithm",
        "spec.privateKey.size",
        "spec.privateKey.rotationPolicy",
        "spec.privateKey.encoding",
        "spec.csrSecretRef.name",
        "spec.csrSecretRef.key",
        "spec.csr",
        "spec.privateKeySecretRef.name",
        "spec.privateKeySecretRef.key",
        "spec.import.sslId",
        "spec.import.orderNumber",
        "spec.renewal.autoRenew",
        "spec.renewal.expiryWindowDays",
        "spec.deletionPolicy",
        "spec.secretTemplate.labels",
        "spec.secretTemplate.annotations",
        "spec.additionalOutputFormats[].type",
        "spec.renewRequest.id",
        "spec.replaceRequest.id",
        "spec.replaceRequest.reason",
        "spec.revokeRequest.id",
        "spec.revokeRequest.reasonCode",
        "spec.revokeRequest.reason",
        "status.observedGeneration",
        "status.conditions[].type",
        "status.conditions[].status",
        "status.conditions[].reason",
        "status.conditions[].message",
        "status.conditions[].lastTransitionTime",
        "status.conditions[].observedGeneration",
        "status.certUniqueId",
        "status.sslId",
        "status.orderNumber",
        "status.backendCertId",
        "status.renewId",
        "status.scmStatus",
        "status.state",
        "status.history[].status",
        "status.history[].timestamp",
        "status.history[].message",
        "status.lastError.code",
        "status.lastError.description",
        "status.lastError.httpStatus",
        "status.lastError.timestamp",
        "status.notBefore",
        "status.notAfter",
        "status.renewalTime",
        "status.serialNumber",
        "status.fingerprint",
        "status.secretName",
        "status.enrollment.marker",
        "status.enrollment.startedAt",
        "status.enrollment.operation",
        "status.enrollment.attempt",
        "status.collectStartedAt",
        "status.lastRenewRequestId",
        "status.lastReplaceRequestId",
        "status.lastRevokeRequestId",
        "status.failedAttempts",
    ],
}


@pytest.mark.parametrize("kind", sorted(FIXED))
def test_fixed_field_names_exist(kind: str) -> None:
    paths = {p for p, _ in walk(schema_of(kind))}
    assert sorted(set(FIXED[kind]) - paths) == []


def node_at(kind: str, path: str) -> dict[str, Any]:
    return dict(walk(schema_of(kind)))[path]


@pytest.mark.parametrize(
    ("kind", "path", "default"),
    [
        ("SectigoConfig", "spec.credentialsSecretRef.loginKey", "login"),
        ("SectigoConfig", "spec.credentialsSecretRef.passwordKey", "password"),
        ("SectigoConfig", "spec.ssl.serverType", -1),
        ("SectigoConfig", "spec.collect.maxTimeout", 600),
        ("SectigoConfig", "spec.collect.loopPeriod", 30),
        ("SectigoConfig", "spec.collect", {}),
        ("SectigoConfig", "spec.renewal.autoRenew", True),
        ("SectigoConfig", "spec.renewal.expiryWindowDays", 30),
        ("SectigoCertificate", "spec.csrSecretRef.key", "tls.csr"),
        ("SectigoCertificate", "spec.privateKeySecretRef.key", "tls.key"),
        ("SectigoCertificate", "spec.deletionPolicy", "Retain"),
        ("SectigoCertificate", "spec.revokeRequest.reasonCode", 0),
    ],
)
def test_defaults(kind: str, path: str, default: Any) -> None:
    assert node_at(kind, path)["default"] == default


@pytest.mark.parametrize(
    ("kind", "path", "minimum", "maximum"),
    [
        ("SectigoCertificate", "spec.term", 1, 3650),
        ("SectigoConfig", "spec.ssl.term", 1, 3650),
        ("SectigoConfig", "spec.renewal.expiryWindowDays", 1, 3650),
        ("SectigoCertificate", "spec.renewal.expiryWindowDays", 1, 3650),
        ("SectigoConfig", "spec.collect.loopPeriod", 1, 86400),
        ("SectigoConfig", "spec.orgId", 1, None),
    ],
)
def test_bounds(kind: str, path: str, minimum: int, maximum: int | None) -> None:
    node = node_at(kind, path)
    assert node["minimum"] == minimum
    assert node.get("maximum") == maximum


def test_enums() -> None:
    assert node_at("SectigoCertificate", "spec.revokeRequest.reasonCode")["enum"] == [0, 1, 3, 4, 5]
    assert node_at("SectigoCertificate", "spec.privateKey.algorithm")["enum"] == ["RSA", "ECDSA"]
    assert set(node_at("SectigoCertificate", "spec.privateKey.rotationPolicy")["enum"]) == {
        "Always",
        "Never",
    }
    assert node_at("SectigoCertificate", "spec.certificateType")["enum"] == ["ssl", "client"]
    assert node_at("SectigoCertificate", "spec.email")["format"] == "email"


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("SectigoCertificate", "spec.certificateType"),
        ("SectigoCertificate", "spec.secretName"),
        ("SectigoCertificate", "spec.configRef"),
        ("SectigoCertificate", "spec.import"),
        ("SectigoProfile", "spec.certificateType"),
    ],
)
def test_immutable_fields(kind: str, path: str) -> None:
    rules = node_at(kind, path)["x-kubernetes-validations"]
    assert {
        "rule": "self == oldSelf",
        "message": f"{path} is immutable",
        "reason": "FieldValueForbidden",
    } in rules


SECRETISH = ("password", "privatekey", "pem", "secret", "token", "p12")


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_no_field_can_carry_a_key_or_password(kind: str) -> None:
    """Secret material can only be *referenced*: every leaf with a secret-ish name is the name
    of a Secret or of a key inside one, or a setting of the generated key."""
    allowed = {
        "spec.credentialsSecretRef.passwordKey",
        "spec.privateKey.algorithm",
        "spec.privateKey.size",
        "spec.privateKey.rotationPolicy",
        "spec.privateKey.encoding",
        "spec.secretName",
        "status.secretName",
        # SHA-256 over the Secret's data (a private key among it): a digest, never the data
        "status.secretDigest",
        # metadata copied to the Secret, not Secret data
        "spec.secretTemplate.labels",
        "spec.secretTemplate.annotations",
    }
    for path in {leaf.removesuffix("{}") for leaf in leaves(kind)}:
        lowered = path.lower()
        if not any(word in lowered for word in SECRETISH):
            continue
        under_ref = any(part.endswith("SecretRef") for part in path.split(".")[:-1])
        assert path in allowed or (
            under_ref and path.rsplit(".", 1)[-1] in ("name", "key", "loginKey")
        ), path
    private_key = node_at("SectigoCertificate", "spec.privateKey")
    assert set(private_key["properties"]) == {"algorithm", "size", "rotationPolicy", "encoding"}


def test_printer_columns_and_names() -> None:
    version = CRDS["SectigoCertificate"]["spec"]["versions"][0]
    columns = {c["name"]: c for c in version["additionalPrinterColumns"]}
    assert [c["name"] for c in version["additionalPrinterColumns"] if not c.get("priority")] == [
        "Ready",
        "Type",
        "CN/E-mail",
        "SCM Status",
        "Expires",
        "Age",
    ]
    assert {"SCM ID", "Secret", "Config"} <= {n for n, c in columns.items() if c.get("priority")}
    assert {f["jsonPath"] for f in version["selectableFields"]} >= {
        ".spec.certificateType",
        ".spec.configRef.name",
    }
    for resource, short in (
        (SectigoCertificate, "scert"),
        (SectigoConfig, "scfg"),
        (SectigoProfile, "sprof"),
    ):
        names = CRDS[resource.crd.kind]["spec"]["names"]
        assert short in names["shortNames"] and names["categories"] == ["sectigo"]
        assert CRDS[resource.crd.kind]["spec"]["scope"] == "Namespaced"
        assert CRDS[resource.crd.kind]["spec"]["group"] == "sectigo-operator.io"
        assert CRDS[resource.crd.kind]["spec"]["versions"][0]["subresources"] == {"status": {}}


def test_generator_rejects_unions() -> None:
    with pytest.raises(crdgen.SchemaError, match="unions"):
        crdgen.structural({"anyOf": [{"type": "string"}, {"type": "integer"}]}, {})


def test_descriptions_are_plain_text() -> None:
    assert (
        crdgen.describe("A ``code`` word,\n  wrapped.\n\nNext.")
        == "A `code` word, wrapped.\n\nNext."
    )


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("www-tls", True),
        ("a.b-c.d", True),
        ("0", True),
        ("0..0", False),
        ("a.-b", False),
        ("a-.b", False),
        (".a", False),
        ("a.", False),
        ("A", False),
    ],
)
def test_object_names_are_dns_subdomains(name: str, valid: bool) -> None:
    """The API server refuses a Secret named ``0..0``: the schema refuses it first."""
    from pydantic import TypeAdapter, ValidationError

    from sectigo_operator.models.common import ObjectName

    adapter = TypeAdapter(ObjectName)
    if valid:
        assert adapter.validate_python(name) == name
    else:
        with pytest.raises(ValidationError):
            adapter.validate_python(name)
