"""The sandbox SCM: a local server that speaks the Sectigo Certificate Manager REST API.

It issues real certificates from its own CA (root + intermediate kept in a state directory), keeps
orders in SQLite, reproduces SCM's lifecycle (pending, approval, renew, replace, revoke) and its
error bodies, and offers a sandbox-only admin endpoint (``/sandbox-admin/``) for inspection and
fault injection. Users run it for demos and their own CI (``sectigo-operator sandbox-scm``); tests
use :mod:`sectigo_operator.sandbox.testing`. See ``docs/sandbox-scm.md``.

Modules: ``config`` (settings model and defaults), ``errors`` (SCM error bodies), ``ca`` (the CA
and certificate signing), ``csr`` (CSR parsing and profile checks), ``formats`` (collect formats),
``store`` (SQLite orders), ``lifecycle`` (pure status transitions), ``faults`` (fault rules),
``app`` (the aiohttp application), ``ssl_api`` / ``smime_api`` / ``admin_api`` (handlers),
``server`` (running it), ``testing`` (in-process handle for tests).
"""
