"""Prometheus metrics of the operator (served on ``/metrics`` by ``sectigo_operator.serving``).

One registry of our own (not the client library's global one), so that tests and a second
operator in the same process never see each other's series. Everything here is in memory:
recording a value never calls SCM or the Kubernetes API.

Names (all ``sectigo_operator_``-prefixed; docs/operations.md has the table):

- per certificate: ``certificate_expiry_timestamp_seconds``,
  ``certificate_renewal_timestamp_seconds``, ``certificate_ready``, ``certificate_issuing`` (an
  SCM operation in flight);
- SCM: ``scm_requests_total{operation,result}`` and ``scm_request_duration_seconds{operation}``;
- orders: ``orders_total{config,profile,operation}`` (Enroll, Renew, Replace, Revoke);
- ``pending_orders`` and ``oldest_pending_order_age_seconds`` (computed at scrape time);
- ``reconcile_errors_total{reason}``; ``leader`` (1 on the active replica).

Label values are names and reasons, never secret material.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

PREFIX = "sectigo_operator_"
REGISTRY = CollectorRegistry(auto_describe=True)

_CERT_LABELS = ("namespace", "name", "config")

CERT_EXPIRY = Gauge(
    PREFIX + "certificate_expiry_timestamp_seconds",
    "notAfter of the certificate in the Secret (Unix time).",
    _CERT_LABELS,
    registry=REGISTRY,
)
CERT_RENEWAL = Gauge(
    PREFIX + "certificate_renewal_timestamp_seconds",
    "When the operator renews the certificate (Unix time).",
    _CERT_LABELS,
    registry=REGISTRY,
)
CERT_READY = Gauge(
    PREFIX + "certificate_ready",
    "1 while the certificate's Ready condition is True.",
    _CERT_LABELS,
    registry=REGISTRY,
)
CERT_ISSUING = Gauge(
    PREFIX + "certificate_issuing",
    "1 while an SCM operation (enroll, renew, replace) is in flight for the certificate.",
    _CERT_LABELS,
    registry=REGISTRY,
)
SCM_REQUESTS = Counter(
    PREFIX + "scm_requests",
    "HTTP requests sent to SCM, by operation and result (HTTP status, or 'no-answer').",
    ("operation", "result"),
    registry=REGISTRY,
)
SCM_LATENCY = Histogram(
    PREFIX + "scm_request_duration_seconds",
    "Latency of SCM HTTP requests, by operation.",
    ("operation",),
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=REGISTRY,
)
ORDERS = Counter(
    PREFIX + "orders",
    "SCM operations placed, by config, profile and operation (Enroll, Renew, Replace, Revoke).",
    ("config", "profile", "operation"),
    registry=REGISTRY,
)
RECONCILE_ERRORS = Counter(
    PREFIX + "reconcile_errors",
    "Steps that ended in an error, by reason (the condition reason, or KubernetesApiError).",
    ("reason",),
    registry=REGISTRY,
)
LEADER = Gauge(
    PREFIX + "leader",
    "1 while this process holds the leader Lease (or runs without leader election).",
    registry=REGISTRY,
)


class _PendingOrders(Collector):
    """Orders placed with SCM and not collected yet, and the age of the oldest."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.since: dict[tuple[str, str], float] = {}
        self.clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        since = list(self.since.values())
        yield GaugeMetricFamily(
            PREFIX + "pending_orders", "Orders placed with SCM and not collected yet.", len(since)
        )
        oldest = self.clock() - min(since) if since else 0.0
        yield GaugeMetricFamily(
            PREFIX + "oldest_pending_order_age_seconds",
            "Age of the oldest order placed with SCM and not collected yet (0: none).",
            max(0.0, oldest),
        )


PENDING = _PendingOrders()
REGISTRY.register(PENDING)


def certificate(
    namespace: str,
    name: str,
    config: str,
    *,
    ready: bool,
    issuing: bool,
    not_after: datetime | None,
    renewal_time: datetime | None,
    pending_since: datetime | None,
) -> None:
    """Record what one step found for a certificate."""
    labels = (namespace, name, config)
    CERT_READY.labels(*labels).set(1 if ready else 0)
    CERT_ISSUING.labels(*labels).set(1 if issuing else 0)
    for gauge, value in ((CERT_EXPIRY, not_after), (CERT_RENEWAL, renewal_time)):
        if value is None:
            _remove(gauge, labels)
        else:
            gauge.labels(*labels).set(value.timestamp())
    if pending_since is None:
        PENDING.since.pop((namespace, name), None)
    else:
        PENDING.since[(namespace, name)] = pending_since.timestamp()


def forget_certificate(namespace: str, name: str) -> None:
    """Drop every series of a deleted certificate."""
    for gauge in (CERT_EXPIRY, CERT_RENEWAL, CERT_READY, CERT_ISSUING):
        for labels in _series_of(gauge, namespace, name):
            _remove(gauge, labels)
    PENDING.since.pop((namespace, name), None)


def scm_request(operation: str, status: int | None, seconds: float) -> None:
    SCM_REQUESTS.labels(operation, str(status) if status is not None else "no-answer").inc()
    SCM_LATENCY.labels(operation).observe(seconds)


def order(config: str, profile: int | str | None, operation: str) -> None:
    ORDERS.labels(config, "" if profile is None else str(profile), operation).inc()


def reconcile_error(reason: str) -> None:
    RECONCILE_ERRORS.labels(reason).inc()


def _series_of(gauge: Gauge, namespace: str, name: str) -> list[tuple[str, ...]]:
    return [
        tuple(sample.labels[k] for k in _CERT_LABELS)
        for metric in gauge.collect()
        for sample in metric.samples
        if sample.labels.get("namespace") == namespace and sample.labels.get("name") == name
    ]


def _remove(gauge: Gauge, labels: tuple[str, ...]) -> None:
    try:
        gauge.remove(*labels)
    except KeyError:
        pass
