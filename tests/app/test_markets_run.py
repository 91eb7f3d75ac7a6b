"""Issue 12, market half: per-symbol instruments and fees from the config, several symbols in
one run, precedence of settings. Real runs through the CLI, checked against their journals."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from dita.cli import main
from dita.journal import RunMeta
from dita.kernel import EventKind, KernelOutcome, SubmitOrder, VenueEvent
from dita.marketdata.sample import sample_bars_path
from dita.marketdata.synthetic import synthetic_bars, write_binance_klines
from dita.verify import open_journal

DOGE_TICK = Decimal("0.00001")


def _invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


def _records(path: Path) -> tuple[RunMeta, list[tuple[VenueEvent, KernelOutcome]], dict[str, str]]:
    """(run meta, every accepted venue event with its outcome, client order id -> symbol)."""
    from dita.journal import OutcomeRecord

    meta: RunMeta | None = None
    inputs: dict[int, VenueEvent] = {}
    events: list[tuple[VenueEvent, KernelOutcome]] = []
    symbol_of: dict[str, str] = {}
    with open_journal(path) as j:
        for rec in j.read_from(1):
            body = rec.body
            if isinstance(body, RunMeta):
                meta = body
            elif isinstance(body, VenueEvent):
                inputs[rec.seq] = body
            elif isinstance(body, OutcomeRecord):
                for c in body.outcome.commands:
                    if isinstance(c, SubmitOrder):
                        symbol_of[c.order.client_order_id] = c.order.asset
                ev = inputs.pop(body.input_seq, None)
                if ev is not None and body.outcome.accepted:
                    events.append((ev, body.outcome))
    assert meta is not None
    return meta, events, symbol_of


@pytest.fixture
def doge(tmp_path: Path) -> Path:
    bars = synthetic_bars("DOGE-USDT", 1500, 5, Decimal("0.08"), tick_size=DOGE_TICK,
                          step_size=Decimal(1), mean_volume=Decimal(2_000_000))  # fmt: skip
    path = tmp_path / "DOGEUSDT-1m-2024-01.csv"
    write_binance_klines(path, bars)
    return path


def test_doge_backtest_fills_on_dogecoins_grid_with_the_configs_fees(
    tmp_path: Path, doge: Path
) -> None:
    cfg = tmp_path / "run.toml"
    cfg.write_text(
        f'data = ["{doge.name}"]\ncapital = "1000"\n'
        '[instruments."DOGE-USDT"]\ntick = "0.00001"\nstep = "1"\nmin_qty = "1"\n'
        'min_notional = "2"\nmaker_fee = "0.0001"\ntaker_fee = "0.0004"\n'
    )
    journal = tmp_path / "j" / "journal.sqlite"
    code, out, err = _invoke("run", "--config", str(cfg), "--journal", str(journal), "--quiet")
    assert code == 0, err
    meta, events, _ = _records(journal)
    [inst] = meta.instruments
    assert (inst.symbol, inst.tick_size, inst.step_size) == ("DOGE-USDT", DOGE_TICK, Decimal(1))
    fills = [e for e, _ in events if e.kind in (EventKind.FILL, EventKind.PARTIAL_FILL)]
    assert len(fills) > 50
    for f in fills:
        assert f.last_price is not None and f.last_qty is not None
        assert f.last_price % DOGE_TICK == 0, f"fill at {f.last_price}: off DOGE's tick"
        assert f.last_qty % 1 == 0
        assert Decimal("0.05") < f.last_price < Decimal("0.12")
        rate = Decimal("0.0001") if f.reason == "maker" else Decimal("0.0004")
        assert f.fee == (f.last_qty * f.last_price * rate).quantize(Decimal("1e-8"))
    assert {f.reason for f in fills} == {"maker", "taker"}
    # The symptom (BTC's 0.1 grid on 0.08 prices) turned 1,000 into 1,111,511.
    conn = sqlite3.connect(journal)
    (trades,) = conn.execute("SELECT count(*) FROM trades").fetchone()
    conn.close()
    assert trades > 10
    code, out, _ = _invoke("replay", str(journal))
    assert code == 0 and "OK" in out
    capital = Decimal(next(ln for ln in out.splitlines() if "final capital" in ln)
                      .split()[-2].replace(",", ""))  # fmt: skip
    assert Decimal(500) < capital < Decimal(1500)


def test_a_symbol_without_an_instrument_is_one_line_error(tmp_path: Path, doge: Path) -> None:
    code, _, err = _invoke("run", "--data", f"FOO-USDT={doge}", "--no-journal", "--quiet")
    assert code == 1
    assert err.startswith("dita run: error: no instrument for FOO-USDT")
    assert err.count("\n") == 1
    # DOGE is not bundled: bars named DOGEUSDT... are refused, never run on BTC's grid.
    code, _, err = _invoke("run", "--data", str(doge), "--no-journal", "--quiet")
    assert code == 1
    assert err.startswith("dita run: error: no instrument for DOGE-USDT (from the file name")


def _two(tmp_path: Path) -> tuple[Path, Path]:
    btc = tmp_path / "BTCUSDT-1m.csv"
    eth = tmp_path / "ETHUSDT-1m.csv"
    write_binance_klines(btc, synthetic_bars("BTC-USDT", 1200, 1, Decimal(60000),
                                             step_size=Decimal("0.0001")))  # fmt: skip
    write_binance_klines(eth, synthetic_bars("ETH-USDT", 1200, 2, Decimal(3000),
                                             tick_size=Decimal("0.01"), step_size=Decimal("0.01")))  # fmt: skip
    return btc, eth


def test_two_symbols_in_one_run_trade_both_replay_exactly_and_show_both(tmp_path: Path) -> None:
    btc, eth = _two(tmp_path)
    journal = tmp_path / "two" / "journal.sqlite"
    code, out, err = _invoke("run", "--data", str(btc), "--data", str(eth), "--journal",
                             str(journal), "--quiet")  # fmt: skip
    assert code == 0, err
    meta, events, symbol_of = _records(journal)
    assert [i.symbol for i in meta.instruments] == ["BTC-USDT", "ETH-USDT"]
    fills: dict[str, int] = {}
    for ev, _ in events:
        if ev.kind in (EventKind.FILL, EventKind.PARTIAL_FILL):
            sym = symbol_of[ev.client_order_id]
            fills[sym] = fills.get(sym, 0) + 1
    assert fills.get("BTC-USDT", 0) > 20 and fills.get("ETH-USDT", 0) > 20
    conn = sqlite3.connect(journal)
    by_asset = dict(conn.execute("SELECT asset, count(*) FROM trades GROUP BY asset").fetchall())
    conn.close()
    assert by_asset.get("BTC-USDT", 0) > 5 and by_asset.get("ETH-USDT", 0) > 5
    for text in (out, _invoke("replay", str(journal))[1]):
        rows = {ln.split()[0]: ln.split() for ln in text.splitlines()
                if ln.strip().startswith(("BTC-USDT", "ETH-USDT"))}  # fmt: skip
        assert int(rows["BTC-USDT"][1]) == by_asset["BTC-USDT"]
        assert int(rows["ETH-USDT"][1]) == by_asset["ETH-USDT"]
    code, rep, _ = _invoke("replay", str(journal))
    assert code == 0 and "OK:" in rep
    # Same inputs, same journal: the second run's trades table is identical.
    again = tmp_path / "again" / "journal.sqlite"
    assert _invoke("run", "--data", str(btc), "--data", str(eth), "--journal", str(again),
                   "--quiet")[0] == 0  # fmt: skip
    q = "SELECT * FROM trades ORDER BY rowid"
    a, b = sqlite3.connect(journal), sqlite3.connect(again)
    assert a.execute(q).fetchall() == b.execute(q).fetchall()
    a.close()
    b.close()


def test_per_symbol_numbers_add_up_to_the_run(tmp_path: Path) -> None:
    from dita.app.runner import execute, prepare_sim_run

    btc, eth = _two(tmp_path)
    res = execute(prepare_sim_run(data=[btc, eth], journal=None))
    parts = res.stats.by_symbol.symbols
    assert set(parts) == {"BTC-USDT", "ETH-USDT"}
    assert sum(p.realized_pnl for p in parts.values()) == res.stats.realized_pnl
    assert sum(p.fees for p in parts.values()) == res.stats.fees
    assert sum(p.funding for p in parts.values()) == res.stats.funding
    assert sum(p.trades for p in parts.values()) == res.stats.trades


def test_a_folder_is_every_data_file_in_it(tmp_path: Path) -> None:
    _two(tmp_path)
    code, out, err = _invoke("run", "--data", str(tmp_path), "--no-journal", "--quiet")
    assert code == 0, err
    assert "BTC-USDT" in out and "ETH-USDT" in out


def test_settings_precedence_flag_over_env_over_config_over_default(tmp_path: Path) -> None:
    cfg = tmp_path / "run.toml"
    cfg.write_text('seed = 3\nslots = 3\nlatency_ms = 10\ncapital = "5000"\n')
    # only the run record is read: 120 bars of the bundled sample say as much as 2,880
    bars = tmp_path / "BTCUSDT-1m.csv"
    bars.write_text("".join(sample_bars_path().read_text().splitlines(keepends=True)[:121]))

    def meta_of(*args: str, env: dict[str, str] | None = None) -> RunMeta:
        j = tmp_path / f"j{len(list(tmp_path.iterdir()))}" / "journal.sqlite"
        code, _, err = _invoke("run", "--config", str(cfg), "--data", str(bars), "--journal",
                               str(j), "--quiet", *args, env=env)  # fmt: skip
        assert code == 0, err
        return _records(j)[0]

    m = meta_of()
    assert (m.seed, m.slots, m.initial_capital, m.params["sim"]["latency_ms"]) == (3, 3, 5000, 10)
    m = meta_of(env={"DITA_SEED": "4", "DITA_SLOTS": "1"})
    assert (m.seed, m.slots, m.initial_capital) == (4, 1, 5000)
    m = meta_of("--seed", "5", env={"DITA_SEED": "4"})
    assert (m.seed, m.slots) == (5, 3)
    m = meta_of("--taker-fee", "0.0007")
    assert m.params["sim"]["taker_fee"] == "0.0007"
    assert m.params["sim"]["symbols"]["BTC-USDT"]["taker_fee"] == "0.0007"


def test_bad_config_is_a_one_line_error_naming_the_key(tmp_path: Path) -> None:
    cfg = tmp_path / "run.toml"
    for text, needle in (
        ("sede = 3\n", "unknown key(s) ['sede']"),
        ('capital = "lots"\n', "capital: 'lots' is not a number"),
        ('slippage = "random:x"\n', "slippage"),
        ('[instruments."X-USDT"]\ntick = "0.1"\n', "missing ['step', 'min_qty', 'min_notional']"),
        ("seed = [", "not valid TOML"),
    ):
        cfg.write_text(text)
        code, _, err = _invoke("run", "--config", str(cfg), "--no-journal", "--quiet")
        assert code == 1, text
        assert needle in err, (text, err)
        assert err.count("\n") == 1


def test_instrument_tables_may_set_the_kernels_bounds(tmp_path: Path) -> None:
    from dita.markets import MarketError, load_instruments_file

    f = tmp_path / "i.toml"
    f.write_text('[instruments."X-USDT"]\ntick = 0.01\nstep = 1\nmin_qty = 1\nmin_notional = 5\n'
                 'max_price = 1000\nmax_leverage = 20\n')  # fmt: skip
    inst = load_instruments_file(f)["X-USDT"].instrument
    assert (inst.tick_size, inst.max_price, inst.max_leverage) == (
        Decimal("0.01"),
        Decimal(1000),
        Decimal(20),
    )
    f.write_text('[instruments."X-USDT"]\ntick = 0.01\nstep = 1\nmin_qty = 1\nmin_notional = 5\n'
                 "max_price = 0\n")  # fmt: skip
    with pytest.raises(MarketError, match="max_price must be > 0"):
        load_instruments_file(f)
