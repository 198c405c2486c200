"""Leader election on a ``coordination.k8s.io/v1`` Lease: one active replica, the others wait.

The protocol is client-go's (so ``kubectl get lease`` reads the same way): the holder writes
``spec.renewTime`` every ``retry_period``; a candidate takes the Lease over when its record has
not changed for ``lease_duration`` *as observed on the candidate's own monotonic clock* (no
clock comparison between machines). Every write carries the ``resourceVersion`` it read, so two
candidates never both win.

The holder considers itself leader only while its last successful renewal was *sent* less than
``renew_deadline`` ago (``held``). ``renew_deadline < lease_duration``, so by the time another
replica can take over, the old holder has stopped acting, even when it was frozen (SIGSTOP) and
wakes up later: its clock kept running, ``held`` is False, and the SCM-call guard refuses. When
renewing fails for ``renew_deadline`` (or someone else holds the Lease), ``keep`` returns and the
process stops: a standby process is started again by its Deployment.

``LeaseApi`` is the thin Kubernetes part; ``Elector`` holds the decisions.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

logger = logging.getLogger(__name__)


class LeaseTiming(BaseModel):
    """Lease timing (client-go's defaults); ``renew_deadline`` must be below ``lease_duration``."""

    model_config = ConfigDict(frozen=True)

    lease_duration: float = Field(default=15.0, gt=0)
    renew_deadline: float = Field(default=10.0, gt=0)
    retry_period: float = Field(default=2.0, gt=0)

    def model_post_init(self, _: Any) -> None:
        if not self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError("need retry_period < renew_deadline < lease_duration")


@dataclass(frozen=True)
class LeaseRecord:
    """What a Lease says (``None`` fields: unset)."""

    holder: str | None
    duration_seconds: int
    renew_time: datetime | None
    acquire_time: datetime | None
    transitions: int
    resource_version: str


class LeaseConflict(Exception):
    """The Lease changed (or was created) by someone else since it was read."""


class LeaseApi(Protocol):
    """Read and write one Lease (``k8s.Kube`` implements it)."""

    async def read_lease(self, namespace: str, name: str) -> LeaseRecord | None: ...

    async def write_lease(
        self, namespace: str, name: str, record: LeaseRecord, *, create: bool
    ) -> LeaseRecord: ...


class Elector:
    """Acquire, keep and judge the leadership of one Lease."""

    def __init__(
        self,
        api: LeaseApi,
        namespace: str,
        name: str,
        identity: str,
        timing: LeaseTiming | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.api, self.namespace, self.name, self.identity = api, namespace, name, identity
        self.timing = timing or LeaseTiming()
        self.monotonic, self.wall = monotonic, wall
        self._observed: tuple[str | None, datetime | None, str] | None = None
        self._observed_at = 0.0
        self._renew_sent: float | None = None
        """Monotonic time at which the last successful write was sent."""

    def held(self) -> bool:
        """True while this process may act as the leader."""
        sent = self._renew_sent
        return sent is not None and self.monotonic() - sent < self.timing.renew_deadline

    def _expired(self, record: LeaseRecord, now: float) -> bool:
        """Has ``record`` stayed unchanged for its duration, as seen from here?"""
        key = (record.holder, record.renew_time, record.resource_version)
        if self._observed != key:
            self._observed, self._observed_at = key, now
        duration = record.duration_seconds or self.timing.lease_duration
        return now - self._observed_at >= duration

    async def try_acquire_or_renew(self) -> bool:
        """One attempt; True when this process holds the Lease afterwards."""
        sent = self.monotonic()
        record = await self.api.read_lease(self.namespace, self.name)
        now_wall = self.wall()
        mine = record is not None and record.holder == self.identity
        # A record is first seen when the answer arrived, not when the read was sent: a slow
        # read must not shorten the wait before taking over.
        seen = self.monotonic()
        if record is not None and record.holder and not mine and not self._expired(record, seen):
            return False
        new = LeaseRecord(
            holder=self.identity,
            duration_seconds=max(1, round(self.timing.lease_duration)),
            renew_time=now_wall,
            acquire_time=record.acquire_time if mine and record is not None else now_wall,
            transitions=(record.transitions if record else 0) + (0 if mine else 1),
            resource_version=record.resource_version if record else "",
        )
        try:
            await self.api.write_lease(self.namespace, self.name, new, create=record is None)
        except LeaseConflict:
            return False
        self._renew_sent = sent
        if not mine:
            logger.info("leader election: %s acquired lease %s/%s", self.identity, self.namespace,
                        self.name)  # fmt: skip
        return True

    async def acquire(self) -> None:
        """Wait until this process holds the Lease."""
        logger.info("leader election: %s waits for lease %s/%s", self.identity, self.namespace,
                    self.name)  # fmt: skip
        while True:  # polling the Lease is the protocol
            if await self._attempt():
                return
            await asyncio.sleep(self.timing.retry_period)

    async def keep(self) -> None:
        """Renew until the leadership is lost; then return (the caller stops the process)."""
        while True:
            await asyncio.sleep(self.timing.retry_period)
            if not self.held():
                logger.error("leader election: %s could not renew lease %s/%s in %.0fs",
                             self.identity, self.namespace, self.name,
                             self.timing.renew_deadline)  # fmt: skip
                return
            if await self._attempt():
                continue
            record = await self._read_quietly()
            if record is not None and record.holder not in (None, self.identity):
                logger.error("leader election: lease %s/%s is now held by %s", self.namespace,
                             self.name, record.holder)  # fmt: skip
                self._renew_sent = None
                return

    async def release(self) -> None:
        """Give the Lease up on a clean stop so that a standby takes over at once."""
        if not self.held():
            return
        record = await self._read_quietly()
        if record is None or record.holder != self.identity:
            return
        gone = LeaseRecord(None, record.duration_seconds, None, None, record.transitions,
                           record.resource_version)  # fmt: skip
        try:
            await self.api.write_lease(self.namespace, self.name, gone, create=False)
        except Exception as exc:  # best effort: the Lease expires anyway
            logger.warning("leader election: could not release the lease: %s", exc)
        self._renew_sent = None

    async def _attempt(self) -> bool:
        try:
            return await self.try_acquire_or_renew()
        except Exception as exc:  # API down or slow: retried; `held` runs out meanwhile
            logger.warning("leader election: lease %s/%s: %s", self.namespace, self.name, exc)
            return False

    async def _read_quietly(self) -> LeaseRecord | None:
        try:
            return await self.api.read_lease(self.namespace, self.name)
        except Exception:
            return None
