"""The Kubernetes API's answers as the operator sees them: its errors and its Secrets.

``ApiException`` does not leave ``k8s`` for the answers callers act on: 404 on reads is
``None``, a write refused for a stale ``resourceVersion`` or an existing name is
:class:`KubeConflict`, one refused as invalid is :class:`KubeInvalid`, an expired watch is
:class:`KubeGone`. Everything else is :class:`KubeError` with a short, safe text (never the
response body, which may echo a Secret). A Secret's values never appear in a repr.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client.exceptions import ApiException


class KubeError(Exception):
    """A Kubernetes API call failed; ``status`` is the HTTP status (0 without an answer)."""

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        super().__init__(f"Kubernetes API error HTTP {status} {reason}".strip())


class KubeConflict(KubeError):
    """409: the object changed meanwhile (stale resourceVersion) or already exists."""


class KubeInvalid(KubeError):
    """422: the API server refused the object (for example an invalid label); ``fields`` are
    the paths it named (``metadata.labels``, ``data`` of an immutable Secret), never values."""

    def __init__(self, status: int, reason: str, fields: tuple[str, ...] = ()) -> None:
        self.fields = fields
        super().__init__(status, reason)


class KubeGone(KubeError):
    """410: a watch's resourceVersion is older than the API server keeps (list again)."""


def translate(exc: ApiException, doing: str) -> KubeError:
    """The error of ``doing`` ("create secrets"): the verb and resource, never the body."""
    return refused(int(exc.status or 0), str(exc.reason or ""), doing)


def refused(status: int, reason: str, doing: str, body: Any = None) -> KubeError:
    """The error of an answer with HTTP ``status`` and ``reason`` (its phrase) to ``doing``;
    a 422's decoded ``body`` (a Status) gives the paths of the fields it refused."""
    fields = refused_fields(body) if status == 422 else ()
    named = f"; fields: {', '.join(fields)}" if fields else ""
    reason = f"{reason} ({doing}{named})".strip()
    if status == 409:
        return KubeConflict(status, reason)
    if status == 422:
        return KubeInvalid(status, reason, fields)
    return KubeError(status, reason)


def refused_fields(status: Any) -> tuple[str, ...]:
    """The field paths of a Status's causes (at most five, each cut to 100 printable
    characters): the paths only, never the messages, which may quote a value."""
    details = status.get("details") if isinstance(status, Mapping) else None
    causes = details.get("causes") if isinstance(details, Mapping) else None
    paths: list[str] = []
    for cause in causes if isinstance(causes, list) else ():
        path = cause.get("field") if isinstance(cause, Mapping) else None
        if isinstance(path, str) and path and path.isprintable() and path[:100] not in paths:
            paths.append(path[:100])
    return tuple(paths[:5])


@dataclass(frozen=True)
class SecretData:
    """A Secret as the operator sees it: decoded data, labels, annotations, type."""

    name: str
    namespace: str
    type: str
    data: Mapping[str, bytes]
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    resource_version: str = ""
    uid: str = ""
    owners: tuple[str, ...] = ()
    """The uids of its ownerReferences (the garbage collector deletes it once all are gone)."""

    def __repr__(self) -> str:  # never show the values
        return f"SecretData({self.namespace}/{self.name}, keys={sorted(self.data)})"


@dataclass(frozen=True)
class SecretPage:
    """One page of a Secret list: its Secrets, the list's resourceVersion, the next page's
    token (``None`` on the last)."""

    items: list[SecretData]
    resource_version: str
    next: str | None = None


def secret_data(item: Mapping[str, Any]) -> SecretData:
    meta = item.get("metadata") or {}
    return SecretData(
        name=meta.get("name", ""),
        namespace=meta.get("namespace", ""),
        type=item.get("type") or "Opaque",
        data={k: base64.b64decode(v) for k, v in (item.get("data") or {}).items()},
        labels=dict(meta.get("labels") or {}),
        annotations=dict(meta.get("annotations") or {}),
        resource_version=meta.get("resourceVersion", ""),
        uid=meta.get("uid", ""),
        owners=tuple(str(o.get("uid", "")) for o in meta.get("ownerReferences") or ()),
    )
