"""Revocation, deletion policies, replacements, imports and request ids around orders in flight.

Steps against the fake Kubernetes of ``test_certificate_steps`` and the in-process sandbox SCM:
what is revoked is always the certificate in the Secret (``status.issuedOrder``), never a
renewal in flight; a request id is answered only by a new certificate; a deletion keeps what the
policy says at the time of deletion.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from tests.unit import test_certificate_steps as steps
from tests.unit.test_certificate_steps import (
    NS,
    Died,
    FakeKube,
    cert_body,
    ordered_outside,
    step,
)

from sectigo_operator import pki
from sectigo_operator.certificates import RetryLater, Stalled, drift
from sectigo_operator.certificates.context import Context
from sectigo_operator.k8s import SecretData
from sectigo_operator.sandbox.testing import SandboxHandle

ctx = steps.ctx  # the fixture: a Context over a FakeKube and the session's sandbox SCM

FINALIZER = "sectigo-operator.io/deletion-policy"


def _edit(obj: dict[str, Any], **spec: Any) -> None:
    obj["spec"].update(spec)
    obj["metadata"]["generation"] += 1


async def _issued_with_approval(
    ctx: Context, sandbox: SandboxHandle, name: str, **spec: Any
) -> dict[str, Any]:
    """A certificate of the approval-required profile 52, approved and issued."""
    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    obj = kube.objects[("sectigocertificates", name)] = cert_body(
        name, commonName=f"{name}.example.com", certType=52, **spec
    )
    with pytest.raises(RetryLater, match="approval"):
        await step(ctx, name)
    sandbox.approve(obj["status"]["sslId"])
    await step(ctx, name)
    assert obj["status"]["state"] == "Issued"
    return obj


async def _renewal_waiting(ctx: Context, sandbox: SandboxHandle, obj: dict[str, Any]) -> int:
    _edit(obj, renewRequest={"id": "r1"})
    with pytest.raises(RetryLater, match="approval"):
        await step(ctx, obj["metadata"]["name"])
    renewal = int(obj["status"]["sslId"])
    assert renewal != obj["status"]["issuedOrder"]["sslId"]
    return renewal


@pytest.mark.parametrize("renewal_outcome", ["pending", "declined"])
async def test_a_revoke_request_revokes_the_certificate_in_the_secret_not_a_renewal(
    ctx: Context, shared_sandbox_scm: SandboxHandle, renewal_outcome: str
) -> None:
    """A key compromise while a renewal waits for approval, or after it was declined: the
    certificate in the Secret is revoked at once, with the user's reason, and nothing is ordered
    in its place."""
    name = f"comp-{renewal_outcome}"
    obj = await _issued_with_approval(ctx, shared_sandbox_scm, name)
    issued = obj["status"]["issuedOrder"]["sslId"]
    renewal = await _renewal_waiting(ctx, shared_sandbox_scm, obj)
    if renewal_outcome == "declined":
        shared_sandbox_scm.decline(renewal)
        with pytest.raises(Stalled):
            await step(ctx, name)
        assert obj["status"]["state"] == "Failed"
    orders = len(shared_sandbox_scm.orders())
    _edit(obj, revokeRequest={"id": "x1", "reasonCode": 1, "reason": "key compromise"})
    await step(ctx, name)
    assert shared_sandbox_scm.order(issued)["status"] == "Revoked"
    assert shared_sandbox_scm.order(issued)["reasonCode"] == 1
    assert shared_sandbox_scm.order(renewal)["status"] != "Revoked"
    assert obj["status"]["state"] == "Revoked"
    assert obj["status"]["lastRevokeRequestId"] == "x1"
    assert len(shared_sandbox_scm.orders()) == orders
    await step(ctx, name)  # and it stays so: the abandoned renewal is not collected
    assert obj["status"]["state"] == "Revoked" and len(shared_sandbox_scm.orders()) == orders


async def test_revoke_on_delete_revokes_the_certificate_in_the_secret_during_a_renewal(
    ctx: Context, shared_sandbox_scm: SandboxHandle
) -> None:
    obj = await _issued_with_approval(ctx, shared_sandbox_scm, "gone", deletionPolicy="Revoke")
    issued = obj["status"]["issuedOrder"]["sslId"]
    await _renewal_waiting(ctx, shared_sandbox_scm, obj)
    assert FINALIZER in obj["metadata"]["finalizers"]
    obj["metadata"]["deletionTimestamp"] = "2026-12-04T10:00:00Z"
    await step(ctx, "gone")
    assert shared_sandbox_scm.order(issued)["status"] == "Revoked"
    assert FINALIZER not in obj["metadata"]["finalizers"]


@pytest.mark.parametrize("policy", ["DeleteSecret", "Revoke"])
async def test_a_revoke_request_applied_with_the_deletion_is_honoured_with_its_reason(
    ctx: Context, shared_sandbox_scm: SandboxHandle, policy: str
) -> None:
    name = f"rd-{policy.lower()}"
    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    obj = kube.objects[("sectigocertificates", name)] = cert_body(
        name, commonName=f"{name}.example.com", deletionPolicy=policy
    )
    await step(ctx, name)
    ssl_id = obj["status"]["sslId"]
    _edit(obj, revokeRequest={"id": "x", "reasonCode": 1, "reason": "key compromise"})
    obj["metadata"]["deletionTimestamp"] = "2026-12-04T10:00:00Z"
    await step(ctx, name)
    order = shared_sandbox_scm.order(ssl_id)
    assert order["status"] == "Revoked" and order["reasonCode"] == 1
    assert FINALIZER not in obj["metadata"]["finalizers"]


async def test_retain_set_before_the_deletion_keeps_the_secret(ctx: Context) -> None:
    """Retain edited in, and the certificate deleted before the finalizer went: the policy at
    the time of deletion holds."""
    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    obj = kube.objects[("sectigocertificates", "keep")] = cert_body(
        "keep", commonName="keep.example.com", deletionPolicy="DeleteSecret"
    )
    await step(ctx, "keep")
    assert FINALIZER in obj["metadata"]["finalizers"]
    _edit(obj, deletionPolicy="Retain")
    obj["metadata"]["deletionTimestamp"] = "2026-12-04T10:00:00Z"
    await step(ctx, "keep")
    assert "keep-tls" in kube.secrets
    assert FINALIZER not in obj["metadata"]["finalizers"]


@pytest.mark.parametrize("request_field", ["renewRequest", "replaceRequest"])
async def test_a_request_applied_with_a_secret_deletion_is_acted_on(
    ctx: Context, shared_sandbox_scm: SandboxHandle, request_field: str
) -> None:
    """The user's key: a deleted Secret is restored by collecting the same certificate again,
    which answers no renew or replace request; the request is then acted on."""
    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    key = pki.generate_private_key(pki.KeySpec("ECDSA", 256))
    kube.secrets["uk"] = SecretData(
        "uk", NS, "Opaque", {"tls.key": pki.private_key_to_pem(key, "PKCS8")}
    )
    name = f"uk-{request_field.lower()}"
    obj = kube.objects[("sectigocertificates", name)] = cert_body(
        name, commonName=f"{name}.example.com", privateKeySecretRef={"name": "uk", "key": "tls.key"}
    )
    await step(ctx, name)
    serial = obj["status"]["serialNumber"]
    request = {"id": "r1", "reason": "why"} if request_field == "replaceRequest" else {"id": "r1"}
    _edit(obj, **{request_field: request})
    del kube.secrets[f"{name}-tls"]
    for _ in range(3):
        await step(ctx, name)
    status = obj["status"]
    assert status["serialNumber"] != serial
    answered = "lastRenewRequestId" if request_field == "renewRequest" else "lastReplaceRequestId"
    assert status[answered] == "r1" and status["state"] == "Issued"


@pytest.mark.parametrize("rotation", ["Never", "Always"])
async def test_a_replacement_interrupted_before_scm_is_placed_once(
    ctx: Context,
    shared_sandbox_scm: SandboxHandle,
    monkeypatch: pytest.MonkeyPatch,
    rotation: str,
) -> None:
    """The process dies after the Replace marker is written and before SCM is called: the next
    step finds the old certificate at SCM, which is not a replacement (with rotation Never its
    key matches too), and replaces once."""
    from sectigo_operator.certificates import requests as placing

    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    name = f"rep-{rotation.lower()}"
    obj = kube.objects[("sectigocertificates", name)] = cert_body(
        name, commonName=f"{name}.example.com"
    )
    obj["spec"]["privateKey"]["rotationPolicy"] = rotation
    await step(ctx, name)
    serial = obj["status"]["serialNumber"]
    _edit(obj, replaceRequest={"id": "p1", "reason": "re-issue please"})
    real_call = placing.Placer._call

    async def dies_before_scm(self: Any, *args: Any, **kwargs: Any) -> None:
        raise Died

    monkeypatch.setattr(placing.Placer, "_call", dies_before_scm)
    with pytest.raises(Died):
        await step(ctx, name)
    assert obj["status"]["state"] == "Replacing"
    monkeypatch.setattr(placing.Placer, "_call", real_call)
    ctx.versions.clear()
    await step(ctx, name)
    await step(ctx, name)
    assert obj["status"]["lastReplaceRequestId"] == "p1"
    assert obj["status"]["serialNumber"] != serial
    assert shared_sandbox_scm.counters()["replacements"] == 1


async def test_a_revoked_client_order_number_does_not_revoke_an_ssl_certificate(
    ctx: Context,
) -> None:
    """SSL ids and client order numbers are separate at SCM and may coincide."""
    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    obj = kube.objects[("sectigocertificates", "web")] = cert_body(
        "web", commonName="web.example.com"
    )
    await step(ctx, "web")
    ssl_id = obj["status"]["sslId"]
    ctx.orders[(NS, "mail")] = ("scm", "smime", 777)

    async def nothing(_filter: Any) -> Any:
        return
        yield

    async def client_revoked(_filter: Any) -> Any:
        yield SimpleNamespace(order_number=ssl_id)

    listed = SimpleNamespace(
        namespace=NS,
        name="scm",
        client=SimpleNamespace(
            ssl=SimpleNamespace(search_all=nothing),
            smime=SimpleNamespace(search_all=client_revoked),
        ),
    )
    assert await drift.check(ctx, listed) == 0  # type: ignore[arg-type]
    await step(ctx, "web")
    assert obj["status"]["state"] == "Issued"


async def test_a_retry_after_of_a_day_waits_at_most_the_documented_ceiling(
    ctx: Context, shared_sandbox_scm: SandboxHandle
) -> None:
    """SCM asks for a day (Retry-After 86400) on the enroll: the certificate looks again
    within ``retry_max_delay``, not a day later."""
    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    kube.objects[("sectigocertificates", "busy")] = cert_body("busy", commonName="busy.example.com")
    shared_sandbox_scm.inject_fault("rate_limit", "*/ssl/v1/enroll", retry_after=86400)
    with pytest.raises(RetryLater) as waited:
        await step(ctx, "busy")
    assert 1.0 <= waited.value.delay <= ctx.settings.retry_max_delay


def _ready(obj: dict[str, Any]) -> tuple[str, str]:
    return next(
        (c["status"], c["reason"]) for c in obj["status"]["conditions"] if c["type"] == "Ready"
    )


async def test_a_revocation_withdrawn_after_scm_failed_it_returns_to_issued(
    ctx: Context, shared_sandbox_scm: SandboxHandle
) -> None:
    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    obj = kube.objects[("sectigocertificates", "rv")] = cert_body("rv", commonName="rv.example.com")
    await step(ctx, "rv")
    _edit(obj, revokeRequest={"id": "x", "reasonCode": 0, "reason": "r"})
    shared_sandbox_scm.inject_fault("error", "*/ssl/v1/revoke/*", count=None, status=503, code=-2)
    with pytest.raises(RetryLater):
        await step(ctx, "rv")
    assert obj["status"]["state"] == "Revoking"
    shared_sandbox_scm.clear_faults()
    del obj["spec"]["revokeRequest"]  # the user changed their mind
    obj["metadata"]["generation"] += 1
    await step(ctx, "rv")
    assert obj["status"]["state"] == "Issued" and _ready(obj) == ("True", "Issued")
    assert obj["status"]["history"][-1]["status"] == "Issued"
    kube.writes.clear()
    ctx.versions.clear()
    await step(ctx, "rv")  # settled: nothing to write
    assert kube.writes == []


async def test_a_restart_after_a_revocation_writes_nothing(
    ctx: Context, shared_sandbox_scm: SandboxHandle
) -> None:
    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    obj = kube.objects[("sectigocertificates", "rw")] = cert_body("rw", commonName="rw.example.com")
    await step(ctx, "rw")
    _edit(obj, revokeRequest={"id": "x", "reasonCode": 0, "reason": "decommissioned"})
    await step(ctx, "rw")
    assert _ready(obj) == ("False", "Revoked")
    kube.writes.clear()
    ctx.versions.clear()
    await step(ctx, "rw")  # as after a restart
    assert kube.writes == []
    message = next(c["message"] for c in obj["status"]["conditions"] if c["type"] == "Ready")
    assert "decommissioned" in message


async def test_an_import_of_an_expired_certificate_is_not_ready(
    ctx: Context, shared_sandbox_scm: SandboxHandle
) -> None:
    """An existing SCM certificate past its notAfter is imported as it is, and Ready says it
    has expired (it said Ready=True until the next step)."""
    from datetime import timedelta

    number, key = await ordered_outside(shared_sandbox_scm, "old.example.com")
    shared_sandbox_scm.issue(number)
    later = ctx.now() + timedelta(days=400)
    ctx.now = lambda: later
    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    kube.secrets["k"] = SecretData(
        "k", NS, "Opaque", {"tls.key": pki.private_key_to_pem(key, "PKCS8")}
    )
    obj = kube.objects[("sectigocertificates", "old")] = cert_body(
        "old",
        commonName="old.example.com",
        privateKeySecretRef={"name": "k", "key": "tls.key"},
        renewal={"autoRenew": False},
        **{"import": {"sslId": number}},
    )
    await step(ctx, "old")
    assert obj["status"]["sslId"] == number
    assert _ready(obj) == ("False", "Expired")


async def test_a_stored_certificate_this_version_refuses_is_stalled_naming_the_field(
    ctx: Context, shared_sandbox_scm: SandboxHandle
) -> None:
    """Stored before a rule was added (here: ASCII URIs): a condition and a Warning name the
    field, nothing is ordered, no key is made, and a second step writes nothing."""
    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    obj = kube.objects[("sectigocertificates", "u")] = cert_body(
        "u", commonName="u.example.com", uris=["https://example.com/\u00fc"]
    )
    events: list[tuple[str, ...]] = []
    body = await kube.get_object("sectigocertificates", NS, "u")
    assert body is not None
    with pytest.raises(Stalled, match=r"spec\.uris\.0"):
        await steps.reconcile(ctx, body, lambda *event: events.append(event))
    assert _ready(obj) == ("False", "InvalidSpec")
    stalled = next(c for c in obj["status"]["conditions"] if c["type"] == "Stalled")
    assert stalled["status"] == "True" and "spec.uris.0" in stalled["message"]
    assert [e[:2] for e in events] == [("Warning", "InvalidSpec")]
    assert "u-tls" not in kube.secrets and shared_sandbox_scm.orders() == []
    kube.writes.clear()
    with pytest.raises(Stalled):
        await step(ctx, "u")
    assert kube.writes == []


async def test_a_change_of_the_configs_renewal_defaults_wakes_its_certificates(
    ctx: Context,
) -> None:
    """With ``autoRenew`` off a certificate sleeps until its notAfter; turning it on in the
    config must reach the certificates issued under it now, not then."""
    from types import SimpleNamespace

    from sectigo_operator.handlers import config as config_handlers

    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    kube.objects[("sectigocertificates", "ren")] = cert_body("ren", commonName="ren.example.com")
    await step(ctx, "ren")
    ctx.orders[(NS, "elsewhere")] = ("other-config", "ssl", 99)
    woken = ctx.woken  # type: ignore[attr-defined]
    woken.clear()
    body = {"metadata": {"namespace": NS, "name": "scm"}}
    await config_handlers.renewal_changed(body=body, memo=SimpleNamespace(context=ctx))
    assert set(woken) == {(NS, "ren")}


async def test_a_secret_key_edited_or_removed_beside_the_certificate_is_written_again(
    ctx: Context, shared_sandbox_scm: SandboxHandle
) -> None:
    """``ca.crt`` removed from the Secret: the certificate and key are in order, so nothing is
    ordered; the certificate is collected again (free at SCM, and the only source of the root
    for ``ca.crt``) and the Secret written as the operator wrote it, then nothing more."""
    import dataclasses

    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    kube.objects[("sectigocertificates", "ca")] = cert_body("ca", commonName="ca.example.com")
    await step(ctx, "ca")
    written = kube.secrets["ca-tls"]
    data = {k: v for k, v in written.data.items() if k != "ca.crt"}
    kube.secrets["ca-tls"] = dataclasses.replace(written, data=data)
    orders = len(shared_sandbox_scm.orders())
    kube.writes.clear()
    await step(ctx, "ca")
    assert kube.writes[0] == "secret ca-tls"
    assert kube.secrets["ca-tls"].data == written.data
    assert len(shared_sandbox_scm.orders()) == orders
    kube.writes.clear()
    await step(ctx, "ca")
    assert kube.writes == []


async def test_a_keyless_import_takes_later_template_and_format_changes(
    ctx: Context, shared_sandbox_scm: SandboxHandle
) -> None:
    """An import without its key writes labels, annotations and the collect format like any
    certificate (only the additional output formats need the key), with no SCM call."""
    number, _key = await ordered_outside(shared_sandbox_scm, "imp.example.com")
    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    obj = kube.objects[("sectigocertificates", "imp")] = cert_body(
        "imp", **{"import": {"sslId": number}}
    )
    del obj["spec"]["privateKey"]
    await step(ctx, "imp")
    assert "tls.key" not in kube.secrets["imp-tls"].data
    _edit(obj, secretTemplate={"labels": {"team": "a"}}, format="x509CO")
    orders = len(shared_sandbox_scm.orders())
    await step(ctx, "imp")
    secret = kube.secrets["imp-tls"]
    assert secret.labels.get("team") == "a" and "certificate.x509CO.pem" in secret.data
    assert "tls.key" not in secret.data and len(shared_sandbox_scm.orders()) == orders
    kube.writes.clear()
    await step(ctx, "imp")
    assert kube.writes == []


async def test_a_change_of_the_key_encoding_rewrites_tls_key_without_scm(
    ctx: Context, shared_sandbox_scm: SandboxHandle
) -> None:
    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    obj = kube.objects[("sectigocertificates", "enc")] = cert_body(
        "enc", commonName="enc.example.com"
    )
    await step(ctx, "enc")
    assert kube.secrets["enc-tls"].data["tls.key"].startswith(b"-----BEGIN EC PRIVATE KEY")
    orders = len(shared_sandbox_scm.orders())
    obj["spec"]["privateKey"]["encoding"] = "PKCS8"
    obj["metadata"]["generation"] += 1
    await step(ctx, "enc")
    assert kube.secrets["enc-tls"].data["tls.key"].startswith(b"-----BEGIN PRIVATE KEY")
    assert len(shared_sandbox_scm.orders()) == orders
    kube.writes.clear()
    await step(ctx, "enc")
    assert kube.writes == []


async def test_an_import_scm_refuses_names_the_spec_field(ctx: Context) -> None:
    """An import of an SSL id SCM does not know: the condition names ``spec.import.sslId``."""
    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    obj = kube.objects[("sectigocertificates", "nope")] = cert_body(
        "nope", **{"import": {"sslId": 987654}}
    )
    del obj["spec"]["privateKey"]
    with pytest.raises((Stalled, RetryLater)):
        await step(ctx, "nope")
    ready = next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and "spec.import.sslId 987654" in ready["message"]
