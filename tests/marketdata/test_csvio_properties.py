"""Properties of the CSV readers: exact round trips, and garbage only ever raises MarketDataError."""

from __future__ import annotations

import tempfile
from decimal import Decimal
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from dita.marketdata import Bar, MarketDataError, read_bars, read_trades, write_binance_klines

D = Decimal

price_st = st.decimals(min_value=D("0.00000001"), max_value=D("1000000"), places=8, allow_nan=False)
volume_st = st.decimals(min_value=D(0), max_value=D("100000000"), places=6, allow_nan=False)


@st.composite
def bars_st(draw: st.DrawFn) -> list[Bar]:
    n = draw(st.integers(1, 30))
    ts = draw(st.integers(0, 10**13))
    out = []
    for _ in range(n):
        a, b, c, d = sorted(draw(st.lists(price_st, min_size=4, max_size=4)))
        o, cl = draw(st.permutations([b, c]))
        length = draw(st.integers(1, 10**6))
        out.append(Bar("X", ts, o, d, a, cl, draw(volume_st), ts + length - 1))
        ts += length + draw(st.integers(0, 10**6))
    return out


@settings(max_examples=100, deadline=None)
@given(bars_st(), st.booleans())
def test_written_bars_read_back_identical_digit_for_digit(bars: list[Bar], header: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "k.csv"
        write_binance_klines(path, bars, header=header)
        back = read_bars(path, "X")
    assert back == bars
    assert [str(b.open) for b in back] == [
        str(b.open) for b in bars
    ]  # same digits, not just same value


garbage_st = st.text(
    alphabet=st.sampled_from(list("0123456789,.-eE\n\r\"' aNtrufl\x00é")), max_size=300
)


@settings(max_examples=300, deadline=None)
@given(garbage_st, st.booleans())
def test_garbage_raises_market_data_error_and_nothing_else(text: str, as_trades: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "g.csv"
        path.write_text(text, encoding="utf-8")
        try:
            rows = read_trades(path, "X") if as_trades else read_bars(path, "X")
        except MarketDataError as e:
            assert str(e).startswith(str(path))
        else:
            assert rows  # whatever parsed is a valid, non-empty series


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.booleans())
def test_undecodable_bytes_raise_market_data_error(data: bytes, as_trades: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "b.csv"
        path.write_bytes(b"1700000000000,1,1,1,1,1\n" + data)
        try:
            rows = read_trades(path, "X") if as_trades else read_bars(path, "X")
        except MarketDataError as e:
            assert str(e).startswith(str(path))
        else:
            assert rows
