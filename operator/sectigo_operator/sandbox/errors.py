"""SCM error answers: the ``{code, description}`` envelope and the literal bodies SCM sends.

Handlers raise :class:`ScmError`; the application's error middleware turns it into a JSON response.
The literal texts come from the SCM API reference (§7.2); keep them byte-for-byte.
"""

from __future__ import annotations

from typing import Final


class ScmError(Exception):
    """An SCM error answer: HTTP ``status`` with body ``{"code": code, "description": ...}``."""

    def __init__(self, status: int, code: int, description: str) -> None:
        super().__init__(f"{status} {code} {description}")
        self.status = status
        self.code = code
        self.description = description

    def body(self) -> dict[str, int | str]:
        return {"code": self.code, "description": self.description}


PENDING_DESCRIPTIONS: Final[dict[int, str]] = {
    0: "Being processed by Sectigo",
    -1400: "The request is being processed by Sectigo.",
    -183: "Certificate is not collectable.",
}


def unknown_user() -> ScmError:
    return ScmError(401, -16, "Unknown user")


def pending(code: int) -> ScmError:
    return ScmError(400, code, PENDING_DESCRIPTIONS[code])


def not_collectable() -> ScmError:
    return ScmError(400, -183, "Certificate is not collectable.")


def revoked_download() -> ScmError:
    return ScmError(400, -110, "Certificate has been revoked and cannot be downloaded.")


def already_revoked() -> ScmError:
    return ScmError(400, -159, "Your certificate already revoked")


def only_issued_revocable() -> ScmError:
    return ScmError(400, -102, "Only issued certificates could be revoked.")


def invalid_term() -> ScmError:
    return ScmError(400, -36, "The validity period (term) is invalid for this certificate profile.")


def invalid_profile() -> ScmError:
    return ScmError(400, -39, "The certificate profile id is invalid!")


def invalid_client_profile() -> ScmError:
    return ScmError(400, -172, "Client certificate profile is invalid.")


def invalid_csr() -> ScmError:
    return ScmError(400, -138, "Invalid CSR.")


def missing_custom_field() -> ScmError:
    return ScmError(400, -62, "Missing mandatory custom field!")


def unknown_custom_field(name: str) -> ScmError:
    return ScmError(400, -135, f"Custom field '{name}' not found.")


def not_found(identifier: object) -> ScmError:
    return ScmError(404, -5101, f"Certificate not found. {identifier}")


def missing_field(name: str) -> ScmError:
    return ScmError(400, -7, f"The '{name}' field is required.")


def invalid_field(name: str) -> ScmError:
    return ScmError(400, -1601, f"The '{name}' field has an invalid value.")


def malformed_request() -> ScmError:
    return ScmError(400, -1601, "The request body is not valid JSON.")


def invalid_org() -> ScmError:
    return ScmError(400, -639, "Invalid organization id.")


def unsupported_algorithm() -> ScmError:
    return ScmError(400, -11, "The CSR uses an unsupported algorithm.")


def unsupported_key_size() -> ScmError:
    return ScmError(400, -13, "The CSR key size is not allowed by the certificate profile.")


def ecc_not_allowed() -> ScmError:
    return ScmError(400, -170, "ECC certificate requests are not allowed for this profile.")


def unknown_format() -> ScmError:
    return ScmError(400, -126, "Unknown SSL certificate file format.")


def not_issued() -> ScmError:
    return ScmError(400, -130, "SSL certificate state is not ISSUED.")


def cannot_approve(status: str) -> ScmError:
    return ScmError(400, -1112, f"Cannot approve the certificate: its state is {status}.")


def renew_not_allowed() -> ScmError:
    return ScmError(400, -180, "The certificate profile does not allow renewal.")


def wrong_renew_id() -> ScmError:
    return ScmError(400, -124, "Wrong SSL certificate id.")


def no_client_certificates() -> ScmError:
    return ScmError(404, -1108, "There are no valid client certificates for this email.")


def invalid_reason_code() -> ScmError:
    return ScmError(400, -1601, "The 'reasonCode' field has an invalid value.")


def internal_error() -> ScmError:
    return ScmError(500, -2, "Internal error. Please contact support.")
