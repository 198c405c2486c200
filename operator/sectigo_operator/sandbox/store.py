"""Orders in SQLite (WAL, ``synchronous=NORMAL``), one row per SSL or S/MIME certificate.

The store is a thin typed layer: :class:`Order` is the row, :class:`OrderStore` reads and writes it.
All calls run on the server's event-loop thread, so one connection is enough.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

Kind = Literal["ssl", "smime"]
ORDER_NUMBER_BASE = 4_000_000

_JSON_FIELDS = {"sans", "secondary_emails", "custom_fields"}
_BOOL_FIELDS = {"renewed"}


@dataclasses.dataclass
class Order:
    """A certificate order. ``status`` always holds the SSL status vocabulary (§8.1)."""

    kind: Kind
    status: str
    org_id: int
    cert_type: int
    term: int
    csr: str
    key_type: str
    requested: float
    id: int = 0
    order_number: int = 0
    renew_id: str = ""
    common_name: str = ""
    sans: list[str] = dataclasses.field(default_factory=list)
    email: str = ""
    first_name: str = ""
    middle_name: str = ""
    last_name: str = ""
    secondary_emails: list[str] = dataclasses.field(default_factory=list)
    comments: str = ""
    external_requester: str = ""
    custom_fields: list[dict[str, str]] = dataclasses.field(default_factory=list)
    approved: float | None = None
    issued: float | None = None
    declined: float | None = None
    revoked: float | None = None
    replaced: float | None = None
    not_after: float | None = None
    serial: str = ""
    cert_pem: str = ""
    reason_code: int | None = None
    renewed: bool = False
    renewed_date: float | None = None
    renewed_from: int | None = None
    collect_calls: int = 0
    pending_answers: int = 0
    ready_at: float = 0.0
    needed_collects: int = 0

    @property
    def backend_cert_id(self) -> str:
        return str(self.order_number)


_FIELDS = [f.name for f in dataclasses.fields(Order)]
_COLUMNS = [n for n in _FIELDS if n != "id"]


def _to_db(name: str, value: Any) -> Any:
    if name in _JSON_FIELDS:
        return json.dumps(value)
    if name in _BOOL_FIELDS:
        return int(value)
    return value


def _from_row(row: sqlite3.Row) -> Order:
    values: dict[str, Any] = {}
    for name in _FIELDS:
        value = row[name]
        if name in _JSON_FIELDS:
            value = json.loads(value)
        elif name in _BOOL_FIELDS:
            value = bool(value)
        values[name] = value
    return Order(**values)


_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    {", ".join(_COLUMNS)}
);
CREATE INDEX IF NOT EXISTS orders_cn ON orders (kind, common_name);
CREATE INDEX IF NOT EXISTS orders_email ON orders (kind, email);
CREATE INDEX IF NOT EXISTS orders_number ON orders (order_number);
CREATE INDEX IF NOT EXISTS orders_renew ON orders (renew_id);
CREATE INDEX IF NOT EXISTS orders_serial ON orders (serial);
"""


class OrderStore:
    """CRUD over the ``orders`` table."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def insert(self, order: Order) -> Order:
        """Store a new order, assigning ``id`` and ``order_number``; returns the stored order."""
        placeholders = ", ".join("?" for _ in _COLUMNS)
        with self._db:
            self._db.execute("BEGIN")
            cur = self._db.execute(
                f"INSERT INTO orders ({', '.join(_COLUMNS)}) VALUES ({placeholders})",  # noqa: S608
                [_to_db(n, getattr(order, n)) for n in _COLUMNS],
            )
            new_id = int(cur.lastrowid or 0)
            order.id = new_id
            order.order_number = ORDER_NUMBER_BASE + new_id
            self._db.execute(
                "UPDATE orders SET order_number = ? WHERE id = ?", (order.order_number, new_id)
            )
        return order

    def update(self, order: Order) -> None:
        assignments = ", ".join(f"{n} = ?" for n in _COLUMNS)
        self._db.execute(
            f"UPDATE orders SET {assignments} WHERE id = ?",  # noqa: S608
            [*(_to_db(n, getattr(order, n)) for n in _COLUMNS), order.id],
        )

    def get(self, order_id: int, kind: Kind | None = None) -> Order | None:
        return self._one("id = ?", order_id, kind)

    def by_order_number(self, number: int, kind: Kind) -> Order | None:
        return self._one("order_number = ?", number, kind)

    def by_renew_id(self, renew_id: str) -> Order | None:
        return self._one("renew_id = ?", renew_id, "ssl")

    def by_serial(self, serial: str, kind: Kind) -> Order | None:
        return self._one("serial = ?", serial, kind)

    def _one(self, where: str, value: object, kind: Kind | None) -> Order | None:
        sql = f"SELECT * FROM orders WHERE {where}"  # noqa: S608
        params: list[object] = [value]
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind)
        row = self._db.execute(sql + " LIMIT 1", params).fetchone()
        return _from_row(row) if row is not None else None

    def select(self, kind: Kind | None = None, **equals: object) -> list[Order]:
        """Orders whose columns equal the given values (case-insensitive for text), by id."""
        clauses: list[str] = []
        params: list[object] = []
        if kind is not None:
            clauses.append("kind = ?")
            params.append(kind)
        for column, value in equals.items():
            if column not in _COLUMNS:
                raise ValueError(f"unknown column {column}")
            if isinstance(value, str):
                clauses.append(f"{column} = ? COLLATE NOCASE")
            else:
                clauses.append(f"{column} = ?")
            params.append(value)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._db.execute(f"SELECT * FROM orders{where} ORDER BY id", params)  # noqa: S608
        return [_from_row(r) for r in rows]

    def update_many(self, orders: Iterable[Order]) -> None:
        with self._db:
            self._db.execute("BEGIN")
            for order in orders:
                self.update(order)

    def clear(self) -> None:
        self._db.execute("DELETE FROM orders")
