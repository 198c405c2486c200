"""Thin async wrappers over the (synchronous) ``kubernetes`` client.

The one place that talks to the Kubernetes API outside Kopf: Secrets, our custom resources'
status subresource and finalizers, the leader Lease. The per-certificate requests go through
:class:`kube_http.LoopApi` on the event loop (aiohttp, with the client's connection settings);
the Lease calls and the Secret list and watch run the ``kubernetes`` client in a thread
(``asyncio.to_thread``, or the watch's own thread). Nothing here decides anything; secret
values are never logged.

The kubernetes client's ``ApiException`` does not leave this module for the answers callers act
on: 404 on reads is ``None``, a write refused for a stale ``resourceVersion`` or an existing name
is :class:`KubeConflict`, one refused as invalid is :class:`KubeInvalid`. Everything else is
:class:`KubeError` with a short, safe text (never the response body, which may echo a Secret).

::

    KubeError            any other API failure (HTTP status kept)
    ├── KubeConflict     409: changed meanwhile, or already exists
    ├── KubeInvalid      422: the API server refused the object
    └── KubeGone         410: a watch's resourceVersion expired
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from datetime import UTC
from typing import Any, TypeVar
from urllib.parse import quote

import kubernetes
import kubernetes.watch
import urllib3
from kubernetes.client.exceptions import ApiException

from .kube_http import LoopApi, NotFound
from .kube_types import KubeConflict as KubeConflict
from .kube_types import KubeError as KubeError
from .kube_types import KubeGone as KubeGone
from .kube_types import KubeInvalid as KubeInvalid
from .kube_types import SecretData as SecretData
from .kube_types import SecretPage as SecretPage
from .kube_types import secret_data, translate
from .leadership import LeaseConflict, LeaseRecord
from .models import GROUP, VERSION

T = TypeVar("T")
LIST_TIMEOUT = (10.0, 120.0)
"""(connect, read) seconds of a page of a Secret list."""


async def _in_thread(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """``asyncio.to_thread``, with no answer from the API server (refused, reset, timed out)
    as ``KubeError(0, ...)`` like any other API failure."""
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except urllib3.exceptions.HTTPError as exc:
        name = getattr(fn, "__name__", "call")
        raise KubeError(
            0, f"no answer from the API server ({name}: {type(exc).__name__})"
        ) from None


class _Secrets:
    """The Secret list (paged) of the core API in a thread, through the client's generic
    request path (``ApiClient.param_serialize`` / ``call_api`` / ``response_deserialize``, what
    each generated method does) with raw JSON answers: the generated ``CoreV1Api`` class alone
    costs about 20 MiB of memory (one 63,000-line module for every core endpoint). Blocking:
    called from the watch's thread or through ``asyncio.to_thread``."""

    def __init__(self, api: kubernetes.client.ApiClient) -> None:
        self.api = api

    def call(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]] | None = None,
        body: Mapping[str, Any] | None = None,
        timeout: tuple[float, float] | None = None,
    ) -> dict[str, Any]:
        """One request; the decoded JSON answer. A non-2xx answer raises ``ApiException``.
        ``timeout``: (connect, read) seconds; none by default."""
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        request = self.api.param_serialize(
            method=method,
            resource_path=path,
            query_params=query or [],
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        response = self.api.call_api(*request, _request_timeout=timeout)
        response.read()  # type: ignore[no-untyped-call]
        raw = self.api.response_deserialize(response, {"2XX": "bytearray"}).data
        decoded = json.loads(raw) if raw else {}
        return decoded if isinstance(decoded, dict) else {}


def _secret_path(namespace: str | None, name: str | None = None) -> str:
    if namespace is None:
        return "/api/v1/secrets"
    path = f"/api/v1/namespaces/{quote(namespace, safe='')}/secrets"
    return path if name is None else f"{path}/{quote(name, safe='')}"


class Kube:
    """The operator's Kubernetes API access (one per process)."""

    def __init__(self, pool_size: int = 32) -> None:
        try:
            kubernetes.config.load_incluster_config()  # type: ignore[no-untyped-call]
        except kubernetes.config.ConfigException:
            kubernetes.config.load_kube_config()  # type: ignore[no-untyped-call]
        configuration = kubernetes.client.Configuration.get_default_copy()
        configuration.connection_pool_maxsize = pool_size
        self.api = kubernetes.client.ApiClient(configuration)
        self.http = LoopApi(configuration)
        self.secrets = _Secrets(self.api)
        self.coordination = kubernetes.client.CoordinationV1Api(self.api)

    async def close(self) -> None:
        await self.http.close()
        self.api.close()  # type: ignore[no-untyped-call]

    # -- Secrets ------------------------------------------------------------------------------

    async def get_secret(self, namespace: str, name: str) -> SecretData | None:
        try:
            obj = await self.http.request("GET", _secret_path(namespace, name), "get secrets")
        except NotFound:
            return None
        return secret_data(obj)

    def secret_page(
        self, namespace: str | None, label_selector: str, limit: int, token: str | None = None
    ) -> SecretPage:
        """One page of the Secrets matching ``label_selector`` (blocking: from a thread). The
        raw JSON is decoded without the client's models."""
        query = [("labelSelector", label_selector), ("limit", str(limit))]
        if token:
            query.append(("continue", token))
        try:
            # a read timeout: a list on a half-open connection must not block its thread for good
            page = self.secrets.call("GET", _secret_path(namespace), query, None, LIST_TIMEOUT)
        except ApiException as exc:
            raise translate(exc, "list secrets") from None
        except urllib3.exceptions.HTTPError as exc:
            raise KubeError(0, f"no answer from the API server ({type(exc).__name__})") from None
        meta = page.get("metadata") or {}
        return SecretPage(
            [secret_data(item) for item in page.get("items") or ()],
            str(meta.get("resourceVersion") or ""),
            meta.get("continue") or None,
        )

    async def list_secrets(
        self, namespace: str | None, label_selector: str, limit: int
    ) -> AsyncIterator[SecretPage]:
        """The Secrets matching ``label_selector`` (in ``namespace``, or all namespaces), one
        page of at most ``limit`` at a time; each page carries the list's resourceVersion (a
        watch from it misses nothing)."""
        token: str | None = None
        while True:
            page = await asyncio.to_thread(
                self.secret_page, namespace, label_selector, limit, token
            )
            yield page
            token = page.next
            if not token:
                return

    def watch_secrets(
        self,
        watch: kubernetes.watch.Watch,
        namespace: str | None,
        label_selector: str,
        resource_version: str,
        timeout: int,
    ) -> Iterator[dict[str, Any]]:
        """The watch events (raw JSON: ``type``, ``object``) of the Secrets matching
        ``label_selector`` from ``resource_version`` on, bookmarks included, until the API server
        ends the watch after ``timeout`` seconds or ``watch.stop()`` is called from another
        thread (blocking: from a thread of its own). An expired ``resource_version`` raises
        :class:`KubeGone`; any other failure :class:`KubeError`."""
        query = [
            ("watch", "true"),
            ("labelSelector", label_selector),
            ("resourceVersion", resource_version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(timeout)),
        ]

        def request(**_: Any) -> Any:  # Watch.stream's call: the streamed urllib3 answer
            call = self.api.param_serialize(
                method="GET",
                resource_path=_secret_path(namespace),
                query_params=query,
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
            )
            return self.api.call_api(*call, _request_timeout=(10, timeout + 30)).response

        try:
            # timeout_seconds: one request, no retry of Watch's own (the caller resumes)
            yield from watch.stream(request, timeout_seconds=timeout)  # type: ignore[no-untyped-call]
        except ApiException as exc:
            if exc.status == 410:
                raise KubeGone(410, "resourceVersion expired (watch secrets)") from None
            raise translate(exc, "watch secrets") from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise KubeError(0, f"watch of secrets ended ({type(exc).__name__})") from None

    async def write_secret(
        self,
        namespace: str,
        name: str,
        *,
        type: str,
        data: Mapping[str, bytes],
        labels: Mapping[str, str],
        annotations: Mapping[str, str],
        owner: Mapping[str, Any] | None = None,
        resource_version: str | None = None,
    ) -> str:
        """Create the Secret, or replace it when ``resource_version`` (of ours) is given.
        Returns the written Secret's resourceVersion."""
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": dict(labels),
                "annotations": dict(annotations),
            },
            "type": type,
            "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
        }
        if owner is not None:
            body["metadata"]["ownerReferences"] = [dict(owner)]
        if resource_version:
            body["metadata"]["resourceVersion"] = resource_version
            path, method, doing = _secret_path(namespace, name), "PUT", "update secrets"
        else:
            path, method, doing = _secret_path(namespace), "POST", "create secrets"
        try:
            written = await self.http.request(method, path, doing, body)
        except NotFound:  # POST: the namespace is gone; PUT: the Secret was deleted meanwhile
            raise KubeError(404, f"Not Found ({doing})") from None
        return str((written.get("metadata") or {}).get("resourceVersion") or "")

    async def delete_secret(self, namespace: str, name: str) -> None:
        with contextlib.suppress(NotFound):
            await self.http.request("DELETE", _secret_path(namespace, name), "delete secrets")

    # -- our custom resources -----------------------------------------------------------------

    async def get_object(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return await self.http.request(
                "GET", _object_path(plural, namespace, name), f"get {plural}"
            )
        except NotFound:
            return None

    async def set_finalizers(
        self, plural: str, namespace: str, name: str, finalizers: list[str], resource_version: str
    ) -> str:
        """Replace ``metadata.finalizers`` (at ``resource_version``: other writers' finalizers
        are never lost; KubeConflict when the object changed meanwhile). Returns the new
        resourceVersion ("" when the object is gone)."""
        patch = {"metadata": {"finalizers": finalizers, "resourceVersion": resource_version}}
        return await self._merge_patch(
            _object_path(plural, namespace, name), f"patch {plural}", patch
        )

    async def patch_status(
        self,
        plural: str,
        namespace: str,
        name: str,
        patch: Mapping[str, Any],
        resource_version: str | None = None,
    ) -> str:
        """A JSON merge patch of the status subresource; returns the new resourceVersion ("" when
        the object is gone). With ``resource_version`` the write is refused (KubeConflict) when
        the object changed since that version: the fence before an SCM order."""
        body = dict(patch)
        if resource_version:
            body["metadata"] = {"resourceVersion": resource_version}
        path = _object_path(plural, namespace, name) + "/status"
        return await self._merge_patch(path, f"patch {plural}/status", body)

    async def _merge_patch(self, path: str, doing: str, patch: Mapping[str, Any]) -> str:
        try:
            obj = await self.http.request(
                "PATCH", path, doing, patch, content_type="application/merge-patch+json"
            )
        except NotFound:  # deleted meanwhile: nothing to report to
            return ""
        return _resource_version(obj)

    # -- the leader Lease ---------------------------------------------------------------------

    async def read_lease(self, namespace: str, name: str) -> LeaseRecord | None:
        try:
            lease = await _in_thread(self.coordination.read_namespaced_lease, name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise translate(exc, "get leases") from None
        spec = lease.spec or kubernetes.client.V1LeaseSpec()
        return LeaseRecord(
            holder=spec.holder_identity or None,
            duration_seconds=int(spec.lease_duration_seconds or 0),
            renew_time=spec.renew_time,
            acquire_time=spec.acquire_time,
            transitions=int(spec.lease_transitions or 0),
            resource_version=(lease.metadata.resource_version or "") if lease.metadata else "",
        )

    async def write_lease(
        self, namespace: str, name: str, record: LeaseRecord, *, create: bool
    ) -> LeaseRecord:
        """Create the Lease, or replace it at ``record.resource_version`` (LeaseConflict when
        someone else wrote it meanwhile)."""
        spec: dict[str, Any] = {
            "holderIdentity": record.holder,
            "leaseDurationSeconds": record.duration_seconds,
            "leaseTransitions": record.transitions,
            "renewTime": _micro_time(record.renew_time),
            "acquireTime": _micro_time(record.acquire_time),
        }
        meta: dict[str, Any] = {"name": name, "namespace": namespace}
        if not create:
            meta["resourceVersion"] = record.resource_version
        body: Any = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta,
                     "spec": spec}  # fmt: skip
        try:
            if create:
                obj = await _in_thread(self.coordination.create_namespaced_lease, namespace, body)
            else:
                obj = await _in_thread(
                    self.coordination.replace_namespaced_lease, name, namespace, body
                )
        except ApiException as exc:
            if exc.status in (404, 409):
                raise LeaseConflict(f"lease {namespace}/{name} changed meanwhile") from None
            raise translate(exc, "update leases" if not create else "create leases") from None
        version = (obj.metadata.resource_version or "") if obj.metadata else ""
        return LeaseRecord(record.holder, record.duration_seconds, record.renew_time,
                           record.acquire_time, record.transitions, version)  # fmt: skip


def _object_path(plural: str, namespace: str, name: str) -> str:
    ns, quoted = quote(namespace, safe=""), quote(name, safe="")
    return f"/apis/{GROUP}/{VERSION}/namespaces/{ns}/{plural}/{quoted}"


def _resource_version(obj: Any) -> str:
    if isinstance(obj, dict):
        return str(obj.get("metadata", {}).get("resourceVersion", ""))
    return ""


def _micro_time(value: Any) -> str | None:
    """A ``MicroTime`` as the API wants it (UTC, microseconds, ``Z``)."""
    if value is None:
        return None
    return str(value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
