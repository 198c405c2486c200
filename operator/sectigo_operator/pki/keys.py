"""Private keys: key specs, generation, PEM encoding and loading, SCM's key type names."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from .errors import InvalidKey

# --------------------------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------------------------

KeyAlgorithm: TypeAlias = Literal["RSA", "ECDSA"]
KeyEncoding: TypeAlias = Literal["PKCS1", "PKCS8"]
PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey: TypeAlias = rsa.RSAPublicKey | ec.EllipticCurvePublicKey

RSA_SIZES: Final = (2048, 3072, 4096)
ECDSA_SIZES: Final = (256, 384, 521)
_CURVES: Final[dict[int, type[ec.EllipticCurve]]] = {
    256: ec.SECP256R1,
    384: ec.SECP384R1,
    521: ec.SECP521R1,
}
_CURVE_SIZES: Final = {"secp256r1": 256, "secp384r1": 384, "secp521r1": 521}
_SignatureHash: TypeAlias = hashes.SHA256 | hashes.SHA384 | hashes.SHA512
_EC_HASHES: Final[dict[int, type[_SignatureHash]]] = {
    256: hashes.SHA256,
    384: hashes.SHA384,
    521: hashes.SHA512,
}


@dataclass(frozen=True)
class KeySpec:
    """Algorithm and size of a key: RSA 2048/3072/4096 or ECDSA 256/384/521 (P-256/P-384/P-521).

    Raises `InvalidKey` on construction for any other combination.
    """

    algorithm: KeyAlgorithm
    size: int

    def __post_init__(self) -> None:
        allowed = RSA_SIZES if self.algorithm == "RSA" else ECDSA_SIZES
        if self.algorithm not in ("RSA", "ECDSA") or self.size not in allowed:
            raise InvalidKey(
                f"unsupported key spec {self.algorithm} {self.size}: supported are "
                f"RSA {'/'.join(map(str, RSA_SIZES))} and ECDSA {'/'.join(map(str, ECDSA_SIZES))}"
            )

    def scm_key_type(self) -> tuple[str, str]:
        """The SCM profile `keyTypes` form: ("RSA", "2048") or ("EC", "P-256")."""
        if self.algorithm == "RSA":
            return ("RSA", str(self.size))
        return ("EC", f"P-{self.size}")

    def __str__(self) -> str:
        return f"{self.algorithm} {self.size}"


def generate_private_key(spec: KeySpec) -> PrivateKey:
    """A fresh private key for `spec`. CPU-bound: call it off the event loop."""
    if spec.algorithm == "RSA":
        return rsa.generate_private_key(public_exponent=65537, key_size=spec.size)
    return ec.generate_private_key(_CURVES[spec.size]())


def private_key_to_pem(key: PrivateKey, encoding: KeyEncoding = "PKCS1") -> bytes:
    """The key as unencrypted PEM for the `tls.key` of a kubernetes.io/tls Secret.

    "PKCS1" is the traditional form: `RSA PRIVATE KEY` for RSA and SEC1 `EC PRIVATE KEY` for
    ECDSA (as cert-manager does); "PKCS8" is `PRIVATE KEY` for both.
    """
    fmt = (
        serialization.PrivateFormat.TraditionalOpenSSL
        if encoding == "PKCS1"
        else serialization.PrivateFormat.PKCS8
    )
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())


def load_private_key(pem: bytes | str, *, trusted: bool = False) -> PrivateKey:
    """An RSA or ECDSA private key from unencrypted PEM (PKCS#1, SEC1 or PKCS#8).

    ``trusted`` skips OpenSSL's RSA consistency check (30-200 ms) for keys this operator made
    itself and stored; whether a key fits its certificate is checked separately anyway.
    Raises `InvalidKey`; the message says what is wrong, never what the data was.
    """
    data = pem.encode("ascii", "replace") if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_private_key(
            data, password=None, unsafe_skip_rsa_key_validation=trusted
        )
    except TypeError:
        raise InvalidKey("private key is encrypted; an unencrypted PEM key is required") from None
    except UnsupportedAlgorithm:
        raise InvalidKey("private key uses an unsupported algorithm") from None
    except ValueError:
        raise InvalidKey(
            "private key could not be read: expected an unencrypted PEM RSA or ECDSA key"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise InvalidKey(
            f"private key type {type(key).__name__} is not supported: RSA or ECDSA required"
        )
    return key


def key_spec_of(key: PublicKey | PrivateKey) -> KeySpec:
    """The KeySpec of a public (or private) key; `InvalidKey` for unsupported sizes or curves."""
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        return KeySpec("RSA", key.key_size)
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        size = _CURVE_SIZES.get(key.curve.name)
        if size is None:
            raise InvalidKey(f"unsupported elliptic curve {key.curve.name}: P-256/P-384/P-521")
        return KeySpec("ECDSA", size)
    raise InvalidKey(f"unsupported key type {type(key).__name__}: RSA or ECDSA required")


def scm_key_type(key: PublicKey | PrivateKey) -> tuple[str, str]:
    """("RSA", "2048") or ("EC", "P-256"): the shape of SCM profile `keyTypes` maps."""
    return key_spec_of(key).scm_key_type()


def key_type_allowed(key_types: Mapping[str, Sequence[str]], spec: KeySpec) -> bool:
    """Whether an SCM profile's `keyTypes` (e.g. {"RSA": ["2048"], "EC": ["P-256"]}) allows spec.

    Tolerant of spelling: algorithm keys "EC"/"ECC"/"ECDSA" in any case, curve sizes written
    "P-256", "P256", "secp256r1"/"prime256v1" or "256".
    """
    aliases = {"RSA"} if spec.algorithm == "RSA" else {"EC", "ECC", "ECDSA"}
    for algorithm, sizes in key_types.items():
        if algorithm.strip().upper() not in aliases:
            continue
        for size in sizes:
            digits = re.findall(r"\d+", size)
            if digits and digits[0] == str(spec.size):
                return True
    return False


def _public_der(key: CertificatePublicKeyTypes | PrivateKey) -> bytes:
    """SubjectPublicKeyInfo DER of a public key, or of a private key's public half."""
    public = key.public_key() if isinstance(key, PrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _supported_public_key(item: x509.Certificate | x509.CertificateSigningRequest) -> PublicKey:
    key = item.public_key()
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise InvalidKey(f"unsupported public key type {type(key).__name__}: RSA or ECDSA required")
    return key
