"""The labels and annotations of a certificate's Secret: ours, the template's, and others'.

Each write replaces the whole Secret. What someone else put on it (a reloader's annotation, a
team label, ``kubectl``'s) stays; what the operator decides goes as it decides: its own keys
(``app.kubernetes.io/managed-by`` and the ``sectigo-operator.io/`` prefix: a first order's
marker is dropped once status records it) and those written from ``spec.secretTemplate``, which
the Secret lists (``ANNOTATION_TEMPLATE_KEYS``) so that a key dropped from the template goes too
(``trigger.outputs_outdated`` rewrites the Secret for it). A Secret without the list (written
before it existed) is replaced whole once, as before: nothing on it is known to be others'.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..models import CertificateSpec
from ..settings import ANNOTATION_TEMPLATE_KEYS, LABEL_MANAGED_BY, PREFIX

Metadata = tuple[dict[str, str], dict[str, str]]


def template_of(spec: CertificateSpec) -> Metadata:
    """``spec.secretTemplate``'s labels and annotations (empty when it has none)."""
    template = spec.secret_template
    if template is None:
        return {}, {}
    return dict(template.labels or {}), dict(template.annotations or {})


def template_keys(labels: Mapping[str, str], annotations: Mapping[str, str]) -> str:
    """The value of ``ANNOTATION_TEMPLATE_KEYS`` for a template's labels and annotations."""
    return f"labels={','.join(sorted(labels))};annotations={','.join(sorted(annotations))}"


def templated(existing: Mapping[str, str]) -> tuple[set[str], set[str]]:
    """The label and annotation keys the last write took from the template."""
    labels: set[str] = set()
    annotations: set[str] = set()
    for part in existing.get(ANNOTATION_TEMPLATE_KEYS, "").split(";"):
        kind, _, keys = part.partition("=")
        found = {k for k in keys.split(",") if k}
        if kind == "labels":
            labels = found
        elif kind == "annotations":
            annotations = found
    return labels, annotations


def _ours(key: str) -> bool:
    return key == LABEL_MANAGED_BY or key.startswith(f"{PREFIX}/")


def merged(
    existing_labels: Mapping[str, str],
    existing_annotations: Mapping[str, str],
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
) -> Metadata:
    """The Secret's labels and annotations for a write: ``labels`` and ``annotations`` (ours and
    the template's, ``ANNOTATION_TEMPLATE_KEYS`` among them), plus what someone else put on the
    Secret as it is now."""
    if ANNOTATION_TEMPLATE_KEYS not in existing_annotations:
        return dict(labels), dict(annotations)
    was_labels, was_annotations = templated(existing_annotations)
    kept_labels = {
        k: v
        for k, v in existing_labels.items()
        if k not in labels and k not in was_labels and not _ours(k)
    }
    kept_annotations = {
        k: v
        for k, v in existing_annotations.items()
        if k not in annotations and k not in was_annotations and not _ours(k)
    }
    return {**kept_labels, **labels}, {**kept_annotations, **annotations}
