"""Reports from ClickHouse: the fleet summary (one row per kernel) and the per-run report.

Every query reads with ``FINAL``, so rows a retried batch wrote twice count
once, whether or not ClickHouse has merged them yet. Sums are taken in SQL
over ``Decimal(76, 38)`` columns and are exact; nothing goes through floats.

The per-run report has the same fields as ``dita.reporting.runstats.RunStats`` (what
``dita run``/``dita replay``/``dita report`` print from the SQLite journal),
computed the same way: only outcome records whose input is known count, the
ledger deltas drive capital, its peak and the drawdown, and ``bars`` comes
from the last ``end`` note.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from dita.journal.records import RecordKind, RunMeta, decode_body

from . import schema
from ._conn import ClickHouseError, ClientLike, connect, redact, resolve_dsn, unavailable

if TYPE_CHECKING:
    from dita.reporting.runstats import RunStats

ZERO = Decimal(0)
_OPEN_POSITION = "('POSITION_OPEN', 'EXIT_WORKING')"
_FREE = "('IDLE', 'CLOSED')"


@dataclass(frozen=True, slots=True)
class KernelSummary:
    """One kernel, as far as its records have reached ClickHouse."""

    kernel_id: str
    records: int
    last_seq: int
    last_ts: int
    initial_capital: Decimal
    trades: int
    wins: int
    realized_pnl: Decimal  # settled on every fill, open trades included (the ledger)
    fees: Decimal
    funding: Decimal
    capital: Decimal  # initial_capital + realized_pnl - fees + funding
    trade_net_pnl: Decimal  # sum of net PnL over closed trades
    open_positions: int  # slots whose last stage is POSITION_OPEN or EXIT_WORKING
    open_slots: int  # slots not IDLE/CLOSED (positions and working entries)


@dataclass(frozen=True, slots=True)
class FleetTotals:
    kernels: int
    records: int
    initial_capital: Decimal
    trades: int
    wins: int
    realized_pnl: Decimal
    fees: Decimal
    funding: Decimal
    capital: Decimal
    trade_net_pnl: Decimal
    open_positions: int
    open_slots: int


@dataclass(frozen=True)
class RunReport:
    """The per-run report of one kernel; field names as in ``dita.reporting.runstats.RunStats``."""

    kernel_id: str
    meta: RunMeta
    records: int
    last_seq: int
    initial_capital: Decimal
    capital: Decimal
    peak: Decimal
    max_drawdown: Decimal
    bars: int
    intents: int
    refused_intents: int
    venue_events: int
    orders: int
    cancel_requests: int
    fills: int
    partial_fills: int
    cancels: int
    rejects: int
    trades: int
    wins: int
    realized_pnl: Decimal
    fees: Decimal
    funding: Decimal
    trade_net_pnl: Decimal
    first_ts: int | None
    last_ts: int | None
    open_positions: int
    open_slots: int
    equity: list[tuple[int, Decimal]] = field(default_factory=list)
    refusals: dict[str, int] = field(default_factory=dict)  # refused intents by diagnostic

    @property
    def kernel_events(self) -> int:
        return self.intents + self.venue_events

    def as_run_stats(self) -> RunStats:
        """A ``dita.reporting.runstats.RunStats`` with these numbers (for ``dita.reporting.summary.summary_table``)."""
        from dita.reporting.runstats import RunStats

        stats = RunStats(self.initial_capital)
        for name in stats.__dataclass_fields__:
            if hasattr(self, name):  # a test checks that every RunStats field is here
                setattr(stats, name, getattr(self, name))
        return stats


def _per_kernel_sql(db: str, where: str = "") -> str:
    return f"""
SELECT r.kernel_id AS kernel_id, r.n_records AS records, r.max_seq AS last_seq, r.max_ts AS last_ts,
       m.capital0 AS initial_capital, t.n_trades AS trades, t.n_wins AS wins,
       o.sum_pnl AS realized_pnl, o.sum_fees AS fees, o.sum_funding AS funding,
       m.capital0 + o.sum_pnl - o.sum_fees + o.sum_funding AS capital,
       t.sum_net AS trade_net_pnl, s.n_open AS open_positions, s.n_busy AS open_slots
FROM (SELECT kernel_id, count() AS n_records, max(seq) AS max_seq, max(ts) AS max_ts
      FROM {db}.records FINAL {where} GROUP BY kernel_id) AS r
LEFT JOIN (SELECT kernel_id, argMin(initial_capital, seq) AS capital0
           FROM {db}.runs FINAL {where} GROUP BY kernel_id) AS m ON m.kernel_id = r.kernel_id
LEFT JOIN (SELECT kernel_id, sum(realized_pnl) AS sum_pnl, sum(fees) AS sum_fees,
                  sum(funding) AS sum_funding
           FROM {db}.outcomes FINAL WHERE input_kind != '' {where.replace("WHERE", "AND")}
           GROUP BY kernel_id) AS o ON o.kernel_id = r.kernel_id
LEFT JOIN (SELECT kernel_id, count() AS n_trades, countIf(net_pnl > 0) AS n_wins, sum(net_pnl) AS sum_net
           FROM {db}.trades FINAL {where} GROUP BY kernel_id) AS t ON t.kernel_id = r.kernel_id
LEFT JOIN (SELECT kernel_id, countIf(stage IN {_OPEN_POSITION}) AS n_open,
                  countIf(stage NOT IN {_FREE}) AS n_busy
           FROM (SELECT kernel_id, slot_id, argMax(assumeNotNull(state), seq) AS stage
                 FROM {db}.outcomes FINAL
                 WHERE slot_id IS NOT NULL AND state IS NOT NULL {where.replace("WHERE", "AND")}
                 GROUP BY kernel_id, slot_id)
           GROUP BY kernel_id) AS s ON s.kernel_id = r.kernel_id
"""


def _query(
    client: ClientLike, where: str, sql: str, params: dict[str, Any] | None = None
) -> list[Any]:
    try:
        rows: list[Any] = client.query(sql, parameters=params or {}).result_rows
    except ClickHouseError:
        raise
    except Exception as e:
        raise unavailable(where, "report query failed", e) from None
    return rows


def _client(dsn: str | None) -> tuple[ClientLike, str]:
    target = resolve_dsn(dsn)
    return connect(target), target


def fleet_report_with(
    client: ClientLike, *, database: str = schema.DEFAULT_DATABASE, where: str = "ClickHouse"
) -> list[KernelSummary]:
    db = schema.check_identifier(database)
    rows = _query(client, where, _per_kernel_sql(db) + "ORDER BY kernel_id")
    return [KernelSummary(*_ints_and_money(r)) for r in rows]


def fleet_totals_with(
    client: ClientLike, *, database: str = schema.DEFAULT_DATABASE, where: str = "ClickHouse"
) -> FleetTotals:
    db = schema.check_identifier(database)
    sql = f"""
SELECT count(), sum(records), sum(initial_capital), sum(trades), sum(wins), sum(realized_pnl),
       sum(fees), sum(funding), sum(capital), sum(trade_net_pnl), sum(open_positions), sum(open_slots)
FROM ({_per_kernel_sql(db)})"""
    (row,) = _query(client, where, sql)
    return FleetTotals(*_ints_and_money(row))


def run_report_with(
    client: ClientLike,
    kernel_id: str,
    *,
    database: str = schema.DEFAULT_DATABASE,
    where: str = "ClickHouse",
    include_equity: bool = True,
) -> RunReport:
    db = schema.check_identifier(database)
    k = {"k": kernel_id}
    run_rows = _query(
        client, where,
        f"SELECT payload FROM {db}.records FINAL WHERE kernel_id = {{k:String}} AND kind = 'run' "
        f"ORDER BY seq LIMIT 1",
        k,
    )  # fmt: skip
    if not run_rows:
        raise ClickHouseError(
            f"{redact(where)}: no 'run' record for kernel {kernel_id!r} (not pushed yet?)"
        )
    meta = decode_body(RecordKind.RUN, run_rows[0][0])
    assert isinstance(meta, RunMeta)
    (row,) = _query(client, where, _per_kernel_sql(db, "WHERE kernel_id = {k:String}"), k)
    summary = KernelSummary(*_ints_and_money(row))
    (c,) = _query(
        client, where,
        f"""
SELECT countIf(input_kind = 'intent'),
       countIf(input_kind = 'intent' AND NOT accepted),
       countIf(input_kind = 'venue_event'),
       sum(submits), sum(cancels),
       countIf(input_kind = 'venue_event' AND accepted AND input_type IN ('PARTIAL_FILL', 'FILL')),
       countIf(input_kind = 'venue_event' AND accepted AND input_type = 'PARTIAL_FILL'),
       countIf(input_kind = 'venue_event' AND accepted AND input_type = 'CANCEL_ACK'),
       countIf(input_kind = 'venue_event' AND accepted AND input_type = 'REJECT'),
       sum(trades), min(input_ts), max(input_ts)
FROM {db}.outcomes FINAL WHERE kernel_id = {{k:String}} AND input_kind != ''""",
        k,
    )  # fmt: skip
    (intents, refused, events, orders, cancel_requests, fills, partial_fills, cancels, rejects,
     trades, t0, t1) = c  # fmt: skip
    curve = f"""
SELECT seq, input_ts, delta, cum, greatest(toDecimal256(0, 38), max(cum) OVER w) AS run_peak
FROM (SELECT seq, input_ts, realized_pnl - fees + funding AS delta,
             sum(realized_pnl - fees + funding) OVER w AS cum
      FROM {db}.outcomes FINAL WHERE kernel_id = {{k:String}} AND input_kind != ''
      WINDOW w AS (ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW))
WINDOW w AS (ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"""
    (dd,) = _query(
        client, where,
        f"SELECT greatest(toDecimal256(0, 38), max(cum)), greatest(toDecimal256(0, 38), max(run_peak - cum)) FROM ({curve})",
        k,
    )  # fmt: skip
    (bars,) = _query(
        client, where,
        f"SELECT argMax(JSONExtractInt(payload, 'data', 'bars'), seq) FROM {db}.records FINAL "
        f"WHERE kernel_id = {{k:String}} AND kind = 'note' AND JSONExtractString(payload, 'topic') = 'end'",
        k,
    )  # fmt: skip
    refusals = {
        str(code): int(n)
        for code, n in _query(
            client, where,
            f"SELECT diagnostic_code, count() FROM {db}.outcomes FINAL "
            f"WHERE kernel_id = {{k:String}} AND input_kind = 'intent' AND NOT accepted "
            f"GROUP BY diagnostic_code ORDER BY diagnostic_code",
            k,
        )
    }  # fmt: skip
    equity: list[tuple[int, Decimal]] = []
    if include_equity:
        init = meta.initial_capital
        equity = [
            (int(ts), init + cum)
            for _, ts, _, cum, _ in _query(
                client, where, f"SELECT * FROM ({curve}) WHERE delta != 0 ORDER BY seq", k
            )
        ]
    seen = int(intents) + int(events)
    return RunReport(
        kernel_id=kernel_id,
        meta=meta,
        records=summary.records,
        last_seq=summary.last_seq,
        initial_capital=meta.initial_capital,
        capital=summary.capital,
        peak=meta.initial_capital + dd[0],
        max_drawdown=dd[1],
        bars=int(bars[0]),
        intents=int(intents),
        refused_intents=int(refused),
        venue_events=int(events),
        orders=int(orders),
        cancel_requests=int(cancel_requests),
        fills=int(fills),
        partial_fills=int(partial_fills),
        cancels=int(cancels),
        rejects=int(rejects),
        trades=int(trades),
        wins=summary.wins,
        realized_pnl=summary.realized_pnl,
        fees=summary.fees,
        funding=summary.funding,
        trade_net_pnl=summary.trade_net_pnl,
        first_ts=int(t0) if seen else None,
        last_ts=int(t1) if seen else None,
        open_positions=summary.open_positions,
        open_slots=summary.open_slots,
        equity=equity,
        refusals=refusals,
    )


def _ints_and_money(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(int(v) if isinstance(v, int) else v for v in row)


# --------------------------------------------------------------------------- plain functions


def fleet_report(
    dsn: str | None, *, database: str = schema.DEFAULT_DATABASE
) -> list[KernelSummary]:
    """One row per kernel: trades, PnL, fees, funding, capital, open positions."""
    client, target = _client(dsn)
    try:
        return fleet_report_with(client, database=database, where=target)
    finally:
        client.close()


def fleet_totals(dsn: str | None, *, database: str = schema.DEFAULT_DATABASE) -> FleetTotals:
    """The fleet summed over every kernel, in SQL."""
    client, target = _client(dsn)
    try:
        return fleet_totals_with(client, database=database, where=target)
    finally:
        client.close()


def run_report(
    dsn: str | None,
    kernel_id: str,
    *,
    database: str = schema.DEFAULT_DATABASE,
    include_equity: bool = True,
) -> RunReport:
    """The per-run report of ``kernel_id``, as the SQLite journal's report would give it."""
    client, target = _client(dsn)
    try:
        return run_report_with(
            client, kernel_id, database=database, where=target, include_equity=include_equity
        )
    finally:
        client.close()
