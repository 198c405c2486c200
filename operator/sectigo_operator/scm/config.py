"""Connection settings of one SCM client: where SCM is, who we are, how patient to be.

The operator builds one :class:`ScmConnection` per SectigoConfig (from its spec and credentials
Secret) and hands it to :class:`~sectigo_operator.scm.client.ScmClient`. Everything here is
frozen; secrets are ``SecretStr``/``SecretBytes`` so reprs, logs and validation errors hide them.
"""

from __future__ import annotations

import random as _random
from typing import Self
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretBytes,
    SecretStr,
    field_validator,
    model_validator,
)


class RetryPolicy(BaseModel):
    """Exponential backoff with jitter for retryable errors (the client's only retry rule).

    After failed attempt ``n`` (1-based) the client waits
    ``min(max_backoff, initial_backoff * multiplier**(n-1))``, scaled by a random factor in
    ``[1 - jitter, 1]``. A server's ``Retry-After`` wins when it is longer; one longer than
    ``max_retry_after`` is not slept but raised to the caller (``retry_after`` on the error).
    """

    model_config = ConfigDict(frozen=True)

    max_attempts: int = Field(default=3, ge=1, le=20, description="Tries per call, first included.")
    initial_backoff: float = Field(default=0.5, ge=0)
    max_backoff: float = Field(default=10.0, ge=0)
    multiplier: float = Field(default=2.0, ge=1)
    jitter: float = Field(default=0.5, ge=0, le=1)
    max_retry_after: float = Field(default=30.0, ge=0)

    def delay(
        self, failed_attempt: int, retry_after: float | None = None, *, rand: float | None = None
    ) -> float:
        """Seconds to wait after ``failed_attempt`` (1-based) failed; pure apart from ``rand``."""
        base = min(self.max_backoff, self.initial_backoff * self.multiplier ** (failed_attempt - 1))
        factor = _random.random() if rand is None else rand
        delay = base * (1 - self.jitter * factor)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return delay


class ClientCertificate(BaseModel):
    """An SCM admin's TLS client certificate; the API is then reached under ``/private``."""

    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    certificate_pem: bytes = Field(description="PEM certificate (chain) registered for the admin.")
    private_key_pem: SecretBytes = Field(description="PEM private key (unencrypted).")


def header_safe(text: str) -> bool:
    """Whether ``text`` can be sent as an HTTP header value: no control character."""
    return not any(ord(c) < 0x20 or ord(c) == 0x7F for c in text)


class ScmConnection(BaseModel):
    """Everything needed to talk to one SCM tenant as one admin.

    ``str()`` of a validation error never echoes the input (``hide_input_in_errors``): it holds
    the password. Pydantic's ``ValidationError.errors()`` still returns the raw input; log
    ``errors(include_input=False)`` if anything.
    """

    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    base_url: str = Field(description="SCM base URL, e.g. https://cert-manager.com")
    customer_uri: str = Field(min_length=1, description="Tenant URI (`customerUri` header).")
    login: str = Field(min_length=1, description="Admin login name (`login` header).")
    password: SecretStr | None = Field(default=None, description="Admin password.")
    client_certificate: ClientCertificate | None = Field(
        default=None, description="Client-certificate login instead of a password."
    )
    ca_bundle_pem: bytes | None = Field(
        default=None, description="Extra trusted CA certificates (PEM) for SCM's TLS server."
    )
    verify_tls: bool = True
    connect_timeout: float = Field(default=10.0, gt=0)
    read_timeout: float = Field(default=60.0, gt=0)
    write_timeout: float = Field(default=30.0, gt=0)
    pool_timeout: float = Field(default=30.0, gt=0, description="Wait for a free connection.")
    total_timeout: float = Field(
        default=300.0,
        gt=0,
        description="Longest one request may take, from the wait for a connection to the last "
        "byte of the answer: the other timeouts bound each wait, and an answer that trickles in "
        "a byte at a time would meet every one of them forever.",
    )
    max_concurrency: int = Field(default=8, ge=1, description="Requests in flight per client.")
    retry: RetryPolicy = Field(default_factory=RetryPolicy)

    @field_validator("customer_uri", "login", "password")
    @classmethod
    def _one_line(cls, value: str | SecretStr | None) -> str | SecretStr | None:
        """Sent as HTTP headers: a control character cannot be sent, and an HTTP library's
        error (and its own debug log) would quote the value, escaped, when it refuses it."""
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if text is not None and not header_safe(text):
            raise ValueError("must be one line without control characters")
        return value

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("base_url must be an http(s) URL with a host")
        if parts.username or parts.password:
            raise ValueError("base_url must not contain user info; use login and password")
        if parts.query or parts.fragment:
            raise ValueError("base_url must not have a query or fragment")
        return value

    @model_validator(mode="after")
    def _check_credentials(self) -> Self:
        if (self.password is None) == (self.client_certificate is None):
            raise ValueError("give exactly one of password and client_certificate")
        return self

    @property
    def api_root(self) -> str:
        """Base URL plus ``/private`` for client-certificate logins (no trailing slash)."""
        root = self.base_url.rstrip("/")
        return root + "/private" if self.client_certificate is not None else root
