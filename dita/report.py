"""``dita report``: an HTML page and a PNG chart of one run, from its journal alone.

The chart has two panels: the price (the downsampled closes the engine
journals at the end of a run, note ``prices``) with a marker at every entry
fill and every exit fill, and the equity curve (capital after every step that
moved money). The HTML page embeds the PNG and adds the summary and the trade
table. Everything is read from the journal; the market data file is not needed.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from dita.engine import RunStats, stats_from_journal
from dita.journal import EngineNote, OutcomeRecord, RunMeta, SqliteJournal
from dita.kernel import EventKind, TradeRecord, VenueEvent
from dita.summary import money, summary_rows

_CID_TAG = re.compile(r"^[a-z0-9]+-[0-9a-f]+-[0-9]+-([a-z])[0-9]*-[0-9]+$")


@dataclass(frozen=True, slots=True)
class FillMark:
    ts: int
    price: Decimal
    qty: Decimal
    entry: bool


@dataclass
class ReportData:
    meta: RunMeta
    stats: RunStats
    trades: list[TradeRecord]
    price_ts: list[int]
    price_close: list[Decimal]
    symbol: str
    fills: list[FillMark]


def collect(journal: SqliteJournal) -> ReportData:
    meta, stats = stats_from_journal(journal)
    price_ts: list[int] = []
    price_close: list[Decimal] = []
    symbol = meta.instruments[0].symbol if meta.instruments else ""
    fills: list[FillMark] = []
    events: dict[int, VenueEvent] = {}
    for rec in journal.read_from(1):
        body = rec.body
        match body:
            case VenueEvent(kind=EventKind.FILL | EventKind.PARTIAL_FILL):
                events[rec.seq] = body
            case OutcomeRecord():
                ev = events.pop(body.input_seq, None)
                if ev is not None and body.outcome.accepted and ev.last_price is not None:
                    m = _CID_TAG.match(ev.client_order_id)
                    fills.append(
                        FillMark(
                            rec.ts,
                            ev.last_price,
                            ev.last_qty or Decimal(0),
                            bool(m and m.group(1) == "e"),
                        )
                    )
            case EngineNote(topic="prices", data=data):
                price_ts = [int(t) for t in data.get("ts", [])]
                price_close = [Decimal(c) for c in data.get("close", [])]
                symbol = str(data.get("symbol", symbol))
            case _:
                pass
    return ReportData(meta, stats, journal.trades(), price_ts, price_close, symbol, fills)


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def write_png(data: ReportData, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(
        2, 1, figsize=(12, 7), sharex=True, gridspec_kw={"height_ratios": [3, 1.4]}
    )
    try:
        if data.price_ts:
            ax1.plot([_dt(t) for t in data.price_ts], [float(c) for c in data.price_close],
                     color="#555", linewidth=0.8, label=f"{data.symbol} close")  # fmt: skip
        entries = [f for f in data.fills if f.entry]
        exits = [f for f in data.fills if not f.entry]
        if entries:
            ax1.scatter([_dt(f.ts) for f in entries], [float(f.price) for f in entries],
                        marker="^", color="#1a9850", s=22, label="entry fill", zorder=3)  # fmt: skip
        if exits:
            ax1.scatter([_dt(f.ts) for f in exits], [float(f.price) for f in exits],
                        marker="v", color="#d73027", s=22, label="exit fill", zorder=3)  # fmt: skip
        ax1.set_ylabel("price")
        ax1.legend(loc="upper left", fontsize=8)
        ax1.grid(alpha=0.3)
        eq = data.stats.equity
        start = (
            data.stats.first_ts
            if data.stats.first_ts is not None
            else (data.price_ts[0] if data.price_ts else 0)
        )
        xs = [_dt(start)] + [_dt(t) for t, _ in eq]
        ys = [float(data.stats.initial_capital)] + [float(c) for _, c in eq]
        ax2.step(xs, ys, where="post", color="#2b6cb0", linewidth=1.0)
        ax2.set_ylabel("capital")
        ax2.grid(alpha=0.3)
        fig.suptitle(f"dita run: {data.meta.policy} on {data.meta.venue}, seed {data.meta.seed}")
        fig.autofmt_xdate()
        fig.tight_layout()
        fig.savefig(path, dpi=100, metadata={"Software": None})
    finally:
        plt.close(fig)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>"


def write_html(data: ReportData, png: Path, path: Path, journal_path: Path) -> None:
    img = base64.b64encode(png.read_bytes()).decode()
    summary = _table(["", ""], [[k, v] for k, v in summary_rows(data.stats)])
    rows = [
        [
            t.trade_id,
            str(t.slot_id),
            t.side.value,
            _dt(t.opened_ts).strftime("%Y-%m-%d %H:%M"),
            _dt(t.closed_ts).strftime("%Y-%m-%d %H:%M"),
            str(t.entry_qty),
            money(t.entry_price) if t.entry_qty else "",
            money(t.exit_price) if t.exit_qty else "",
            str(len(t.exits)),
            str(t.realized_pnl),
            str(t.fees),
            str(t.net_pnl),
        ]
        for t in data.trades
    ]
    trades = _table(
        ["trade", "slot", "side", "opened", "closed", "qty", "entry", "exit", "exit legs",
         "realized PnL", "fees", "net PnL"],
        rows,
    )  # fmt: skip
    doc = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>dita report: {html.escape(journal_path.name)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; font-size: 13px; margin-bottom: 2em; }}
th, td {{ border: 1px solid #ddd; padding: 3px 8px; text-align: right; }}
th {{ background: #f3f3f3; }}
td:first-child {{ text-align: left; }}
</style></head><body>
<h1>dita run report</h1>
<p>journal <code>{html.escape(str(journal_path))}</code>; policy <code>{html.escape(data.meta.policy)}</code>;
venue <code>{html.escape(data.meta.venue)}</code>; seed {data.meta.seed}; slots {data.meta.slots};
initial capital {money(data.meta.initial_capital)}</p>
<h2>Summary</h2>
{summary}
<h2>Price, fills and equity</h2>
<img alt="price with entry and exit fills, and the equity curve" src="data:image/png;base64,{img}">
<h2>Trades ({len(data.trades)})</h2>
{trades}
</body></html>
"""
    path.write_text(doc, encoding="utf-8")


def write_report(journal: SqliteJournal, out_dir: Path, journal_path: Path) -> tuple[Path, Path]:
    data = collect(journal)
    out_dir.mkdir(parents=True, exist_ok=True)
    png = out_dir / "report.png"
    page = out_dir / "report.html"
    write_png(data, png)
    write_html(data, png, page, journal_path)
    return page, png
