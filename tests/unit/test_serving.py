"""The HTTP endpoints (``sectigo_operator.serving``) and the metrics they expose, over a real
socket on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sectigo_operator import metrics, serving


@pytest.fixture
async def served() -> AsyncIterator[tuple[serving.Health, str]]:
    health = serving.Health()
    runner = await serving.start("127.0.0.1:0", health)
    port = runner.addresses[0][1]
    yield health, f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def _get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


async def test_probes_follow_the_role(served: tuple[serving.Health, str]) -> None:
    health, base = served
    assert (await _get(base + "/readyz"))[0] == 503  # starting
    health.role = "standby"
    assert (await _get(base + "/readyz"))[0] == 200
    assert (await _get(base + "/healthz"))[0] == 200
    health.role = "leader"
    assert (await _get(base + "/readyz"))[0] == 503  # handlers not started yet
    health.started = True
    assert (await _get(base + "/readyz"))[0] == 200
    health.leading = lambda: False  # the Lease ran out
    status, body = await _get(base + "/healthz")
    assert status == 503 and '"leading": false' in body


async def test_metrics_show_certificates_and_forget_deleted_ones(
    served: tuple[serving.Health, str],
) -> None:
    _, base = served
    baseline = sample((await _get(base + "/metrics"))[1], "pending_orders")
    expiry = datetime(2027, 1, 1, tzinfo=UTC)
    metrics.certificate(
        "ns1", "web", "scm", ready=True, issuing=False, not_after=expiry,
        renewal_time=None, pending_since=None,
    )  # fmt: skip
    metrics.certificate(
        "ns1", "api", "scm", ready=False, issuing=True, not_after=None,
        renewal_time=None, pending_since=datetime(2026, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    status, text = await _get(base + "/metrics")
    assert status == 200
    web = {"config": "scm", "name": "web", "namespace": "ns1"}
    api = {"config": "scm", "name": "api", "namespace": "ns1"}
    assert sample(text, "certificate_expiry_timestamp_seconds", web) == expiry.timestamp()
    assert sample(text, "certificate_ready", web) == 1
    assert sample(text, "certificate_ready", api) == 0
    assert sample(text, "certificate_issuing", api) == 1
    assert sample(text, "pending_orders") == baseline + 1
    assert sample(text, "oldest_pending_order_age_seconds") > 300 * 86400
    metrics.forget_certificate("ns1", "api")
    metrics.forget_certificate("ns1", "web")
    _, text = await _get(base + "/metrics")
    assert 'name="api",namespace="ns1"' not in text and 'name="web",namespace="ns1"' not in text
    assert sample(text, "pending_orders") == baseline


def sample(text: str, name: str, labels: dict[str, str] | None = None) -> float:
    """The value of one series in a Prometheus exposition (KeyError when absent)."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == metrics.PREFIX + name and s.labels == (labels or {}):
                return float(s.value)
    raise KeyError(name)


def test_address_parsing() -> None:
    assert serving.split_address("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert serving.split_address("[::1]:9") == ("::1", 9)
    with pytest.raises(ValueError, match="host:port"):
        serving.split_address("8080")
