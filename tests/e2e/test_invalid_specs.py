"""Property-based bad input (hypothesis): a valid SectigoCertificate with one field replaced by an
arbitrary value. Each one is either refused by the API server at apply time with an error that
names the field, or accepted and then brought to a settled state by the operator: Ready, or
Stalled with a condition (never a retry loop, never a traceback, never a second order).

The examples are derandomized so that CI runs the same ones every time; set
``HYPOTHESIS_RANDOM=1`` to explore new ones locally.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.fixtures.cluster import Cluster, wait_for
from tests.fixtures.operator import CERT, OperatorProcess, certificate, condition, get

from sectigo_operator.sandbox.testing import SandboxHandle

pytestmark = pytest.mark.cluster

texts = st.text(max_size=90)
odd_text = st.one_of(
    texts,
    st.text(alphabet=st.characters(codec="utf-8"), max_size=70),
    st.sampled_from(["", " ", "a..b", "-a.example.com", "*.*.example.com", "\u202eabc", "x" * 64]),
)
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "commonName": odd_text,
    "dnsNames": st.lists(odd_text, max_size=3),
    "ipAddresses": st.lists(st.one_of(texts, st.ip_addresses().map(str)), max_size=2),
    "emailAddresses": st.lists(st.one_of(texts, st.emails()), max_size=2),
    "uris": st.lists(texts, max_size=2),
    "term": st.one_of(st.integers(-5, 5000), texts),
    "privateKey": st.fixed_dictionaries(
        {
            "algorithm": st.sampled_from(["RSA", "ECDSA", "DSA", "", "rsa"]),
            "size": st.integers(-1, 9000),
        }
    ),
    "comments": st.text(max_size=1500),
    "subject": st.fixed_dictionaries(
        {"organizations": st.lists(odd_text, max_size=2), "countries": st.lists(texts, max_size=2)}
    ),
    "historyLimit": st.integers(-3, 100),
    "secretName": odd_text,
    "renewal": st.fixed_dictionaries({"renewBeforeDays": st.integers(-5, 400)}),
}
examples = st.sampled_from(sorted(FIELDS)).flatmap(
    lambda field: st.tuples(st.just(field), FIELDS[field])
)
_names = itertools.count()


def settled(obj: dict[str, Any]) -> bool:
    ready, stalled = condition(obj, "Ready"), condition(obj, "Stalled")
    return bool(
        (ready and ready["status"] == "True" and obj["status"].get("state") == "Issued")
        or (stalled and stalled["status"] == "True")
    )


@pytest.mark.timeout(900)
def test_bad_input_is_refused_naming_the_field_or_settles_with_a_condition(
    cluster: Cluster,
    namespace: str,
    sandbox_scm: SandboxHandle,
    scm_setup: Callable[..., dict[str, Any]],
    operator_factory: Callable[..., OperatorProcess],
) -> None:
    scm_setup()
    operator = operator_factory(namespace)
    accepted: list[str] = []
    refused: list[str] = []

    @settings(
        max_examples=40,
        deadline=None,
        derandomize=not os.environ.get("HYPOTHESIS_RANDOM"),
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        database=None,
    )
    @given(examples)
    def check(example: tuple[str, Any]) -> None:
        field, value = example
        name = f"hyp-{next(_names)}"
        obj = certificate(name, commonName=f"{name}.example.com")
        obj["spec"][field] = value
        result = cluster.kubectl("apply", "-n", namespace, "-f", "-", input=_json(obj), check=False)
        if result.returncode != 0:
            assert field in result.stderr, (field, value, result.stderr)
            refused.append(field)
            return
        accepted.append(name)
        found = wait_for(
            lambda: (o := get(cluster, namespace, CERT, name)) and settled(o) and o,
            timeout=60,
            what=f"{name} ({field}={value!r}) Ready or Stalled",
        )
        orders = sandbox_scm.orders(common_name=found["spec"].get("commonName"))
        assert len(orders) <= 1, (field, value, orders)

    check()
    assert refused and accepted, (refused, accepted)
    # nothing keeps going: a second look finds every accepted certificate as it was
    before = {n: get(cluster, namespace, CERT, n)["metadata"]["resourceVersion"] for n in accepted}
    enrolls = sandbox_scm.counters()["callsByEndpoint"].get("POST /api/ssl/v1/enroll", 0)
    wait_for(
        lambda: all(settled(get(cluster, namespace, CERT, n)) for n in accepted),
        timeout=30,
        what="all settled",
    )
    after = {n: get(cluster, namespace, CERT, n)["metadata"]["resourceVersion"] for n in accepted}
    assert sandbox_scm.counters()["callsByEndpoint"].get("POST /api/ssl/v1/enroll", 0) == enrolls
    assert before == after
    assert operator.proc is not None and operator.proc.poll() is None
    assert "Traceback" not in operator.logs()


def _json(obj: dict[str, Any]) -> str:
    import json

    return json.dumps(obj)
