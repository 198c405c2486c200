"""Typed aiohttp application keys shared by the handler modules."""

from __future__ import annotations

from aiohttp import web

from .service import Sandbox

SANDBOX: web.AppKey[Sandbox] = web.AppKey("sandbox", Sandbox)
