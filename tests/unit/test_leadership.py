"""Leader election decisions (``sectigo_operator.leadership``) on an in-memory Lease and clocks
the test moves by hand; the real Lease API is exercised by tests/e2e/test_high_availability.py."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sectigo_operator.leadership import Elector, LeaseConflict, LeaseRecord, LeaseTiming

TIMING = LeaseTiming(lease_duration=15, renew_deadline=10, retry_period=2)


class MemoryLease:
    """One Lease with the API server's optimistic concurrency."""

    def __init__(self) -> None:
        self.record: LeaseRecord | None = None
        self.version = 0
        self.writes = 0

    async def read_lease(self, namespace: str, name: str) -> LeaseRecord | None:
        return self.record

    async def write_lease(
        self, namespace: str, name: str, record: LeaseRecord, *, create: bool
    ) -> LeaseRecord:
        if create != (self.record is None) or (
            self.record is not None and record.resource_version != self.record.resource_version
        ):
            raise LeaseConflict("changed")
        self.version += 1
        self.writes += 1
        self.record = dataclasses.replace(record, resource_version=str(self.version))
        return self.record


class Clock:
    def __init__(self) -> None:
        self.mono = 1000.0
        self.wall = datetime(2026, 12, 2, tzinfo=UTC)

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += timedelta(seconds=seconds)


def elector(lease: MemoryLease, clock: Clock, identity: str) -> Elector:
    return Elector(
        lease, "ops", "sectigo-operator", identity, TIMING,
        monotonic=lambda: clock.mono, wall=lambda: clock.wall,
    )  # fmt: skip


async def test_first_candidate_creates_the_lease_and_leads() -> None:
    lease, clock = MemoryLease(), Clock()
    a = elector(lease, clock, "a")
    assert not a.held()
    assert await a.try_acquire_or_renew()
    assert a.held() and lease.record is not None and lease.record.holder == "a"
    assert lease.record.transitions == 1 and lease.record.duration_seconds == 15


async def test_standby_waits_for_a_full_lease_duration_of_silence() -> None:
    lease, clock = MemoryLease(), Clock()
    a, b = elector(lease, clock, "a"), elector(lease, clock, "b")
    assert await a.try_acquire_or_renew()
    assert not await b.try_acquire_or_renew()  # first sight of a's record
    clock.advance(14)
    assert not await b.try_acquire_or_renew()
    clock.advance(1)
    assert await b.try_acquire_or_renew()
    assert lease.record is not None and lease.record.holder == "b"
    assert lease.record.transitions == 2


async def test_renewals_keep_the_standby_out() -> None:
    lease, clock = MemoryLease(), Clock()
    a, b = elector(lease, clock, "a"), elector(lease, clock, "b")
    assert await a.try_acquire_or_renew()
    for _ in range(20):
        clock.advance(2)
        assert await a.try_acquire_or_renew()
        assert not await b.try_acquire_or_renew()
    assert lease.record is not None and lease.record.holder == "a"
    assert lease.record.transitions == 1


async def test_a_frozen_leader_stops_leading_before_a_standby_can_take_over() -> None:
    """SIGSTOP: the leader's clock runs on while it renews nothing. It stops acting after the
    renew deadline, which is shorter than the time a standby waits."""
    lease, clock = MemoryLease(), Clock()
    a, b = elector(lease, clock, "a"), elector(lease, clock, "b")
    assert await a.try_acquire_or_renew()
    assert not await b.try_acquire_or_renew()
    clock.advance(TIMING.renew_deadline)
    assert not a.held()  # a refuses SCM orders from here on
    clock.advance(TIMING.lease_duration - TIMING.renew_deadline)
    assert await b.try_acquire_or_renew() and b.held()
    assert not await a.try_acquire_or_renew()  # a wakes up: the Lease is b's
    assert not a.held()


async def test_two_candidates_on_the_same_version_cannot_both_win() -> None:
    lease, clock = MemoryLease(), Clock()
    a, b = elector(lease, clock, "a"), elector(lease, clock, "b")
    original = lease.read_lease

    async def both_read_first(namespace: str, name: str) -> LeaseRecord | None:
        return None  # each sees no Lease: both try to create it

    lease.read_lease = both_read_first  # type: ignore[method-assign]
    assert await a.try_acquire_or_renew()
    assert not await b.try_acquire_or_renew()
    lease.read_lease = original  # type: ignore[method-assign]
    assert lease.record is not None and lease.record.holder == "a"


async def test_release_hands_over_at_once() -> None:
    lease, clock = MemoryLease(), Clock()
    a, b = elector(lease, clock, "a"), elector(lease, clock, "b")
    assert await a.try_acquire_or_renew()
    await a.release()
    assert not a.held()
    assert await b.try_acquire_or_renew()


def test_timing_must_leave_the_leader_time_to_stop() -> None:
    with pytest.raises(ValueError, match="renew_deadline < lease_duration"):
        LeaseTiming(lease_duration=10, renew_deadline=10, retry_period=2)


class SlowRead(MemoryLease):
    """A read that takes ``latency`` seconds; ``during`` runs while it is in flight."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock, self.latency = clock, 0.0
        self.during: Any = None

    async def read_lease(self, namespace: str, name: str) -> LeaseRecord | None:
        if self.during is not None:
            during, self.during = self.during, None
            self.clock.advance(self.latency - 0.5)
            await during()
            self.clock.advance(0.5)
        return self.record


async def test_a_slow_read_does_not_shorten_the_wait_before_a_takeover() -> None:
    """The candidate's 7 s read sees the holder's renewal made during it: the lease duration
    counts from when the answer arrived, so the candidate takes over only after the holder
    stopped acting (its renew deadline passed)."""
    clock = Clock()
    lease = SlowRead(clock)
    a, b = elector(lease, clock, "a"), elector(lease, clock, "b")
    assert await a.try_acquire_or_renew()
    lease.latency = 7.0
    lease.during = a.try_acquire_or_renew  # a renews during b's read, then is cut off
    assert not await b.try_acquire_or_renew()
    for _ in range(100):  # b polls every half second
        clock.advance(0.5)
        if await b.try_acquire_or_renew():
            break
    assert b.held() and not a.held()
