"""The local control plane's CAs issue chains a strict RFC 5280 verifier accepts (Python 3.13's
default TLS context verifies with ``VERIFY_X509_STRICT``, which refuses a leaf without an
authority key identifier)."""

from __future__ import annotations

import ipaddress

from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store

from sectigo_operator.controlplane_ca import LocalCA


def test_a_serving_leaf_verifies_under_rfc_5280() -> None:
    ca = LocalCA.create("serving-ca")
    cert_pem, _ = ca.issue("kube-apiserver", server=True)
    leaf = x509.load_pem_x509_certificate(cert_pem)
    verifier = (
        PolicyBuilder()
        .store(Store([ca.cert]))
        .build_server_verifier(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    )
    chain = verifier.verify(leaf, [])
    assert chain[-1] == ca.cert
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest


def test_a_client_leaf_names_its_issuer_key() -> None:
    ca = LocalCA.create("client-ca")
    cert_pem, _ = ca.issue("admin", ["system:masters"])
    leaf = x509.load_pem_x509_certificate(cert_pem)
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
