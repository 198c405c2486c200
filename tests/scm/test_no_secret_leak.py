"""The password appears nowhere: logs at DEBUG (client, httpx, aiohttp, httpcore), errors, reprs,
tracebacks.

Runs successful and failing calls of every kind against the sandbox over real HTTP (so httpx's and
aiohttp's own debug logging is exercised, unlike with a mock transport), then searches everything
captured for the right and a wrong password.
"""

from __future__ import annotations

import html
import json
import logging
import re
import traceback
from collections.abc import Callable
from urllib.parse import quote, quote_plus

import httpx
import pytest
from pydantic import ValidationError

from sectigo_operator.sandbox.config import SandboxConfig
from sectigo_operator.sandbox.testing import SandboxHandle
from sectigo_operator.scm import (
    RetryPolicy,
    ScmClient,
    ScmConnection,
    ScmError,
    SslEnrollRequest,
)

from .conftest import connection_for, make_csr

PASSWORD = "Leak-Canary-7f3a9c"
WRONG_PASSWORD = "Wrong-Canary-2b8d41"


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(password=PASSWORD)


def texts_of(error: BaseException) -> list[str]:
    return [str(error), repr(error), "".join(traceback.format_exception(error))]


async def test_password_never_leaks(
    sandbox_scm: SandboxHandle, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox = sandbox_scm
    for name in ("httpx", "aiohttp", "httpcore", "sectigo_operator.scm", ""):
        caplog.set_level(logging.DEBUG, logger=name)
    seen: list[str] = []
    errors: list[ScmError] = []

    async def expect_error(call: object) -> None:
        try:
            await call  # type: ignore[misc]
        except ScmError as exc:
            errors.append(exc)
            seen.extend(texts_of(exc))
        else:
            raise AssertionError("the call should have failed")

    conn = connection_for(sandbox, read_timeout=0.2)
    async with ScmClient(conn) as scm:
        seen += [repr(scm), str(scm), repr(conn), str(conn), str(conn.model_dump())]
        # Successes.
        await scm.check_credentials()
        order = await scm.ssl.enroll(
            SslEnrollRequest(
                org_id=sandbox.org_id,
                csr=make_csr("leak.example.com"),
                cert_type=51,
                term=365,
                comments="k8s:leak:1",
            )
        )
        await scm.ssl.collect(order.ssl_id, "x509CO")
        await scm.ssl.details(order.ssl_id)
        # Failures of every kind.
        sandbox.inject_fault("error", "/api/ssl/v1/types", count=None, status=500)
        await expect_error(scm.ssl.types())
        sandbox.clear_faults()
        sandbox.inject_fault("rate_limit", "/api/ssl/v1/customFields", count=None, retry_after=60)
        await expect_error(scm.ssl.custom_fields())
        sandbox.clear_faults()
        sandbox.inject_fault("response_lost", "/api/ssl/v1/revoke/*")
        await expect_error(scm.ssl.revoke(order.ssl_id, reason_code=0, reason="x"))
        sandbox.inject_fault("reset", "/api/ssl/v1/*", count=None)
        await expect_error(scm.ssl.details(order.ssl_id))
        sandbox.clear_faults()
        sandbox.inject_fault("latency", "/api/ssl/v1/*", count=None, latency_seconds=0.5)
        await expect_error(scm.ssl.details(order.ssl_id))
        sandbox.clear_faults()
        await expect_error(scm.ssl.details(99999999))
        await expect_error(scm.ssl.revoke(order.ssl_id, reason_code=0, reason="x"))

    async with ScmClient(connection_for(sandbox, password=WRONG_PASSWORD)) as bad:
        await expect_error(bad.check_credentials())

    kinds = {type(e).__name__ for e in errors}
    assert kinds >= {
        "ScmRetryableError",
        "ScmResponseLost",
        "ScmTransportError",
        "ScmNotFoundError",
        "ScmAlreadyRevokedError",
        "ScmAuthenticationError",
    }
    loggers = {record.name.split(".")[0] for record in caplog.records}
    assert {"httpx", "sectigo_operator"} <= loggers, loggers
    seen.append(caplog.text)
    seen.extend(record.getMessage() for record in caplog.records)
    seen.extend(repr(record.__dict__) for record in caplog.records)
    everything = "\n".join(seen)
    assert PASSWORD not in everything
    assert WRONG_PASSWORD not in everything
    # The check can fail: the canary really was sent on the wire during this test.
    assert sandbox.password == PASSWORD


@pytest.mark.parametrize("field", ["password", "login"])
def test_credentials_that_cannot_be_sent_as_headers_are_refused_without_echo(field: str) -> None:
    """A line break in the password (a multi-line file put into the Secret): never sent, as an
    HTTP library refusing the header quotes its value, escaped, in its error and in its own
    debug log. The connection is refused, and its error does not show the value."""
    value = "First-line\nLeak-Canary-9f"
    given = {"login": "a", "password": "p", field: value}
    with pytest.raises(ValidationError) as info:
        ScmConnection(base_url="https://scm.example.com", customer_uri="c", **given)
    assert "one line" in str(info.value)
    for text in texts_of(info.value):
        assert "Leak-Canary" not in text and "First-line" not in text


async def echoed(body: str, password: str) -> ScmError:
    """The error of a credentials check whose 401 answer is ``body`` (an echo of ``password``)."""
    transport = httpx.MockTransport(lambda _request: httpx.Response(401, content=body.encode()))
    connection = ScmConnection(
        base_url="https://scm.example.com",
        customer_uri="c",
        login="a",
        password=password,
        retry=RetryPolicy(max_attempts=1),
    )
    async with ScmClient(connection, transport=transport) as scm:
        with pytest.raises(ScmError) as info:
            await scm.check_credentials()
    return info.value


async def test_a_password_echoed_json_escaped_by_scm_does_not_leak() -> None:
    """SCM's error body echoes the password with JSON escapes (\\u00e4): the description, once
    decoded, must not hold it."""
    password = "pässwörd-Leak-Canary"
    body = json.dumps({"code": -16, "description": f"bad password {password}"})
    error = await echoed(body, password)
    assert error.code == -16
    for text in texts_of(error):
        assert "Leak-Canary" not in text and "pässwörd" not in text


async def test_a_password_echoed_where_the_description_is_clipped_does_not_leak() -> None:
    """SCM's description is clipped to 300 characters. Gson escapes ``=`` as ``\\u003d``, so the
    raw body does not show the password as sent; the decoded description does, across the
    clip. Scrubbed before it is clipped, none of it is left."""
    password = "S3cr3t=Leak-Canary"
    description = "Login failed: " + "." * 275 + " " + password
    body = json.dumps({"code": -16, "description": description}).replace("=", "\\u003d")
    assert password not in body and len(description) > 300
    error = await echoed(body, password)
    assert error.description is not None and len(error.description) <= 300
    for text in texts_of(error):
        assert "S3cr3t" not in text, text


def numeric_entities(text: str) -> str:
    """HTML-escaped as Go and Spring write it: quotes as numeric references."""
    return html.escape(text, quote=False).replace('"', "&#34;").replace("'", "&#39;")


def lower_hex(text: str) -> str:
    """Percent-encoding with its hex digits in lower case, the letters of the text kept."""
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), text)


@pytest.mark.parametrize(
    "echo",
    [
        lambda pw: (
            f"<html><body>502 Bad Gateway<pre>password: {html.escape(pw)}</pre></body></html>"
        ),
        lambda pw: f"<p>{html.escape(pw, quote=False)}</p>",
        lambda pw: f"upstream refused /login?password={quote(pw, safe='')}",
        lambda pw: f"upstream refused /login?password={quote_plus(pw)}",
        lambda pw: f"<p>{numeric_entities(pw)}</p>",
        lambda pw: f"refused /login?password={lower_hex(quote(pw))}",
    ],
    ids=["html", "html-unquoted", "percent", "form", "html-numeric", "percent-lower-slash-kept"],
)
async def test_a_password_echoed_by_a_front_ends_error_page_does_not_leak(
    echo: Callable[[str], str],
) -> None:
    """A proxy's or front end's error page echoes the password HTML-escaped or
    percent-encoded, as pages and URLs spell it."""
    password = "p&ss <w>'rd\" Leak/Canary?"
    error = await echoed(echo(password), password)
    for text in texts_of(error):
        assert "Leak" not in text and "Canary" not in text, text
