"""Table tests for ``certificates.trigger``: which operation each situation asks for.

One issued certificate (``web.example.com``, ECDSA P-256, profile 51, 365 days) is the baseline;
each case changes one fact. The first check that answers wins, so the cases also pin the order.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sectigo_operator import pki
from sectigo_operator.certificates.decision import Action, Facts
from sectigo_operator.certificates.readiness import SecretState
from sectigo_operator.certificates.trigger import decide, jittered_renewal_time, kept_order
from sectigo_operator.models import CertificateSpec, CertificateStatus, CertificateType
from sectigo_operator.policies import EnrollPlan
from sectigo_operator.settings import ANNOTATION_CERT_UNIQUE_ID

NOW = datetime(2026, 12, 1, tzinfo=UTC)
NOT_AFTER = NOW + timedelta(days=300)
INFO = pki.CertInfo(
    serial_number="01",
    fingerprint_sha256="ab",
    not_before=NOW - timedelta(days=65),
    not_after=NOT_AFTER,
    common_name="web.example.com",
    dns_names=("web.example.com",),
    ip_addresses=(),
    email_addresses=(),
    uris=(),
    issuer_common_name="CA",
    key_spec=pki.KeySpec("ECDSA", 256),
)
HEALTHY = SecretState(exists=True, info=INFO, current=True, key_matches=True)
PLAN = EnrollPlan(
    kind=CertificateType.SSL,
    cert_type=51,
    term=365,
    csr_request=pki.CsrRequest(common_name="web.example.com"),
    key_spec=pki.KeySpec("ECDSA", 256),
)


def facts(
    spec: dict[str, Any] | None = None, status: dict[str, Any] | None = None, **f: Any
) -> Facts:
    wire = {
        "configRef": {"name": "scm"},
        "certificateType": "ssl",
        "secretName": "web-tls",
        "commonName": "web.example.com",
        **(spec or {}),
    }
    status_wire = {
        "state": "Issued",
        "fingerprint": "ab",
        "certUniqueId": "1_sandbox",
        "notAfter": NOT_AFTER.isoformat(),
        "renewalTime": (NOT_AFTER - timedelta(days=30)).isoformat(),
        "orderedCertType": 51,
        "orderedTerm": 365,
        "observedGeneration": 1,
        **(status or {}),
    }
    base = Facts(
        spec=CertificateSpec.model_validate(wire),
        status=CertificateStatus.model_validate(status_wire),
        generation=1,
        secret_name="web-tls",
        secret_exists=True,
        secret_is_ours=True,
        secret=HEALTHY,
        secret_labels={},
        secret_annotations={ANNOTATION_CERT_UNIQUE_ID: "1_sandbox"},
        secret_keys=frozenset({"tls.crt", "tls.key", "ca.crt"}),
        plan=PLAN,
        can_replace=True,
        auto_renew=True,
        now=NOW,
    )
    return dataclasses.replace(base, **f)


@pytest.mark.parametrize(
    ("case", "action", "reason", "new_key"),
    [
        pytest.param(facts(), Action.READY, "Issued", True, id="issued and healthy: nothing"),
        pytest.param(
            facts(secret_is_ours=False),
            Action.WAIT_FOREIGN_SECRET,
            "SecretNotManaged",
            True,
            id="someone else's Secret: wait",
        ),
        pytest.param(
            facts(status={"state": "Applied", "enrollment": {"marker": "k8s:u:0"}}),
            Action.CONTINUE,
            "InFlight",
            True,
            id="operation in flight: continue it",
        ),
        pytest.param(
            facts(status={"state": "Failed"}),
            Action.STAY_FAILED,
            "OrderFailed",
            True,
            id="failed, same generation: no SCM call",
        ),
        pytest.param(
            facts(status={"state": "Failed"}, generation=2),
            Action.ORDER,
            "SpecChanged",
            True,
            id="failed, spec changed: order anew",
        ),
        pytest.param(
            facts(status={"fingerprint": None}),
            Action.ORDER,
            "NotIssued",
            True,
            id="never issued: order",
        ),
        pytest.param(
            facts(secret_exists=False, secret=SecretState(exists=False)),
            Action.REPLACE,
            "SecretDrift",
            True,
            id="Secret deleted: replace with a new key",
        ),
        pytest.param(
            facts(secret_exists=False, secret=SecretState(exists=False), can_replace=False),
            Action.ORDER,
            "SecretDrift",
            True,
            id="client Secret deleted: order anew",
        ),
        pytest.param(
            facts(
                {"privateKeySecretRef": {"name": "k"}},
                secret_exists=False,
                secret=SecretState(exists=False),
            ),
            Action.RECOLLECT,
            "SecretDrift",
            False,
            id="user key, Secret deleted: collect again",
        ),
        pytest.param(
            facts(secret=dataclasses.replace(HEALTHY, current=False)),
            Action.RECOLLECT,
            "SecretDrift",
            False,
            id="certificate edited: collect again",
        ),
        pytest.param(
            facts(secret=dataclasses.replace(HEALTHY, key_matches=False)),
            Action.REPLACE,
            "SecretDrift",
            True,
            id="key edited: replace with a new key",
        ),
        pytest.param(
            facts({"dnsNames": ["web.example.com", "new.example.com"]}),
            Action.REPLACE,
            "NamesChanged",
            True,
            id="SAN added: replace",
        ),
        pytest.param(
            facts(
                {
                    "dnsNames": ["web.example.com", "new.example.com"],
                    "privateKey": {"rotationPolicy": "Never"},
                }
            ),
            Action.REPLACE,
            "NamesChanged",
            False,
            id="SAN added, rotation Never: same key",
        ),
        pytest.param(
            facts({"commonName": "other.example.com"}, can_replace=False),
            Action.ORDER,
            "NamesChanged",
            True,
            id="client-like kind, names changed: order",
        ),
        pytest.param(
            facts(plan=dataclasses.replace(PLAN, key_spec=pki.KeySpec("RSA", 2048))),
            Action.REPLACE,
            "KeyChanged",
            True,
            id="key algorithm changed: replace",
        ),
        pytest.param(
            facts(plan=dataclasses.replace(PLAN, term=730)),
            Action.ORDER,
            "ProfileChanged",
            True,
            id="term changed: new order",
        ),
        pytest.param(
            facts(plan=dataclasses.replace(PLAN, cert_type=54, key_spec=pki.KeySpec("RSA", 2048))),
            Action.ORDER,
            "ProfileChanged",
            True,
            id="profile and key changed: one new order",
        ),
        pytest.param(
            facts({"renewRequest": {"id": "r1"}}),
            Action.RENEW,
            "RenewRequested",
            True,
            id="new renew request",
        ),
        pytest.param(
            facts({"renewRequest": {"id": "r1"}}, {"lastRenewRequestId": "r1"}),
            Action.READY,
            "Issued",
            True,
            id="renew request already handled",
        ),
        pytest.param(
            facts(now=NOT_AFTER - timedelta(days=29)),
            Action.RENEW,
            "RenewalDue",
            True,
            id="renewal time reached",
        ),
        pytest.param(
            facts(now=NOT_AFTER - timedelta(days=29), auto_renew=False),
            Action.READY,
            "Issued",
            True,
            id="renewal time reached, auto renew off: nothing",
        ),
        pytest.param(
            facts(now=NOT_AFTER + timedelta(seconds=1), auto_renew=False),
            Action.EXPIRED,
            "Expired",
            True,
            id="expired, auto renew off: Expired",
        ),
        pytest.param(
            facts(now=NOT_AFTER + timedelta(seconds=1)),
            Action.RENEW,
            "Expired",
            True,
            id="expired, auto renew on: renew",
        ),
        pytest.param(
            facts({"secretTemplate": {"labels": {"team": "web"}}}),
            Action.REWRITE,
            "SecretOutdated",
            True,
            id="secretTemplate label missing: rewrite, no SCM",
        ),
        pytest.param(
            facts({"additionalOutputFormats": [{"type": "DER"}]}),
            Action.REWRITE,
            "SecretOutdated",
            True,
            id="output format added: rewrite",
        ),
        pytest.param(
            facts(secret_keys=frozenset({"tls.crt", "tls.key", "key.der"})),
            Action.REWRITE,
            "SecretOutdated",
            True,
            id="output format removed: rewrite",
        ),
        pytest.param(
            facts({"historyLimit": 3, "comments": "new"}),
            Action.READY,
            "Issued",
            True,
            id="history limit and comments: nothing at SCM",
        ),
        pytest.param(
            facts(plan=None, now=NOT_AFTER - timedelta(days=29)),
            Action.RENEW,
            "RenewalDue",
            True,
            id="config not Ready: plan-based checks pass, renewal still due",
        ),
    ],
)
def test_decide(case: Facts, action: Action, reason: str, new_key: bool) -> None:
    decision = decide(case)
    assert (decision.action, decision.reason, decision.new_key) == (action, reason, new_key)
    assert decision.message


FRESH = {  # a certificate nothing has been done for: no order of its own
    "state": None,
    "fingerprint": None,
    "certUniqueId": None,
    "notAfter": None,
    "renewalTime": None,
    "orderedCertType": None,
    "orderedTerm": None,
    "observedGeneration": None,
}
KEPT = SecretState(exists=True, info=INFO, current=False, key_matches=True)


@pytest.mark.parametrize(
    ("case", "action"),
    [
        pytest.param(facts(status=FRESH, secret=KEPT), Action.ADOPT, id="kept Secret: adopt"),
        pytest.param(
            facts(status=FRESH, secret=dataclasses.replace(KEPT, key_matches=False)),
            Action.ORDER,
            id="its key does not match: order",
        ),
        pytest.param(
            facts(status=FRESH, secret=KEPT, now=NOT_AFTER), Action.ORDER, id="expired: order"
        ),
        pytest.param(
            facts({"commonName": "other.example.com"}, FRESH, secret=KEPT),
            Action.ORDER,
            id="other names: order",
        ),
        pytest.param(
            facts(status=FRESH, secret=KEPT, secret_annotations={}),
            Action.ORDER,
            id="no order recorded on it: order",
        ),
        pytest.param(
            facts(status=FRESH, secret=KEPT, secret_is_ours=False),
            Action.WAIT_FOREIGN_SECRET,
            id="someone else's Secret: wait",
        ),
        pytest.param(
            facts(status={**FRESH, "certUniqueId": "2_sandbox"}, secret=KEPT),
            Action.ORDER,
            id="an order of its own recorded: not adopted",
        ),
        pytest.param(
            facts(status={**FRESH, "certUniqueId": "1_sandbox", "state": "Applied"}, secret=KEPT),
            Action.ADOPT,
            id="an adoption begun (its collect failed): adopt again",
        ),
        pytest.param(
            facts({"privateKeySecretRef": {"name": "k"}}, FRESH, secret=KEPT),
            Action.ORDER,
            id="the user's key decides: not adopted",
        ),
        pytest.param(
            facts({"import": {"sslId": 7}}, FRESH, secret=KEPT),
            Action.IMPORT,
            id="spec.import: imported, not adopted",
        ),
    ],
)
def test_a_kept_secret_is_adopted_only_when_it_holds_this_specs_certificate(
    case: Facts, action: Action
) -> None:
    assert decide(case).action == action


def test_the_kept_order_is_read_from_the_unique_id_annotation() -> None:
    assert kept_order({ANNOTATION_CERT_UNIQUE_ID: "11_sandbox"}) == (11, "sandbox")
    assert kept_order({ANNOTATION_CERT_UNIQUE_ID: "11_a_b"}) == (11, "a_b")
    for bad in ("", "_sandbox", "11_", "x1_sandbox", "0_sandbox", "\u0661_sandbox"):
        assert kept_order({ANNOTATION_CERT_UNIQUE_ID: bad}) is None, bad


def test_jitter_is_deterministic_inside_the_window() -> None:
    before = NOT_AFTER - timedelta(days=365)
    times = [jittered_renewal_time(before, NOT_AFTER, 30, f"uid-{n}") for n in range(200)]
    start = NOT_AFTER - timedelta(days=30)
    assert all(start <= t <= start + timedelta(days=6) for t in times)
    assert len(set(times)) > 150  # spread, not all at once
    assert times[7] == jittered_renewal_time(before, NOT_AFTER, 30, "uid-7")


@pytest.mark.parametrize(
    ("case", "action", "reason"),
    [
        pytest.param(
            facts({"replaceRequest": {"id": "x1", "reason": "key compromised"}}),
            Action.REPLACE,
            "ReplaceRequested",
            id="new replace request: replace",
        ),
        pytest.param(
            facts({"replaceRequest": {"id": "x1", "reason": "r"}}, {"lastReplaceRequestId": "x1"}),
            Action.READY,
            "Issued",
            id="replace request handled",
        ),
        pytest.param(
            facts({"replaceRequest": {"id": "x1", "reason": "r"}}, can_replace=False),
            Action.ORDER,
            "ReplaceRequested",
            id="client replace request: new order",
        ),
        pytest.param(
            facts({"revokeRequest": {"id": "v1", "reason": "gone"}}),
            Action.REVOKE,
            "RevokeRequested",
            id="new revoke request: revoke",
        ),
        pytest.param(
            facts({"revokeRequest": {"id": "v1", "reason": "gone"}}, {"fingerprint": None}),
            Action.ORDER,
            "NotIssued",
            id="revoke request before issuance: not acted on",
        ),
        pytest.param(
            facts(
                {"revokeRequest": {"id": "v1", "reason": "gone"}},
                {"lastRevokeRequestId": "v1", "state": "Revoked"},
                now=NOT_AFTER - timedelta(days=1),
            ),
            Action.REVOKED,
            "Revoked",
            id="revoked: no renewal",
        ),
        pytest.param(
            facts({}, {"state": "Revoked"}, generation=2),
            Action.ORDER,
            "SpecChanged",
            id="revoked, spec changed: new order",
        ),
        pytest.param(
            facts(revoked_at_scm=True),
            Action.REVOKED,
            "Revoked",
            id="listed revoked at SCM: reported",
        ),
    ],
)
def test_decide_one_shot_requests(case: Facts, action: Action, reason: str) -> None:
    decision = decide(case)
    assert (decision.action, decision.reason) == (action, reason)


def test_import_without_key_is_a_complete_state_not_drift() -> None:
    keyless = dataclasses.replace(HEALTHY, key_matches=False)
    imported = {"import": {"sslId": 7}}
    assert decide(facts(imported, secret=keyless)).action == Action.READY
    # the same Secret for a certificate that should have its key: replace with a new one
    assert decide(facts(secret=keyless)).action == Action.REPLACE
    # deleted: collected again (there is no key to lose), never replaced
    gone = facts(imported, secret_exists=False, secret=SecretState(exists=False))
    assert decide(gone).action == Action.RECOLLECT
    # the imported certificate's key type is not ours to change (the config default may differ)
    rsa_default = dataclasses.replace(PLAN, key_spec=pki.KeySpec("RSA", 2048))
    assert decide(facts(imported, secret=keyless, plan=rsa_default)).action == Action.READY
    # output formats need the key: not asked for
    wants_der = facts({**imported, "additionalOutputFormats": [{"type": "DER"}]}, secret=keyless)
    assert decide(wants_der).action == Action.READY
