"""The API models as the operator uses them: parsing bodies, status patches, helpers.

No cluster: these check the Python side of the contract (camelCase wire format, snake_case
attributes, tolerance of unknown fields, RFC 3339 timestamps, bounded history, conditions).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.fixtures.merge_patch import apply_merge_patch

from sectigo_operator.models import (
    CertificateSpec,
    CertificateState,
    CertificateStatus,
    CertificateType,
    Condition,
    ConditionStatus,
    ConfigSpec,
    DeletionPolicy,
    HistoryEntry,
    KeyAlgorithm,
    SectigoCertificate,
    SectigoConfig,
    SectigoProfile,
    append_history,
    cert_unique_id,
    find_condition,
    format_rfc3339,
    set_condition,
    status_patch,
    status_patch_of,
)
from sectigo_operator.models.certificate import ScmError

SAMPLES = Path(__file__).resolve().parents[2] / "sample_manifests"
KINDS = {"SectigoConfig": SectigoConfig, "SectigoProfile": SectigoProfile}
KINDS["SectigoCertificate"] = SectigoCertificate  # type: ignore[assignment]
NOW = datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC)


def sample_documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(SAMPLES.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["kind"] in KINDS:
                docs.append((f"{path.parent.name}/{path.name}", doc))
    return docs


@pytest.mark.parametrize(
    ("name", "doc"), sample_documents(), ids=[n for n, _ in sample_documents()]
)
def test_every_sample_parses_and_round_trips(name: str, doc: dict[str, Any]) -> None:
    resource = KINDS[doc["kind"]].from_body(doc)
    assert resource.metadata.name == doc["metadata"]["name"]
    # every field the sample sets survives parsing: nothing in a sample is silently ignored
    assert _subset(doc["spec"], resource.spec.to_wire()), name


def _subset(expected: Any, actual: Any) -> bool:
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and _subset(v, actual[k]) for k, v in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(expected) == len(actual)
            and all(_subset(e, a) for e, a in zip(expected, actual, strict=True))
        )
    return bool(expected == actual)


def test_samples_cover_both_types_and_every_feature() -> None:
    specs = [
        SectigoCertificate.from_body(d).spec
        for _, d in sample_documents()
        if d["kind"] == "SectigoCertificate"
    ]
    for ctype in CertificateType:
        of_type = [s for s in specs if s.certificate_type is ctype]
        assert any(s.csr for s in of_type), f"{ctype}: existing CSR"
        assert any(s.private_key_secret_ref and not s.csr for s in of_type), f"{ctype}: key"
        assert any(s.import_ for s in of_type), f"{ctype}: import"
        assert any(s.renew_request for s in of_type), f"{ctype}: renew"
        assert any(s.replace_request for s in of_type), f"{ctype}: replace"
        assert any(s.revoke_request for s in of_type), f"{ctype}: revoke"


def test_body_parsing_tolerates_unknown_fields_and_nested_mappings() -> None:
    from types import MappingProxyType

    body = MappingProxyType(
        {
            "apiVersion": "sectigo-operator.io/v1alpha1",
            "kind": "SectigoCertificate",
            "metadata": MappingProxyType({"name": "a", "namespace": "n", "uid": "u-1"}),
            "spec": MappingProxyType(
                {
                    "configRef": {"name": "c"},
                    "certificateType": "ssl",
                    "secretName": "a-tls",
                    "commonName": "a.example.com",
                    "import": {"sslId": 7},
                    "someFutureField": {"x": 1},
                }
            ),
            "status": {"sslId": 7, "futureStatus": True, "lastRenewRequestId": "r1"},
        }
    )
    cert = SectigoCertificate.from_body(body)
    assert cert.spec.import_ is not None and cert.spec.import_.ssl_id == 7
    assert cert.status is not None and cert.status.last_renew_request_id == "r1"
    assert cert.metadata.uid == "u-1"
    assert cert.spec.deletion_policy is DeletionPolicy.RETAIN
    assert cert.spec.history_limit == 20


def test_models_accept_snake_case_and_dump_camel_case() -> None:
    spec = CertificateSpec(
        config_ref={"name": "c"},  # type: ignore[arg-type]
        certificate_type=CertificateType.CLIENT,
        secret_name="s",
        email="a@example.com",
        first_name="A",
        last_name="B",
    )
    wire = spec.to_wire()
    assert wire["firstName"] == "A" and wire["configRef"] == {"name": "c"}
    assert "first_name" not in wire and "csr" not in wire


def test_status_patch_is_camel_case_without_unset_fields() -> None:
    status = CertificateStatus(
        state=CertificateState.APPLIED,
        ssl_id=42,
        renew_id="gu03sW6WENt7GTvDTuOP",
        collect_started_at=NOW,
    )
    assert status_patch(status) == {
        "status": {
            "state": "Applied",
            "sslId": 42,
            "renewId": "gu03sW6WENt7GTvDTuOP",
            "collectStartedAt": "2026-11-27T10:00:00Z",
        }
    }


def test_status_patch_can_clear_fields() -> None:
    patch = status_patch(CertificateStatus(state=CertificateState.ISSUED), clear=["enrollment"])
    assert patch == {"status": {"state": "Issued", "enrollment": None}}


def test_status_patch_deletes_what_the_previous_status_had_at_any_depth() -> None:
    previous = status_patch(
        CertificateStatus(
            state=CertificateState.FAILED,
            last_error=ScmError(code=-2, description="Internal error", http_status=500),
        )
    )["status"]
    now = CertificateStatus(
        state=CertificateState.ENROLLING, last_error=ScmError(description="connection reset")
    )
    patch = status_patch(now, previous=previous)
    assert patch == {
        "status": {
            "state": "Enrolling",
            "lastError": {"code": None, "httpStatus": None, "description": "connection reset"},
        }
    }


_JSON_LEAF = st.one_of(st.booleans(), st.integers(), st.text(max_size=3))
_JSON = st.recursive(
    _JSON_LEAF,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from("abcd"), inner, max_size=4)
    ),
    max_leaves=12,
)
_OBJECTS = st.dictionaries(st.sampled_from("abcdef"), _JSON, max_size=5)


@settings(max_examples=300, deadline=None)
@given(old=_OBJECTS, new=_OBJECTS, clear=st.sets(st.sampled_from("abcdefg")))
def test_a_status_patch_applied_to_the_previous_status_gives_the_new_one(
    old: dict[str, Any], new: dict[str, Any], clear: set[str]
) -> None:
    """What the API server does with the patch (RFC 7386) yields exactly the status dumped; a
    field named in ``clear`` goes only if the new status has no value for it."""
    patch = status_patch_of(new, sorted(clear), previous=old)["status"]
    assert apply_merge_patch(old, patch) == new
    assert apply_merge_patch({}, status_patch_of(new, sorted(clear))["status"]) == new


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(
            datetime(2026, 1, 2, 3, 4, 5, 999999, tzinfo=UTC),
            "2026-01-02T03:04:05Z",
            id="microseconds dropped",
        ),
        pytest.param(datetime(2026, 1, 2, 3, 4, 5), "2026-01-02T03:04:05Z", id="naive is UTC"),
        pytest.param(
            datetime(2026, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2))),
            "2026-01-02T03:04:05Z",
            id="offset converted",
        ),
    ],
)
def test_timestamps_are_rfc3339_utc_with_z(value: datetime, expected: str) -> None:
    assert format_rfc3339(value) == expected
    entry = HistoryEntry(status="Issued", timestamp=value)
    assert entry.to_wire()["timestamp"] == expected


def test_timestamps_parse_from_kubernetes_strings() -> None:
    status = CertificateStatus.model_validate({"notAfter": "2027-11-27T10:00:00Z"})
    assert status.not_after == datetime(2027, 11, 27, 10, 0, tzinfo=UTC)


def test_history_is_bounded_to_the_newest_entries() -> None:
    history: list[HistoryEntry] = []
    for i in range(25):
        history = append_history(history, f"S{i}", NOW + timedelta(seconds=i), limit=20)
    assert len(history) == 20
    assert history[0].status == "S5" and history[-1].status == "S24"


def test_set_condition_keeps_transition_time_while_status_is_unchanged() -> None:
    first = set_condition(None, Condition(type="Ready", status=ConditionStatus.FALSE), NOW)
    later = NOW + timedelta(minutes=5)
    same = set_condition(
        first, Condition(type="Ready", status=ConditionStatus.FALSE, reason="Waiting"), later
    )
    ready = find_condition(same, "Ready")
    assert ready is not None and ready.last_transition_time == NOW and ready.reason == "Waiting"
    flipped = set_condition(same, Condition(type="Ready", status=ConditionStatus.TRUE), later)
    ready = find_condition(flipped, "Ready")
    assert ready is not None and ready.last_transition_time == later
    assert len(flipped) == 1


def test_set_condition_leaves_other_types_alone() -> None:
    conditions = set_condition(None, Condition(type="Issuing", status=ConditionStatus.TRUE), NOW)
    conditions = set_condition(
        conditions, Condition(type="Ready", status=ConditionStatus.FALSE), NOW
    )
    assert [c.type for c in conditions] == ["Issuing", "Ready"]


def _config(**renewal: Any) -> ConfigSpec:
    return ConfigSpec.model_validate(
        {
            "url": "http://127.0.0.1:8843",
            "customerUri": "sandbox",
            "orgId": 1,
            "credentialsSecretRef": {"name": "creds"},
            "renewal": renewal,
        }
    )


def _cert(renewal: dict[str, Any] | None) -> CertificateSpec:
    body: dict[str, Any] = {
        "configRef": {"name": "c"},
        "certificateType": "ssl",
        "secretName": "s",
        "commonName": "a.example.com",
    }
    if renewal is not None:
        body["renewal"] = renewal
    return CertificateSpec.model_validate(body)


@pytest.mark.parametrize(
    ("config", "cert", "auto_renew", "window"),
    [
        pytest.param({}, None, True, 30, id="all defaults"),
        pytest.param(
            {"autoRenew": False, "expiryWindowDays": 10}, None, False, 10, id="config only"
        ),
        pytest.param({"autoRenew": False}, {"autoRenew": True}, True, 30, id="cert enables"),
        pytest.param({}, {"autoRenew": False}, False, 30, id="cert disables"),
        pytest.param(
            {"expiryWindowDays": 10}, {"expiryWindowDays": 60}, True, 60, id="cert window wins"
        ),
    ],
)
def test_effective_renewal(
    config: dict[str, Any], cert: dict[str, Any] | None, auto_renew: bool, window: int
) -> None:
    effective = _cert(cert).effective_renewal(_config(**config))
    assert (effective.auto_renew, effective.expiry_window_days) == (auto_renew, window)


def test_config_defaults_match_the_vault_plugin() -> None:
    spec = _config()
    assert spec.collect.max_timeout == 600 and spec.collect.loop_period == 30
    assert spec.ssl.server_type == -1
    assert spec.private_key.algorithm is KeyAlgorithm.RSA
    assert spec.credentials_secret_ref is not None
    assert spec.credentials_secret_ref.login_key == "login"
    assert spec.credentials_secret_ref.password_key == "password"


def test_cert_unique_id_is_the_vault_form() -> None:
    assert cert_unique_id(44166, "murray") == "44166_murray"


def test_model_reprs_carry_no_secret_values() -> None:
    # the models only ever hold references; a repr of a full sample shows no key or password
    for _, doc in sample_documents():
        text = repr(KINDS[doc["kind"]].from_body(doc))
        assert "PRIVATE KEY" not in text and "FAKE-PASSWORD" not in text
