"""The operator's start-up pieces that can be checked without a cluster."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap

import kopf
import pytest
from kopf._cogs.structs import references

from sectigo_operator.handlers import secret
from sectigo_operator.handlers.lifecycle import ObservedGenerationDiffBase, QuietRetries, tune
from sectigo_operator.models import GROUP, VERSION
from sectigo_operator.settings import LABEL_MANAGED_BY, MANAGED_BY, OperatorSettings


@pytest.mark.parametrize(
    ("level", "message", "expected"),
    [
        pytest.param(
            logging.ERROR,
            "Handler 'x' failed temporarily: pending",
            logging.INFO,
            id="routine wait downgraded",
        ),
        pytest.param(
            logging.ERROR,
            "Handler 'x' failed with an exception",
            logging.ERROR,
            id="real failure kept",
        ),
        pytest.param(
            logging.WARNING, "failed temporarily", logging.WARNING, id="other levels kept"
        ),
    ],
)
def test_quiet_retries(level: int, message: str, expected: int) -> None:
    record = logging.LogRecord("kopf.objects", level, __file__, 1, message, None, None)
    assert QuietRetries().filter(record) is True
    assert record.levelno == expected
    assert record.levelname == logging.getLevelName(expected)


def _resource(group: str, version: str, plural: str) -> references.Resource:
    return references.Resource(group=group, version=version, plural=plural, namespaced=True)


def test_kopf_neither_lists_nor_watches_secrets() -> None:
    """Managed Secrets are watched by ``handlers.secret`` (one list, reduced events): a Kopf
    handler on Secrets would list them all a second time at start-up and queue every listed
    body, keys included, until handled. Asked of a fresh interpreter, whose default registry
    holds exactly the handlers the operator's modules register."""
    probe = textwrap.dedent(
        """
        import kopf
        import sectigo_operator.handlers
        from kopf._cogs.structs import references

        def resource(group, version, plural):
            return references.Resource(group=group, version=version, plural=plural, namespaced=True)

        registry = kopf.get_default_registry()
        secrets = resource("", "v1", "secrets")
        ours = resource("sectigo-operator.io", "v1alpha1", "sectigocertificates")
        print(registry._changing.has_handlers(resource=ours),
              registry._watching.has_handlers(resource=secrets),
              registry._changing.has_handlers(resource=secrets))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    assert out == ["True", "False", "False"]
    assert secret.SELECTOR.startswith(f"{LABEL_MANAGED_BY}={MANAGED_BY},")
    settings = kopf.OperatorSettings()
    tune(settings, OperatorSettings.from_env({}))
    assert settings.watching.chunk_size == (OperatorSettings.from_env({}).list_chunk_size or None)


def _certificate_body() -> dict[str, object]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SectigoCertificate",
        "metadata": {
            "name": "web",
            "namespace": "team",
            "generation": 3,
            "resourceVersion": "42",
            "uid": "u-1",
            "labels": {"team": "a"},
            "annotations": {
                "note": "kept",
                "kubectl.kubernetes.io/last-applied-configuration": "{}",
                "sectigo-operator.io/last-handled-configuration": "{}",
                "kopf.zalando.org/last-handled-configuration": "{}",
            },
            "ownerReferences": [{"kind": "App", "name": "x", "uid": "o", "apiVersion": "v1"}],
            "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
            "finalizers": ["sectigo-operator.io/deletion"],
        },
        "spec": {"commonName": "web.example.com", "dnsNames": ["a", "b"]},
        "status": {"observedGeneration": 3, "state": "Issued", "history": [{"status": "Issued"}]},
    }


@pytest.mark.parametrize(
    "extra_fields",
    [None, [("spec",)], ["status.state"], [("metadata", "finalizers")]],
    ids=["none", "spec", "a status field", "a metadata field"],
)
def test_a_certificates_essence_is_kopfs_without_copying_the_whole_body(
    extra_fields: list[kopf.FieldSpec] | None,
) -> None:
    """The slim build gives exactly Kopf's essence (so Kopf's change detection is unchanged)."""
    ours = ObservedGenerationDiffBase(
        prefix="sectigo-operator.io", key="last-handled-configuration"
    )
    kopfs = kopf.AnnotationsDiffBaseStorage(
        prefix="sectigo-operator.io", key="last-handled-configuration"
    )
    body = kopf.Body(_certificate_body())  # type: ignore[arg-type]
    expected = kopfs.build(body=body, extra_fields=extra_fields)
    assert ours.build(body=body, extra_fields=extra_fields) == expected
    assert "status" not in expected or extra_fields == ["status.state"]
    if extra_fields == ["status.state"]:  # a handler's status field is kept, nothing else of it
        assert expected["status"] == {"state": "Issued"}
    # a handled certificate: its last-handled essence is the one Kopf builds now (no diff)
    assert ours.fetch(body=body) == kopfs.build(body=body)
