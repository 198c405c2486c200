"""Pure PKI helpers: keys, CSRs, certificate chains and the output formats of the Secret.

Used by the issuance controller (key and CSR generation, checking a supplied key or CSR, turning
what SCM's collect returns into `tls.crt` / `tls.key` / `ca.crt`) and by the renewal policies
(`CertInfo`). Depends on `cryptography` only: no kopf, kubernetes or httpx imports, no I/O, no
clock reads except where a caller leaves `now` out of `verify_chain`.

Key generation is CPU-bound (RSA-4096 takes seconds): async callers run `generate_private_key`
through `asyncio.to_thread`.

Error hierarchy (messages name what is wrong and never contain key or certificate material)::

    PkiError
     +-- InvalidKey            unreadable, encrypted or unsupported private key / key spec
     +-- InvalidCsr            undecodable CSR, bad signature, or an unbuildable CsrRequest
     +-- KeyMismatch           a private key does not belong to a CSR or certificate
     +-- InvalidCertificate    undecodable certificate data, or none found
     +-- ChainError            certificates that do not form one chain, or fail verification
"""

from __future__ import annotations

from .certs import (
    CertInfo,
    Chain,
    ca_pem,
    cert_info,
    cert_matches_key,
    chain_to_pem,
    normalize_serial,
    order_chain,
    parse_pem_chain,
    verify_chain,
)
from .csrs import (
    CsrInfo,
    CsrRequest,
    build_csr,
    check_csr_request,
    check_key_matches,
    csr_for_scm,
    csr_info,
    csr_matches_key,
    load_csr,
)
from .errors import ChainError, InvalidCertificate, InvalidCsr, InvalidKey, KeyMismatch, PkiError
from .keys import (
    KeyAlgorithm,
    KeyEncoding,
    KeySpec,
    PrivateKey,
    PublicKey,
    generate_private_key,
    key_spec_of,
    key_type_allowed,
    load_private_key,
    private_key_to_pem,
    scm_key_type,
)

__all__ = [
    "CertInfo",
    "Chain",
    "ChainError",
    "CsrInfo",
    "CsrRequest",
    "InvalidCertificate",
    "InvalidCsr",
    "InvalidKey",
    "KeyAlgorithm",
    "KeyEncoding",
    "KeyMismatch",
    "KeySpec",
    "PkiError",
    "PrivateKey",
    "PublicKey",
    "build_csr",
    "ca_pem",
    "cert_info",
    "cert_matches_key",
    "chain_to_pem",
    "check_csr_request",
    "check_key_matches",
    "csr_for_scm",
    "csr_info",
    "csr_matches_key",
    "generate_private_key",
    "key_spec_of",
    "key_type_allowed",
    "load_csr",
    "load_private_key",
    "normalize_serial",
    "order_chain",
    "parse_pem_chain",
    "private_key_to_pem",
    "scm_key_type",
    "verify_chain",
]
