"""Data in: .csv.gz, ISO-8601 times, Bybit and OKX kline layouts (newest first), Parquet;
gaps reported and mixed intervals refused by the run setup."""

from __future__ import annotations

import gzip
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from dita.app.runner import RunSetupError, prepare_sim_run
from dita.marketdata import MarketDataError, read_bars

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
ROWS = [(T0 + i * 60_000, f"{42000 + i}.5", f"{42010 + i}.5", f"{41990 + i}.5", f"{42005 + i}.5",
         f"{10 + i}.125") for i in range(5)]  # fmt: skip


def _plain(rows: list[tuple[int, str, str, str, str, str]]) -> str:
    return "".join(",".join(map(str, r)) + "\n" for r in rows)


def _expect(path: Path) -> None:
    bars = read_bars(path, "BTC-USDT")
    assert [b.ts for b in bars] == [r[0] for r in ROWS]
    assert [b.open for b in bars] == [Decimal(r[1]) for r in ROWS]
    assert [b.volume for b in bars] == [Decimal(r[5]) for r in ROWS]
    assert all(b.close_ts == b.ts + 59_999 for b in bars)


def test_csv_gz(tmp_path: Path) -> None:
    p = tmp_path / "bars.csv.gz"
    with gzip.open(p, "wt") as fh:
        fh.write(_plain(ROWS))
    _expect(p)


def test_iso_times_with_and_without_offset(tmp_path: Path) -> None:
    p = tmp_path / "iso.csv"
    lines = ["time,open,high,low,close,volume"]
    for i, (_, *rest) in enumerate(ROWS):
        t = f"2024-01-01T00:0{i}:00Z" if i % 2 else f"2024-01-01 01:0{i}:00+01:00"
        lines.append(",".join([t, *rest]))
    p.write_text("\n".join(lines) + "\n")
    _expect(p)
    p.write_text("2024-01-01T00:00:00.5Z,1,1,1,1,1\n2024-01-01T00:01:00.5Z,1,1,1,1,1\n")
    assert [b.ts for b in read_bars(p, "X")] == [T0 + 500, T0 + 60_500]
    p.write_text(
        "time,open,high,low,close,volume\n2024-13-01T00:00:00Z,1,1,1,1,1\n2024-13-01T00:01:00Z,1,1,1,1,1\n"
    )
    with pytest.raises(MarketDataError, match="neither an integer timestamp nor ISO-8601"):
        read_bars(p, "X")


def test_bybit_v5_klines_newest_first_with_and_without_header(tmp_path: Path) -> None:
    # result.list rows: startTime, openPrice, highPrice, lowPrice, closePrice, volume, turnover
    rows = [(*r, f"{Decimal(r[4]) * Decimal(r[5])}") for r in reversed(ROWS)]
    p = tmp_path / "bybit.csv"
    p.write_text("".join(",".join(map(str, r)) + "\n" for r in rows))
    _expect(p)
    p.write_text("startTime,openPrice,highPrice,lowPrice,closePrice,volume,turnover\n"
                 + "".join(",".join(map(str, r)) + "\n" for r in rows))  # fmt: skip
    _expect(p)


def test_okx_v5_candles_skip_the_bar_still_forming(tmp_path: Path) -> None:
    # data rows: ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm (newest first)
    forming = (T0 + 5 * 60_000, "1", "1", "1", "1", "1")
    rows = [(*r, r[5], "0", "0" if r is forming else "1") for r in [forming, *reversed(ROWS)]]
    p = tmp_path / "okx.csv"
    p.write_text("".join(",".join(map(str, r)) + "\n" for r in rows))
    _expect(p)
    p.write_text("ts,o,h,l,c,vol,volCcy,volCcyQuote,confirm\n"
                 + "".join(",".join(map(str, r)) + "\n" for r in rows))  # fmt: skip
    _expect(p)


def test_parquet(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    p = tmp_path / "bars.parquet"
    table = pa.table({
        "open_time": [r[0] for r in ROWS],
        "open": [Decimal(r[1]) for r in ROWS],
        "high": [r[2] for r in ROWS],  # strings are exact too
        "low": [Decimal(r[3]) for r in ROWS],
        "close": [Decimal(r[4]) for r in ROWS],
        "volume": [float(r[5]) for r in ROWS],  # a float column: its shortest text
    })  # fmt: skip
    pq.write_table(table, p)
    _expect(p)


def test_parquet_without_pyarrow_names_the_extra(tmp_path: Path) -> None:
    p = tmp_path / "bars.parquet"
    p.write_bytes(b"PAR1")
    code = (
        "import sys; sys.modules['pyarrow'] = None; sys.modules['pyarrow.parquet'] = None\n"
        "from dita.marketdata import read_bars, MarketDataError\n"
        f"try: read_bars({str(p)!r}, 'X')\n"
        "except MarketDataError as e: print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "optional extra 'parquet'" in out.stdout and "pip install 'dita[parquet]'" in out.stdout


def test_gaps_are_reported_and_recorded(tmp_path: Path) -> None:
    p = tmp_path / "BTCUSDT-gappy.csv"
    rows = [r for i, r in enumerate(ROWS) if i not in (1, 2)]
    p.write_text(_plain(rows))
    run = prepare_sim_run(data=p, journal=None)
    assert run.notes == [
        f"{p} (BTC-USDT): 2 bar(s) missing, the first at 2024-01-01T00:01:00+00:00"
    ]
    assert run.params["data_notes"] == run.notes


def test_mixed_intervals_are_refused(tmp_path: Path) -> None:
    p = tmp_path / "BTCUSDT-mixed.csv"
    rows = [ROWS[0], ROWS[1], (ROWS[1][0] + 90_000, *ROWS[2][1:])]
    p.write_text(_plain(rows))
    with pytest.raises(RunSetupError, match=r"mixed intervals: bar at .* 90000 ms after"):
        prepare_sim_run(data=p, journal=None)
    one = tmp_path / "BTCUSDT-1m.csv"
    one.write_text(_plain(ROWS))
    five = tmp_path / "ETHUSDT-5m.csv"
    five.write_text(_plain([(T0 + i * 300_000, *r[1:]) for i, r in enumerate(ROWS)]))
    with pytest.raises(RunSetupError, match="mixed intervals across data files"):
        prepare_sim_run(data=[one, five], journal=None)


def test_overlapping_files_of_one_symbol_are_refused(tmp_path: Path) -> None:
    a = tmp_path / "a.csv"
    b = tmp_path / "b.csv"
    a.write_text(_plain(ROWS[:3]))
    b.write_text(_plain(ROWS[2:]))
    with pytest.raises(RunSetupError, match="overlap in time"):
        prepare_sim_run(data=[f"BTC-USDT={a}", f"BTC-USDT={b}"], journal=None)
    b.write_text(_plain(ROWS[3:]))
    run = prepare_sim_run(data=[f"BTC-USDT={a}", f"BTC-USDT={b}"], journal=None)
    assert [bar.ts for bar in run.bars()] == [r[0] for r in ROWS]
