"""Handlers of SectigoConfig: check the credentials against SCM, report Ready or Stalled.

On create/update/resume and on a timer the config re-reads its credentials Secret; SCM is asked
again when the Secret or the spec changed, while the config is not Ready, and every
``config_full_check_seconds``. Certificates that use a config that is not Ready wait and recover
by themselves once it is.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, cast

import kopf

from .. import policies
from ..certificates import Context, drift
from ..k8s import KubeError
from ..models import (
    GROUP,
    VERSION,
    ConditionStatus,
    find_condition,
    set_flags,
    status_patch,
)
from ..models.config import ConfigStatus, SectigoConfig
from ..scm import ScmError
from ..settings import OperatorSettings

PLURAL = "sectigoconfigs"
_interval = OperatorSettings.from_env().config_recheck_seconds


async def check(body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger) -> None:
    ctx: Context = memo.context
    config = SectigoConfig.from_body(body)
    ns, name = config.metadata.namespace or "", config.metadata.name
    old = config.status
    trusted = None
    if old is not None and old.credentials_version and old.last_checked is not None:
        was = find_condition(old.conditions, "Ready")
        current = old.observed_generation == config.metadata.generation
        if was is not None and was.status == ConditionStatus.TRUE and current:
            trusted = (old.credentials_version, old.last_checked.timestamp())
    entry = await ctx.configs.refresh(
        ns,
        name,
        config.spec,
        ctx.kube,
        full_check_after=ctx.settings.config_full_check_seconds,
        trusted=trusted,
    )
    now = ctx.now()
    status = config.status or ConfigStatus()
    before_dump = status.model_dump(mode="json", by_alias=True, exclude_none=True)
    before = find_condition(status.conditions, "Ready")
    stalled = not entry.ready and entry.reason != policies.REASON_SCM_UNAVAILABLE
    status.conditions = set_flags(
        status.conditions,
        (("Ready", entry.ready), ("Stalled", stalled)),
        entry.reason,
        entry.message,
        config.metadata.generation,
        now,
    )
    status.observed_generation = config.metadata.generation
    checked = datetime.fromtimestamp(entry.checked_wall, UTC) if entry.checked_wall else None
    if checked is not None:
        status.last_checked = checked
    if entry.ready:
        status.credentials_version = entry.secret_version
    # Level-based: an idle recheck that asked SCM nothing and changed nothing writes nothing.
    if status.model_dump(mode="json", by_alias=True, exclude_none=True) != before_dump:
        await ctx.kube.patch_status(PLURAL, ns, name, status_patch(status, previous=before_dump))
    ready = ConditionStatus.TRUE if entry.ready else ConditionStatus.FALSE
    if before is None or before.status != ready or before.reason != entry.reason:
        if entry.ready:
            kopf.event(body, type="Normal", reason=entry.reason, message=entry.message)
        else:
            kopf.event(body, type="Warning", reason=entry.reason, message=entry.message)
    if not entry.ready:
        logger.warning("config %s/%s not ready: %s: %s", ns, name, entry.reason, entry.message)


@kopf.on.resume(GROUP, VERSION, PLURAL, id="config-resume")
@kopf.on.create(GROUP, VERSION, PLURAL, id="config-create")
@kopf.on.update(GROUP, VERSION, PLURAL, id="config-update", field="spec")
async def reconcile(body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    try:
        await check(body, memo, logger)
    except KubeError as exc:  # the API server is away: try again soon, no traceback
        raise kopf.TemporaryError(str(exc), delay=10) from None


@kopf.on.update(GROUP, VERSION, PLURAL, id="config-renewal", field="spec.renewal")
async def renewal_changed(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """The config's renewal defaults changed (``autoRenew`` turned on, another window): every
    certificate issued under it is looked at again now, so that its next wake follows the new
    policy instead of the one it was filed under (with ``autoRenew`` off: its ``notAfter``)."""
    ctx: Context = memo.context
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    for (ns, cert), (config, _kind, _number) in list(ctx.orders.items()):
        if ns == namespace and config == name:
            ctx.wake(ns, cert, ctx.now())


@kopf.timer(
    GROUP, VERSION, PLURAL, id="config-recheck", interval=_interval, initial_delay=_interval
)
async def recheck(body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    try:
        await check(body, memo, logger)
    except KubeError as exc:
        raise kopf.TemporaryError(str(exc), delay=10) from None
    ctx: Context = memo.context
    entry = ctx.configs.get(body["metadata"]["namespace"], body["metadata"]["name"])
    if entry is None or not entry.ready:
        return
    if time.monotonic() - entry.drift_checked_at < ctx.settings.scm_drift_check_seconds:
        return
    entry.drift_checked_at = time.monotonic()
    try:
        found = await drift.check(ctx, entry)
    except ScmError as exc:
        logger.warning("SCM drift check of config %s failed: %s", entry.name, exc)
        return
    if found:
        logger.warning("SCM lists %d certificate(s) of config %s as revoked", found, entry.name)


@kopf.on.delete(GROUP, VERSION, PLURAL, id="config-delete", optional=True)
async def forget(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Forget a deleted config; if certificates still use it, say so on the config and on each
    of them (they keep their Secrets, and wait with ConfigNotReady for SCM work until a config
    of that name exists again)."""
    ctx: Context = memo.context
    ns, name = body["metadata"]["namespace"], body["metadata"]["name"]
    await ctx.configs.remove(ns, name)
    users = sorted(
        cert for (n, cert), (config, _, _) in ctx.orders.items() if n == ns and config == name
    )
    if not users:
        return
    shown = ", ".join(users[:20]) + (f" and {len(users) - 20} more" if len(users) > 20 else "")
    kopf.event(
        body,
        type="Warning",
        reason="ConfigInUse",
        message=f"SectigoConfig {name!r} was deleted while certificates use it: {shown}; they "
        "keep their Secrets but cannot renew until a config of that name exists again",
    )
    for cert in users:
        ref = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "SectigoCertificate",
            "metadata": {"namespace": ns, "name": cert},
        }
        kopf.event(
            cast(kopf.Body, ref),  # kopf reads only apiVersion, kind and metadata of it
            type="Warning",
            reason="ConfigDeleted",
            message=f"SectigoConfig {name!r} was deleted: no renewal or other SCM operation "
            "until it exists again",
        )
