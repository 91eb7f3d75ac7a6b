"""CSV readers: every accepted layout parses exactly; every bad input names file and line."""

from __future__ import annotations

import zipfile
from decimal import Decimal
from pathlib import Path

import pytest

from dita.marketdata import Bar, MarketDataError, Trade, iter_bars, read_bars, read_trades

D = Decimal
KLINE_HEADER = "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore"
K1 = "1702939260000,42477.80,42503.4,42470.3,42494.6,226.072,1702939319999,9605297.7690,2186,148.930,6327854.2406,0"
K2 = "1702939320000,42494.6,42494.7,42470.3,42482.1,99.392,1702939379999,4222012.8997,1343,53.093,2255217.4295,0"
BAR1 = Bar(
    "BTC-USDT",
    1702939260000,
    D("42477.80"),
    D("42503.4"),
    D("42470.3"),
    D("42494.6"),
    D("226.072"),
    1702939319999,
)


def write(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


# ------------------------------------------------------------------ bars, good


def test_binance_klines_with_header_parse_exactly(tmp_path: Path) -> None:
    bars = read_bars(write(tmp_path, f"{KLINE_HEADER}\n{K1}\n{K2}\n"), "BTC-USDT")
    assert bars[0] == BAR1
    assert str(bars[0].open) == "42477.80"  # the text's own digits, no float round trip
    assert bars[1].ts == 1702939320000


def test_binance_klines_without_header(tmp_path: Path) -> None:
    assert read_bars(write(tmp_path, f"{K1}\n{K2}\n"), "BTC-USDT")[0] == BAR1


def test_microsecond_timestamps_become_milliseconds(tmp_path: Path) -> None:
    row = K1.replace("1702939260000", "1702939260000000").replace(
        "1702939319999", "1702939319999999"
    )
    [bar] = read_bars(write(tmp_path, row + "\n"), "BTC-USDT")
    assert (bar.ts, bar.close_ts) == (1702939260000, 1702939319999)


def test_zip_with_one_csv_is_read_in_place(tmp_path: Path) -> None:
    p = tmp_path / "BTCUSDT-1m-2023-12.zip"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("BTCUSDT-1m-2023-12.csv", f"{KLINE_HEADER}\n{K1}\n")
    assert read_bars(p, "BTC-USDT") == [BAR1]


def test_bingx_header_layout_any_column_order_and_inferred_interval(tmp_path: Path) -> None:
    text = "open,close,high,low,volume,time\n100.5,101,101.2,100.1,3.5,1700000000000\n101,100.8,101.1,100.7,1.25,1700000060000\n"
    bars = read_bars(write(tmp_path, text), "BTC-USDT")
    assert bars == [
        Bar(
            "BTC-USDT",
            1700000000000,
            D("100.5"),
            D("101.2"),
            D("100.1"),
            D("101"),
            D("3.5"),
            1700000059999,
        ),
        Bar(
            "BTC-USDT",
            1700000060000,
            D("101"),
            D("101.1"),
            D("100.7"),
            D("100.8"),
            D("1.25"),
            1700000119999,
        ),
    ]


def test_header_layout_with_explicit_interval_and_camel_case_names(tmp_path: Path) -> None:
    text = "openTime,Open,High,Low,Close,Volume,closeTime,extra\n1700000000000,1,2,1,2,5,1700000299999,x\n"
    [bar] = read_bars(write(tmp_path, text), "X", interval_ms=60_000)
    assert bar.close_ts == 1700000299999  # the file's close time wins over interval_ms
    text = "time,open,high,low,close,volume\n1700000000000,1,2,1,2,5\n"
    [bar] = read_bars(write(tmp_path, text, "b.csv"), "X", interval_ms=300_000)
    assert bar.close_ts == 1700000299999


def test_plain_ohlcv_without_header(tmp_path: Path) -> None:
    text = "1700000000000,1.5,2,1,2,7\n1700000060000,2,2,2,2,0\n"
    bars = read_bars(write(tmp_path, text), "X")
    assert bars[0] == Bar("X", 1700000000000, D("1.5"), D(2), D(1), D(2), D(7), 1700000059999)
    assert bars[1].volume == 0


def test_blank_lines_are_skipped(tmp_path: Path) -> None:
    assert read_bars(write(tmp_path, f"\n{KLINE_HEADER}\n\n{K1}\n\n"), "BTC-USDT") == [BAR1]


def test_bars_are_read_lazily(tmp_path: Path) -> None:
    bad = K2.replace("42482.1", "oops")
    it = iter_bars(write(tmp_path, f"{K1}\n{bad}\n"), "BTC-USDT")
    assert next(it) == BAR1  # the bad second row is not read yet
    with pytest.raises(MarketDataError):
        next(it)


# ------------------------------------------------------------------ trades, good


def test_binance_trades_with_and_without_header(tmp_path: Path) -> None:
    rows = "3761040010,42470.30,0.005,212.35150,1702939260012,true\n3761040011,42470.4,0.100,4247.04,1702939260012,false\n"
    expected = [
        Trade("BTC-USDT", 1702939260012, D("42470.30"), D("0.005"), True),
        Trade("BTC-USDT", 1702939260012, D("42470.4"), D("0.100"), False),
    ]
    assert read_trades(write(tmp_path, rows), "BTC-USDT") == expected
    header = "id,price,qty,quote_qty,time,is_buyer_maker\n"
    assert read_trades(write(tmp_path, header + rows, "h.csv"), "BTC-USDT") == expected


def test_binance_agg_trades(tmp_path: Path) -> None:
    text = "26129,0.01633102,4.70443515,27781,27781,1498793709153,true\n"
    assert read_trades(write(tmp_path, text), "ETH-BTC") == [
        Trade("ETH-BTC", 1498793709153, D("0.01633102"), D("4.70443515"), True)
    ]


def test_bingx_trades_header_layout(tmp_path: Path) -> None:
    text = "time,isBuyerMaker,price,qty,quoteQty\n1700000000001,True,36500.5,0.0123,448.956\n"
    assert read_trades(write(tmp_path, text), "BTC-USDT") == [
        Trade("BTC-USDT", 1700000000001, D("36500.5"), D("0.0123"), True)
    ]


def test_trades_without_maker_column(tmp_path: Path) -> None:
    [t] = read_trades(write(tmp_path, "timestamp,price,amount\n1700000000001,1.5,2\n"), "X")
    assert t.buyer_is_maker is None


# ------------------------------------------------------------------ bad input


def bar_error(tmp_path: Path, text: str, **kw: int) -> str:
    path = write(tmp_path, text)
    with pytest.raises(MarketDataError) as info:
        read_bars(path, "BTC-USDT", **kw)
    assert str(info.value).startswith(str(path))
    return str(info.value)


def trade_error(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(MarketDataError) as info:
        read_trades(path, "BTC-USDT")
    assert str(info.value).startswith(str(path))
    return str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    with pytest.raises(MarketDataError, match="no such file") as info:
        iter_bars(missing, "X")  # raised at once, not on first next()
    assert str(info.value) == f"{missing}: no such file"
    with pytest.raises(MarketDataError, match="no such file"):
        read_trades(missing, "X")


def test_empty_file(tmp_path: Path) -> None:
    assert bar_error(tmp_path, "").endswith("data.csv: empty file: no bars")
    assert bar_error(tmp_path, f"{KLINE_HEADER}\n").endswith("empty file: header but no bars")
    assert trade_error(tmp_path, "\n\n").endswith("empty file: no trades")


def test_unknown_header_layout(tmp_path: Path) -> None:
    msg = bar_error(tmp_path, "date,o,h,l,c\n2024-01-01,1,2,1,2\n")
    assert ":1: unknown bar layout" in msg and "'time'" in msg and "'volume'" in msg
    assert ":1: unknown trade layout" in trade_error(tmp_path, "when,what\n1,2\n")


def test_headerless_row_too_short_for_any_layout(tmp_path: Path) -> None:
    assert ":1: unknown bar layout: 5 columns without a header" in bar_error(
        tmp_path, "1700000000000,1,2,1,2\n"
    )
    assert ":1: unknown trade layout: 4 columns" in trade_error(tmp_path, "1,2,3,4\n")


def test_bad_number_names_the_line(tmp_path: Path) -> None:
    msg = bar_error(tmp_path, f"{KLINE_HEADER}\n{K1}\n{K2.replace('42494.7', '4249x.7')}\n")
    assert msg.endswith(":3: high '4249x.7' is not a number")


def test_nan_and_infinity_are_refused(tmp_path: Path) -> None:
    assert bar_error(tmp_path, K1.replace("226.072", "NaN") + "\n").endswith(
        ":1: volume 'NaN' is not a finite number"
    )
    assert trade_error(tmp_path, "1,Infinity,1,1,1700000000000,true\n").endswith(
        ":1: price 'Infinity' is not a finite number"
    )


def test_high_below_low(tmp_path: Path) -> None:
    row = "1700000000000,100,99,101,100,5,1700000059999,0,0,0,0,0\n"
    assert bar_error(tmp_path, row).endswith(":1: high 99 is below low 101")


def test_open_or_close_outside_the_range(tmp_path: Path) -> None:
    assert bar_error(tmp_path, "1700000000000,103,102,99,100,5,1700000059999\n").endswith(
        ":1: open 103 is outside [low 99, high 102]"
    )
    assert bar_error(tmp_path, "1700000000000,100,102,99,98,5,1700000059999\n").endswith(
        ":1: close 98 is outside [low 99, high 102]"
    )


def test_non_positive_price_and_negative_volume(tmp_path: Path) -> None:
    assert bar_error(tmp_path, "1700000000000,0,0,0,0,5,1700000059999\n").endswith(
        ":1: open price 0 is not > 0"
    )
    assert bar_error(tmp_path, "1700000000000,1,1,1,1,-5,1700000059999\n").endswith(
        ":1: volume -5 is negative"
    )


def test_bar_times_must_strictly_increase(tmp_path: Path) -> None:
    assert bar_error(tmp_path, f"{K1}\n{K2}\n{K1}\n").endswith(
        ":3: bar time 1702939260000 is not after the previous bar's 1702939320000"
    )
    assert bar_error(tmp_path, f"{K1}\n{K1}\n").endswith(
        ":2: bar time 1702939260000 is not after the previous bar's 1702939260000"
    )


def test_close_time_before_open_time(tmp_path: Path) -> None:
    assert bar_error(tmp_path, "1700000000000,1,1,1,1,5,1699999999999\n").endswith(
        ":1: close time 1699999999999 is before open time 1700000000000"
    )


def test_bad_timestamps(tmp_path: Path) -> None:
    assert bar_error(
        tmp_path, "time,open,high,low,close,volume\n1.7e12,1,1,1,1,1\n2,1,1,1,1,1\n"
    ).endswith(":2: open time '1.7e12' is neither an integer timestamp nor ISO-8601")
    assert bar_error(tmp_path, "100000000000000000,1,1,1,1,1,100000000000000001\n").endswith(
        ":1: open time 100000000000000000 is too large for ms or µs since the epoch"
    )


def test_short_row(tmp_path: Path) -> None:
    assert bar_error(tmp_path, f"{KLINE_HEADER}\n{K1}\n1702939320000,1,2\n").endswith(
        ":3: row has 3 columns, low expected in column 4"
    )


def test_interval_cannot_be_inferred_from_one_row(tmp_path: Path) -> None:
    msg = bar_error(tmp_path, "time,open,high,low,close,volume\n1700000000000,1,1,1,1,1\n")
    assert msg.endswith(":2: cannot infer the bar interval from one row: pass interval_ms")


def test_trade_time_going_back(tmp_path: Path) -> None:
    text = "1,10,1,10,1700000000005,true\n2,10,1,10,1700000000004,true\n"
    assert trade_error(tmp_path, text).endswith(
        ":2: trade time 1700000000004 is before the previous trade's 1700000000005"
    )


def test_trade_quantity_must_be_positive(tmp_path: Path) -> None:
    assert trade_error(tmp_path, "1,10,0,0,1700000000005,true\n").endswith(":1: qty 0 is not > 0")


def test_bad_boolean(tmp_path: Path) -> None:
    assert trade_error(tmp_path, "1,10,1,10,1700000000005,maybe\n").endswith(
        ":1: is_buyer_maker 'maybe' is not true/false"
    )


def test_zip_must_hold_exactly_one_csv(tmp_path: Path) -> None:
    p = tmp_path / "two.zip"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("a.csv", K1)
        zf.writestr("b.csv", K2)
    with pytest.raises(MarketDataError, match=r"two.zip: zip must hold exactly one \.csv"):
        read_bars(p, "X")
    not_zip = write(tmp_path, "hello", "fake.zip")
    with pytest.raises(MarketDataError, match=r"fake\.zip: not a zip file"):
        read_bars(not_zip, "X")


def test_error_in_a_zip_names_the_member(tmp_path: Path) -> None:
    p = tmp_path / "k.zip"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("k.csv", f"{K1}\n{K1}\n")
    with pytest.raises(MarketDataError) as info:
        read_bars(p, "X")
    assert str(info.value).startswith(f"{p}!k.csv:2: bar time")
