"""Building blocks shared by the three custom resources.

Everything here is plain pydantic: the base model (camelCase aliases, snake_case attributes,
tolerant of unknown fields), references to Secrets and other objects, conditions, RFC 3339
timestamps, the markers that put CEL rules and other Kubernetes schema extensions into the
generated CRDs (``Cel``, ``SchemaExtra``), and the status-patch helper the handlers use.

Used by the other ``models`` modules, by ``crdgen`` and by the operator (handlers, policies).
This module must not import kopf or kubernetes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    PlainSerializer,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

GROUP = "sectigo-operator.io"
"""The API group of every kind (see docs/design.md)."""
VERSION = "v1alpha1"
"""The only served and stored version."""
API_VERSION = f"{GROUP}/{VERSION}"
CATEGORY = "sectigo"
"""``kubectl get sectigo`` lists all three kinds."""

# Upper bounds used across the schemas. They keep the API server's CEL cost estimates small
# and reject absurd input early.
MAX_NAME = 253
"""A DNS subdomain (object names, Secret names)."""
MAX_KEY = 253
"""A Secret data key."""
MAX_TEXT = 1024
MAX_MESSAGE = 32768


# --------------------------------------------------------------------------- schema markers
@dataclass(frozen=True)
class Cel:
    """A CEL rule for ``x-kubernetes-validations``, usable in ``Annotated[...]`` or ``rules()``.

    ``field_path`` (e.g. ``".email"``) makes the API server report the error on that field, so
    the message names it; ``message_expression`` builds the message from the object.
    """

    rule: str
    message: str | None = None
    message_expression: str | None = None
    field_path: str | None = None
    reason: str | None = None

    def as_schema(self) -> dict[str, str]:
        """The rule as one ``x-kubernetes-validations`` item."""
        item = {"rule": self.rule}
        if self.message is not None:
            item["message"] = self.message
        if self.message_expression is not None:
            item["messageExpression"] = self.message_expression
        if self.field_path is not None:
            item["fieldPath"] = self.field_path
        if self.reason is not None:
            item["reason"] = self.reason
        return item

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema.setdefault("x-kubernetes-validations", []).append(self.as_schema())
        return schema


@dataclass(frozen=True, eq=False)
class SchemaExtra:
    """Extra keys merged into the generated schema (``x-kubernetes-list-type``, ``format`` ...)."""

    values: Mapping[str, Any] = field(default_factory=dict)

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema.update(self.values)
        return schema


def rules(*items: Cel) -> dict[str, Any]:
    """``json_schema_extra`` for a model carrying object-level CEL rules."""
    return {"x-kubernetes-validations": [item.as_schema() for item in items]}


def immutable(path: str) -> Cel:
    """A transition rule that forbids changing a field once it is set."""
    return Cel("self == oldSelf", message=f"{path} is immutable", reason="FieldValueForbidden")


OBJECT_DEFAULT: dict[str, Any] = {"default": {}}
"""``json_schema_extra`` for a sub-object that the API server should default to ``{}``, so the
defaults of its own fields show up in stored objects."""


# --------------------------------------------------------------------------- base model
class ApiModel(BaseModel):
    """Base of every API model: camelCase on the wire, snake_case in Python.

    Parsing ignores unknown fields, so an operator built from these models keeps working
    against objects written by a newer CRD.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        use_attribute_docstrings=True,
        extra="ignore",
        frozen=False,
    )

    def to_wire(self) -> dict[str, Any]:
        """The model as JSON-ready camelCase data, without unset (``None``) fields."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


# --------------------------------------------------------------------------- scalars
def _ensure_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def format_rfc3339(value: datetime) -> str:
    """``2026-11-27T10:00:00Z``: UTC, whole seconds, ``Z`` suffix (what Kubernetes writes)."""
    return _ensure_utc(value).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


Timestamp = Annotated[
    datetime,
    AfterValidator(_ensure_utc),
    PlainSerializer(format_rfc3339, return_type=str, when_used="json"),
]
"""An aware UTC datetime, serialised as an RFC 3339 string with ``Z``."""

ObjectName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_NAME,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
    ),
]
"""A Kubernetes object name (DNS-1123 subdomain: dot-separated labels, none empty, none
starting or ending with ``-``; the API server refuses a Secret named ``a..b`` or ``a.-b``)."""

SecretKey = Annotated[str, Field(min_length=1, max_length=MAX_KEY, pattern=r"^[-._a-zA-Z0-9]+$")]
"""A key in a Secret's data."""

Email = Annotated[
    str,
    Field(min_length=3, max_length=128, pattern=r"^[\x21-\x7e]+@[\x21-\x7e]+$"),
    SchemaExtra({"format": "email"}),
]
"""An e-mail address in ASCII (an X.509 rfc822Name is an IA5String)."""
"""An e-mail address (the API server checks the ``email`` format)."""


class CertificateType(StrEnum):
    """Which SCM API a certificate or profile belongs to."""

    SSL = "ssl"
    CLIENT = "client"


class KeyAlgorithm(StrEnum):
    """Private key algorithm (SCM issues RSA and ECDSA keys only)."""

    RSA = "RSA"
    ECDSA = "ECDSA"


KEY_SIZE_RULE = Cel(
    "!has(self.size) || !has(self.algorithm) || (self.algorithm == 'RSA'"
    " ? self.size in [2048, 3072, 4096] : self.size in [256, 384, 521])",
    message=("privateKey.size must be 2048, 3072 or 4096 for RSA and 256, 384 or 521 for ECDSA"),
    field_path=".size",
)
"""Size must fit the algorithm (used by both private-key models)."""

RSA_SIZES = (2048, 3072, 4096)
ECDSA_SIZES = (256, 384, 521)
DEFAULT_KEY_SIZE = {KeyAlgorithm.RSA: 2048, KeyAlgorithm.ECDSA: 256}
"""Key size used when only the algorithm is given."""


# --------------------------------------------------------------------------- references
class LocalObjectReference(ApiModel):
    """A reference to an object in the same namespace."""

    name: ObjectName
    """Name of the object."""


class CustomField(ApiModel):
    """An SCM custom field sent with an enrollment (``customFields[]{name, value}``)."""

    name: str = Field(min_length=1, max_length=256)
    """The custom field's name as defined in SCM."""
    value: str = Field(default="", max_length=256)
    """Its value (``DATE`` fields as ``yyyy-MM-dd``)."""


CustomFields = Annotated[
    list[CustomField],
    Field(max_length=64),
    SchemaExtra({"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]}),
]


# --------------------------------------------------------------------------- conditions
class ConditionStatus(StrEnum):
    """Status of a condition (kstatus semantics)."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(ApiModel):
    """A condition in the style of ``metav1.Condition`` (understood by kstatus, Flux, Argo CD)."""

    type: str = Field(min_length=1, max_length=316)
    """``Ready``, ``Issuing`` or ``Stalled``."""
    status: ConditionStatus
    """``True``, ``False`` or ``Unknown``."""
    reason: str | None = Field(
        default=None, max_length=1024, pattern=r"^([A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?)?$"
    )
    """A CamelCase reason, e.g. ``Issued``, ``AwaitingApproval``, ``InvalidCredentials``."""
    message: str | None = Field(default=None, max_length=MAX_MESSAGE)
    """A human-readable message."""
    last_transition_time: Timestamp | None = None
    """When the status last changed."""
    observed_generation: int | None = Field(default=None, ge=0)
    """The ``metadata.generation`` the condition was computed for."""


Conditions = Annotated[
    list[Condition],
    Field(max_length=16),
    SchemaExtra({"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]}),
]


def set_condition(
    conditions: Iterable[Condition] | None, new: Condition, now: datetime
) -> list[Condition]:
    """Return ``conditions`` with ``new`` replacing the one of the same type.

    ``lastTransitionTime`` is kept when the status did not change and set to ``now`` otherwise
    (unless ``new`` brings its own).
    """
    result: list[Condition] = []
    previous: Condition | None = None
    for condition in conditions or ():
        if condition.type == new.type:
            previous = condition
        else:
            result.append(condition)
    updated = new.model_copy()
    if updated.last_transition_time is None:
        same = previous is not None and previous.status == new.status
        updated.last_transition_time = (
            previous.last_transition_time if same and previous is not None else None
        ) or now
    result.append(updated)
    return result


def set_flags(
    conditions: Iterable[Condition] | None,
    flags: Iterable[tuple[str, bool]],
    reason: str,
    message: str,
    generation: int | None,
    now: datetime,
) -> list[Condition]:
    """``set_condition`` for several condition types sharing one reason and message (``flags``:
    type and whether it is True), e.g. Ready False and Stalled True."""
    result = list(conditions or ())
    for type_, flag in flags:
        result = set_condition(
            result,
            Condition(
                type=type_,
                status=ConditionStatus.TRUE if flag else ConditionStatus.FALSE,
                reason=reason,
                message=message[:1024],
                observed_generation=generation,
            ),
            now,
        )
    return result


def find_condition(conditions: Iterable[Condition] | None, type_: str) -> Condition | None:
    """The condition of this type, if any."""
    return next((c for c in conditions or () if c.type == type_), None)


# --------------------------------------------------------------------------- resources
class ObjectMeta(ApiModel):
    """The parts of ``metadata`` the operator reads."""

    name: str = ""
    namespace: str | None = None
    uid: str | None = None
    generation: int | None = None
    resource_version: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    creation_timestamp: Timestamp | None = None
    deletion_timestamp: Timestamp | None = None
    finalizers: list[str] | None = None


@dataclass(frozen=True)
class PrinterColumn:
    """An ``additionalPrinterColumns`` entry."""

    name: str
    json_path: str
    type: str = "string"
    description: str = ""
    priority: int = 0

    def as_schema(self) -> dict[str, Any]:
        column: dict[str, Any] = {"name": self.name, "type": self.type, "jsonPath": self.json_path}
        if self.description:
            column["description"] = self.description
        if self.priority:
            column["priority"] = self.priority
        return column


@dataclass(frozen=True)
class CrdInfo:
    """How a resource model is published as a CustomResourceDefinition."""

    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    printer_columns: tuple[PrinterColumn, ...]
    selectable_fields: tuple[str, ...] = ()
    description: str = ""
    rules: tuple[Cel, ...] = ()
    """CEL rules on the whole object (they may read ``metadata.name``)."""

    @property
    def name(self) -> str:
        """The CRD's ``metadata.name``."""
        return f"{self.plural}.{GROUP}"


READY_COLUMN = PrinterColumn(
    "Ready", '.status.conditions[?(@.type=="Ready")].status', description="Ready condition"
)
AGE_COLUMN = PrinterColumn("Age", ".metadata.creationTimestamp", type="date")


class Resource(ApiModel):
    """Base of a custom resource body: apiVersion, kind, metadata, spec, status."""

    crd: ClassVar[CrdInfo]

    api_version: str = API_VERSION
    kind: str = ""
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        """Parse a body as Kopf or the kubernetes client hands it over (any nested Mapping)."""
        return cls.model_validate(_plain(body))


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def status_patch(
    status: BaseModel,
    *,
    clear: Iterable[str] = (),
    previous: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A JSON merge patch body ``{"status": {...}}`` for a status model.

    Fields that are ``None`` are left out (untouched by a merge patch); list the camelCase
    names in ``clear`` to delete them (sent as ``null`` unless the model has a value for them).
    With ``previous``, the status the server holds (as read, or as last written), every field
    it has and the model no longer has, at any depth, is deleted too: a merge patch merges
    nested objects key by key, so without that a field left out of a new value would survive
    from the old one (an earlier error's code under a new error's description).
    """
    dumped = status.model_dump(mode="json", by_alias=True, exclude_none=True)
    return status_patch_of(dumped, clear, previous)


def status_patch_of(
    dumped: Mapping[str, Any],
    clear: Iterable[str] = (),
    previous: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``status_patch`` of a status already dumped (JSON mode, by alias, without None)."""
    body = _with_removals(previous, dumped) if previous else dict(dumped)
    return {"status": {**dict.fromkeys(clear), **body}}  # a value set wins over a clear


def _with_removals(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """``new``, with ``None`` for each key of ``old`` it lacks, recursing into objects both
    have (RFC 7386: an array or a scalar is replaced whole, an object merged key by key)."""
    body: dict[str, Any] = dict.fromkeys(k for k in old if k not in new)
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            body[key] = _with_removals(before, value)
        else:
            body[key] = value
    return body
