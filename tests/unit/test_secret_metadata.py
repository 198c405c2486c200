"""``certificates.metadata``: a certificate Secret's labels and annotations on a write."""

from __future__ import annotations

from sectigo_operator.certificates.metadata import merged, template_keys
from sectigo_operator.settings import ANNOTATION_TEMPLATE_KEYS

TEMPLATED = template_keys({"team": "a"}, {"note": "x"})


def test_others_keys_stay_ours_and_the_templates_go_as_decided() -> None:
    existing_labels = {
        "app.kubernetes.io/managed-by": "sectigo-operator",
        "sectigo-operator.io/pending-key": "true",  # ours: dropped once not written
        "team": "a",  # from the template, now dropped from it
        "argocd.argoproj.io/instance": "web",  # someone else's
    }
    existing_annotations = {
        ANNOTATION_TEMPLATE_KEYS: TEMPLATED,
        "sectigo-operator.io/enrollment-marker": "k8s:u:0",  # ours: recorded in status now
        "note": "x",
        "reloader.stakater.com/match": "true",
    }
    labels = {"app.kubernetes.io/managed-by": "sectigo-operator", "tier": "b"}
    annotations = {ANNOTATION_TEMPLATE_KEYS: template_keys({"tier": "b"}, {})}
    new_labels, new_annotations = merged(existing_labels, existing_annotations, labels, annotations)
    assert new_labels == {
        "app.kubernetes.io/managed-by": "sectigo-operator",
        "tier": "b",
        "argocd.argoproj.io/instance": "web",
    }
    assert new_annotations == {
        ANNOTATION_TEMPLATE_KEYS: "labels=tier;annotations=",
        "reloader.stakater.com/match": "true",
    }


def test_a_key_someone_else_set_to_a_template_key_is_the_templates() -> None:
    labels, _ = merged({"team": "theirs"}, {}, {"team": "ours"}, {})
    assert labels == {"team": "ours"}


def test_a_secret_written_before_the_list_is_replaced_whole_once() -> None:
    """No ``ANNOTATION_TEMPLATE_KEYS`` yet: nothing on it is known to be others' (a template's
    key dropped meanwhile would otherwise stay for good)."""
    new = {ANNOTATION_TEMPLATE_KEYS: template_keys({}, {})}
    assert merged({"team": "a"}, {"note": "x"}, {}, new) == ({}, new)
