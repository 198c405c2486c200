"""SectigoProfile end to end: fetched from the sandbox SCM into status, edited, not found, and
left alone by a restarted operator.

``status.profile`` must describe the profile the current spec names and nothing else: a status
write is a merge patch, so a key type or a description of the previous profile would survive the
edit unless the write deletes it. Certificates referring to the SectigoProfile order with it.
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.fixtures.cluster import Cluster, wait_for
from tests.fixtures.operator import (
    CERT,
    OperatorProcess,
    apply,
    certificate,
    cond,
    get,
    wait_condition,
)

from sectigo_operator.sandbox.testing import SandboxHandle

pytestmark = pytest.mark.cluster

PROFILE = "sectigoprofile"
CUSTOM_FIELDS = "GET /api/ssl/v1/customFields"
"""Asked by the profile handler alone (certificates check the profile list)."""


def profile(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "sectigo-operator.io/v1alpha1",
        "kind": "SectigoProfile",
        "metadata": {"name": name},
        "spec": {"configRef": {"name": "scm"}, "certificateType": "ssl", **spec},
    }


def fetched(cluster: Cluster, namespace: str, name: str, profile_id: int) -> dict[str, Any]:
    """Poll until the SectigoProfile is Ready with the profile ``profile_id``."""

    def probe() -> dict[str, Any] | None:
        obj = get(cluster, namespace, PROFILE, name)
        status = obj.get("status") or {}
        ready = [c for c in status.get("conditions") or [] if c["type"] == "Ready"]
        found = (status.get("profile") or {}).get("id")
        return obj if found == profile_id and ready and ready[0]["status"] == "True" else None

    return wait_for(probe, timeout=60, what=f"{PROFILE}/{name} Ready with profile {profile_id}")


def calls(sandbox: SandboxHandle, endpoint: str) -> int:
    return int(sandbox.counters()["callsByEndpoint"].get(endpoint, 0))


def test_a_profile_edit_shows_only_the_new_profile_and_a_restart_asks_scm_nothing(
    cluster: Cluster, namespace: str, sandbox_scm: SandboxHandle, scm_operator: OperatorProcess
) -> None:
    apply(cluster, namespace, profile("ov", profileId=51))
    first = fetched(cluster, namespace, "ov", 51)["status"]["profile"]
    assert set(first["keyTypes"]) == {"RSA", "EC"} and first["name"] == "OV SSL"

    apply(cluster, namespace, profile("ov", profileId=54))  # the RSA-only profile
    edited = fetched(cluster, namespace, "ov", 54)
    assert edited["status"]["profile"]["keyTypes"] == {"RSA": ["2048", "3072", "4096"]}
    assert edited["status"]["profile"]["terms"] == [365]
    assert edited["status"]["profile"]["description"] == "RSA keys only, one-year term"

    apply(
        cluster,
        namespace,
        certificate(
            "rsa-only",
            commonName="rsa-only.example.com",
            privateKey={"algorithm": "RSA", "size": 2048},
            profileRef={"name": "ov"},
        ),
    )
    wait_condition(cluster, namespace, CERT, "rsa-only", timeout=60)
    assert [o["certType"] for o in sandbox_scm.orders()] == [54]

    apply(cluster, namespace, profile("ov", profileId=999))
    missing = wait_condition(
        cluster, namespace, PROFILE, "ov", "Ready", "False", "ProfileNotFound", timeout=60
    )
    assert "profile" not in missing["status"] and "fetchedAt" not in missing["status"]
    assert cond(missing, "Stalled")["status"] == "True"
    apply(
        cluster,
        namespace,
        certificate("waits", commonName="waits.example.com", profileRef={"name": "ov"}),
    )
    waiting = wait_condition(
        cluster, namespace, CERT, "waits", "Ready", "False", "ProfileNotReady", timeout=60
    )
    assert "SCM has no ssl profile id 999" in cond(waiting, "Ready")["message"]
    assert len(sandbox_scm.orders()) == 1  # nothing ordered with a profile no longer named

    apply(cluster, namespace, profile("ov", profileId=54))
    version = fetched(cluster, namespace, "ov", 54)["metadata"]["resourceVersion"]
    asked = calls(sandbox_scm, CUSTOM_FIELDS)
    resumed = scm_operator.logs().count("Handler 'profile-resume' succeeded")
    scm_operator.restart()
    wait_for(
        lambda: scm_operator.logs().count("Handler 'profile-resume' succeeded") > resumed,
        timeout=60,
        what="the restarted operator's resume of the profile",
    )
    assert calls(sandbox_scm, CUSTOM_FIELDS) == asked
    assert get(cluster, namespace, PROFILE, "ov")["metadata"]["resourceVersion"] == version


def test_a_client_profile_named_by_name_is_resolved_and_used(
    cluster: Cluster, namespace: str, sandbox_scm: SandboxHandle, scm_operator: OperatorProcess
) -> None:
    apply(
        cluster,
        namespace,
        profile("mail", certificateType="client", profileName="Client Certificate"),
    )
    fetched_mail = fetched(cluster, namespace, "mail", 61)["status"]["profile"]
    assert fetched_mail["name"] == "Client Certificate"
    assert {f["name"] for f in fetched_mail["customFields"]} >= {"Cost Center", "Ticket"}
    apply(
        cluster,
        namespace,
        certificate(
            "carol",
            certificateType="client",
            email="carol@example.com",
            firstName="Carol",
            lastName="Client",
            profileRef={"name": "mail"},
        ),
    )
    ready = wait_condition(cluster, namespace, CERT, "carol", timeout=60)
    assert ready["status"]["orderedCertType"] == 61
    assert [o["certType"] for o in sandbox_scm.orders()] == [61]
