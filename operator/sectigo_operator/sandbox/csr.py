"""CSR parsing in every shape SCM clients send, and the profile's key-type check.

Accepted: PEM with armor and newlines, the same PEM with newlines removed, and bare base64 (with or
without whitespace). Anything else is SCM's ``-138 Invalid CSR.``.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import NameOID

from . import errors

_ARMOR = re.compile(r"-----(BEGIN|END) (NEW )?CERTIFICATE REQUEST-----")
_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
MAX_CSR_CHARS = 32767


@dataclass(frozen=True)
class ParsedCsr:
    """The parts of a CSR the sandbox uses."""

    public_key: CertificatePublicKeyTypes
    common_name: str
    dns_names: tuple[str, ...]
    key_algorithm: str  # "RSA" or "EC"
    key_param: str  # "2048" or "P-256"
    pem: str

    @property
    def key_type(self) -> str:
        """As SCM details print it: ``RSA - 2048``, ``EC - P-256``."""
        return f"{self.key_algorithm} - {self.key_param}"


def parse_csr(text: object) -> ParsedCsr:
    """Parse a CSR string; raise ScmError -138 on anything that is not a valid CSR."""
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_CSR_CHARS:
        raise errors.invalid_csr()
    body = "".join(_ARMOR.sub("", text).split())
    try:
        der = base64.b64decode(body, validate=True)
        csr = x509.load_der_x509_csr(der)
        signature_ok = csr.is_signature_valid
        public_key = csr.public_key()
    except (binascii.Error, ValueError, TypeError, UnsupportedAlgorithm):
        raise errors.invalid_csr() from None
    if not signature_ok:
        raise errors.invalid_csr()
    algorithm, param = _describe_key(public_key)
    cns = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = str(cns[0].value) if cns else ""
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        dns_names = tuple(san.value.get_values_for_type(x509.DNSName))
    except (x509.ExtensionNotFound, ValueError):
        dns_names = ()
    pem = f"-----BEGIN CERTIFICATE REQUEST-----\n{_wrap(body)}-----END CERTIFICATE REQUEST-----\n"
    return ParsedCsr(public_key, common_name, dns_names, algorithm, param, pem)


def _wrap(body: str) -> str:
    return "".join(body[i : i + 64] + "\n" for i in range(0, len(body), 64))


def _describe_key(key: CertificatePublicKeyTypes) -> tuple[str, str]:
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", str(key.key_size)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC", _CURVES.get(key.curve.name, key.curve.name)
    raise errors.unsupported_algorithm()


def check_key_allowed(csr: ParsedCsr, key_types: dict[str, list[str]]) -> None:
    """Raise the SCM error for a key the profile does not allow (-170 / -11 / -13)."""
    allowed = key_types.get(csr.key_algorithm)
    if allowed is None:
        if csr.key_algorithm == "EC":
            raise errors.ecc_not_allowed()
        raise errors.unsupported_algorithm()
    if csr.key_param not in allowed:
        raise errors.unsupported_key_size()
