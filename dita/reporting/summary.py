"""The run summary table shared by ``dita run`` and ``dita replay`` (same numbers, same look)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal

from rich.table import Table

from dita.kernel import KernelIntent
from dita.reporting.runstats import RunStats

_CENT = Decimal("0.01")


def money(d: Decimal) -> str:
    return f"{d.quantize(_CENT, rounding=ROUND_HALF_EVEN):,}"


def summary_rows(stats: RunStats, *, open_slots: int | None = None) -> list[tuple[str, str]]:
    win = stats.win_rate
    rows = [
        ("bars", f"{stats.bars:,}"),
        ("trades", f"{stats.trades:,}"),
        ("win rate", "-" if win is None else f"{(win * 100).quantize(Decimal('0.1'))}%"),
        ("realized PnL", money(stats.realized_pnl)),
        ("fees", money(stats.fees)),
        ("funding", money(stats.funding)),
        ("final capital", money(stats.capital)),
        ("max drawdown", money(stats.max_drawdown)),
        ("orders", f"{stats.orders:,}"),
        ("fills", f"{stats.fills:,} ({stats.partial_fills:,} partial)"),
        ("cancels", f"{stats.cancels:,}"),
        ("rejects", f"{stats.rejects:,}"),
        ("refused intents", f"{stats.refused_intents:,}"),
        *((f"  {code}", f"{n:,}") for code, n in sorted(stats.refusals.items())),
        ("kernel events", f"{stats.kernel_events:,}"),
    ]
    if open_slots is not None:
        rows.append(("open at end", f"{open_slots} slot(s)"))
    return rows


def undelivered_lines(intents: Sequence[KernelIntent], last_close_ts: int | None) -> list[str]:
    """What to say about intents that never reached the kernel (timed after the run's last bar).

    A simulated run refuses such intents before it starts; a live run stopped
    by ``--max-bars``/``--duration`` lists them after its summary.
    """
    if not intents:
        return []
    end = "" if last_close_ts is None else f" (the last bar closed at {last_close_ts})"
    lines = [f"{len(intents)} intent(s) never delivered: timed after the run's last bar{end}"]
    shown = intents[:10]
    lines += [f"  {i.intent_id} ts {i.ts} {i.action} slot {i.slot_id}" for i in shown]
    if len(intents) > len(shown):
        lines.append(f"  ... and {len(intents) - len(shown)} more")
    return lines


def summary_table(
    stats: RunStats, title: str, *, caption: str = "", open_slots: int | None = None
) -> Table:
    table = Table(title=title, caption=caption or None, show_header=False, title_justify="left",
                  caption_justify="left")  # fmt: skip
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    for k, v in summary_rows(stats, open_slots=open_slots):
        table.add_row(k, v)
    return table


def symbol_rows(stats: RunStats) -> list[tuple[str, ...]]:
    """Per-symbol lines: symbol, trades, win rate, realized, fees, funding, net, orders, fills."""
    out: list[tuple[str, ...]] = []
    for sym, s in sorted(stats.by_symbol.symbols.items()):
        win = (
            "-"
            if not s.trades
            else f"{(Decimal(s.wins) * 100 / s.trades).quantize(Decimal('0.1'))}%"
        )
        out.append((sym, f"{s.trades:,}", win, money(s.realized_pnl), money(s.fees),
                    money(s.funding), money(s.net), f"{s.orders:,}", f"{s.fills:,}"))  # fmt: skip
    return out


def symbol_table(stats: RunStats, title: str = "by symbol") -> Table:
    """The run broken down by symbol (net = realized - fees + funding)."""
    from rich import box

    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE,
        pad_edge=False,
        collapse_padding=True,
        padding=(0, 1),
    )
    for col in ("symbol", "trades", "win", "realized", "fees", "funding", "net", "orders",
                "fills"):  # fmt: skip
        table.add_column(col, justify="left" if col == "symbol" else "right", no_wrap=True)
    for row in symbol_rows(stats):
        table.add_row(*row)
    return table
