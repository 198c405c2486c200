"""Injected faults: an ordered list of rules, each matching a path glob and used up by count."""

from __future__ import annotations

import fnmatch
import itertools
from dataclasses import dataclass

from .config import FaultRule


@dataclass
class ActiveFault:
    """A rule plus its id and how many more requests it may hit (None: unlimited)."""

    id: int
    rule: FaultRule
    remaining: int | None

    def as_json(self) -> dict[str, object]:
        data = self.rule.model_dump(mode="json", by_alias=True)
        data.update(id=self.id, remaining=self.remaining)
        return data


class FaultBook:
    """The active faults; :meth:`take` finds the first rule for a request and uses it up."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._faults: list[ActiveFault] = []

    def add(self, rule: FaultRule) -> ActiveFault:
        fault = ActiveFault(next(self._ids), rule, rule.count)
        self._faults.append(fault)
        return fault

    def clear(self) -> None:
        self._faults.clear()

    def remove(self, fault_id: int) -> bool:
        before = len(self._faults)
        self._faults = [f for f in self._faults if f.id != fault_id]
        return len(self._faults) != before

    def list(self) -> list[ActiveFault]:
        return list(self._faults)

    def take(self, method: str, path: str) -> FaultRule | None:
        for fault in self._faults:
            rule = fault.rule
            if rule.method is not None and rule.method.upper() != method.upper():
                continue
            if not fnmatch.fnmatchcase(path, rule.path):
                continue
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
            return rule
        return None
