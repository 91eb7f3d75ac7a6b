"""The text of ``dita status``: one rich renderable built from a ``JournalView``."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from dita.serve.view import JournalView


def render_status(view: JournalView) -> RenderableType:
    k = view.kernel
    parts: list[RenderableType] = []
    slots = Table(title=f"dita status: {view.path}", caption=f"{view.last_seq:,} records")
    for col in ("slot", "stage", "trade", "side", "size", "entry price", "realized", "fees"):
        slots.add_column(col, justify="right" if col in ("slot", "size") else "left")
    for i in range(k.slot_count):
        s = k.slot(i)
        slots.add_row(
            str(i), s.stage.value, s.trade_id or "-", s.side.value if s.side else "-",
            str(s.size), str(s.entry_price) if s.entry_price is not None else "-",
            str(s.realized_pnl), str(s.fees),
        )  # fmt: skip
    parts.append(slots)
    live = k.live_orders()
    if live:
        orders = Table(title="live orders (may be on the venue)")
        for col in ("client order id", "venue id", "slot", "purpose", "side", "type", "qty",
                    "price", "filled", "status"):  # fmt: skip
            orders.add_column(col)
        for o in live:
            orders.add_row(
                o.client_order_id, o.venue_order_id or "-", str(o.slot_id), o.purpose.value,
                o.side.value, o.order_type.value, str(o.quantity),
                str(o.limit_price) if o.limit_price is not None else "-", str(o.filled_qty),
                o.status.value,
            )  # fmt: skip
        parts.append(orders)
    else:
        parts.append(Text("live orders: none"))
    net = view.positions()
    parts.append(
        Text(
            "positions (net, + long): "
            + (", ".join(f"{a} {q}" for a, q in sorted(net.items())) if net else "flat")
        )
    )
    a = k.account
    parts.append(
        Text(
            f"capital {a.capital} = initial {a.initial_capital} + realized {a.realized_pnl} "
            f"- fees {a.fees} + funding {a.funding}; margin in use {a.margin_used}, "
            f"available {a.available}; {view.trades} trades closed; {view.bars:,} bars"
        )
    )
    state = "finished" if view.finished else "stopped midway (resume reconciles)"
    if view.halted:
        state = f"halted ({view.halted})"
    parts.append(Text(f"run: {state}; resumed {view.resumes} time(s)"))
    for _, adj in view.adjustments:
        parts.append(
            Text.assemble(
                ("adjustment", "yellow"), f" {adj.adjustment_id}: {adj.reason} ({adj.action})"
            )
        )
    return Group(*parts)
