"""Handlers of SectigoProfile: fetch the profile from SCM into status, refresh it periodically.

``Stalled`` when SCM has no profile with that id or name; waits (and retries) while the config is
not Ready or SCM is unavailable.

``status.profile`` only ever describes the profile the current spec names: an edit of the spec
removes the one fetched for the old spec until the new one is fetched, and a profile SCM does not
have removes it (certificates that refer to the SectigoProfile wait meanwhile, see
``certificates.gather``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import kopf

from .. import policies
from ..certificates import Context
from ..k8s import KubeConflict, KubeError
from ..models import (
    GROUP,
    VERSION,
    CertificateType,
    ConditionStatus,
    find_condition,
    set_flags,
    status_patch,
)
from ..models.profile import ProfileCustomField, ProfileInfo, ProfileStatus, SectigoProfile
from ..scm import ScmError, ScmPermanentError
from ..settings import OperatorSettings

PLURAL = "sectigoprofiles"
_interval = OperatorSettings.from_env().profile_refresh_seconds


async def _write(
    ctx: Context,
    profile: SectigoProfile,
    status: ProfileStatus,
    previous: Mapping[str, Any],
    ready: bool,
    reason: str,
    message: str,
) -> None:
    now = ctx.now()
    stalled = reason in (policies.REASON_PROFILE_NOT_FOUND, policies.REASON_SCM_ERROR)
    status.conditions = set_flags(
        status.conditions,
        (("Ready", ready), ("Stalled", stalled)),
        reason,
        message,
        profile.metadata.generation,
        now,
    )
    status.observed_generation = profile.metadata.generation
    # Fenced: the refresh timer and the change handlers run concurrently, and a write from an
    # older body would put the old spec's profile back over the new one's.
    await ctx.kube.patch_status(
        PLURAL,
        profile.metadata.namespace or "",
        profile.metadata.name,
        status_patch(status, previous=previous),
        profile.metadata.resource_version or None,
    )


async def fetch(body: kopf.Body, memo: kopf.Memo, retry: int = 0) -> None:
    ctx: Context = memo.context
    profile = SectigoProfile.from_body(body)
    spec, ns = profile.spec, profile.metadata.namespace or ""
    status = profile.status or ProfileStatus()
    previous = status.model_dump(mode="json", by_alias=True, exclude_none=True)
    if status.observed_generation != profile.metadata.generation:
        status.profile = status.fetched_at = None  # fetched for an earlier spec
    entry = ctx.configs.get(ns, spec.config_ref.name)
    if entry is None or not entry.ready or entry.client is None:
        message = f"SectigoConfig {spec.config_ref.name!r} is not Ready"
        await _write(
            ctx, profile, status, previous, False, policies.REASON_CONFIG_NOT_READY, message
        )
        delay = policies.backoff(retry + 1, base=1.0, cap=ctx.settings.wait_config_max_delay)
        raise kopf.TemporaryError(message, delay=delay)
    kind = "smime" if spec.certificate_type == CertificateType.CLIENT else "ssl"
    try:
        api = entry.client.smime if kind == "smime" else entry.client.ssl
        profiles = await api.types(entry.spec.org_id)
        fields = await api.custom_fields()
    except ScmPermanentError as exc:
        await _write(ctx, profile, status, previous, False, policies.REASON_SCM_ERROR, str(exc))
        raise kopf.PermanentError(str(exc)) from None
    except ScmError as exc:
        await _write(
            ctx, profile, status, previous, False, policies.REASON_SCM_UNAVAILABLE, str(exc)
        )
        raise kopf.TemporaryError(str(exc), delay=30) from None
    found = next(
        (
            p
            for p in profiles
            if (spec.profile_id is not None and p.id == spec.profile_id)
            or (spec.profile_name is not None and p.name == spec.profile_name)
        ),
        None,
    )
    if found is None:
        wanted = f"id {spec.profile_id}" if spec.profile_id is not None else repr(spec.profile_name)
        names = ", ".join(f"{p.id} {p.name!r}" for p in profiles) or "none"
        message = f"SCM has no {kind} profile {wanted} (available: {names})"
        status.profile = status.fetched_at = None
        await _write(
            ctx, profile, status, previous, False, policies.REASON_PROFILE_NOT_FOUND, message
        )
        kopf.event(body, type="Warning", reason=policies.REASON_PROFILE_NOT_FOUND, message=message)
        raise kopf.PermanentError(message)
    status.profile = ProfileInfo(
        id=found.id,
        name=found.name,
        description=found.description,
        terms=list(found.terms),
        key_types={k: list(v) for k, v in found.key_types.items()},
        use_secondary_org_name=found.use_secondary_org_name,
        custom_fields=[
            ProfileCustomField(id=f.id, name=f.name, mandatory=f.mandatory) for f in fields
        ],
    )
    status.fetched_at = ctx.now()
    await _write(
        ctx,
        profile,
        status,
        previous,
        True,
        policies.REASON_FETCHED,
        f"profile {found.id} {found.name!r}",
    )


def fetched_lately(profile: SectigoProfile, now: datetime, period: float) -> bool:
    """Whether status holds the profile of the current spec, fetched less than ``period``
    seconds ago: a restarted operator leaves it to the refresh timer (no SCM call, no write)."""
    status = profile.status
    if status is None or status.profile is None or status.fetched_at is None:
        return False
    ready = find_condition(status.conditions, "Ready")
    return (
        status.observed_generation == profile.metadata.generation
        and ready is not None
        and ready.status == ConditionStatus.TRUE
        and timedelta(0) <= now - status.fetched_at < timedelta(seconds=period)
    )


@kopf.on.resume(GROUP, VERSION, PLURAL, id="profile-resume")
async def resume(body: kopf.Body, memo: kopf.Memo, retry: int, **_: Any) -> None:
    ctx: Context = memo.context
    profile = SectigoProfile.from_body(body)
    if not fetched_lately(profile, ctx.now(), ctx.settings.profile_refresh_seconds):
        await _fetch(body, memo, retry)


@kopf.on.create(GROUP, VERSION, PLURAL, id="profile-create")
@kopf.on.update(GROUP, VERSION, PLURAL, id="profile-update", field="spec")
async def reconcile(body: kopf.Body, memo: kopf.Memo, retry: int, **_: Any) -> None:
    await _fetch(body, memo, retry)


async def _fetch(body: kopf.Body, memo: kopf.Memo, retry: int) -> None:
    try:
        await fetch(body, memo, retry)
    except KubeConflict:  # changed meanwhile: again, on the newer body Kopf delivers
        raise kopf.TemporaryError("the SectigoProfile changed meanwhile", delay=1) from None
    except KubeError as exc:  # the API server is away: try again soon, no traceback
        raise kopf.TemporaryError(str(exc), delay=10) from None


@kopf.timer(
    GROUP, VERSION, PLURAL, id="profile-refresh", interval=_interval, initial_delay=_interval
)
async def refresh(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    try:
        await fetch(body, memo)
    except KubeConflict:
        return  # changed meanwhile: a spec edit is fetched by the change handlers, else next time
    except KubeError as exc:
        raise kopf.TemporaryError(str(exc), delay=10) from None
