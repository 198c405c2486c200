"""The managed-Secret watch (``handlers.secret``): what each event does to ``Context.secrets``
and whom it wakes, the comparison after a fresh list, and the watch thread's recovery.

The thread runs against a fake of the two ``Kube`` calls it makes, because an expired
resourceVersion (410) and a broken stream cannot be produced on demand by the local API server;
the real watch is exercised by the e2e tests (Secret drift, restarts, the API server restart of
the fault suite).
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from sectigo_operator.certificates import Context
from sectigo_operator.certificates.context import WatchedSecret, data_digest
from sectigo_operator.configs import ConfigRegistry
from sectigo_operator.handlers import secret
from sectigo_operator.k8s import KubeError, KubeGone, SecretData, SecretPage
from sectigo_operator.settings import (
    LABEL_CERTIFICATE,
    LABEL_MANAGED_BY,
    LABEL_PENDING_KEY,
    MANAGED_BY,
    OperatorSettings,
)

NS = "team"
DATA = {"tls.crt": b"cert", "tls.key": b"key"}


def context() -> tuple[Context, list[tuple[str, str]]]:
    woken: list[tuple[str, str]] = []
    ctx = Context(
        kube=None,  # type: ignore[arg-type]
        configs=ConfigRegistry(),
        settings=OperatorSettings(),
        now=lambda: datetime.now(UTC),
        wake=lambda ns, name, when: woken.append((ns, name)),
    )
    return ctx, woken


def labels(certificate: str, pending: bool = False) -> dict[str, str]:
    out = {LABEL_MANAGED_BY: MANAGED_BY, LABEL_CERTIFICATE: certificate}
    if pending:
        out[LABEL_PENDING_KEY] = "true"
    return out


def raw(
    kind: str,
    name: str,
    certificate: str,
    data: Mapping[str, bytes] = DATA,
    version: str = "7",
    pending: bool = False,
) -> dict[str, Any]:
    obj = {
        "metadata": {
            "name": name,
            "namespace": NS,
            "resourceVersion": version,
            "labels": labels(certificate, pending),
        },
        "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
    }
    return {"type": kind, "object": obj, "raw_object": obj}


def event(kind: str, name: str, certificate: str, **kw: Any) -> secret.SecretEvent:
    reduced = secret.secret_event(raw(kind, name, certificate, **kw))
    assert reduced is not None
    return reduced


def test_an_event_is_reduced_to_names_label_and_digest() -> None:
    reduced = event("MODIFIED", "web-tls", "web")
    assert (reduced.key, reduced.certificate, reduced.pending) == ((NS, "web-tls"), "web", False)
    assert reduced.digest == data_digest(DATA)
    assert "key" not in repr(reduced).replace("key=", "")  # no data kept
    assert secret.secret_event({"type": "BOOKMARK", "object": {"metadata": {}}}) is None


def test_someone_elses_edit_wakes_and_our_own_write_does_not() -> None:
    ctx, woken = context()
    ctx.written[(NS, "web-tls")] = data_digest(DATA)
    secret.apply_event(ctx, event("MODIFIED", "web-tls", "web"))
    assert woken == [] and ctx.secrets[(NS, "web-tls")].digest == data_digest(DATA)
    secret.apply_event(ctx, event("MODIFIED", "web-tls", "web", data={"tls.crt": b"edited"}))
    assert woken == [(NS, "web")]
    assert ctx.secrets[(NS, "web-tls")].digest == data_digest({"tls.crt": b"edited"})


def test_a_deleted_secret_wakes_unless_it_was_a_pending_key() -> None:
    ctx, woken = context()
    ctx.secrets[(NS, "web-tls")] = WatchedSecret("web", "d")
    ctx.written[(NS, "web-tls")] = "d"
    secret.apply_event(ctx, event("DELETED", "web-sectigo-pending-key", "web", pending=True))
    assert woken == []
    secret.apply_event(ctx, event("DELETED", "web-tls", "web"))
    assert woken == [(NS, "web")]
    assert (NS, "web-tls") not in ctx.secrets and (NS, "web-tls") not in ctx.written


def test_resync_wakes_what_changed_appeared_or_went() -> None:
    ctx, woken = context()
    same, ours = WatchedSecret("same", "1"), WatchedSecret("ours", "2")
    ctx.secrets.update(
        {
            (NS, "same-tls"): same,
            (NS, "edited-tls"): WatchedSecret("edited", "3"),
            (NS, "gone-tls"): WatchedSecret("gone", "4"),
            ("elsewhere", "other-tls"): WatchedSecret("other", "5"),
        }
    )
    ctx.written[(NS, "ours-tls")] = "2"
    listed = {
        (NS, "same-tls"): same,
        (NS, "edited-tls"): WatchedSecret("edited", "3b"),
        (NS, "new-tls"): WatchedSecret("new", "6"),
        (NS, "ours-tls"): ours,
    }
    secret.resync(ctx, NS, listed, wake=True)
    assert sorted(woken) == [(NS, "edited"), (NS, "gone"), (NS, "new")]
    assert ctx.secrets[(NS, "edited-tls")].digest == "3b"
    assert (NS, "gone-tls") not in ctx.secrets
    assert ("elsewhere", "other-tls") in ctx.secrets  # another namespace's list is not this one
    woken.clear()
    secret.resync(ctx, None, {}, wake=False)
    assert ctx.secrets == {} and woken == []


def test_a_secret_relabelled_to_another_certificate_wakes_both() -> None:
    ctx, woken = context()
    ctx.secrets[(NS, "shared-tls")] = WatchedSecret("old", "d")
    ctx.written[(NS, "shared-tls")] = data_digest(DATA)  # "new" took it over: our own write
    secret.apply_event(ctx, event("MODIFIED", "shared-tls", "new"))
    assert woken == [(NS, "old")]
    assert ctx.secrets[(NS, "shared-tls")].certificate == "new"
    woken.clear()
    ctx.written.clear()
    secret.resync(ctx, NS, {(NS, "shared-tls"): WatchedSecret("third", "d")}, wake=True)
    assert sorted(woken) == [(NS, "new"), (NS, "third")]


class FakeKube:
    """The two blocking calls of the watch thread, scripted: each ``watch_secrets`` call takes
    the next script entry (a list of raw events, or an exception to raise)."""

    def __init__(self, script: list[Any], pages: list[SecretPage]) -> None:
        self.script, self.pages = script, pages
        self.watched_from: list[str] = []
        self.lists = 0
        self.idle = threading.Event()

    def secret_page(
        self, namespace: str | None, selector: str, limit: int, token: str | None = None
    ) -> SecretPage:
        assert selector == secret.SELECTOR
        self.lists += 1
        return self.pages[int(token or 0)]

    def watch_secrets(
        self, watch: Any, namespace: str | None, selector: str, version: str, timeout: int
    ) -> Iterator[dict[str, Any]]:
        self.watched_from.append(version)
        if not self.script:
            self.idle.set()
            watch.stopped.wait(5)
            return
        step = self.script.pop(0)
        if isinstance(step, BaseException):
            raise step
        yield from step


async def until(condition: Any, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def run_watch(ctx: Context, kube: FakeKube, version: str | None) -> secret.SecretWatch:
    watch = secret.SecretWatch(ctx, kube, 500)  # type: ignore[arg-type]
    watch.first_delay = 0.01
    monkey = type("W", (), {"stopped": watch.stopped, "stop": lambda self: None})()
    watch.new_watch = lambda: monkey  # type: ignore[method-assign]
    watch.start(NS, version)
    return watch


async def test_the_watch_resumes_from_the_last_version_and_lists_again_after_410() -> None:
    ctx, woken = context()
    ctx.listed.add(None)
    ctx.secrets[(NS, "gone-tls")] = WatchedSecret("gone", "g")
    edited = {"tls.crt": b"new"}
    kube = FakeKube(
        [
            [raw("MODIFIED", "a-tls", "a", data=edited, version="11")],
            KubeError(0, "watch of secrets ended (ProtocolError)"),
            [{"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "15"}}}],
            KubeGone(410, "resourceVersion expired (watch secrets)"),
        ],
        [
            SecretPage([SecretData("b-tls", NS, "Opaque", DATA, labels("b"))], "20", "1"),
            SecretPage([SecretData("a-tls", NS, "Opaque", edited, labels("a"))], "20"),
        ],
    )
    watch = await run_watch(ctx, kube, "10")
    try:
        await until(kube.idle.is_set)
        await until(lambda: (NS, "b-tls") in ctx.secrets)
    finally:
        watch.stop()
    # from the start-up list's version; again from the last event's after the broken stream;
    # from the bookmark's; from the new list's after the 410
    assert kube.watched_from == ["10", "11", "11", "15", "20"] and kube.lists == 2
    assert set(ctx.secrets) == {(NS, "a-tls"), (NS, "b-tls")}
    assert ctx.secrets[(NS, "a-tls")].digest == data_digest(edited)
    # the edit woke a; the list after the 410 found b new and gone-tls gone (a unchanged since)
    assert sorted(woken) == [(NS, "a"), (NS, "b"), (NS, "gone")]


class ListingKube(FakeKube):
    """The start-up list too: namespace "broken" answers 503, the others one page each."""

    async def list_secrets(self, namespace: str | None, selector: str, limit: int) -> Any:
        if namespace == "broken":
            raise KubeError(503, "unavailable (list secrets)")
        yield SecretPage([SecretData("a-tls", str(namespace), "Opaque", DATA, labels("a"))], "7")


async def test_a_start_up_list_failing_in_one_namespace_holds_back_only_that_one() -> None:
    ctx, woken = context()
    later = SecretPage([SecretData("b-tls", "broken", "Opaque", DATA, labels("b"))], "9")
    kube = ListingKube([], [later])
    watch = await secret.prefill(ctx, kube, ["fine", "broken"], 500)  # type: ignore[arg-type]
    try:
        assert ctx.secrets_known("fine") and ("fine", "a-tls") in ctx.secrets
        await until(lambda: ctx.secrets_known("broken"))  # the watch's own list made it up
        await until(lambda: sorted(kube.watched_from) == ["7", "9"])
    finally:
        watch.stop()
    assert ("broken", "b-tls") in ctx.secrets and woken == []


async def test_a_failed_start_up_list_is_made_up_by_the_watch() -> None:
    ctx, woken = context()
    assert not ctx.secrets_known(NS)
    kube = FakeKube([], [SecretPage([SecretData("a-tls", NS, "Opaque", DATA, labels("a"))], "5")])
    watch = await run_watch(ctx, kube, None)
    try:
        await until(lambda: ctx.secrets_known(NS))
    finally:
        watch.stop()
    assert ctx.secrets == {(NS, "a-tls"): WatchedSecret("a", data_digest(DATA))}
    assert woken == []  # every certificate got the full step at resume anyway
    await until(kube.idle.is_set)
    assert kube.watched_from == ["5"]


@pytest.mark.parametrize("failure", [KubeError(403, "Forbidden"), ValueError("bad line")])
async def test_the_watch_outlives_any_failure(failure: Exception) -> None:
    ctx, woken = context()
    kube = FakeKube([failure, failure, [raw("ADDED", "a-tls", "a")]], [])
    watch = await run_watch(ctx, kube, "3")
    try:
        await until(lambda: (NS, "a-tls") in ctx.secrets)
    finally:
        watch.stop()
    assert woken == [(NS, "a")] and kube.watched_from[:3] == ["3", "3", "3"]


async def test_a_list_after_410_wakes_only_where_the_scope_was_listed_before() -> None:
    """With two namespaces and the start-up list failed, a 410 in a namespace that has been
    listed since wakes what changed there, though another namespace is still unlisted."""
    ctx, woken = context()
    watch = secret.SecretWatch(ctx, FakeKube([], []), 500)  # type: ignore[arg-type]
    watch._resynced("a", {("a", "x-tls"): WatchedSecret("x", "1")})
    assert woken == [] and ctx.secrets_known("a")  # a's first list: every certificate was read
    assert not ctx.secrets_known("b")
    watch._resynced("a", {("a", "x-tls"): WatchedSecret("x", "2")})  # after a 410 in a
    assert woken == [("a", "x")] and not ctx.secrets_known("b")  # b is still unlisted
    watch._resynced("b", {})
    assert ctx.secrets_known("b")


class Waits(threading.Event):
    """The watch's stop event, recording every back-off it is asked to wait."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        if timeout is not None and timeout < 5:
            self.waits.append(timeout)
        return super().wait(timeout)


async def test_a_watch_gone_at_once_backs_off_instead_of_looping_on_lists() -> None:
    ctx, _ = context()
    gone = KubeGone(410, "resourceVersion expired (watch secrets)")
    kube = FakeKube([gone, gone, gone], [SecretPage([], "9")])
    watch = secret.SecretWatch(ctx, kube, 500)  # type: ignore[arg-type]
    watch.first_delay = 0.01
    watch.stopped = Waits()
    monkey = type("W", (), {"stopped": watch.stopped, "stop": lambda self: None})()
    watch.new_watch = lambda: monkey  # type: ignore[method-assign]
    watch.start(NS, "1")
    try:
        await until(kube.idle.is_set)
    finally:
        watch.stop()
    assert kube.watched_from == ["1", "9", "9", "9"] and kube.lists == 3
    # doubling from the first delay, each wait between half and all of it (jitter)
    for waited, base in zip(watch.stopped.waits[:3], (0.01, 0.02, 0.04), strict=True):
        assert base / 2 <= waited <= base


def test_back_off_waits_are_spread_between_half_and_all_of_the_delay() -> None:
    waits = [secret.jittered(8.0) for _ in range(200)]
    assert all(4.0 <= w <= 8.0 for w in waits)
    assert max(waits) - min(waits) > 2.0  # spread, not one value for every watch


def test_data_that_is_not_base64_still_has_a_digest() -> None:
    odd = raw("MODIFIED", "web-tls", "web")
    odd["raw_object"]["data"] = {"tls.crt": "not base64!"}
    reduced = secret.secret_event(odd)
    assert reduced is not None and reduced.digest != data_digest(DATA)
