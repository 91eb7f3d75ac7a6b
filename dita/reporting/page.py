"""The report page: one self-contained HTML file (inline CSS, inline script, inline data).

It loads nothing from anywhere: the charts are SVG drawn by the page's own
script (``assets/report.js``), the data is a JSON block in the page. The
statistics tables are rendered here, so they read without scripts too.
"""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from dita import codec
from dita.reporting.data import ReportData
from dita.reporting.stats import Statistics, TradeGroup

_CENT = Decimal("0.01")


def _money(d: Decimal | None) -> str:
    return "-" if d is None else f"{d.quantize(_CENT, rounding=ROUND_HALF_EVEN):,}"


def _pct(d: Decimal | None) -> str:
    return "-" if d is None else f"{(d * 100).quantize(_CENT, rounding=ROUND_HALF_EVEN)}%"


def _ratio(d: Decimal | None) -> str:
    return "-" if d is None else f"{d.quantize(Decimal('0.001'), rounding=ROUND_HALF_EVEN)}"


def _duration(ms: Decimal | int | None) -> str:
    if ms is None:
        return "-"
    s = int(ms) // 1000
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m = s // 60
    return f"{d}d {h}h {m}m" if d else f"{h}h {m}m"


def _ts(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _table(rows: list[tuple[str, str]], cls: str = "stats") -> str:
    body = "".join(
        f'<tr><th scope="row">{html.escape(k)}</th><td data-stat="{html.escape(k)}">'
        f"{html.escape(v)}</td></tr>"
        for k, v in rows
    )
    return f'<table class="{cls}"><tbody>{body}</tbody></table>'


def _group_table(groups: dict[str, TradeGroup]) -> str:
    cols = ["", "trades", "win rate", "net PnL", "avg win", "avg loss", "profit factor",
            "expectancy", "fees", "funding", "avg holding"]  # fmt: skip
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    rows = []
    for name, g in groups.items():
        cells = [name, str(g.trades), _pct(g.win_rate), _money(g.net_pnl), _money(g.avg_win),
                 _money(g.avg_loss), _ratio(g.profit_factor), _money(g.expectancy),
                 _money(g.fees), _money(g.funding), _duration(g.avg_holding_ms)]  # fmt: skip
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def statistics_rows(s: Statistics, data: ReportData) -> list[tuple[str, str]]:
    rows = [
        ("bars", f"{data.bars:,}"),
        ("run", "finished" if data.finished else "stopped before its end (interrupted or running)"),
        ("period", f"{_duration(s.span_ms)}"),
        ("initial capital", _money(s.initial_capital)),
        ("final equity (marked to market)", _money(s.final_equity)),
        ("final capital (realized)", _money(s.final_capital)),
        ("net PnL", _money(s.net_pnl)),
        ("net PnL realized", _money(s.realized_net_pnl)),
        ("return", _pct(s.total_return)),
        ("CAGR", _pct(s.cagr)),
        ("Sharpe", _ratio(s.sharpe)),
        ("Sortino", _ratio(s.sortino)),
        ("Calmar", _ratio(s.calmar)),
        ("max drawdown", _money(s.drawdown.amount)),
        ("max drawdown %", _pct(s.drawdown.pct)),
        ("max drawdown duration", _duration(s.drawdown.duration_ms)),
        ("trades", f"{s.all.trades:,}"),
        ("win rate", _pct(s.all.win_rate)),
        ("profit factor", _ratio(s.all.profit_factor)),
        ("expectancy", _money(s.all.expectancy)),
        ("average win", _money(s.all.avg_win)),
        ("average loss", _money(s.all.avg_loss)),
        ("exposure", _pct(s.exposure)),
        ("average holding time", _duration(s.all.avg_holding_ms)),
        ("fees", _money(s.fees)),
        ("funding", _money(s.funding)),
    ]
    for sym, r in s.buy_hold_return.items():
        rows.append((f"buy and hold {sym}", f"{_pct(r)} ({_money(s.initial_capital * r)})"))
    rows += [
        ("orders", f"{data.stats.orders:,}"),
        ("fills", f"{data.stats.fills:,} ({data.stats.partial_fills:,} partial)"),
        ("cancels", f"{data.stats.cancels:,}"),
        ("venue rejects", f"{data.stats.rejects:,}"),
        ("refused intents", f"{data.stats.refused_intents:,}"),
        ("kernel steps", f"{data.stats.kernel_events:,}"),
    ]
    return rows


def _points(pts: list[tuple[int, Decimal]]) -> list[list[Any]]:
    return [[t, str(v)] for t, v in pts]


def page_data(data: ReportData) -> dict[str, Any]:
    return {
        "prices": {sym: _points(p) for sym, p in data.prices.items()},
        "equity": _points(data.equity_mtm),
        "realized": _points(data.realized),
        "fills": [
            {
                "ts": f.ts,
                "cid": f.client_order_id,
                "slot": f.slot_id,
                "asset": f.asset,
                "side": f.side.value,
                "purpose": f.purpose.value,
                "qty": str(f.qty),
                "price": str(f.price),
                "fee": str(f.fee),
                "partial": f.partial,
            }
            for f in data.fills
        ],
        "ends": [
            {
                "ts": e.ts,
                "kind": e.kind.value,
                "cid": e.client_order_id,
                "slot": e.slot_id,
                "asset": e.asset,
                "side": e.side.value,
                "purpose": e.purpose.value,
                "price": None if e.price is None else str(e.price),
                "reason": e.reason,
            }
            for e in data.ends
        ],
        "refusals": [
            {
                "seq": r.seq,
                "ts": r.ts,
                "what": r.what,
                "slot": r.slot_id,
                "code": r.code,
                "message": r.message,
            }
            for r in data.refusals
        ],
        "trades": [
            {
                "id": t.trade_id,
                "asset": t.asset,
                "slot": t.slot_id,
                "side": t.side.value,
                "opened": t.opened_ts,
                "closed": t.closed_ts,
                "qty": str(t.entry_qty),
                "entry": str(_money(t.entry_price)).replace(",", "") if t.entry_qty else "",
                "exit": str(_money(t.exit_price)).replace(",", "") if t.exit_qty else "",
                "legs": len(t.exits),
                "realized": str(t.realized_pnl),
                "fees": str(t.fees),
                "funding": str(t.funding),
                "net": str(t.net_pnl),
            }
            for t in data.trades
        ],
    }


_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em 2em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 13px; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
thead th { background: #f3f3f3; cursor: pointer; user-select: none; }
table.stats th { text-align: left; background: #f8f8f8; font-weight: 600; }
td:first-child { text-align: left; }
.chart { width: 100%; } .cols { display: flex; gap: 2em; flex-wrap: wrap; }
.hint { color: #666; font-size: 12px; } pre { background: #f6f6f6; padding: 0.8em; overflow: auto; }
"""


def render(data: ReportData, journal_path: Path) -> str:
    s = data.statistics
    meta = data.meta
    groups = {"all": s.all, "long": s.long, "short": s.short}
    params = codec.encode(meta).decode()
    blob = json.dumps(page_data(data), separators=(",", ":")).replace("</", "<\\/")
    script = resources.files("dita.reporting").joinpath("assets/report.js").read_text("utf-8")
    notes = "".join(
        f"<li>{html.escape(_ts(ts))} <b>{html.escape(t)}</b> {html.escape(m)}</li>"
        for ts, t, m in data.notes
    )
    adjustments = "".join(
        f"<li><b>{html.escape(a.adjustment_id)}</b> {html.escape(a.subject)} "
        f"{html.escape(a.asset)}: {html.escape(a.reason)} ({html.escape(a.action)})</li>"
        for a in data.adjustments
    )
    data_source = str(meta.params.get("data", "")) if isinstance(meta.params, dict) else ""
    title = html.escape(journal_path.name)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'">
<title>dita report: {title}</title>
<style>{_CSS}</style></head><body>
<h1>dita run report</h1>
<p>journal <code>{html.escape(str(journal_path))}</code> ({data.last_seq:,} records);
policy <code>{html.escape(meta.policy)}</code>; venue <code>{html.escape(meta.venue)}</code>;
seed {meta.seed}; slots {meta.slots}; data <code>{html.escape(data_source or "-")}</code></p>
<div class="cols"><div><h2>Statistics</h2>{_table(statistics_rows(s, data))}
<p class="hint">Definitions: docs/report.md in the dita repository.</p></div>
<div><h2>Long and short</h2>{_group_table(groups)}
<h2>Per symbol</h2>{_group_table(s.per_symbol)}</div></div>
<h2>Price and orders</h2>
<p class="hint">Wheel: zoom; drag: pan; double-click: whole run. All charts share the time window.</p>
<div id="price-charts"></div>
<h2>Equity</h2><div id="chart-equity" class="chart"></div>
<h2>Drawdown</h2><div id="chart-drawdown" class="chart"></div>
<h2>Trades ({len(data.trades):,})</h2><div id="t-trades"></div>
<h2>Fills ({len(data.fills):,})</h2><div id="t-fills"></div>
<h2>Cancels, expiries and venue rejects ({len(data.ends):,})</h2><div id="t-ends"></div>
<h2>Refused kernel inputs ({len(data.refusals):,})</h2><div id="t-refusals"></div>
<h2>Reconciliation adjustments ({len(data.adjustments):,})</h2><ul>{adjustments or "<li>none</li>"}</ul>
<h2>Engine notes</h2><ul>{notes or "<li>none</li>"}</ul>
<h2>Run parameters</h2><pre>{html.escape(json.dumps(json.loads(params), indent=2))}</pre>
<script type="application/json" id="dita-data">{blob}</script>
<script>{script}</script>
</body></html>
"""
