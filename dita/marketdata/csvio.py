"""Read OHLCV bars and public trades from CSV exports, exactly.

Prices and quantities go from the file's text straight into ``Decimal``; no
number ever passes through ``float``. Reading is lazy (``iter_bars`` /
``iter_trades`` yield one row at a time), so a month of 1m bars or a day of
trades never has to fit in memory. A ``.zip`` holding exactly one ``.csv``
(the way data.binance.vision ships its files) and a gzipped ``.csv.gz`` are
read in place; a ``.parquet`` file (optional extra ``parquet``: pyarrow) is
read with the header-named layout below.

Layouts accepted (detected from the first row; no option to pass)
=================================================================

Bars
----
* **Binance futures klines** (data.binance.vision ``futures/um/.../klines``), with
  or without its header row, 12 columns::

      open_time,open,high,low,close,volume,close_time,quote_volume,count,
      taker_buy_volume,taker_buy_quote_volume,ignore

  A headerless file is recognised by an integer in the first cell and at least
  7 columns; only the first 7 are used.
* **Plain OHLCV without header**: exactly 6 columns
  ``time,open,high,low,close,volume`` (Binance's order without the close
  time; what most tools write for a BingX kline dump).
* **Header-named** (BingX kline exports and dumps of BingX's
  ``/openApi/swap/v3/quote/klines``, whose objects are
  ``{open, close, high, low, volume, time}``; also most other tools): a header
  row naming, in any order and case, a time column (``time``, ``open_time``,
  ``timestamp``, ``ts``, ``t``), ``open``, ``high``, ``low``, ``close`` and
  ``volume`` (or ``vol``, ``v``), optionally ``close_time``. Underscores,
  dashes and spaces in names are ignored (``openTime`` == ``open_time``);
  other columns are ignored. Without a close time column a bar closes at
  ``ts + interval_ms - 1``, where ``interval_ms`` is the argument or else the
  gap between the first two rows.

* **Bybit v5 klines** (``GET /v5/market/kline`` ``result.list`` dumped as
  CSV): 7 columns ``startTime,openPrice,highPrice,lowPrice,closePrice,volume,
  turnover`` without header (told from Binance by the 7th column, which is not
  a close time), or with that header.
* **OKX v5 candles** (``GET /api/v5/market/candles`` / ``history-candles``
  ``data`` dumped as CSV): 9 columns ``ts,o,h,l,c,vol,volCcy,volCcyQuote,
  confirm`` without header, or with that header. Rows whose ``confirm`` is 0
  (the bar still forming) are skipped.

Both venues answer newest first; a file whose rows run backwards in time is
read whole and reversed (so such a file must fit in memory), then checked like
any other.

Trades
------
* **Binance futures trades**: ``id,price,qty,quote_qty,time,is_buyer_maker``
  (6 columns, header optional).
* **Binance aggTrades**: ``agg_trade_id,price,quantity,first_trade_id,
  last_trade_id,transact_time,is_buyer_maker`` (7 columns, header optional).
* **Header-named** (BingX ``/openApi/swap/v2/quote/trades`` dumps, whose objects are
  ``{time, isBuyerMaker, price, qty, quoteQty}``): a time column (``time``,
  ``transact_time``, ``timestamp``, ``ts``, ``t``), ``price`` (``p``), a
  quantity column (``qty``, ``quantity``, ``volume``, ``amount``, ``q``,
  ``v``) and optionally ``is_buyer_maker`` (``buyer_maker``, ``m``).

Timestamps
----------
ISO-8601 text (``2024-01-02T03:04:05Z``, ``2024-01-02 03:04:05.123+00:00``;
without an offset the time is taken as UTC), or integers since the Unix epoch. Values below 10**14 are milliseconds; values
from 10**14 up to 10**17 are microseconds (Binance's spot files switched to µs
on 2025-01-01) and are converted to ms by flooring, so a µs close time
``...999999`` becomes ``...999``. Anything else is an error.

Validation
----------
Every problem raises one ``MarketDataError`` naming the file and the line:
missing file, empty file, unknown layout, a short row, a number that does not
parse or is not finite, a price <= 0, a negative volume, ``high`` below
``low``/``open``/``close`` (or ``low`` above them), a close time before the
open time, bar times not strictly increasing, trade times decreasing, a trade
quantity <= 0, a boolean that is not ``true``/``false``/``1``/``0``.
"""

from __future__ import annotations

import csv
import gzip
import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from itertools import chain, islice, pairwise
from pathlib import Path
from typing import TextIO

from dita.marketdata.model import Bar, MarketDataError, Trade

_MS_LIMIT = 10**14  # below: milliseconds (ms epoch reaches 10**14 in the year 5138)
_US_LIMIT = 10**17  # below: microseconds


def _norm(name: str) -> str:
    return name.strip().lower().replace("_", "").replace("-", "").replace(" ", "")


_BAR_ALIASES: dict[str, tuple[str, ...]] = {
    "time": ("opentime", "time", "timestamp", "ts", "t", "starttime", "date", "datetime"),
    "open": ("open", "o", "openprice"),
    "high": ("high", "h", "highprice"),
    "low": ("low", "l", "lowprice"),
    "close": ("close", "c", "closeprice"),
    "volume": ("volume", "vol", "v"),
    "close_time": ("closetime",),
    "confirm": ("confirm",),
}
_TRADE_ALIASES: dict[str, tuple[str, ...]] = {
    "time": ("time", "transacttime", "timestamp", "ts", "t"),
    "price": ("price", "p"),
    "qty": ("qty", "quantity", "volume", "amount", "q", "v"),
    "maker": ("isbuyermaker", "buyermaker", "m"),
}
_BAR_REQUIRED = ("time", "open", "high", "low", "close", "volume")
_TRADE_REQUIRED = ("time", "price", "qty")

# Column positions of the headerless Binance layouts.
_BINANCE_KLINE = {
    "time": 0,
    "open": 1,
    "high": 2,
    "low": 3,
    "close": 4,
    "volume": 5,
    "close_time": 6,
}
_PLAIN_OHLCV = {"time": 0, "open": 1, "high": 2, "low": 3, "close": 4, "volume": 5}
_OKX_CANDLES = {**_PLAIN_OHLCV, "confirm": 8}
_BINANCE_TRADES = {"price": 1, "qty": 2, "time": 4, "maker": 5}
_BINANCE_AGG_TRADES = {"price": 1, "qty": 2, "time": 5, "maker": 6}


@dataclass(frozen=True, slots=True)
class _Layout:
    name: str
    columns: dict[str, int]
    has_header: bool


class _Rows:
    """Non-empty CSV rows with their line numbers, for one file."""

    def __init__(
        self,
        label: str,
        text: TextIO | None,
        cells: Iterator[tuple[int, list[str]]] | None = None,
    ) -> None:
        self.label = label
        self._reader = csv.reader(text if text is not None else io.StringIO())
        self._cells = cells  # rows that are not CSV text (Parquet), already as cells

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        if self._cells is not None:
            yield from self._cells
            return
        try:
            for row in self._reader:
                if not row or all(not cell.strip() for cell in row):
                    continue
                for col, cell in enumerate(row, start=1):
                    if len(cell) > MAX_CELL_CHARS:
                        raise MarketDataError(
                            self.label,
                            self._reader.line_num,
                            f"column {col}: a cell of {len(cell)} characters (starting "
                            f"{cell[:20]!r}) is longer than the {MAX_CELL_CHARS} a cell may have",
                        )
                yield self._reader.line_num, row
        except (csv.Error, UnicodeDecodeError) as exc:
            raise MarketDataError(
                self.label, self._reader.line_num, f"unreadable CSV: {exc}"
            ) from exc

    def error(self, line: int, problem: str) -> MarketDataError:
        return MarketDataError(self.label, line, problem)


def _check_exists(path: Path) -> None:
    if not path.is_file():
        raise MarketDataError(path, None, "no such file")


@contextmanager
def _open_text(path: Path) -> Iterator[tuple[str, TextIO]]:
    if path.name.lower().endswith(".gz"):
        with gzip.open(path, "rt", encoding="utf-8", newline="") as gz:
            yield str(path), gz
        return
    if path.suffix.lower() != ".zip":
        with path.open("r", encoding="utf-8", newline="") as fh:
            yield str(path), fh
        return
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise MarketDataError(path, None, f"not a zip file: {exc}") from exc
    with zf:
        members = [n for n in zf.namelist() if n.lower().endswith(".csv")]
        if len(members) != 1:
            raise MarketDataError(path, None, f"zip must hold exactly one .csv, found {members}")
        with zf.open(members[0]) as raw:
            yield f"{path}!{members[0]}", io.TextIOWrapper(raw, encoding="utf-8", newline="")


def _is_int(cell: str) -> bool:
    s = cell.strip()
    return s.isascii() and (s.isdigit() or (s.startswith("-") and s[1:].isdigit()))


def _header_layout(
    rows: _Rows,
    line: int,
    header: list[str],
    aliases: dict[str, tuple[str, ...]],
    required: tuple[str, ...],
    what: str,
) -> _Layout:
    index = {_norm(h): i for i, h in enumerate(header)}
    columns: dict[str, int] = {}
    for field_name, names in aliases.items():
        for name in names:
            if name in index:
                columns[field_name] = index[name]
                break
    missing = [f for f in required if f not in columns]
    if missing:
        raise rows.error(
            line,
            f"unknown {what} layout: header {header} lacks {missing} "
            f"(accepted: Binance export layout, or a header naming {list(required)})",
        )
    return _Layout("header", columns, has_header=True)


# Every number in market data fits in this many characters, and its magnitude
# in 1e-30..1e30: a longer cell or an absurd exponent is refused, never parsed
# into something that overflows later (or a >4,300-digit int that raises).
MAX_NUMBER_CHARS = 64
MAX_CELL_CHARS = 256  # any cell, numbers or names
MAX_NUMBER_EXPONENT = 30


def _bounded_cell(rows: _Rows, line: int, name: str, cell: str) -> str:
    s = cell.strip()
    if len(s) > MAX_NUMBER_CHARS:
        raise rows.error(
            line,
            f"{name}: a cell of {len(s)} characters (starting {s[:20]!r}) is longer than the "
            f"{MAX_NUMBER_CHARS} a number may have",
        )
    return s


def _parse_decimal(rows: _Rows, line: int, name: str, cell: str) -> Decimal:
    s = _bounded_cell(rows, line, name, cell)
    try:
        value = Decimal(s)
    except InvalidOperation:
        raise rows.error(line, f"{name} {cell!r} is not a number") from None
    if not value.is_finite():
        raise rows.error(line, f"{name} {cell!r} is not a finite number")
    if value and not -MAX_NUMBER_EXPONENT <= value.adjusted() <= MAX_NUMBER_EXPONENT:
        raise rows.error(
            line, f"{name} {cell!r} is out of range (magnitude 1e-30 to 1e30 accepted)"
        )
    return value


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A headerless 7th column this large is Binance's close time (ms since 1973),
# anything else Bybit's turnover.
_EPOCH_MS_FLOOR = 10**11


def _iso_ms(cell: str) -> int | None:
    """Epoch ms of an ISO-8601 time (UTC when it names no offset), or None if it is not one."""
    s = cell.strip()
    if len(s) < 10 or not s[:4].isdigit() or s[4] != "-":
        return None
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _is_time(cell: str) -> bool:
    return _is_int(cell) or _iso_ms(cell) is not None


def _parse_ms(rows: _Rows, line: int, name: str, cell: str) -> int:
    s = _bounded_cell(rows, line, name, cell)
    if not _is_int(s):
        iso = _iso_ms(s)
        if iso is None:
            raise rows.error(line, f"{name} {cell!r} is neither an integer timestamp nor ISO-8601")
        if iso < 0:
            raise rows.error(line, f"{name} {cell!r} is before 1970")
        return iso
    value = int(s)
    if value < 0:
        raise rows.error(line, f"{name} {value} is negative")
    if value < _MS_LIMIT:
        return value
    if value < _US_LIMIT:
        return value // 1000
    raise rows.error(line, f"{name} {value} is too large for ms or µs since the epoch")


def _parse_bool(rows: _Rows, line: int, name: str, cell: str) -> bool:
    match cell.strip().lower():
        case "true" | "1":
            return True
        case "false" | "0":
            return False
        case _:
            raise rows.error(line, f"{name} {cell!r} is not true/false")


def _cell(rows: _Rows, line: int, row: list[str], layout: _Layout, name: str) -> str:
    i = layout.columns[name]
    if i >= len(row):
        raise rows.error(line, f"row has {len(row)} columns, {name} expected in column {i + 1}")
    return row[i]


# --------------------------------------------------------------------------- bars


def _bar_layout(rows: _Rows, line: int, first: list[str]) -> _Layout:
    if _is_time(first[0]):
        if len(first) == 6:
            return _Layout("ohlcv", _PLAIN_OHLCV, has_header=False)
        if len(first) == 9 and first[8].strip() in ("0", "1"):
            return _Layout("okx-candles", _OKX_CANDLES, has_header=False)
        if len(first) == 7 and not (_is_int(first[6]) and int(first[6]) >= _EPOCH_MS_FLOOR):
            return _Layout("bybit-klines", _PLAIN_OHLCV, has_header=False)
        if len(first) < 7:
            raise rows.error(
                line,
                f"unknown bar layout: {len(first)} columns without a header "
                "(Binance klines have 12, plain OHLCV 6; other layouts need a header row)",
            )
        return _Layout("binance-klines", _BINANCE_KLINE, has_header=False)
    return _header_layout(rows, line, first, _BAR_ALIASES, _BAR_REQUIRED, "bar")


def iter_bars(path: str | Path, symbol: str, *, interval_ms: int | None = None) -> Iterator[Bar]:
    """Yield the bars of one CSV (or single-CSV zip) file, validated, in file order.

    ``symbol`` is stamped on every bar (the exports do not carry it).
    ``interval_ms`` is only used by layouts without a close time column.
    Raises ``MarketDataError`` at once for a missing file, and while iterating
    for anything wrong inside it.
    """
    p = Path(path)
    _check_exists(p)
    if interval_ms is not None and interval_ms <= 0:
        raise ValueError(f"interval_ms must be > 0, got {interval_ms}")
    return _bars(p, symbol, interval_ms)


def read_bars(path: str | Path, symbol: str, *, interval_ms: int | None = None) -> list[Bar]:
    """All bars of a file as a list (see ``iter_bars``)."""
    return list(iter_bars(path, symbol, interval_ms=interval_ms))


def _bars(path: Path, symbol: str, interval_ms: int | None) -> Iterator[Bar]:
    with _open_rows(path) as rows:
        label = rows.label
        it = iter(rows)
        first = next(it, None)
        if first is None:
            raise MarketDataError(label, None, "empty file: no bars")
        layout = _bar_layout(rows, first[0], first[1])
        body: Iterator[tuple[int, list[str]]] = it if layout.has_header else _chain(first, it)
        if "confirm" in layout.columns:
            body = _confirmed(rows, layout, body)
        head = list(islice(body, 2))
        if len(head) == 2 and _row_ts(rows, layout, head[1]) < _row_ts(rows, layout, head[0]):
            # Newest first (Bybit, OKX): read it all, oldest first.
            rest = [*head, *body]
            rest.reverse()
            body = iter(rest)
        else:
            body = chain(head, body)
        if "close_time" not in layout.columns and interval_ms is None:
            head = list(islice(body, 10))
            interval_ms = _infer_interval(rows, layout, head)
            body = chain(head, body)
        prev: Bar | None = None
        count = 0
        for line, row in body:
            bar = _parse_bar(rows, line, row, layout, symbol, interval_ms)
            if prev is not None and bar.ts <= prev.ts:
                raise rows.error(
                    line, f"bar time {bar.ts} is not after the previous bar's {prev.ts}"
                )
            prev = bar
            count += 1
            yield bar
        if count == 0:
            raise MarketDataError(label, None, "empty file: header but no bars")


def _row_ts(rows: _Rows, layout: _Layout, item: tuple[int, list[str]]) -> int:
    line, row = item
    return _parse_ms(rows, line, "open time", _cell(rows, line, row, layout, "time"))


def _confirmed(
    rows: _Rows, layout: _Layout, body: Iterator[tuple[int, list[str]]]
) -> Iterator[tuple[int, list[str]]]:
    """OKX: drop the bar still forming (``confirm`` 0)."""
    for line, row in body:
        flag = _cell(rows, line, row, layout, "confirm").strip()
        if flag == "1":
            yield line, row
        elif flag != "0":
            raise rows.error(line, f"confirm {flag!r} is not 0 or 1")


@contextmanager
def _open_rows(path: Path) -> Iterator[_Rows]:
    if path.suffix.lower() == ".parquet":
        from dita.marketdata.parquet import parquet_rows

        with parquet_rows(path) as (label, cells):
            yield _Rows(label, None, cells)
        return
    with _open_text(path) as (label, text):
        yield _Rows(label, text)


def _infer_interval(rows: _Rows, layout: _Layout, head: list[tuple[int, list[str]]]) -> int:
    """The bar interval of a layout without close times: the smallest gap between the
    first rows (up to 10, so one missing bar near the start does not double it)."""
    match head:
        case []:
            raise MarketDataError(rows.label, None, "empty file: header but no bars")
        case [(line, _)]:
            raise rows.error(line, "cannot infer the bar interval from one row: pass interval_ms")
    times = [
        (ln, _parse_ms(rows, ln, "open time", _cell(rows, ln, r, layout, "time"))) for ln, r in head
    ]
    for (_, t0), (l1, t1) in pairwise(times):
        if t1 <= t0:
            raise rows.error(l1, f"bar time {t1} is not after the previous bar's {t0}")
    return min(t1 - t0 for (_, t0), (_, t1) in pairwise(times))


def _chain(
    first: tuple[int, list[str]], rest: Iterator[tuple[int, list[str]]]
) -> Iterator[tuple[int, list[str]]]:
    yield first
    yield from rest


def _parse_bar(
    rows: _Rows, line: int, row: list[str], layout: _Layout, symbol: str, interval_ms: int | None
) -> Bar:
    def dec(name: str) -> Decimal:
        return _parse_decimal(rows, line, name, _cell(rows, line, row, layout, name))

    ts = _parse_ms(rows, line, "open time", _cell(rows, line, row, layout, "time"))
    o, h, lo, c, v = dec("open"), dec("high"), dec("low"), dec("close"), dec("volume")
    if "close_time" in layout.columns:
        close_ts = _parse_ms(rows, line, "close time", _cell(rows, line, row, layout, "close_time"))
    else:
        assert interval_ms is not None
        close_ts = ts + interval_ms - 1
    for name, value in (("open", o), ("high", h), ("low", lo), ("close", c)):
        if value <= 0:
            raise rows.error(line, f"{name} price {value} is not > 0")
    if v < 0:
        raise rows.error(line, f"volume {v} is negative")
    if h < lo:
        raise rows.error(line, f"high {h} is below low {lo}")
    if not lo <= o <= h:
        raise rows.error(line, f"open {o} is outside [low {lo}, high {h}]")
    if not lo <= c <= h:
        raise rows.error(line, f"close {c} is outside [low {lo}, high {h}]")
    if close_ts < ts:
        raise rows.error(line, f"close time {close_ts} is before open time {ts}")
    return Bar(symbol=symbol, ts=ts, open=o, high=h, low=lo, close=c, volume=v, close_ts=close_ts)


# ------------------------------------------------------------------------- trades


def _trade_layout(rows: _Rows, line: int, first: list[str]) -> _Layout:
    if _is_int(first[0]):
        match len(first):
            case 6:
                return _Layout("binance-trades", _BINANCE_TRADES, has_header=False)
            case 7:
                return _Layout("binance-aggtrades", _BINANCE_AGG_TRADES, has_header=False)
            case n:
                raise rows.error(
                    line,
                    f"unknown trade layout: {n} columns without a header "
                    "(Binance trades have 6, aggTrades 7; other layouts need a header row)",
                )
    return _header_layout(rows, line, first, _TRADE_ALIASES, _TRADE_REQUIRED, "trade")


def iter_trades(path: str | Path, symbol: str) -> Iterator[Trade]:
    """Yield the trades of one CSV (or single-CSV zip) file, validated, in file order.

    Trade times may repeat (many prints share a millisecond) but never go back.
    """
    p = Path(path)
    _check_exists(p)
    return _trades(p, symbol)


def read_trades(path: str | Path, symbol: str) -> list[Trade]:
    """All trades of a file as a list (see ``iter_trades``)."""
    return list(iter_trades(path, symbol))


def _trades(path: Path, symbol: str) -> Iterator[Trade]:
    with _open_text(path) as (label, text):
        rows = _Rows(label, text)
        it = iter(rows)
        first = next(it, None)
        if first is None:
            raise MarketDataError(label, None, "empty file: no trades")
        layout = _trade_layout(rows, first[0], first[1])
        body = it if layout.has_header else _chain(first, it)
        prev_ts: int | None = None
        count = 0
        for line, row in body:
            ts = _parse_ms(rows, line, "time", _cell(rows, line, row, layout, "time"))
            price = _parse_decimal(rows, line, "price", _cell(rows, line, row, layout, "price"))
            qty = _parse_decimal(rows, line, "qty", _cell(rows, line, row, layout, "qty"))
            maker = (
                _parse_bool(rows, line, "is_buyer_maker", _cell(rows, line, row, layout, "maker"))
                if "maker" in layout.columns
                else None
            )
            if price <= 0:
                raise rows.error(line, f"price {price} is not > 0")
            if qty <= 0:
                raise rows.error(line, f"qty {qty} is not > 0")
            if prev_ts is not None and ts < prev_ts:
                raise rows.error(line, f"trade time {ts} is before the previous trade's {prev_ts}")
            prev_ts = ts
            count += 1
            yield Trade(symbol=symbol, ts=ts, price=price, qty=qty, buyer_is_maker=maker)
        if count == 0:
            raise MarketDataError(label, None, "empty file: header but no trades")
