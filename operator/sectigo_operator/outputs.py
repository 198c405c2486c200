"""The material a Secret can carry besides ``tls.crt``/``tls.key``/``ca.crt``.

cert-manager's additional output formats (CombinedPEM, DER, PKCS#12) and the chain rendered as
SCM's collect returns it in a given ``format`` (scm-api.md §5.3), all built from a parsed chain
and key (``pki``). Used by ``certificates.issuing``; pure, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.hazmat.primitives.serialization import pkcs12 as _pkcs12

from .pki import Chain, PrivateKey, cert_info, check_key_matches


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


COLLECT_FORMAT_FILES: Final[Mapping[str, str]] = {
    "x509": "certificate.x509.pem",
    "pem": "certificate.pem",
    "x509R": "certificate.x509R.pem",
    "x509CO": "certificate.x509CO.pem",
    "pemco": "certificate.pemco.pem",
    "pemia": "certificate.pemia.pem",
    "x509IO": "certificate.x509IO.pem",
    "x509IOR": "certificate.x509IOR.pem",
    "base64": "certificate.p7b",
    "bin": "certificate.p7c",
}
"""The Secret key each SCM collect format (spec.format) is written to."""


def render_collect_format(chain: Chain, fmt: str) -> bytes:
    """The chain as SCM's collect would return it in ``fmt`` (scm-api.md §5.3).

    ``x509``/``pem``: root first, down to the leaf; ``x509R``/``pemia``: leaf first, up to the
    root; ``x509CO``/``pemco``: the leaf alone; ``x509IO``: the issuers, root first; ``x509IOR``:
    the issuers, root last; ``base64``: PEM PKCS#7; ``bin``: DER PKCS#7.
    """
    upward = [chain.leaf, *chain.intermediates, *([chain.root] if chain.root else [])]
    issuers = upward[1:]
    orders: dict[str, list[x509.Certificate]] = {
        "x509": upward[::-1],
        "pem": upward[::-1],
        "x509R": upward,
        "pemia": upward,
        "x509CO": [chain.leaf],
        "pemco": [chain.leaf],
        "x509IO": issuers[::-1],
        "x509IOR": issuers,
    }
    if fmt in orders:
        return "".join(_pem(c) for c in orders[fmt]).encode("ascii")
    if fmt in ("base64", "bin"):
        encoding = serialization.Encoding.PEM if fmt == "base64" else serialization.Encoding.DER
        return pkcs7.serialize_certificates(upward, encoding)
    raise ValueError(f"unknown collect format {fmt!r}")


def combined_pem(cert_chain_pem: str, key_pem: bytes | str) -> str:
    """The private key followed by the certificate chain, as cert-manager's CombinedPEM."""
    key_text = key_pem.decode("ascii") if isinstance(key_pem, bytes) else key_pem
    return key_text.rstrip("\n") + "\n" + cert_chain_pem.lstrip("\n")


def der(item: x509.Certificate | PrivateKey) -> bytes:
    """DER of a certificate, or of a private key (PKCS#8, as cert-manager's DER `key.der`)."""
    if isinstance(item, x509.Certificate):
        return item.public_bytes(serialization.Encoding.DER)
    return item.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def pkcs12(chain: Chain, key: PrivateKey, password: bytes | None) -> bytes:
    """A PKCS#12 keystore: key, leaf, intermediates and root (when known).

    With a password: AES-256-CBC, PBKDF2-SHA256 and a SHA-256 MAC (OpenSSL 1.1.1+, Java 8u301+);
    None or b"" gives an unencrypted keystore. Raises `KeyMismatch` when key and leaf differ.
    """
    check_key_matches(chain.leaf, key)
    cas = [*chain.intermediates, *([chain.root] if chain.root is not None else [])]
    encryption: serialization.KeySerializationEncryption
    if password:
        encryption = (
            serialization.PrivateFormat.PKCS12.encryption_builder()
            .kdf_rounds(50000)
            .key_cert_algorithm(_pkcs12.PBES.PBESv2SHA256AndAES256CBC)
            .hmac_hash(hashes.SHA256())
            .build(password)
        )
    else:
        encryption = serialization.NoEncryption()
    cn = cert_info(chain.leaf).common_name
    return _pkcs12.serialize_key_and_certificates(
        name=cn.encode("utf-8") if cn else None,
        key=key,
        cert=chain.leaf,
        cas=cas or None,
        encryption_algorithm=encryption,
    )
