"""The PKI error hierarchy (see the package docstring); messages never carry key material."""

from __future__ import annotations

# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class PkiError(Exception):
    """Base of every error raised by this module. Messages never contain key material."""


class InvalidKey(PkiError):
    """A private key (or key spec) that cannot be read or is not supported."""


class InvalidCsr(PkiError):
    """A CSR that cannot be decoded or verified, or a CsrRequest that cannot be built."""


class KeyMismatch(PkiError):
    """A private key that does not belong to the CSR or certificate it is used with."""


class InvalidCertificate(PkiError):
    """Certificate data that cannot be decoded, or that holds no certificate."""


class ChainError(PkiError):
    """Certificates that do not form a single chain, or a chain that fails verification."""
