"""Certificate steps without a cluster: ``reconcile`` against a fake Kubernetes and the sandbox.

``FakeKube`` implements the ``KubeApi`` protocol over dictionaries and counts writes, so these
tests pin the write budget of a step and the level-based promise (a step with nothing to do makes
no SCM call and no write) far faster than the end-to-end suite can.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf
import pytest
from tests.fixtures.merge_patch import apply_merge_patch

from sectigo_operator import pki
from sectigo_operator.certificates import Context, RetryLater, reconcile
from sectigo_operator.certificates.context import WatchedSecret, data_digest
from sectigo_operator.certificates.reconcile import resume_settled
from sectigo_operator.certificates.scheduler import Scheduler
from sectigo_operator.configs import ConfigRegistry
from sectigo_operator.handlers import certificate as certificate_handlers
from sectigo_operator.k8s import KubeConflict, KubeInvalid, SecretData
from sectigo_operator.models import ConfigSpec
from sectigo_operator.sandbox.testing import SandboxHandle
from sectigo_operator.settings import (
    ANNOTATION_ENROLLMENT_IDENTITY,
    ANNOTATION_ENROLLMENT_MARKER,
    LABEL_CERTIFICATE,
    LABEL_PENDING_KEY,
    OperatorSettings,
)

NS = "team"


class FakeKube:
    """Secrets and our objects in dictionaries; every write is recorded."""

    def __init__(self) -> None:
        self.secrets: dict[str, SecretData] = {}
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.writes: list[str] = []
        self.owners: dict[str, dict[str, Any] | None] = {}
        """The ownerReference of each Secret as last written."""
        self.refused: set[str] = set()
        """Secret names the fake API server refuses (422), as a validating policy may."""
        self._rv = 0

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    async def get_secret(self, namespace: str, name: str) -> SecretData | None:
        return self.secrets.get(name)

    async def write_secret(
        self,
        namespace: str,
        name: str,
        *,
        type: str,
        data: Mapping[str, bytes],
        labels: Mapping[str, str],
        annotations: Mapping[str, str],
        owner: Mapping[str, Any] | None = None,
        resource_version: str | None = None,
    ) -> str:
        if name in self.refused:
            raise KubeInvalid(422, "Unprocessable Entity (create secrets)")
        existing = self.secrets.get(name)
        if (existing is None) != (not resource_version) or (
            existing is not None and existing.resource_version != resource_version
        ):
            raise KubeConflict(409, "Conflict")
        self.writes.append(f"secret {name}")
        self.secrets[name] = SecretData(
            name,
            namespace,
            type,
            dict(data),
            dict(labels),
            dict(annotations),
            self._next_rv(),
            owners=(str(owner["uid"]),) if owner is not None else (),
        )
        self.owners[name] = dict(owner) if owner is not None else None
        return self.secrets[name].resource_version

    async def delete_secret(self, namespace: str, name: str) -> None:
        self.writes.append(f"delete {name}")
        self.secrets.pop(name, None)

    async def get_object(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        found = self.objects.get((plural, name))
        return copy.deepcopy(found) if found else None

    async def set_finalizers(
        self, plural: str, namespace: str, name: str, finalizers: list[str], resource_version: str
    ) -> str:
        self.writes.append(f"finalizers {name}")
        obj = self.objects[(plural, name)]
        obj["metadata"]["finalizers"] = list(finalizers)
        return self._bump(obj)

    async def patch_status(
        self,
        plural: str,
        namespace: str,
        name: str,
        patch: Mapping[str, Any],
        resource_version: str | None = None,
    ) -> str:
        obj = self.objects[(plural, name)]
        if resource_version and resource_version != obj["metadata"].get("resourceVersion"):
            raise KubeConflict(409, "Conflict")
        self.writes.append(f"status {name}")
        obj["status"] = apply_merge_patch(obj.get("status") or {}, patch["status"])
        return self._bump(obj)

    def _bump(self, obj: dict[str, Any]) -> str:
        """A new resourceVersion, as the API server gives one to every write."""
        obj["metadata"]["resourceVersion"] = version = self._next_rv()
        return version


def cert_body(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "sectigo-operator.io/v1alpha1",
        "kind": "SectigoCertificate",
        "metadata": {
            "name": name,
            "namespace": NS,
            "uid": f"uid-{name}",
            "generation": 1,
            "resourceVersion": "0",
        },
        "spec": {
            "configRef": {"name": "scm"},
            "certificateType": "ssl",
            "secretName": f"{name}-tls",
            "privateKey": {"algorithm": "ECDSA", "size": 256},
            **spec,
        },
    }


@pytest.fixture
async def ctx(shared_sandbox_scm: SandboxHandle) -> AsyncIterator[Context]:
    kube = FakeKube()
    kube.secrets["scm-credentials"] = SecretData(
        "scm-credentials",
        NS,
        "Opaque",
        {
            "login": shared_sandbox_scm.login.encode(),
            "password": shared_sandbox_scm.password.encode(),
        },
    )
    configs = ConfigRegistry()
    spec = ConfigSpec.model_validate(
        {
            "url": shared_sandbox_scm.base_url,
            "customerUri": shared_sandbox_scm.customer_uri,
            "orgId": shared_sandbox_scm.org_id,
            "credentialsSecretRef": {"name": "scm-credentials"},
            "ssl": {"certType": 51, "term": 365},
        }
    )
    entry = await configs.refresh(NS, "scm", spec, kube, full_check_after=3600)
    assert entry.ready, entry.message
    woken: dict[tuple[str, str], datetime | None] = {}
    context = Context(
        kube=kube,
        configs=configs,
        settings=OperatorSettings(),
        now=lambda: datetime.now(UTC),
        wake=lambda ns, name, when: woken.__setitem__((ns, name), when),
    )
    context.woken = woken  # type: ignore[attr-defined]
    yield context
    await configs.close()


def scm_calls(sandbox: SandboxHandle) -> dict[str, int]:
    counted = sandbox.counters()["callsByEndpoint"]
    return {k: v for k, v in counted.items() if "/sandbox-admin/" not in k}


async def step(ctx: Context, name: str) -> None:
    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    body = await kube.get_object("sectigocertificates", NS, name)
    assert body is not None
    await reconcile(ctx, body, lambda *_: None)


async def ordered_outside(sandbox: SandboxHandle, common_name: str) -> tuple[int, pki.PrivateKey]:
    """An SSL order placed at SCM outside the cluster (a certificate to import): its sslId and
    the key of its CSR."""
    import httpx

    key = pki.generate_private_key(pki.KeySpec("ECDSA", 256))
    csr = pki.build_csr(key, pki.CsrRequest(common_name=common_name))
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            sandbox.base_url + "/api/ssl/v1/enroll",
            json={"orgId": sandbox.org_id, "certType": 51, "term": 365, "csr": csr},
            headers=sandbox.auth_headers(),
        )
    return int(answer.json()["sslId"]), key


def orders_placed(sandbox: SandboxHandle) -> int:
    """Enroll, renew and replace calls the sandbox answered so far."""
    return sum(
        n
        for call, n in scm_calls(sandbox).items()
        if call.startswith("POST") and any(w in call for w in ("enroll", "renew", "replace"))
    )


async def test_a_step_on_a_stale_version_places_no_order(
    ctx: Context, shared_sandbox_scm: SandboxHandle
) -> None:
    """The fence. A first order: of two steps acting on the same view of a new certificate only
    one orders, because the Secret holding its key and marker is created, never overwritten (a
    step that reads it finds the order by that marker, and its status write is refused). Any
    later operation: the marker's status write carries the version the step read."""
    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    obj = kube.objects[("sectigocertificates", "fenced")] = cert_body("fenced", commonName="f.com")
    stale = await kube.get_object("sectigocertificates", NS, "fenced")
    assert stale is not None
    await step(ctx, "fenced")  # another process ordered and issued it meanwhile
    issued = copy.deepcopy(kube.secrets["fenced-tls"])
    ordered = orders_placed(shared_sandbox_scm)
    ctx.listed.add(None)  # and this process's Secret watch has not seen its Secret yet
    with pytest.raises(KubeConflict):  # reads nothing: the create of the key's Secret fails
        await reconcile(ctx, copy.deepcopy(stale), lambda *_: None, first=True)
    with pytest.raises(KubeConflict):  # reads the Secret: finds the order, the write is refused
        await reconcile(ctx, copy.deepcopy(stale), lambda *_: None)
    assert orders_placed(shared_sandbox_scm) == ordered
    assert kube.secrets["fenced-tls"] == issued

    obj["spec"]["renewRequest"] = {"id": "r1"}
    obj["metadata"]["generation"] = 2
    stale = await kube.get_object("sectigocertificates", NS, "fenced")
    assert stale is not None
    kube._bump(obj)  # someone else wrote
    with pytest.raises(KubeConflict):
        await reconcile(ctx, stale, lambda *_: None)
    assert orders_placed(shared_sandbox_scm) == ordered
    assert obj["status"]["state"] == "Issued"


async def test_a_secret_the_api_server_refuses_stalls_naming_the_field_and_orders_nothing(
    ctx: Context, shared_sandbox_scm: SandboxHandle
) -> None:
    from sectigo_operator.certificates import Stalled

    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    kube.objects[("sectigocertificates", "refused")] = cert_body("refused", commonName="r.com")
    kube.refused.add("refused-tls")
    ordered = orders_placed(shared_sandbox_scm)
    with pytest.raises(Stalled, match=r"spec\.secretName"):
        await step(ctx, "refused")
    status = kube.objects[("sectigocertificates", "refused")]["status"]
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Stalled"]["status"] == "True"
    assert conditions["Stalled"]["reason"] == "InvalidSpec"
    assert "refused-tls" in conditions["Stalled"]["message"]
    assert conditions["Ready"]["status"] == "False"
    assert orders_placed(shared_sandbox_scm) == ordered and "refused-tls" not in kube.secrets


@pytest.mark.parametrize(
    ("fields", "hint"),
    [
        (("data",), "if it was made immutable, delete it"),
        (("data", "immutable"), "if it was made immutable, delete it"),
        (("metadata.labels",), "check spec.secretTemplate"),
        (("data", "metadata.annotations"), "check spec.secretTemplate"),
        ((), "check spec.secretTemplate"),
    ],
)
def test_a_refused_certificate_secret_names_what_to_look_at(
    fields: tuple[str, ...], hint: str
) -> None:
    from sectigo_operator.certificates.issuing import refusal

    assert hint in refusal(KubeInvalid(422, "Unprocessable Entity (replace secrets)", fields))


async def test_a_process_that_is_not_leading_places_no_order(
    ctx: Context, shared_sandbox_scm: SandboxHandle
) -> None:
    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    kube.objects[("sectigocertificates", "follower")] = cert_body(
        "follower", commonName="f.example.com"
    )
    ctx.leading = lambda: False
    calls = scm_calls(shared_sandbox_scm)
    with pytest.raises(RetryLater, match="not the leader"):
        await step(ctx, "follower")
    assert scm_calls(shared_sandbox_scm).get("POST /api/ssl/v1/enroll") == calls.get(
        "POST /api/ssl/v1/enroll"
    )
    ctx.leading = lambda: True  # a new leader finds the marker unplaced and orders once
    await step(ctx, "follower")
    enrolls = scm_calls(shared_sandbox_scm).get("POST /api/ssl/v1/enroll", 0)
    assert enrolls == calls.get("POST /api/ssl/v1/enroll", 0) + 1
    status = kube.objects[("sectigocertificates", "follower")]["status"]
    assert status["state"] == "Issued"


async def test_first_issuance_writes_and_then_a_step_changes_nothing(
    ctx: Context, shared_sandbox_scm: SandboxHandle
) -> None:
    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    kube.objects[("sectigocertificates", "web")] = cert_body("web", commonName="web.example.com")
    await step(ctx, "web")
    # the key and the marker in the target Secret, the certificate over the key, then the order
    # and Issued in one status write: nothing to delete, the key never in two Secrets
    assert kube.writes == ["secret web-tls", "secret web-tls", "status web"]
    assert "web-sectigo-pending-key" not in kube.secrets
    status = kube.objects[("sectigocertificates", "web")]["status"]
    marker = status["enrollment"]["marker"]
    assert marker == "k8s:uid-web:0" and status["enrollment"]["placed"] is True
    assert kube.secrets["web-tls"].annotations[ANNOTATION_ENROLLMENT_MARKER] == marker
    assert kube.owners["web-tls"] is None  # the ownerReference of the waiting key is dropped
    assert LABEL_PENDING_KEY not in kube.secrets["web-tls"].labels
    data = kube.secrets["web-tls"].data
    leaf = pki.order_chain(pki.parse_pem_chain(data["tls.crt"])).leaf
    assert pki.cert_matches_key(leaf, pki.load_private_key(data["tls.key"]))
    status = kube.objects[("sectigocertificates", "web")]["status"]
    assert status["state"] == "Issued" and status["scmStatus"] == "Issued"
    assert ctx.woken[(NS, "web")] == datetime.fromisoformat(status["renewalTime"])  # type: ignore[attr-defined]

    kube.writes.clear()
    calls = scm_calls(shared_sandbox_scm)
    await step(ctx, "web")
    await step(ctx, "web")
    assert kube.writes == []
    assert scm_calls(shared_sandbox_scm) == calls


async def test_status_on_the_server_is_the_status_written(
    ctx: Context, shared_sandbox_scm: SandboxHandle
) -> None:
    """A status write is a merge patch, and the API server merges nested objects key by key: a
    field left out of a new value must be deleted, or the old value's field survives there. Here
    an error with SCM's code is followed by one without a code (the connection reset): the
    status must not show the first error's code and HTTP status under the second's text."""
    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    kube.objects[("sectigocertificates", "err")] = cert_body("err", commonName="err.example.com")
    shared_sandbox_scm.inject_fault("error", "*/ssl/v1/enroll", status=500, code=-2)
    with pytest.raises(RetryLater):
        await step(ctx, "err")
    first = kube.objects[("sectigocertificates", "err")]["status"]["lastError"]
    assert first["code"] == -2 and first["httpStatus"] == 500
    shared_sandbox_scm.inject_fault("reset", "*/ssl/v1/enroll")
    with pytest.raises(RetryLater):
        await step(ctx, "err")
    status = kube.objects[("sectigocertificates", "err")]["status"]
    assert status["lastError"]["description"] != first["description"]
    assert "code" not in status["lastError"] and "httpStatus" not in status["lastError"]
    # the order is placed (the error goes), then its collect fails: the new error is written
    shared_sandbox_scm.inject_fault("error", "*/ssl/v1/collect/*", count=None, status=503, code=-16)
    with pytest.raises(RetryLater, match="while collecting"):
        await step(ctx, "err")
    status = kube.objects[("sectigocertificates", "err")]["status"]
    assert status["lastError"]["code"] == -16 and status["lastError"]["httpStatus"] == 503
    shared_sandbox_scm.clear_faults()
    await step(ctx, "err")
    status = kube.objects[("sectigocertificates", "err")]["status"]
    assert status["state"] == "Issued" and "lastError" not in status
    assert len(shared_sandbox_scm.orders()) == 1  # the faults stopped two calls before SCM


async def test_idle_conditions_do_not_repeat_ready(ctx: Context) -> None:
    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    kube.objects[("sectigocertificates", "quiet")] = cert_body("quiet", commonName="q.example.com")
    await step(ctx, "quiet")
    conditions = {
        c["type"]: c for c in kube.objects[("sectigocertificates", "quiet")]["status"]["conditions"]
    }
    assert conditions["Ready"]["status"] == "True"
    assert conditions["Issuing"]["reason"] == "NotIssuing"
    assert conditions["Stalled"]["reason"] == "NotStalled"
    assert conditions["Issuing"]["message"] != conditions["Ready"]["message"]


async def test_scheduler_fires_in_due_order_and_refiling_replaces() -> None:
    fired: list[str] = []
    done = asyncio.Event()

    async def callback(namespace: str, name: str) -> None:
        fired.append(name)
        if len(fired) == 2:
            done.set()

    scheduler = Scheduler(callback)
    now = datetime.now(UTC)
    scheduler.wake(NS, "later", now + timedelta(seconds=0.3))
    scheduler.wake(NS, "sooner", now + timedelta(seconds=0.1))
    scheduler.wake(NS, "forgotten", now + timedelta(seconds=0.05))
    scheduler.wake(NS, "forgotten", None)
    scheduler.wake(NS, "moved", now + timedelta(seconds=0.01))
    scheduler.wake(NS, "moved", now + timedelta(days=1))
    await asyncio.wait_for(done.wait(), 5)
    assert fired == ["sooner", "later"]
    assert len(scheduler) == 1 and scheduler.due(NS, "moved") is not None
    await scheduler.close()


async def test_scheduler_keeps_due_entries_off_the_loop_until_a_slot_is_free() -> None:
    """A burst filed at once runs in filing order, at most ``concurrency`` callbacks (and
    tasks) at a time; the rest wait as heap entries."""
    running, peak, fired = 0, 0, []
    release, three_running, all_done = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def callback(namespace: str, name: str) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        fired.append(name)
        if len(fired) == 3:
            three_running.set()
        await release.wait()
        running -= 1
        if len(fired) == 50:
            all_done.set()

    scheduler = Scheduler(callback, concurrency=3)
    now = datetime.now(UTC)
    for i in range(50):
        scheduler.wake(NS, f"c{i:02d}", now)

    await asyncio.wait_for(three_running.wait(), 5)
    assert len(scheduler._tasks) == 3 and len(scheduler) == 47
    release.set()
    await asyncio.wait_for(all_done.wait(), 5)
    assert peak == 3
    assert fired == [f"c{i:02d}" for i in range(50)]
    await scheduler.close()


async def test_a_key_waits_outside_the_target_secret_while_scm_has_not_issued(
    ctx: Context, shared_sandbox_scm: SandboxHandle
) -> None:
    """A first order SCM does not issue at once moves its key out of the target Secret; a
    renewal with a new key waits in the pending-key Secret: the live Secret keeps serving the
    old certificate and key until the new pair replaces it in one write."""
    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    key = ("sectigocertificates", "slowrenew")
    kube.objects[key] = cert_body("slowrenew", commonName="slowrenew.example.com", certType=52)
    with pytest.raises(RetryLater):
        await step(ctx, "slowrenew")
    # not issued at once: the key left the target Secret for the pending-key Secret, so no
    # consumer sees a Secret without a certificate while an administrator decides
    assert kube.writes[:2] == ["secret slowrenew-tls", "status slowrenew"]
    assert kube.writes[2:4] == ["secret slowrenew-sectigo-pending-key", "delete slowrenew-tls"]
    assert "slowrenew-tls" not in kube.secrets
    first_key = kube.secrets["slowrenew-sectigo-pending-key"].data["tls.key"]
    kube.writes.clear()
    with pytest.raises(RetryLater):  # still waiting: nothing moves
        await step(ctx, "slowrenew")
    assert not any(w.startswith(("secret", "delete")) for w in kube.writes)
    shared_sandbox_scm.approve(kube.objects[key]["status"]["sslId"])
    await step(ctx, "slowrenew")
    live = kube.secrets["slowrenew-tls"]
    assert pki.private_key_to_pem(pki.load_private_key(live.data["tls.key"]), "PKCS8") == (
        first_key
    )
    assert "slowrenew-sectigo-pending-key" not in kube.secrets

    kube.objects[key]["spec"]["renewRequest"] = {"id": "r1"}
    kube.objects[key]["spec"]["privateKey"]["rotationPolicy"] = "Always"
    kube.objects[key]["metadata"]["generation"] = 2
    kube.writes.clear()
    with pytest.raises(RetryLater):  # the renewal waits for an administrator too
        await step(ctx, "slowrenew")
    assert kube.secrets["slowrenew-tls"] == live
    assert kube.writes[0] == "secret slowrenew-sectigo-pending-key"
    waiting = kube.secrets["slowrenew-sectigo-pending-key"].data["tls.key"]
    shared_sandbox_scm.approve(kube.objects[key]["status"]["sslId"])
    await step(ctx, "slowrenew")
    renewed = kube.secrets["slowrenew-tls"]
    assert renewed.data["tls.crt"] != live.data["tls.crt"]
    new_key = pki.load_private_key(renewed.data["tls.key"])
    assert pki.private_key_to_pem(new_key, "PKCS8") == waiting
    assert kube.writes[-1] == "delete slowrenew-sectigo-pending-key"
    assert "slowrenew-sectigo-pending-key" not in kube.secrets


async def test_a_certificate_created_again_does_not_order_with_the_deleted_ones_key(
    ctx: Context,
) -> None:
    """Deleted while its order waited at SCM, then created again under the same name: the
    pending-key Secret still holds the old certificate's key, owned by the old uid, and the
    garbage collector deletes it with its owner. The new order must not use that key (it would
    be lost with the Secret): a new key replaces it, owned by the new certificate."""
    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    key = ("sectigocertificates", "again")
    kube.objects[key] = cert_body("again", commonName="again.example.com", certType=52)
    with pytest.raises(RetryLater):
        await step(ctx, "again")
    name = "again-sectigo-pending-key"
    old_key = kube.secrets[name].data["tls.key"]
    assert kube.secrets[name].owners == ("uid-again",)

    kube.objects[key] = cert_body("again", commonName="again.example.com", certType=52)
    kube.objects[key]["metadata"]["uid"] = "uid-again-2"  # deleted and created again
    kube.writes.clear()
    with pytest.raises(RetryLater):
        await step(ctx, "again")
    # a new Secret (a new object: the garbage collector's delete of the old one cannot reach
    # it) before anything is ordered
    assert kube.writes[:2] == [f"delete {name}", f"secret {name}"]
    assert kube.secrets[name].owners == ("uid-again-2",)
    new_key = kube.secrets[name].data["tls.key"]
    assert new_key != old_key
    ordered = kube.objects[key]["status"]["enrollment"]["marker"]
    assert "uid-again-2" in ordered

    kube.writes.clear()  # the new certificate's own key is reused from now on
    with pytest.raises(RetryLater):
        await step(ctx, "again")
    assert kube.secrets[name].data["tls.key"] == new_key
    assert not any(w.startswith("secret") for w in kube.writes)


async def test_a_certificate_created_again_adopts_the_secret_it_kept(
    ctx: Context, shared_sandbox_scm: SandboxHandle
) -> None:
    """Deleted with deletionPolicy Retain (the default; or with the CRDs at an uninstall) and
    applied again: the kept Secret's certificate is adopted by the order it records, with its
    key, by one collect. Nothing is ordered and the key stays; before, a second certificate
    was ordered and its key overwrote the first's."""
    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    key = ("sectigocertificates", "kept")
    kube.objects[key] = cert_body("kept", commonName="kept.example.com")
    await step(ctx, "kept")
    first = kube.objects[key]["status"]
    secret = kube.secrets["kept-tls"]
    ordered, calls = orders_placed(shared_sandbox_scm), scm_calls(shared_sandbox_scm)

    kube.objects[key] = cert_body("kept", commonName="kept.example.com")
    kube.objects[key]["metadata"]["uid"] = "uid-kept-2"  # deleted and applied again
    await step(ctx, "kept")
    status = kube.objects[key]["status"]
    assert orders_placed(shared_sandbox_scm) == ordered
    after = scm_calls(shared_sandbox_scm)
    assert sum(after.values()) == sum(calls.values()) + 1  # one call, a collect
    assert [k for k in after if after[k] != calls.get(k)] == [
        k for k in after if k.startswith("GET") and "collect" in k
    ]
    assert status["sslId"] == first["sslId"] and status["fingerprint"] == first["fingerprint"]
    assert status["state"] == "Issued"
    assert {c["type"]: c["status"] for c in status["conditions"]}["Ready"] == "True"
    assert kube.secrets["kept-tls"].data["tls.key"] == secret.data["tls.key"]
    assert "kept-sectigo-pending-key" not in kube.secrets

    kube.writes.clear()  # adopted: from now on like any other issued certificate
    await step(ctx, "kept")
    assert kube.writes == [] and scm_calls(shared_sandbox_scm) == after


async def test_an_adoption_whose_collect_failed_is_tried_again_never_ordered(
    ctx: Context, shared_sandbox_scm: SandboxHandle
) -> None:
    """The adoption's collect meets SCM's 503 (status then records the order it follows, with
    no certificate): the next step collects again; it never orders in its place."""
    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    key = ("sectigocertificates", "kept")
    kube.objects[key] = cert_body("kept", commonName="kept.example.com")
    await step(ctx, "kept")
    secret, ordered = kube.secrets["kept-tls"], orders_placed(shared_sandbox_scm)
    kube.objects[key] = cert_body("kept", commonName="kept.example.com")
    kube.objects[key]["metadata"]["uid"] = "uid-kept-2"
    shared_sandbox_scm.inject_fault("error", "*/ssl/v1/collect/*", count=None, status=503)
    try:
        with pytest.raises(RetryLater):
            await step(ctx, "kept")
    finally:
        shared_sandbox_scm.clear_faults()
    assert kube.objects[key]["status"]["certUniqueId"] is not None
    await step(ctx, "kept")
    assert orders_placed(shared_sandbox_scm) == ordered
    assert kube.objects[key]["status"]["state"] == "Issued"
    assert kube.secrets["kept-tls"].data["tls.key"] == secret.data["tls.key"]


async def test_a_rewrite_keeps_what_others_put_on_the_secret(
    ctx: Context, shared_sandbox_scm: SandboxHandle
) -> None:
    """Someone adds a label and an annotation to the Secret; the template changes (a Secret
    rewrite, no SCM call): theirs stay, the template's dropped key goes, the new one comes."""
    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    key = ("sectigocertificates", "tagged")
    kube.objects[key] = cert_body(
        "tagged", commonName="tagged.example.com", secretTemplate={"labels": {"team": "a"}}
    )
    await step(ctx, "tagged")
    secret = kube.secrets["tagged-tls"]
    assert secret.labels["team"] == "a"
    kube.secrets["tagged-tls"] = dataclasses.replace(
        secret,
        labels={**secret.labels, "argocd.argoproj.io/instance": "web"},
        annotations={**secret.annotations, "reloader.stakater.com/match": "true"},
    )
    calls = scm_calls(shared_sandbox_scm)
    kube.objects[key]["spec"]["secretTemplate"] = {"labels": {"tier": "b"}}
    kube.objects[key]["metadata"]["generation"] = 2
    kube.writes.clear()
    await step(ctx, "tagged")
    assert kube.writes[0] == "secret tagged-tls" and scm_calls(shared_sandbox_scm) == calls
    rewritten = kube.secrets["tagged-tls"]
    assert rewritten.labels["tier"] == "b" and "team" not in rewritten.labels
    assert rewritten.labels["argocd.argoproj.io/instance"] == "web"
    assert rewritten.annotations["reloader.stakater.com/match"] == "true"
    assert rewritten.data == secret.data

    del kube.objects[key]["spec"]["secretTemplate"]  # a key dropped alone rewrites too
    kube.objects[key]["metadata"]["generation"] = 3
    kube.writes.clear()
    await step(ctx, "tagged")
    assert kube.writes[0] == "secret tagged-tls" and "tier" not in kube.secrets["tagged-tls"].labels
    assert kube.secrets["tagged-tls"].labels["argocd.argoproj.io/instance"] == "web"
    kube.writes.clear()
    await step(ctx, "tagged")
    assert kube.writes == []  # and once: no rewrite loop


async def test_declined_renewal_stalls_but_the_valid_certificate_stays_ready(
    ctx: Context, shared_sandbox_scm: SandboxHandle
) -> None:
    from sectigo_operator.certificates import RetryLater, Stalled

    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    key = ("sectigocertificates", "gated")
    kube.objects[key] = cert_body("gated", commonName="gated.example.com", certType=52)
    with pytest.raises(RetryLater):  # waits for an administrator
        await step(ctx, "gated")
    shared_sandbox_scm.approve(kube.objects[key]["status"]["sslId"])
    await step(ctx, "gated")
    issued = dict(kube.objects[key]["status"])
    assert issued["state"] == "Issued"

    kube.objects[key]["spec"]["renewRequest"] = {"id": "r1"}
    kube.objects[key]["metadata"]["generation"] = 2
    with pytest.raises(RetryLater):
        await step(ctx, "gated")
    renewal = kube.objects[key]["status"]["sslId"]
    assert renewal != issued["sslId"]
    shared_sandbox_scm.decline(renewal)
    with pytest.raises(Stalled):
        await step(ctx, "gated")
    status = kube.objects[key]["status"]
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Stalled"]["status"] == "True"
    assert conditions["Stalled"]["reason"] == "OrderFailed"
    assert conditions["Ready"]["status"] == "True"  # the old certificate is still valid
    assert (
        kube.secrets["gated-tls"].annotations["sectigo-operator.io/serial-number"]
        == (issued["serialNumber"])
    )

    kube.writes.clear()
    calls = scm_calls(shared_sandbox_scm)
    with pytest.raises(Stalled):
        await step(ctx, "gated")
    assert kube.writes == [] and scm_calls(shared_sandbox_scm) == calls


class Died(Exception):
    """The process died at this write (it was not made)."""


@pytest.mark.parametrize("dies_at", [1, 2, 3])
async def test_a_first_order_that_dies_at_any_write_keeps_its_key_and_orders_once(
    ctx: Context, shared_sandbox_scm: SandboxHandle, dies_at: int
) -> None:
    """A first order's key waits in the target Secret with the order's marker (labelled
    pending, owned by the certificate for garbage collection). Whichever write the process dies
    at (the key and marker, the certificate, the Issued status: the last two after SCM was
    called), the next step finds the order by the marker on the Secret and finishes with one
    order and the key persisted first, leaves no pending label, owner or second copy, and
    nothing to delete."""
    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    name, cn = f"die{dies_at}", f"die{dies_at}.example.com"
    kube.objects[("sectigocertificates", name)] = cert_body(name, commonName=cn)
    writes, patch, write = 0, kube.patch_status, kube.write_secret
    persisted: list[bytes] = []

    def dying(real: Any) -> Any:
        async def call(*args: Any, **kwargs: Any) -> Any:
            nonlocal writes
            writes += 1
            if writes == dies_at:
                raise Died
            result = await real(*args, **kwargs)
            if writes == 1:
                persisted.append(kube.secrets[f"{name}-tls"].data["tls.key"])
                assert kube.secrets[f"{name}-tls"].labels[LABEL_PENDING_KEY] == "true"
                assert kube.secrets[f"{name}-tls"].data["tls.crt"] == b""
                assert (kube.owners[f"{name}-tls"] or {}).get("uid") == f"uid-{name}"
                marker = kube.secrets[f"{name}-tls"].annotations[ANNOTATION_ENROLLMENT_MARKER]
                assert marker == f"k8s:uid-{name}:0"
            return result

        return call

    kube.patch_status = dying(patch)  # type: ignore[method-assign]
    kube.write_secret = dying(write)  # type: ignore[method-assign]
    with pytest.raises(Died):
        await step(ctx, name)
    kube.patch_status, kube.write_secret = patch, write  # type: ignore[method-assign]
    ctx.versions.clear()
    await step(ctx, name)

    status = kube.objects[("sectigocertificates", name)]["status"]
    assert status["state"] == "Issued"
    assert len(shared_sandbox_scm.orders(common_name=cn)) == 1
    secret = kube.secrets[f"{name}-tls"]
    assert LABEL_PENDING_KEY not in secret.labels and kube.owners[f"{name}-tls"] is None
    if persisted:  # the key persisted before the order is the certificate's key
        assert secret.data["tls.key"] == pki.private_key_to_pem(
            pki.load_private_key(persisted[0]), "PKCS1"
        )
    leaf = pki.order_chain(pki.parse_pem_chain(secret.data["tls.crt"])).leaf
    assert pki.cert_matches_key(leaf, pki.load_private_key(secret.data["tls.key"]))
    assert f"{name}-sectigo-pending-key" not in kube.secrets
    assert not any(w.startswith("delete") for w in kube.writes)


async def test_a_stray_pending_key_is_removed_once_the_certificate_is_ready(
    ctx: Context, shared_sandbox_scm: SandboxHandle
) -> None:
    """The process died after writing the Secret, before deleting the pending key."""
    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    kube.objects[("sectigocertificates", "crashy")] = cert_body(
        "crashy", commonName="c.example.com"
    )
    await step(ctx, "crashy")
    kube.secrets["crashy-sectigo-pending-key"] = SecretData(
        "crashy-sectigo-pending-key",
        NS,
        "Opaque",
        {"tls.key": kube.secrets["crashy-tls"].data["tls.key"]},
        {
            "app.kubernetes.io/managed-by": "sectigo-operator",
            "sectigo-operator.io/certificate": "crashy",
            "sectigo-operator.io/pending-key": "true",
        },
    )
    kube.writes.clear()
    calls = scm_calls(shared_sandbox_scm)
    await step(ctx, "crashy")
    assert kube.writes == ["delete crashy-sectigo-pending-key"]
    assert "crashy-sectigo-pending-key" not in kube.secrets
    assert scm_calls(shared_sandbox_scm) == calls


async def test_keyless_import_without_names_is_restored_after_its_secret_is_deleted(
    ctx: Context, shared_sandbox_scm: SandboxHandle
) -> None:
    """A certificate-only import needs no plan to be collected again (no commonName given)."""
    number, _key = await ordered_outside(shared_sandbox_scm, "elsewhere.example.com")
    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    body = cert_body("bare", **{"import": {"sslId": number}})
    del body["spec"]["privateKey"]
    kube.objects[("sectigocertificates", "bare")] = body
    await step(ctx, "bare")
    assert sorted(kube.secrets["bare-tls"].data) == ["ca.crt", "tls.crt"]
    del kube.secrets["bare-tls"]
    await step(ctx, "bare")
    assert sorted(kube.secrets["bare-tls"].data) == ["ca.crt", "tls.crt"]
    ready = next(
        c
        for c in kube.objects[("sectigocertificates", "bare")]["status"]["conditions"]
        if c["type"] == "Ready"
    )
    assert (ready["status"], ready["reason"]) == ("False", "CertificateOnly")
    assert shared_sandbox_scm.counters()["replacements"] == 0


async def test_many_certificates_starting_at_once_ask_scm_for_the_profiles_once(
    ctx: Context, shared_sandbox_scm: SandboxHandle
) -> None:
    """Single flight: 12 first issuances in parallel share one profile list per cache period."""
    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    names = [f"burst-{i}" for i in range(12)]
    for name in names:
        kube.objects[("sectigocertificates", name)] = cert_body(
            name, commonName=f"{name}.example.com"
        )
    types = "GET /api/ssl/v1/types"
    before = scm_calls(shared_sandbox_scm).get(types, 0)
    await asyncio.gather(*(step(ctx, name) for name in names))
    assert scm_calls(shared_sandbox_scm).get(types, 0) == before + 1
    for name in names:
        assert kube.objects[("sectigocertificates", name)]["status"]["state"] == "Issued"


async def test_events_say_issued_at_once_or_enrolled_then_issued(
    ctx: Context, shared_sandbox_scm: SandboxHandle
) -> None:
    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    events: list[tuple[str, str]] = []

    async def step_with_events(name: str) -> None:
        body = await kube.get_object("sectigocertificates", NS, name)
        assert body is not None
        await reconcile(ctx, body, lambda type_, reason, _: events.append((type_, reason)))

    kube.objects[("sectigocertificates", "quick")] = cert_body("quick", commonName="q.example.com")
    await step_with_events("quick")
    assert events == [("Normal", "Issued")]  # one Event: the order is in its message

    events.clear()
    shared_sandbox_scm.update_settings(issueAfterCollects=1)
    kube.objects[("sectigocertificates", "slow")] = cert_body("slow", commonName="s.example.com")
    with pytest.raises(RetryLater):
        await step_with_events("slow")
    status = kube.objects[("sectigocertificates", "slow")]["status"]
    assert status["state"] == "Applied" and status["sslId"]  # the pending order is recorded
    assert events == [("Normal", "Enrolled")]
    await step_with_events("slow")
    assert events == [("Normal", "Enrolled"), ("Normal", "Issued")]


async def test_a_stale_watch_event_after_issuance_is_read_again_and_changes_nothing(
    ctx: Context, shared_sandbox_scm: SandboxHandle
) -> None:
    """Kopf queues every watch event: one from before the first status write (no status yet)
    can reach the handler after the certificate was issued. The step reads the object again
    instead of acting on the stale body (which made a pending key, then got 409 from the fence,
    and left the key behind)."""
    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    kube.objects[("sectigocertificates", "late")] = cert_body("late", commonName="late.com")
    stale = await kube.get_object("sectigocertificates", NS, "late")
    assert stale is not None
    await step(ctx, "late")
    assert "late-sectigo-pending-key" not in kube.secrets
    kube.writes.clear()
    calls = scm_calls(shared_sandbox_scm)
    await certificate_handlers.run(ctx, NS, "late", stale)
    assert kube.writes == []
    assert scm_calls(shared_sandbox_scm) == calls
    assert (NS, "late") not in ctx.retries


async def test_a_step_refused_by_the_fence_is_filed_again_and_orders_nothing(
    ctx: Context, shared_sandbox_scm: SandboxHandle
) -> None:
    """A process that never saw the certificate acts on a stale body (another process issued it
    meanwhile): it finds the order by the marker on the Secret, the fence refuses its status
    write, and the scheduler, not Kopf, looks again (Kopf would drop the retry of an object that
    looks handled); that fresh step changes nothing. No key is made, nothing is ordered."""
    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    kube.objects[("sectigocertificates", "other")] = cert_body("other", commonName="other.com")
    stale = await kube.get_object("sectigocertificates", NS, "other")
    assert stale is not None
    await step(ctx, "other")  # "the other process"
    issued = copy.deepcopy(kube.secrets["other-tls"])
    ctx.versions.clear()  # this process has seen nothing of it
    ordered = orders_placed(shared_sandbox_scm)
    kube.writes.clear()
    before = datetime.now(UTC)
    await certificate_handlers.run(ctx, NS, "other", stale)
    when = ctx.woken[(NS, "other")]  # type: ignore[attr-defined]
    assert when is not None and before < when <= datetime.now(UTC) + timedelta(seconds=1)
    await certificate_handlers.wake(ctx, NS, "other")
    assert kube.writes == [] and kube.secrets["other-tls"] == issued
    assert orders_placed(shared_sandbox_scm) == ordered
    assert kube.objects[("sectigocertificates", "other")]["status"]["state"] == "Issued"


class CountingKube(FakeKube):
    """FakeKube that also counts reads."""

    reads = 0

    async def get_secret(self, namespace: str, name: str) -> SecretData | None:
        self.reads += 1
        return await super().get_secret(namespace, name)

    async def get_object(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        self.reads += 1
        return await super().get_object(plural, namespace, name)


def _watched(kube: FakeKube, name: str) -> WatchedSecret:
    secret = kube.secrets[name]
    return WatchedSecret(secret.labels[LABEL_CERTIFICATE], data_digest(secret.data))


async def _issued(ctx: Context, name: str) -> tuple[dict[str, Any], WatchedSecret]:
    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    kube.objects[("sectigocertificates", name)] = cert_body(name, commonName=f"{name}.example.com")
    await step(ctx, name)
    body = copy.deepcopy(kube.objects[("sectigocertificates", name)])
    return body, _watched(kube, f"{name}-tls")


async def test_a_restart_judges_a_settled_certificate_from_the_secret_watch_alone(
    ctx: Context, shared_sandbox_scm: SandboxHandle
) -> None:
    kube = CountingKube()
    kube.secrets.update(ctx.kube.secrets)  # type: ignore[attr-defined]
    ctx.kube = kube
    body, watched = await _issued(ctx, "calm")
    # The status records the digest of exactly the data written (never the data).
    assert body["status"]["secretDigest"] == data_digest(kube.secrets["calm-tls"].data)
    ctx.woken.clear()  # type: ignore[attr-defined]
    ctx.versions.clear()
    kube.reads, kube.writes[:] = 0, []
    calls = scm_calls(shared_sandbox_scm)

    assert resume_settled(ctx, body, watched, pending_key=False)

    assert (kube.reads, kube.writes, scm_calls(shared_sandbox_scm)) == (0, [], calls)
    renewal = datetime.fromisoformat(body["status"]["renewalTime"])
    assert ctx.woken[(NS, "calm")] == renewal  # type: ignore[attr-defined]
    assert ctx.versions[(NS, "calm")] == body["metadata"]["resourceVersion"]
    assert ctx.orders[(NS, "calm")][2] == body["status"]["sslId"]


def _edit_data(body: dict[str, Any], w: WatchedSecret) -> WatchedSecret:
    return WatchedSecret(w.certificate, "0" * 64)


def _other_certificate(body: dict[str, Any], w: WatchedSecret) -> WatchedSecret:
    return WatchedSecret("someone-else", w.digest)


def _spec_changed(body: dict[str, Any], w: WatchedSecret) -> WatchedSecret:
    body["metadata"]["generation"] += 1
    return w


def _older_status(body: dict[str, Any], w: WatchedSecret) -> WatchedSecret:
    del body["status"]["secretDigest"]  # issued by a version that did not record it
    return w


def _not_ready(body: dict[str, Any], w: WatchedSecret) -> WatchedSecret:
    for c in body["status"]["conditions"]:
        if c["type"] == "Ready":
            c["status"] = "False"
    return w


def _being_deleted(body: dict[str, Any], w: WatchedSecret) -> WatchedSecret:
    body["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return w


def _finalizer_missing(body: dict[str, Any], w: WatchedSecret) -> WatchedSecret:
    body["spec"]["deletionPolicy"] = "Revoke"
    return w


def _renew_requested(body: dict[str, Any], w: WatchedSecret) -> WatchedSecret:
    body["spec"]["renewRequest"] = {"id": "r-1"}
    return w


def _in_flight(body: dict[str, Any], w: WatchedSecret) -> WatchedSecret:
    body["status"]["state"] = "Renewing"
    return w


def _other_secret_name(body: dict[str, Any], w: WatchedSecret) -> WatchedSecret:
    body["spec"]["secretName"] = "elsewhere-tls"
    return w


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda b, w: None, id="Secret deleted while down"),
        pytest.param(_edit_data, id="Secret data edited while down"),
        pytest.param(_other_certificate, id="Secret labelled for another certificate"),
        pytest.param(_spec_changed, id="spec changed while down"),
        pytest.param(_older_status, id="status without secretDigest"),
        pytest.param(_not_ready, id="Ready is not True"),
        pytest.param(_being_deleted, id="being deleted"),
        pytest.param(_finalizer_missing, id="deletion policy wants a finalizer"),
        pytest.param(_renew_requested, id="renew request not yet handled"),
        pytest.param(_in_flight, id="an operation in flight"),
        pytest.param(_other_secret_name, id="status names another Secret"),
    ],
)
async def test_a_restart_runs_the_full_step_unless_everything_is_settled(
    ctx: Context, change: Any
) -> None:
    body, watched = await _issued(ctx, "moved")
    assert resume_settled(ctx, copy.deepcopy(body), watched, pending_key=False)
    assert not resume_settled(ctx, body, change(body, watched), pending_key=False)


async def test_a_restart_runs_the_full_step_for_a_stray_key_or_a_due_renewal(
    ctx: Context,
) -> None:
    body, watched = await _issued(ctx, "due")
    assert not resume_settled(ctx, body, watched, pending_key=True)
    renewal = datetime.fromisoformat(body["status"]["renewalTime"])
    ctx.now = lambda: renewal + timedelta(seconds=1)
    assert not resume_settled(ctx, body, watched, pending_key=False)


def _counting(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> CountingKube:
    """Reads counted, the start-up list done, Events dropped (no Kopf context here)."""
    monkeypatch.setattr(certificate_handlers, "_emitter", lambda body: lambda *_: None)
    kube = CountingKube()
    kube.secrets.update(ctx.kube.secrets)  # type: ignore[attr-defined]
    ctx.kube = kube
    ctx.listed.add(None)  # the start-up list ran: the watch's index is complete
    return kube


async def test_a_new_certificates_first_step_reads_none_of_its_secrets(
    ctx: Context, shared_sandbox_scm: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing has acted on it and the Secret watch knows neither of its Secrets: the step
    orders and stores without reading them (same writes as with the reads)."""
    kube = _counting(ctx, monkeypatch)
    kube.objects[("sectigocertificates", "fresh")] = cert_body("fresh", commonName="fresh.com")
    await certificate_handlers.run(ctx, NS, "fresh", None)
    assert kube.reads == 1  # the certificate itself (no body was at hand)
    assert kube.writes == ["secret fresh-tls", "secret fresh-tls", "status fresh"]
    assert kube.objects[("sectigocertificates", "fresh")]["status"]["state"] == "Issued"
    kube.reads = 0  # a second step is not the first: it reads both
    await certificate_handlers.run(ctx, NS, "fresh", None)
    assert kube.reads == 3


@pytest.mark.parametrize("first", [False, True], ids=["not the first step", "first step"])
async def test_a_first_step_reads_the_secrets_the_watch_knows_of(
    ctx: Context, first: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    kube = _counting(ctx, monkeypatch)
    kube.objects[("sectigocertificates", "known")] = cert_body("known", commonName="known.com")
    if first:
        ctx.secrets[(NS, "known-tls")] = WatchedSecret("known", "0" * 64)
    else:
        ctx.versions[(NS, "known")] = "0"
    await certificate_handlers.run(ctx, NS, "known", None)
    assert kube.reads == 3


async def test_a_foreign_secret_the_watch_does_not_see_stops_the_first_step_before_scm(
    ctx: Context, shared_sandbox_scm: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The create of the target Secret fails with 409 before anything is ordered; the step
    after it reads the Secret and waits for it, naming it."""
    kube = _counting(ctx, monkeypatch)
    foreign = SecretData("theirs-tls", NS, "Opaque", {"x": b"1"}, resource_version="7")
    kube.secrets["theirs-tls"] = foreign
    kube.objects[("sectigocertificates", "theirs")] = cert_body("theirs", commonName="t.com")
    enrolls = scm_calls(shared_sandbox_scm).get("POST /api/ssl/v1/enroll", 0)
    await certificate_handlers.run(ctx, NS, "theirs", None)
    assert kube.writes == [] and kube.secrets["theirs-tls"] is foreign
    assert "status" not in kube.objects[("sectigocertificates", "theirs")]
    assert ctx.woken[(NS, "theirs")] is not None  # type: ignore[attr-defined]
    await certificate_handlers.wake(ctx, NS, "theirs")
    status = kube.objects[("sectigocertificates", "theirs")]["status"]
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and "theirs-tls" in ready["message"]
    assert kube.secrets["theirs-tls"] is foreign
    assert scm_calls(shared_sandbox_scm).get("POST /api/ssl/v1/enroll", 0) == enrolls


async def test_a_certificate_waiting_for_a_slot_keeps_its_body_and_is_not_read_again(
    ctx: Context, shared_sandbox_scm: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A burst: Kopf delivers the body while every slot is taken; the certificate waits as a
    scheduler entry holding that body (without managed fields), and its step reads nothing."""
    kube = _counting(ctx, monkeypatch)
    raw = cert_body("queued", commonName="queued.com")
    kube.objects[("sectigocertificates", "queued")] = copy.deepcopy(raw)
    raw["metadata"]["managedFields"] = [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}]
    monkeypatch.setattr(certificate_handlers, "_semaphore", asyncio.Semaphore(0))
    memo = kopf.Memo(context=ctx)
    await certificate_handlers.on_change(kopf.Body(raw), memo, kopf.Reason.CREATE)
    assert ctx.woken[(NS, "queued")] is not None  # type: ignore[attr-defined]
    assert "managedFields" not in ctx.held[(NS, "queued")]["metadata"]
    monkeypatch.setattr(certificate_handlers, "_semaphore", asyncio.Semaphore(1))
    await certificate_handlers.wake(ctx, NS, "queued")
    assert kube.reads == 0 and not ctx.held
    assert kube.objects[("sectigocertificates", "queued")]["status"]["state"] == "Issued"


async def test_a_held_body_older_than_this_process_knows_is_read_again(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    kube = _counting(ctx, monkeypatch)
    kube.objects[("sectigocertificates", "moved")] = cert_body("moved", commonName="moved.com")
    ctx.held[(NS, "moved")] = cert_body("moved", commonName="moved.com")
    ctx.versions[(NS, "moved")] = "5"  # this process wrote it since (version 0 is held)
    kube.objects[("sectigocertificates", "moved")]["metadata"]["resourceVersion"] = "5"
    await certificate_handlers.wake(ctx, NS, "moved")
    assert kube.reads == 3 and not ctx.held  # the object, then both Secrets (not the first)


async def test_a_pending_key_name_the_first_step_did_not_read_keeps_the_key_in_the_target(
    ctx: Context, shared_sandbox_scm: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SCM does not issue at once, and someone else's Secret has the pending-key name (unread:
    the watch does not see it): the key stays in the target Secret, the order is recorded, and
    it is collected once approved, ordered once."""
    kube = _counting(ctx, monkeypatch)
    foreign = SecretData(
        "slow-sectigo-pending-key", NS, "Opaque", {"x": b"1"}, resource_version="3"
    )
    kube.secrets[foreign.name] = foreign
    key = ("sectigocertificates", "slow")
    kube.objects[key] = cert_body("slow", commonName="slow.example.com", certType=52)
    enrolls = scm_calls(shared_sandbox_scm).get("POST /api/ssl/v1/enroll", 0)
    await certificate_handlers.run(ctx, NS, "slow", None)
    status = kube.objects[key]["status"]
    assert status["sslId"] and status["enrollment"]["placed"] is True
    assert kube.secrets["slow-tls"].labels[LABEL_PENDING_KEY] == "true"  # the key, kept
    assert kube.secrets[foreign.name] is foreign and (NS, foreign.name) not in ctx.written
    shared_sandbox_scm.approve(status["sslId"])
    await certificate_handlers.wake(ctx, NS, "slow")
    assert kube.objects[key]["status"]["state"] == "Issued"
    data = kube.secrets["slow-tls"].data
    leaf = pki.order_chain(pki.parse_pem_chain(data["tls.crt"])).leaf
    assert pki.cert_matches_key(leaf, pki.load_private_key(data["tls.key"]))
    assert kube.secrets[foreign.name] is foreign
    assert scm_calls(shared_sandbox_scm).get("POST /api/ssl/v1/enroll", 0) == enrolls + 1


def _raw(name: str, uid: str, **extra: Any) -> dict[str, Any]:
    body = cert_body(name, commonName=f"{name}.com")
    body["metadata"]["uid"] = uid
    body.update(extra)
    return body


async def test_a_deleted_certificate_is_forgotten_without_a_finalizer(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deleted while it waited for a slot (default policy, no finalizer): its held body, its
    wake-up and what the process knew of it go, so no step acts on it."""
    monkeypatch.setattr(certificate_handlers, "_semaphore", asyncio.Semaphore(0))
    memo = kopf.Memo(context=ctx)
    raw = _raw("bye", "uid-1")
    await certificate_handlers.on_change(kopf.Body(raw), memo, kopf.Reason.CREATE)
    key = (NS, "bye")
    ctx.versions[key], ctx.retries[key] = "9", 2
    assert key in ctx.held and ctx.woken[key] is not None  # type: ignore[attr-defined]
    certificate_handlers.on_deletion({"type": "DELETED"}, kopf.Body(raw), memo)
    assert key not in ctx.held and ctx.woken[key] is None  # type: ignore[attr-defined]
    assert key not in ctx.versions and key not in ctx.retries and key not in ctx.uids


async def test_an_old_certificates_deletion_leaves_a_new_one_of_the_same_name_alone(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(certificate_handlers, "_semaphore", asyncio.Semaphore(0))
    memo = kopf.Memo(context=ctx)
    old, new = _raw("again", "uid-old"), _raw("again", "uid-new")
    await certificate_handlers.on_change(kopf.Body(old), memo, kopf.Reason.CREATE)
    await certificate_handlers.on_change(kopf.Body(new), memo, kopf.Reason.CREATE)
    certificate_handlers.on_deletion(
        {"type": "DELETED"}, kopf.Body(old), memo
    )  # handled after the new one's creation
    key = (NS, "again")
    assert ctx.held[key]["metadata"]["uid"] == "uid-new"
    assert ctx.woken[key] is not None and ctx.uids[key] == "uid-new"  # type: ignore[attr-defined]


async def test_only_a_new_certificate_waiting_for_a_slot_keeps_its_body(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A certificate with a status, or an import, is read when its turn comes (its first
    SCM call may come before any fenced write); its body replaces no older one either."""
    monkeypatch.setattr(certificate_handlers, "_semaphore", asyncio.Semaphore(0))
    memo = kopf.Memo(context=ctx)
    await certificate_handlers.on_change(kopf.Body(_raw("s", "u")), memo, kopf.Reason.CREATE)
    assert (NS, "s") in ctx.held
    with_status = _raw("s", "u", status={"state": "Enrolling"})
    await certificate_handlers.on_change(kopf.Body(with_status), memo, kopf.Reason.RESUME)
    assert (NS, "s") not in ctx.held
    imported = _raw("i", "v")
    imported["spec"]["import"] = {"sslId": 1}
    await certificate_handlers.on_change(kopf.Body(imported), memo, kopf.Reason.CREATE)
    assert (NS, "i") not in ctx.held


async def test_a_spec_change_during_the_certificates_own_step_is_looked_at_at_once(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The only slot is taken by the certificate's own step when Kopf delivers a spec edit:
    the edit waits as a scheduler entry, and the step, which ran on the older body, does not
    replace that entry with its renewal time."""
    kube = _counting(ctx, monkeypatch)
    kube.objects[("sectigocertificates", "edit")] = cert_body("edit", commonName="edit.com")
    monkeypatch.setattr(certificate_handlers, "_semaphore", asyncio.Semaphore(1))
    real = certificate_handlers.reconcile
    memo = kopf.Memo(context=ctx)

    async def edited_meanwhile(*args: Any, **kwargs: Any) -> None:
        newer = cert_body("edit", commonName="edit.com", dnsNames=["edit.com", "b.edit.com"])
        newer["metadata"]["generation"] = 2
        await certificate_handlers.on_change(kopf.Body(newer), memo, kopf.Reason.UPDATE)
        await real(*args, **kwargs)

    monkeypatch.setattr(certificate_handlers, "reconcile", edited_meanwhile)
    before = datetime.now(UTC)
    await certificate_handlers.run(ctx, NS, "edit", None)
    status = kube.objects[("sectigocertificates", "edit")]["status"]
    assert status["state"] == "Issued"  # the step finished on the older body
    when = ctx.woken[(NS, "edit")]  # type: ignore[attr-defined]
    assert when is not None and before <= when <= datetime.now(UTC)  # not its renewal time


def _with_status(b: dict[str, Any]) -> None:
    b["status"] = {"state": "Enrolling"}


def _being_deleted_now(b: dict[str, Any]) -> None:
    b["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"


def _user_key(b: dict[str, Any]) -> None:
    b["spec"]["privateKeySecretRef"] = {"name": "k", "key": "tls.key"}


def _user_csr(b: dict[str, Any]) -> None:
    b["spec"]["csrSecretRef"] = {"name": "c", "key": "csr"}


def _imported(b: dict[str, Any]) -> None:
    b["spec"]["import"] = {"sslId": 1}


@pytest.mark.parametrize(
    "change",
    [_with_status, _being_deleted_now, _user_key, _user_csr, _imported],
    ids=["has a status", "being deleted", "user key", "user CSR", "import"],
)
def test_a_first_step_reads_its_secrets_unless_its_first_write_is_the_keys_create(
    ctx: Context, change: Any
) -> None:
    from sectigo_operator.certificates.gather import nothing_to_read
    from sectigo_operator.models import SectigoCertificate

    ctx.listed.add(None)
    plain = cert_body("plain", commonName="plain.com")
    assert nothing_to_read(ctx, SectigoCertificate.from_body(plain), first=True)
    assert not nothing_to_read(ctx, SectigoCertificate.from_body(plain), first=False)
    ctx.listed.clear()  # the start-up list failed: the index may be incomplete
    assert not nothing_to_read(ctx, SectigoCertificate.from_body(plain), first=True)
    ctx.listed.add(None)
    ctx.secrets[(NS, "plain-sectigo-pending-key")] = WatchedSecret("plain", "0" * 64)
    assert not nothing_to_read(ctx, SectigoCertificate.from_body(plain), first=True)
    del ctx.secrets[(NS, "plain-sectigo-pending-key")]
    changed = copy.deepcopy(plain)
    change(changed)
    assert not nothing_to_read(ctx, SectigoCertificate.from_body(changed), first=True)


async def test_a_profile_mismatch_stops_a_first_order_before_a_key_is_made(
    ctx: Context, shared_sandbox_scm: SandboxHandle
) -> None:
    """The first order's key and marker are written together, so the profile is checked before
    the key is made: a spec SCM's profile cannot take leaves no key behind."""
    from sectigo_operator.certificates import Stalled

    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    kube.objects[("sectigocertificates", "longterm")] = cert_body(
        "longterm", commonName="longterm.example.com", term=999
    )
    ordered = orders_placed(shared_sandbox_scm)
    with pytest.raises(Stalled, match="999"):
        await step(ctx, "longterm")
    assert kube.writes == ["status longterm"] and "longterm-tls" not in kube.secrets
    assert orders_placed(shared_sandbox_scm) == ordered


def _profile_body(generation: int, spec_id: int, **status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "sectigo-operator.io/v1alpha1",
        "kind": "SectigoProfile",
        "metadata": {"name": "prof", "namespace": NS, "uid": "uid-prof", "generation": generation},
        "spec": {"configRef": {"name": "scm"}, "certificateType": "ssl", "profileId": spec_id},
        "status": status,
    }


async def test_a_certificate_orders_only_with_the_profile_its_sectigoprofile_names_now(
    ctx: Context, shared_sandbox_scm: SandboxHandle
) -> None:
    """A SectigoProfile whose spec was edited still shows the profile fetched for the old spec
    until its handler runs, and SCM may not have the new one: a certificate referring to it
    waits, naming why, and orders with the profile fetched for the current spec."""
    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    fetched_51 = {"observedGeneration": 1, "profile": {"id": 51, "name": "OV SSL"}}
    kube.objects[("sectigoprofiles", "prof")] = _profile_body(2, 999, **fetched_51)
    kube.objects[("sectigocertificates", "p")] = cert_body(
        "p", commonName="p.example.com", profileRef={"name": "prof"}
    )
    with pytest.raises(RetryLater, match="has not been fetched from SCM yet"):
        await step(ctx, "p")
    missing = "SCM has no ssl profile id 999"
    not_found = {
        "type": "Ready",
        "status": "False",
        "reason": "ProfileNotFound",
        "message": missing,
        "observedGeneration": 2,
        "lastTransitionTime": "2026-12-04T10:00:00Z",
    }
    kube.objects[("sectigoprofiles", "prof")] = _profile_body(
        2, 999, observedGeneration=2, conditions=[not_found]
    )
    with pytest.raises(RetryLater, match=missing):
        await step(ctx, "p")
    ready = kube.objects[("sectigocertificates", "p")]["status"]["conditions"]
    assert any(c["reason"] == "ProfileNotReady" and missing in c["message"] for c in ready)
    # as an older operator version left it: the old profile kept beside the new generation
    kube.objects[("sectigoprofiles", "prof")]["status"]["profile"] = fetched_51["profile"]
    with pytest.raises(RetryLater, match=missing):
        await step(ctx, "p")
    assert shared_sandbox_scm.orders() == []

    kube.objects[("sectigoprofiles", "prof")] = _profile_body(
        3, 54, observedGeneration=3, profile={"id": 54, "name": "OV SSL RSA only"}
    )
    kube.objects[("sectigocertificates", "p")]["spec"]["privateKey"] = {"algorithm": "RSA"}
    await step(ctx, "p")
    assert [o["certType"] for o in shared_sandbox_scm.orders()] == [54]


async def test_an_order_placed_is_collected_with_its_profile_whatever_the_sectigoprofile_says(
    ctx: Context, shared_sandbox_scm: SandboxHandle
) -> None:
    """An order waiting for approval when its SectigoProfile is edited (here to a profile SCM
    does not have) is still collected once approved: SCM has it, under the profile it was
    placed with, which status records (``orderedCertType``) for the comparison with the spec
    afterwards."""
    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    kube.objects[("sectigoprofiles", "prof")] = _profile_body(
        1, 52, observedGeneration=1, profile={"id": 52, "name": "OV SSL (approval required)"}
    )
    kube.objects[("sectigocertificates", "appr")] = cert_body(
        "appr", commonName="appr.example.com", profileRef={"name": "prof"}
    )
    with pytest.raises(RetryLater, match="waits for approval"):
        await step(ctx, "appr")
    status = kube.objects[("sectigocertificates", "appr")]["status"]
    assert status["orderedCertType"] == 52
    kube.objects[("sectigoprofiles", "prof")] = _profile_body(
        2, 999, observedGeneration=1, profile={"id": 52, "name": "OV SSL (approval required)"}
    )
    shared_sandbox_scm.approve(status["sslId"])
    await step(ctx, "appr")
    status = kube.objects[("sectigocertificates", "appr")]["status"]
    assert status["state"] == "Issued" and status["orderedCertType"] == 52
    assert [o["certType"] for o in shared_sandbox_scm.orders()] == [52]


def _secret_with_marker(name: str, marker: str, **labels: str) -> SecretData:
    return SecretData(
        f"{name}-tls",
        NS,
        "kubernetes.io/tls",
        {"tls.key": b"k", "tls.crt": b""},
        {
            "app.kubernetes.io/managed-by": "sectigo-operator",
            LABEL_CERTIFICATE: name,
            **labels,
        },
        {ANNOTATION_ENROLLMENT_MARKER: marker},
    )


def test_only_this_certificates_first_marker_on_its_own_secret_resumes_an_order() -> None:
    """``unrecorded_marker``: the marker of attempt 0 of this uid, on a Secret labelled as this
    certificate's, while no status records an enrollment. Another uid's (a certificate of the
    same name before it), someone else's Secret, or a status that records the enrollment (it
    says more than the Secret) resume nothing."""
    from sectigo_operator.certificates.gather import unrecorded_marker
    from sectigo_operator.models import SectigoCertificate

    cert = SectigoCertificate.from_body(cert_body("m", commonName="m.com"))
    mine = _secret_with_marker("m", "k8s:uid-m:0")
    assert unrecorded_marker(cert, None, mine) == ("k8s:uid-m:0", None)
    assert unrecorded_marker(cert, mine, None) == ("k8s:uid-m:0", None)
    named = SecretData(
        mine.name,
        NS,
        mine.type,
        mine.data,
        mine.labels,
        {**mine.annotations, ANNOTATION_ENROLLMENT_IDENTITY: "m.com"},
    )
    assert unrecorded_marker(cert, named) == ("k8s:uid-m:0", "m.com")
    assert unrecorded_marker(cert, _secret_with_marker("m", "k8s:uid-old:0")) is None
    assert unrecorded_marker(cert, _secret_with_marker("m", "k8s:uid-m:1")) is None
    theirs = _secret_with_marker("m", "k8s:uid-m:0")
    theirs = SecretData(theirs.name, NS, theirs.type, theirs.data, {}, theirs.annotations)
    assert unrecorded_marker(cert, theirs) is None
    recorded = cert_body("m", commonName="m.com")
    recorded["status"] = {"state": "Failed", "enrollment": {"marker": "", "attempt": 1}}
    assert unrecorded_marker(SectigoCertificate.from_body(recorded), mine) is None
    waiting = cert_body("m", commonName="m.com")
    waiting["status"] = {"conditions": []}  # e.g. it waited for its config: no enrollment yet
    assert unrecorded_marker(SectigoCertificate.from_body(waiting), mine) == ("k8s:uid-m:0", None)


def _at_first_secret_write(kube: FakeKube, key: tuple[str, str], change: Any) -> None:
    """Someone else changes the certificate (``change``, then a new resourceVersion) right
    before the step's first Secret write."""
    write, done = kube.write_secret, False

    async def meanwhile(*args: Any, **kwargs: Any) -> str:
        nonlocal done
        if not done:
            done = True
            change()
            kube._bump(kube.objects[key])
        return await write(*args, **kwargs)

    kube.write_secret = meanwhile  # type: ignore[method-assign]


async def test_an_edit_while_scm_issues_a_first_order_keeps_the_order_and_replaces_it(
    ctx: Context, shared_sandbox_scm: SandboxHandle
) -> None:
    """The common name is edited after the step read the certificate and before its outcome
    is written (Kopf delivers the edit only after the step): the fence refuses the Issued
    write, the step reads the object again, finds only the spec changed, and records the order
    at the new version. The next step replaces the certificate for the new name: one order,
    one replacement, no order that no status records."""
    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    key = ("sectigocertificates", "renamed")
    kube.objects[key] = cert_body("renamed", commonName="a.renamed.com")

    def edit() -> None:
        kube.objects[key]["spec"]["commonName"] = "b.renamed.com"
        kube.objects[key]["metadata"]["generation"] = 2

    _at_first_secret_write(kube, key, edit)  # the key's create: SCM is called next
    calls = scm_calls(shared_sandbox_scm)
    await step(ctx, "renamed")
    status = kube.objects[key]["status"]
    assert status["state"] == "Issued" and status["observedGeneration"] == 1
    first = status["sslId"]
    assert [o["id"] for o in shared_sandbox_scm.orders(common_name="a.renamed.com")] == [first]

    await step(ctx, "renamed")  # the edit: a replacement of the same order for the new name
    after = scm_calls(shared_sandbox_scm)
    enrolls = "POST /api/ssl/v1/enroll"
    assert after.get(enrolls, 0) == calls.get(enrolls, 0) + 1
    named = [
        *shared_sandbox_scm.orders(common_name="a.renamed.com"),
        *shared_sandbox_scm.orders(common_name="b.renamed.com"),
    ]
    assert {o["id"] for o in named} == {first}  # the one order, replaced: no second order
    status = kube.objects[key]["status"]
    assert status["state"] == "Issued" and status["sslId"] == first
    assert status["observedGeneration"] == 2
    leaf = pki.order_chain(pki.parse_pem_chain(kube.secrets["renamed-tls"].data["tls.crt"])).leaf
    assert pki.cert_info(leaf).common_name == "b.renamed.com"


async def test_a_stale_outcome_write_is_refused_when_someone_else_wrote_the_status(
    ctx: Context, shared_sandbox_scm: SandboxHandle
) -> None:
    """The fence keeps refusing a step whose status view is stale: another writer changed the
    status meanwhile, so the step's outcome is not written over it."""
    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    key = ("sectigocertificates", "raced")
    kube.objects[key] = cert_body("raced", commonName="raced.com")
    _at_first_secret_write(kube, key, lambda: kube.objects[key].update(status={"state": "Revoked"}))
    with pytest.raises(KubeConflict):
        await step(ctx, "raced")
    assert kube.objects[key]["status"] == {"state": "Revoked"}


@pytest.mark.parametrize("whose", ["key", "csr"])
async def test_an_order_with_the_users_key_or_csr_writes_its_marker_to_status_first(
    ctx: Context, shared_sandbox_scm: SandboxHandle, whose: str
) -> None:
    """The user's key or CSR is not written by the operator before the order, so there is no
    Secret to carry the marker: it goes to status (fenced) before SCM is called."""
    from sectigo_operator.certificates import Stalled

    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    cn = f"{whose}.users.example.com"
    key = pki.generate_private_key(pki.KeySpec("ECDSA", 256))
    if whose == "key":
        kube.secrets["users-key"] = SecretData(
            "users-key", NS, "Opaque", {"tls.key": pki.private_key_to_pem(key, "PKCS8")}
        )
        spec: dict[str, Any] = {"privateKeySecretRef": {"name": "users-key", "key": "tls.key"}}
    else:
        request = pki.CsrRequest(common_name=cn)
        spec = {"csr": pki.build_csr(key, request)}
    kube.objects[("sectigocertificates", "users")] = cert_body("users", commonName=cn, **spec)
    patch = kube.patch_status

    async def dies(*args: Any, **kwargs: Any) -> str:
        raise Died

    kube.patch_status = dies  # type: ignore[method-assign]
    with pytest.raises(Died):  # at the first status write: the marker, before SCM
        await step(ctx, "users")
    assert shared_sandbox_scm.orders(common_name=cn) == []
    kube.patch_status = patch  # type: ignore[method-assign]
    if whose == "key":
        await step(ctx, "users")
        assert kube.writes == ["status users", "secret users-tls", "status users"]
        assert ANNOTATION_ENROLLMENT_MARKER not in kube.secrets["users-tls"].annotations
        assert kube.objects[("sectigocertificates", "users")]["status"]["state"] == "Issued"
    else:  # no key for the certificate at all: the order is placed, then the step stalls
        with pytest.raises(Stalled):
            await step(ctx, "users")
        assert kube.writes[0] == "status users" and "users-tls" not in kube.secrets
    assert len(shared_sandbox_scm.orders(common_name=cn)) == 1
    status = kube.objects[("sectigocertificates", "users")]["status"]
    assert status["enrollment"]["marker"] == "k8s:uid-users:0"


async def test_a_users_key_that_no_longer_matches_is_named_and_looked_at_again(
    ctx: Context, shared_sandbox_scm: SandboxHandle
) -> None:
    """The certificate's Secret is deleted while the user's key Secret holds another key: the
    condition names spec.privateKeySecretRef and its Secret (not the deleted one), and the step
    is looked at again, so putting the key back restores the Secret without a restart, with
    no new order."""
    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    key = pki.generate_private_key(pki.KeySpec("ECDSA", 256))
    pem = pki.private_key_to_pem(key, "PKCS8")
    kube.secrets["users-key"] = SecretData("users-key", NS, "Opaque", {"tls.key": pem})
    kube.objects[("sectigocertificates", "own")] = cert_body(
        "own",
        commonName="own.users.example.com",
        privateKeySecretRef={"name": "users-key", "key": "tls.key"},
    )
    await step(ctx, "own")
    ordered = orders_placed(shared_sandbox_scm)
    other = pki.private_key_to_pem(pki.generate_private_key(pki.KeySpec("ECDSA", 256)), "PKCS8")
    kube.secrets["users-key"] = SecretData("users-key", NS, "Opaque", {"tls.key": other})
    del kube.secrets["own-tls"]
    events: list[tuple[str, str]] = []
    for _ in range(2):  # looked at again: the Warning is posted once, not once per look
        body = await kube.get_object("sectigocertificates", NS, "own")
        assert body is not None
        with pytest.raises(RetryLater) as again:
            await reconcile(ctx, body, lambda type_, reason, _: events.append((type_, reason)))
    assert events == [("Warning", "KeyMismatch")]
    assert 0 < again.value.delay <= ctx.settings.max_poll_delay
    status = kube.objects[("sectigocertificates", "own")]["status"]
    stalled = {c["type"]: c for c in status["conditions"]}["Stalled"]
    assert stalled["status"] == "True" and stalled["reason"] == "KeyMismatch"
    assert "'users-key' (spec.privateKeySecretRef)" in stalled["message"]
    assert "own-tls" not in stalled["message"] and "own-tls" not in kube.secrets

    kube.secrets["users-key"] = SecretData("users-key", NS, "Opaque", {"tls.key": pem})
    await step(ctx, "own")
    stored = pki.load_private_key(kube.secrets["own-tls"].data["tls.key"])
    assert pki.private_key_to_pem(stored, "PKCS8") == pem
    conditions = {
        c["type"]: c for c in kube.objects[("sectigocertificates", "own")]["status"]["conditions"]
    }
    assert conditions["Ready"]["status"] == "True" and conditions["Stalled"]["status"] == "False"
    assert orders_placed(shared_sandbox_scm) == ordered


async def test_a_first_order_found_again_under_the_name_it_was_placed_under(
    ctx: Context, shared_sandbox_scm: SandboxHandle
) -> None:
    """The process dies after SCM accepted a first order, and the common name is edited before
    the next step: the order is looked up under the name it was placed under (recorded beside
    the marker), adopted and stored, and the step after it replaces it for the new name. One
    order in all; before, the lookup searched the edited name and ordered a second time."""
    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    key = ("sectigocertificates", "moved")
    kube.objects[key] = cert_body("moved", commonName="a.moved.com")
    write, writes = kube.write_secret, 0

    async def dies_at_the_certificate(*args: Any, **kwargs: Any) -> str:
        nonlocal writes
        writes += 1
        if writes == 2:  # the certificate over the key: SCM has issued
            raise Died
        return await write(*args, **kwargs)

    kube.write_secret = dies_at_the_certificate  # type: ignore[method-assign]
    with pytest.raises(Died):
        await step(ctx, "moved")
    kube.write_secret = write  # type: ignore[method-assign]
    waiting = kube.secrets["moved-tls"].annotations
    assert waiting[ANNOTATION_ENROLLMENT_IDENTITY] == "a.moved.com"
    [order] = shared_sandbox_scm.orders(common_name="a.moved.com")
    kube.objects[key]["spec"]["commonName"] = "b.moved.com"
    kube.objects[key]["metadata"]["generation"] = 2
    ctx.versions.clear()
    await step(ctx, "moved")
    status = kube.objects[key]["status"]
    assert status["sslId"] == order["id"] and status["state"] == "Issued"
    assert status["enrollment"]["identity"] == "a.moved.com"
    await step(ctx, "moved")  # the edit: the same order, replaced for the new name
    named = [
        *shared_sandbox_scm.orders(common_name="a.moved.com"),
        *shared_sandbox_scm.orders(common_name="b.moved.com"),
    ]
    assert {o["id"] for o in named} == {order["id"]}
    leaf = pki.order_chain(pki.parse_pem_chain(kube.secrets["moved-tls"].data["tls.crt"])).leaf
    assert pki.cert_info(leaf).common_name == "b.moved.com"


async def test_an_order_resumed_after_a_name_edit_is_found_under_either_name(
    ctx: Context, shared_sandbox_scm: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first order persisted under one name dies before SCM is called; the name is edited;
    the next step places it under the new name and dies before recording it. The step after
    looks the marker up under the recorded name and then the spec's, finds the order, and
    records the name it was placed under: one order."""
    from sectigo_operator.certificates import requests as placing

    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    key = ("sectigocertificates", "twice")
    kube.objects[key] = cert_body("twice", commonName="a.twice.com")
    real_call = placing.Placer._call

    async def dies_before_scm(self: Any, *args: Any, **kwargs: Any) -> None:
        raise Died

    monkeypatch.setattr(placing.Placer, "_call", dies_before_scm)
    with pytest.raises(Died):
        await step(ctx, "twice")
    monkeypatch.setattr(placing.Placer, "_call", real_call)
    assert kube.secrets["twice-tls"].annotations[ANNOTATION_ENROLLMENT_IDENTITY] == "a.twice.com"
    kube.objects[key]["spec"]["commonName"] = "b.twice.com"
    kube.objects[key]["metadata"]["generation"] = 2
    write = kube.write_secret

    async def dies_at_the_certificate(*args: Any, **kwargs: Any) -> str:
        raise Died

    kube.write_secret = dies_at_the_certificate  # type: ignore[method-assign]
    ctx.versions.clear()
    with pytest.raises(Died):
        await step(ctx, "twice")
    kube.write_secret = write  # type: ignore[method-assign]
    assert len(shared_sandbox_scm.orders(common_name="b.twice.com")) == 1
    ctx.versions.clear()
    await step(ctx, "twice")
    [order] = shared_sandbox_scm.orders(common_name="b.twice.com")
    assert shared_sandbox_scm.orders(common_name="a.twice.com") == []
    status = kube.objects[key]["status"]
    assert status["sslId"] == order["id"] and status["state"] == "Issued"
    assert status["enrollment"]["identity"] == "b.twice.com"


async def test_a_csr_that_cannot_be_built_stalls_before_its_key_is_persisted(
    ctx: Context, shared_sandbox_scm: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The request is checked before a key is made (``pki.check_csr_request``); should building
    the CSR fail anyway, the step stalls naming the spec, and the key made with it in the same
    worker-thread trip is never written anywhere."""
    from sectigo_operator.certificates import Stalled

    def unbuildable(key: pki.PrivateKey, request: pki.CsrRequest) -> str:
        raise pki.InvalidCsr("no CSR for you")

    monkeypatch.setattr(pki, "build_csr", unbuildable)
    kube: FakeKube = ctx.kube  # type: ignore[assignment]
    kube.objects[("sectigocertificates", "nocsr")] = cert_body("nocsr", commonName="n.com")
    ordered = orders_placed(shared_sandbox_scm)
    with pytest.raises(Stalled, match="the CSR cannot be built: no CSR for you"):
        await step(ctx, "nocsr")
    conditions = {
        c["type"]: c for c in kube.objects[("sectigocertificates", "nocsr")]["status"]["conditions"]
    }
    assert conditions["Stalled"]["status"] == "True"
    assert conditions["Stalled"]["reason"] == "InvalidSpec"
    assert orders_placed(shared_sandbox_scm) == ordered
    assert not [name for name in kube.secrets if name.startswith("nocsr")], kube.secrets
