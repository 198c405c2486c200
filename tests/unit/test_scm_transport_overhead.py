"""The SCM client's per-request overhead: httpcore asks which event loop runs it several times
per request; with ``sniffio`` installed that is a dictionary lookup, without it a failing import
that searches ``sys.path`` every time (38 us instead of 0.8 us a call, 6 % of the operator's
event-loop thread in an ECDSA burst, docs/benchmarks.md)."""

from __future__ import annotations

import importlib.machinery
from typing import Any

import pytest
from httpcore._synchronization import current_async_library


async def test_httpcore_finds_the_event_loop_without_searching_for_modules(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    searches: list[str] = []
    find_spec = importlib.machinery.PathFinder.find_spec

    def counting(name: str, *args: Any, **kwargs: Any) -> Any:
        searches.append(name)
        return find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.machinery.PathFinder, "find_spec", counting)
    for _ in range(10):
        assert current_async_library() == "asyncio"
    assert searches == []
