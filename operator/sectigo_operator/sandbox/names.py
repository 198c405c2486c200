"""Names and serial numbers as SCM writes and accepts them: serials in colon-separated hex,
SAN lists without case-insensitive duplicates, and the host names an SSL order may carry."""

from __future__ import annotations

import ipaddress
import re

from . import errors


def serial_text(serial: int) -> str:
    raw = serial.to_bytes((serial.bit_length() + 7) // 8 or 1, "big")
    return ":".join(f"{b:02X}" for b in raw)


def normalize_serial(text: str) -> str:
    digits = "".join(c for c in text if c not in ": ").upper()
    if len(digits) % 2:
        digits = "0" + digits
    return ":".join(digits[i : i + 2] for i in range(0, len(digits), 2))


def dedupe_names(names: list[str]) -> list[str]:
    """Names in first-seen order without case-insensitive duplicates or empties."""
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        key = name.lower()
        if name and key not in seen:
            seen.add(key)
            out.append(name)
    return out


_HOST_LABEL = r"(\*|[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)"
_HOSTNAME = re.compile(rf"{_HOST_LABEL}(\.[A-Za-z0-9]([-A-Za-z0-9]{{0,61}}[A-Za-z0-9])?)*")


def check_names(common_name: str, sans: list[str]) -> None:
    """Like SCM, refuse at enrollment what no certificate can carry: the commonName and every
    SAN must be an IP address or an ASCII host name (A-labels, an optional leading ``*.``).
    Nothing that cannot be signed is ever stored (a stored order never answers 500)."""
    for field, names in (("commonName", [common_name]), ("subjAltNames", sans)):
        for name in names:
            if not _valid_name(name):
                raise errors.invalid_field(field)


def _valid_name(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        pass
    return len(name) <= 253 and _HOSTNAME.fullmatch(name) is not None
