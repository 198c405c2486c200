"""Collect formats: which certificates, in which order, in which encoding (reference §5.3).

``chain`` is always given leaf-first issuers: (intermediate, root). Format names are matched
case-insensitively (Sectigo's own samples write ``X509CO``).
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

from . import errors

FORMATS = (
    "x509",
    "x509R",
    "x509CO",
    "x509IO",
    "x509IOR",
    "pem",
    "pemco",
    "pemia",
    "base64",
    "bin",
)
_BY_LOWER = {f.lower(): f for f in FORMATS}


def canonical_format(name: str) -> str:
    """The canonical spelling of a format, or ScmError -126."""
    found = _BY_LOWER.get(name.lower())
    if found is None:
        raise errors.unknown_format()
    return found


def _pem(certs: Sequence[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(Encoding.PEM) for c in certs)


def render(
    fmt: str, leaf: x509.Certificate, issuers: Sequence[x509.Certificate]
) -> tuple[bytes, str]:
    """Body and file extension for a canonical format name."""
    up = list(issuers)  # intermediate, ..., root
    down = list(reversed(up))  # root, ..., intermediate
    if fmt in ("x509", "pem"):
        return _pem([*down, leaf]), "pem"
    if fmt == "x509R":
        return _pem([leaf, *up]), "pem"
    if fmt in ("x509CO", "pemco"):
        return _pem([leaf]), "crt"
    if fmt == "pemia":
        return _pem([leaf, *up]), "pem"
    if fmt == "x509IO":
        return _pem(down), "pem"
    if fmt == "x509IOR":
        return _pem(up), "pem"
    if fmt == "base64":
        return pkcs7.serialize_certificates([leaf, *up], Encoding.PEM), "p7b"
    if fmt == "bin":
        return pkcs7.serialize_certificates([leaf, *up], Encoding.DER), "p7b"
    raise errors.unknown_format()
