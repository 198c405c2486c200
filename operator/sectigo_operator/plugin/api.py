"""The Kubernetes calls of ``kubectl sectigo``, with API errors turned into one line.

``Api`` loads a kubeconfig and context; every call runs inside ``errors``, which turns an
``ApiException`` into a ``click.ClickException`` naming the object (never the response body).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
import kubernetes
import urllib3
import yaml
from kubernetes.client.exceptions import ApiException

from ..models import GROUP, VERSION

CERTS, CONFIGS = "sectigocertificates", "sectigoconfigs"


class Api:
    """The Kubernetes calls of the plugin, for one kubeconfig and context."""

    def __init__(self, kubeconfig: str | None, context: str | None) -> None:
        config = kubernetes.client.Configuration()
        try:
            kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig, context=context, client_configuration=config
            )
        except (kubernetes.config.ConfigException, OSError, yaml.YAMLError) as exc:
            raise click.ClickException(f"cannot load the kubeconfig: {exc}") from None
        client = kubernetes.client.ApiClient(config)
        self.custom = kubernetes.client.CustomObjectsApi(client)
        self.core = kubernetes.client.CoreV1Api(client)
        self.default_namespace = _context_namespace(kubeconfig, context)

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any]:
        with errors(plural, namespace, name):
            found: object = self.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, name
            )
        assert isinstance(found, dict)
        return found

    def list(self, plural: str, namespace: str | None) -> list[dict[str, Any]]:
        with errors(plural, namespace or "", ""):
            found: object = (
                self.custom.list_cluster_custom_object(GROUP, VERSION, plural)
                if namespace is None
                else self.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, plural)
            )
        assert isinstance(found, dict)
        return list(found.get("items", []))

    def patch_spec(self, namespace: str, name: str, spec: dict[str, Any]) -> None:
        with errors(CERTS, namespace, name):
            self.custom.patch_namespaced_custom_object(
                GROUP,
                VERSION,
                namespace,
                CERTS,
                name,
                {"spec": spec},
                _content_type="application/merge-patch+json",
            )

    def create(self, namespace: str, body: dict[str, Any]) -> None:
        with errors(CERTS, namespace, body["metadata"]["name"]):
            self.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, CERTS, body)

    def secret(self, namespace: str, name: str) -> dict[str, bytes]:
        with errors("secrets", namespace, name):
            found = self.core.read_namespaced_secret(name, namespace)
        return {k: base64.b64decode(v) for k, v in (found.data or {}).items()}


def _context_namespace(kubeconfig: str | None, context: str | None) -> str:
    try:
        contexts, current = kubernetes.config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
            config_file=kubeconfig
        )
    except (kubernetes.config.ConfigException, OSError, yaml.YAMLError):
        return "default"
    chosen = next((c for c in contexts if c["name"] == context), current) if context else current
    return str((chosen or {}).get("context", {}).get("namespace") or "default")


@contextmanager
def errors(plural: str, namespace: str, name: str) -> Iterator[None]:
    """Turn API errors into one line (never the response body)."""
    kind = plural.rstrip("s")
    try:
        yield
    except ApiException as exc:
        where = f" in namespace {namespace!r}" if namespace else ""
        if exc.status == 404:
            raise click.ClickException(f"{kind} {name!r} not found{where}") from None
        if exc.status == 409:
            raise click.ClickException(f"{kind} {name!r} already exists{where}") from None
        reason = _api_message(exc)
        raise click.ClickException(
            f"the API server refused the request for {kind} {name!r}{where}: {reason}"
        ) from None
    except (OSError, urllib3.exceptions.HTTPError) as exc:  # refused, reset, retries exhausted
        raise click.ClickException(f"cannot reach the API server: {type(exc).__name__}") from None


def _api_message(exc: ApiException) -> str:
    try:
        return str(json.loads(exc.body or "{}").get("message") or exc.reason)
    except ValueError:
        return f"HTTP {exc.status} {exc.reason or ''}".strip()
