"""Reading request bodies, query parameters and path ids with SCM's error answers.

Every helper raises :class:`~.errors.ScmError` (never a bare exception), so a malformed request
always gets an SCM-shaped 400/404 and never a 500.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from . import errors
from .config import CustomField, Profile

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


async def json_body(request: web.Request, *, allow_empty: bool = False) -> dict[str, Any]:
    """The JSON object in the body; ``{}`` for an empty body or ``""`` when ``allow_empty``."""
    raw = await request.read()
    if not raw.strip():
        if allow_empty:
            return {}
        raise errors.malformed_request()
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise errors.malformed_request() from None
    if allow_empty and data in ("", None):
        return {}
    if not isinstance(data, dict):
        raise errors.malformed_request()
    return data


def int_value(value: object, name: str, minimum: int = 1) -> int:
    """An integer (or numeric string, as SCM's JSON binding accepts) of at least ``minimum``."""
    if isinstance(value, bool):
        raise errors.invalid_field(name)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or value < minimum:
        raise errors.invalid_field(name)
    return value


def req_int(body: dict[str, Any], name: str, minimum: int = 1) -> int:
    if body.get(name) is None:
        raise errors.missing_field(name)
    return int_value(body[name], name, minimum)


def opt_str(body: dict[str, Any], name: str, max_len: int) -> str:
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > max_len:
        raise errors.invalid_field(name)
    return value


def req_str(body: dict[str, Any], name: str, max_len: int, min_len: int = 1) -> str:
    value = body.get(name)
    if value is None or (isinstance(value, str) and not value.strip() and min_len > 0):
        raise errors.missing_field(name)
    if not isinstance(value, str) or not (min_len <= len(value) <= max_len):
        raise errors.invalid_field(name)
    return value


def str_list(body: dict[str, Any], name: str, max_item: int = 256) -> list[str] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(
        isinstance(v, str) and len(v) <= max_item for v in value
    ):
        raise errors.invalid_field(name)
    return [v.strip() for v in value if v.strip()]


def email(value: object, name: str = "email") -> str:
    if value is None or value == "":
        raise errors.missing_field(name)
    if not isinstance(value, str) or len(value) > 128 or not _EMAIL.match(value):
        raise errors.invalid_field(name)
    return value


def path_int(request: web.Request, name: str) -> int:
    return int_value(request.match_info[name], name)


def query_int(request: web.Request, name: str, default: int, maximum: int | None = None) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    value = int_value(raw, name, minimum=0)
    if maximum is not None and value > maximum:
        raise errors.invalid_field(name)
    return value


def custom_fields(
    body: dict[str, Any], known: list[CustomField], profile: Profile
) -> list[dict[str, str]]:
    """Validate ``customFields`` (unknown -135, then mandatory -62); returns ``{name, value}``."""
    raw = body.get("customFields")
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise errors.invalid_field("customFields")
    names = {f.name.lower(): f.name for f in known}
    given: list[dict[str, str]] = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise errors.invalid_field("customFields")
        value = item.get("value", "")
        if not isinstance(value, str) or len(value) > 256:
            raise errors.invalid_field("customFields")
        canonical = names.get(item["name"].lower())
        if canonical is None:
            raise errors.unknown_custom_field(item["name"])
        given.append({"name": canonical, "value": value})
    present = {g["name"].lower() for g in given if g["value"].strip()}
    required = [f.name for f in known if f.mandatory] + profile.required_custom_fields
    if any(name.lower() not in present for name in required):
        raise errors.missing_custom_field()
    return given
