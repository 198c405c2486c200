"""Sandbox SCM configuration: one typed model with defaults good for a demo.

Loaded from YAML or JSON (:func:`load_config`) or built in code by tests. Field aliases are the
camelCase names used in files and on the admin endpoint; the password is a ``SecretStr`` so it never
shows in reprs or logs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic.alias_generators import to_camel

PendingCode = Literal[0, -1400, -183]
ApprovalMode = Literal["profile", "always", "never"]
FaultKind = Literal["latency", "error", "rate_limit", "reset", "response_lost"]


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class Profile(_Model):
    """A certificate profile (SCM "certificate type"), served by ``/types``."""

    id: int
    name: str
    description: str = ""
    terms: list[int] = Field(default_factory=lambda: [365, 730])
    key_types: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "RSA": ["2048", "3072", "4096"],
            "EC": ["P-256", "P-384", "P-521"],
        }
    )
    use_secondary_org_name: bool = False
    approval_required: bool = False
    required_custom_fields: list[str] = Field(default_factory=list)
    # Per-profile issuance delay; None means "use the global default".
    issue_delay_seconds: float | None = None
    issue_after_collects: int | None = None
    allow_renew: bool = True


class CustomField(_Model):
    """A custom field served by ``/customFields``; ``mandatory`` applies to every profile."""

    id: int
    name: str
    mandatory: bool = False


class FaultRule(_Model):
    """One injected fault: applies to requests whose path matches ``path`` (fnmatch glob).

    ``count`` is how many matching requests it affects (``None``: all of them).
    Kinds: ``latency`` (sleep ``latency_seconds`` then answer normally), ``error`` (answer
    ``status`` with ``{code, description}``), ``rate_limit`` (429 with ``Retry-After``), ``reset``
    (drop the connection before handling), ``response_lost`` (handle and commit, then drop the
    connection without answering).
    """

    kind: FaultKind
    path: str = "*"
    method: str | None = None
    count: int | None = Field(default=1, ge=1)
    latency_seconds: float = 0.0
    status: int = 500
    code: int = -2
    description: str = "Internal error. Please contact support."
    retry_after: int = 1


def _default_ssl_profiles() -> list[Profile]:
    return [
        Profile(id=51, name="OV SSL", description="Organization Validated SSL (auto-approved)"),
        Profile(
            id=52,
            name="OV SSL (approval required)",
            description="Organization Validated SSL, an administrator must approve each order",
            approval_required=True,
        ),
        Profile(
            id=53,
            name="OV SSL (ticket required)",
            description="Organization Validated SSL that needs the 'Ticket' custom field",
            required_custom_fields=["Ticket"],
        ),
        Profile(
            id=54,
            name="OV SSL RSA only",
            description="RSA keys only, one-year term",
            terms=[365],
            key_types={"RSA": ["2048", "3072", "4096"]},
        ),
    ]


def _default_smime_profiles() -> list[Profile]:
    return [
        Profile(id=61, name="Client Certificate", description="Client authentication and S/MIME"),
        Profile(
            id=62,
            name="Client Certificate (approval required)",
            description="Client certificate that an administrator must approve",
            approval_required=True,
        ),
    ]


def _default_custom_fields() -> list[CustomField]:
    return [
        CustomField(id=1, name="Cost Center"),
        CustomField(id=2, name="Ticket"),
        CustomField(id=3, name="Environment"),
    ]


class SandboxConfig(_Model):
    """Everything the sandbox can be told at start-up (runtime changes go through the admin API)."""

    customer_uri: str = "sandbox"
    login: str = "admin"
    password: SecretStr = SecretStr("sandbox-password")
    org_ids: list[int] = Field(default_factory=lambda: [1234])
    ssl_profiles: list[Profile] = Field(default_factory=_default_ssl_profiles)
    smime_profiles: list[Profile] = Field(default_factory=_default_smime_profiles)
    custom_fields: list[CustomField] = Field(default_factory=_default_custom_fields)
    # Global issuance delay: an auto-approved (or approved) order becomes Issued once both hold.
    issue_delay_seconds: float = 0.0
    issue_after_collects: int = 0
    approval_mode: ApprovalMode = "profile"
    pending_code: PendingCode = 0
    strict_reason_code: bool = False
    reject_next: int = 0
    faults: list[FaultRule] = Field(default_factory=list)

    def ssl_profile(self, profile_id: int) -> Profile | None:
        return next((p for p in self.ssl_profiles if p.id == profile_id), None)

    def smime_profile(self, profile_id: int) -> Profile | None:
        return next((p for p in self.smime_profiles if p.id == profile_id), None)


def load_config(path: Path | str) -> SandboxConfig:
    """Read a YAML or JSON file (JSON is YAML, so one parser serves both)."""
    text = Path(path).read_text(encoding="utf-8")
    data: Any = yaml.safe_load(text) if text.strip() else {}
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the sandbox configuration must be a mapping")
    return SandboxConfig.model_validate(data)


def dump_config(config: SandboxConfig) -> str:
    """The configuration as JSON with the password hidden (for logs and ``--print-config``)."""
    return json.dumps(config.model_dump(mode="json", by_alias=True), indent=2)
