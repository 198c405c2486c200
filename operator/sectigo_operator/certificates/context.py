"""What a certificate step needs from the running operator, behind small protocols.

``KubeApi`` is the part of ``sectigo_operator.k8s.Kube`` the certificates package uses, so the
steps can run against a fake in unit tests. ``Wake`` asks the scheduler to look at a certificate
again at a given time (its renewal time, its expiry).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from ..configs import ConfigRegistry, Kind
from ..k8s import SecretData
from ..settings import OperatorSettings

Emit = Callable[[str, str, str], None]
"""``emit(type, reason, message)``: post a Kubernetes Event about the certificate."""

Wake = Callable[[str, str, datetime | None], None]
"""``wake(namespace, name, when)``: look at the certificate again at ``when`` (None: forget)."""


class KubeApi(Protocol):
    """The Kubernetes calls of a certificate step (implemented by ``k8s.Kube``)."""

    async def get_secret(self, namespace: str, name: str) -> SecretData | None: ...

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
    ) -> str: ...

    async def delete_secret(self, namespace: str, name: str) -> None: ...

    async def get_object(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def patch_status(
        self,
        plural: str,
        namespace: str,
        name: str,
        patch: Mapping[str, Any],
        resource_version: str | None = None,
    ) -> str: ...

    async def set_finalizers(
        self, plural: str, namespace: str, name: str, finalizers: list[str], resource_version: str
    ) -> str: ...


def data_digest(data: Mapping[str, bytes]) -> str:
    """A digest of a Secret's data (tells our own writes from other edits)."""
    h = hashlib.sha256()
    for key in sorted(data):
        h.update(key.encode() + b"\0" + data[key] + b"\0")
    return h.hexdigest()


@dataclass(frozen=True)
class WatchedSecret:
    """What the operator keeps of a managed Secret without reading it: never its data."""

    certificate: str
    """The certificate label's value (whose Secret it is)."""
    digest: str
    """``data_digest`` of its data."""


def _no_wake(namespace: str, name: str, when: datetime | None) -> None:
    return None


def _always() -> bool:
    return True


@dataclass
class Context:
    """The running operator, as a certificate step sees it."""

    kube: KubeApi
    configs: ConfigRegistry
    settings: OperatorSettings
    now: Callable[[], datetime]
    wake: Wake = field(default=_no_wake)
    orders: dict[tuple[str, str], tuple[str, str, int]] = field(default_factory=dict)
    """(namespace, certificate) -> (config, SCM kind, order id) of every issued certificate, for
    the SCM drift check."""
    revoked: dict[tuple[str, str], frozenset[tuple[Kind, int]]] = field(default_factory=dict)
    """(namespace, config) -> ("ssl", sslId) and ("smime", orderNumber) of the certificates SCM
    lists as revoked (last check)."""
    written: dict[tuple[str, str], str] = field(default_factory=dict)
    """Digest of the data of each certificate Secret this process wrote, by (namespace, name):
    the Secret watch tells our own writes from someone else's edits with it."""
    versions: dict[tuple[str, str], str] = field(default_factory=dict)
    """The newest resourceVersion of each certificate this process has read or written, by
    (namespace, name): a body Kopf delivers at another version may predate our own writes (Kopf
    queues every watch event, and the first ones of a new certificate come before its first
    status write), so the step reads the object again instead of acting on it."""
    changed: set[tuple[str, str]] = field(default_factory=set)
    """Certificates Kopf delivered a change of while every step slot was taken: a step of the
    certificate already under way (on an older body) does not file it for later, it looks
    again at once."""
    uids: dict[tuple[str, str], str] = field(default_factory=dict)
    """The uid of the certificate each (namespace, name) belongs to, as Kopf last delivered it: the
    deletion of an older certificate of the same name forgets nothing of the newer one."""
    held: dict[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)
    """Bodies Kopf delivered for certificates that wait for a step slot, by (namespace, name), at
    most ``handlers.certificate.HELD_BODIES`` of them, only of new certificates (no status, no
    import; metadata.managedFields left out): the step uses the body instead of reading the
    object again while it is still the newest version this process knows of (``versions``); a
    deletion drops it."""
    secrets: dict[tuple[str, str], WatchedSecret] = field(default_factory=dict)
    """Every managed Secret (target and pending key) by (namespace, name), from the start-up
    list and then the Secret watch; used to judge a resumed certificate (``settled``) and to spare
    a new certificate's first step its Secret reads (``gather.nothing_to_read``)."""
    listed: set[str | None] = field(default_factory=set)
    """The scopes (namespaces, or ``None`` for all) of which ``secrets`` is complete: listed at
    start-up, or by the watch's own list after that failed (until then a resumed certificate
    there gets the full step). See :meth:`secrets_known`."""
    retries: dict[tuple[str, str], int] = field(default_factory=dict)
    """Consecutive RetryLater outcomes of each certificate (waits back off with them)."""
    leading: Callable[[], bool] = field(default=_always)
    """False once this process may no longer act (it lost the leader Lease): checked right
    before every SCM call that places or revokes a certificate."""

    def secrets_known(self, namespace: str) -> bool:
        """Whether ``secrets`` holds every managed Secret of ``namespace``."""
        return None in self.listed or namespace in self.listed

    @contextmanager
    def writing(self, key: tuple[str, str], data: Mapping[str, bytes]) -> Iterator[str]:
        """Around a Secret write of ``data``: its digest is in ``written`` before the request
        (the watch event of the write may come before the answer), and what was there before
        is put back if the write fails. Yields the digest."""
        previous = self.written.get(key)
        self.written[key] = digest = data_digest(data)
        try:
            yield digest
        except BaseException:
            if previous is None:
                self.written.pop(key, None)
            else:
                self.written[key] = previous
            raise
