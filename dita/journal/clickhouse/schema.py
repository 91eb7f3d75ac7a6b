"""The ClickHouse tables: one row per journal record, plus columns the fleet queries need.

Every table is a ``ReplacingMergeTree`` whose sorting key *is* the identity of
a row: ``(kernel_id, seq)`` for a record, ``(kernel_id, seq, idx)`` for the
n-th transition, command or trade of the outcome record ``seq``. A batch sent
twice (a retry after a timeout whose insert did land, a sink restarted after
a crash) writes rows with the same key and the same content, which the engine
collapses on merge. Until that merge has happened the copies are both on
disk, so every query in ``dita.journal.clickhouse.report`` reads with
``FINAL`` (merge-on-read over the key) and is correct either way.

Money, prices and quantities are ``Decimal(76, 38)``: exact, summable in SQL,
38 digits each side of the point. ``Decimal(38, 18)`` would not do: the
kernel computes average entry prices and partial-exit PnL at Decimal context
precision (28 significant digits), so a value like ``100.3333333333333333333333333``
has 25 decimals and would be rounded. A value that does not fit (more than 38
decimals or 38 integer digits) is refused by the sink, never rounded.

``records`` holds the journal's own bytes (kind, ts, JSON payload, CRC32), so
the journal can be rebuilt from ClickHouse; the other tables are derived from
those payloads when they are shipped.
"""

from __future__ import annotations

import re

DEFAULT_DATABASE = "dita"
SCHEMA_VERSION = 1
MONEY = "Decimal(76, 38)"

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

# Table name -> (columns DDL, sorting key). The order of columns is the order rows are built in.
TABLES: dict[str, tuple[tuple[tuple[str, str], ...], str]] = {
    "records": (
        (
            ("kernel_id", "LowCardinality(String)"),
            ("seq", "UInt64"),
            ("kind", "LowCardinality(String)"),
            ("ts", "Int64"),  # epoch ms, engine clock
            ("payload", "String"),  # the journal's JSON, byte for byte
            ("crc", "UInt32"),  # the journal's CRC32 of seq|kind|ts|payload
        ),
        "kernel_id, seq",
    ),
    "runs": (
        (
            ("kernel_id", "LowCardinality(String)"),
            ("seq", "UInt64"),
            ("ts", "Int64"),
            ("slots", "UInt32"),
            ("initial_capital", MONEY),
            ("client_id_prefix", "String"),
            ("policy", "String"),
            ("venue", "String"),
            ("seed", "Nullable(Int64)"),
            ("instruments", "Array(String)"),
        ),
        "kernel_id, seq",
    ),
    "outcomes": (
        (
            ("kernel_id", "LowCardinality(String)"),
            ("seq", "UInt64"),
            ("ts", "Int64"),
            ("input_seq", "UInt64"),
            ("input_kind", "LowCardinality(String)"),  # intent | venue_event | '' (input not found)
            ("input_type", "LowCardinality(String)"),  # the intent's action or the event's kind
            ("input_ts", "Int64"),  # ts of the input record
            ("accepted", "Bool"),
            ("diagnostic_code", "LowCardinality(String)"),
            ("slot_id", "Nullable(Int64)"),
            ("state", "LowCardinality(Nullable(String))"),
            ("realized_pnl", MONEY),
            ("fees", MONEY),
            ("funding", MONEY),
            ("submits", "UInt32"),
            ("cancels", "UInt32"),
            ("trades", "UInt32"),
            ("message", "String"),
        ),
        "kernel_id, seq",
    ),
    "transitions": (
        (
            ("kernel_id", "LowCardinality(String)"),
            ("seq", "UInt64"),
            ("idx", "UInt32"),
            ("ts", "Int64"),
            ("slot_id", "Int64"),
            ("from_stage", "LowCardinality(String)"),
            ("to_stage", "LowCardinality(String)"),
            ("cause", "String"),
        ),
        "kernel_id, seq, idx",
    ),
    "commands": (
        (
            ("kernel_id", "LowCardinality(String)"),
            ("seq", "UInt64"),
            ("idx", "UInt32"),
            ("ts", "Int64"),
            ("type", "LowCardinality(String)"),  # SUBMIT | CANCEL
            ("client_order_id", "String"),
            ("venue_order_id", "String"),
            ("slot_id", "Int64"),
            ("trade_id", "String"),
            ("asset", "LowCardinality(String)"),
            ("side", "LowCardinality(String)"),
            ("order_type", "LowCardinality(String)"),
            ("purpose", "LowCardinality(String)"),
            ("quantity", MONEY),
            ("limit_price", f"Nullable({MONEY})"),
            ("reduce_only", "Bool"),
        ),
        "kernel_id, seq, idx",
    ),
    "trades": (
        (
            ("kernel_id", "LowCardinality(String)"),
            ("seq", "UInt64"),  # the outcome record that closed it
            ("idx", "UInt32"),  # position in that outcome's trade_records
            ("trade_id", "String"),
            ("slot_id", "Int64"),
            ("asset", "LowCardinality(String)"),
            ("side", "LowCardinality(String)"),
            ("entry_qty", MONEY),
            ("entry_cost", MONEY),
            ("entry_price", f"Nullable({MONEY})"),
            ("exit_qty", MONEY),
            ("exit_proceeds", MONEY),
            ("exit_price", f"Nullable({MONEY})"),
            ("realized_pnl", MONEY),
            ("fees", MONEY),
            ("funding", MONEY),
            ("net_pnl", MONEY),  # realized_pnl - fees + funding, exact
            ("opened_ts", "Int64"),
            ("closed_ts", "Int64"),
            ("exit_client_order_ids", "Array(String)"),
            ("exit_qtys", f"Array({MONEY})"),
            ("exit_proceeds_each", f"Array({MONEY})"),
        ),
        "kernel_id, seq, idx",
    ),
}

# Derived tables are written before ``records`` in every batch: the sink's
# position is read back from ``records`` alone, so a batch cut short by a
# crash is re-sent whole, derived rows included (see ``sink``).
DERIVED_TABLES = ("runs", "outcomes", "transitions", "commands", "trades")


def check_identifier(name: str) -> str:
    if not _IDENT.match(name):
        raise ValueError(f"{name!r} is not a plain ClickHouse identifier (letters, digits, _)")
    return name


def columns(table: str) -> list[str]:
    return [name for name, _ in TABLES[table][0]]


def column_types(table: str) -> list[str]:
    return [typ for _, typ in TABLES[table][0]]


def ddl(database: str = DEFAULT_DATABASE) -> list[str]:
    """``CREATE ... IF NOT EXISTS`` statements for the database and every table (idempotent)."""
    db = check_identifier(database)
    out = [f"CREATE DATABASE IF NOT EXISTS {db}"]
    for table, (cols, key) in TABLES.items():
        body = ",\n    ".join(f"{name} {typ}" for name, typ in cols)
        out.append(
            f"CREATE TABLE IF NOT EXISTS {db}.{table} (\n    {body}\n)\n"
            f"ENGINE = ReplacingMergeTree\nORDER BY ({key})\n"
            f"COMMENT 'dita journal sink schema v{SCHEMA_VERSION}'"
        )
    return out
