"""Issue 11 outside the kernel: JSONL intents, CSV cells, DSN passwords, secrets on the
command line. Each refusal is one line naming where, and nothing is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from dita.cli import main
from dita.journal.clickhouse import has_secret, redact
from dita.journal.clickhouse._conn import scrub
from dita.marketdata import MarketDataError, read_bars
from dita.policy import MAX_INTENT_DEPTH, PolicyError, parse_intent_lines

GOOD = {"intent_id": "a", "ts": 1704067259999, "slot_id": 0, "action": "ENTER",
        "trade_id": "t1", "asset": "BTC-USDT", "side": "LONG", "size": "0.5",
        "reference_price": "42324.4"}  # fmt: skip


def _line(**kw: object) -> str:
    return json.dumps({**GOOD, **kw})


# -- JSONL intents ---------------------------------------------------------------------------


def test_deep_metadata_is_refused_by_depth_not_by_recursion_error() -> None:
    deep = _line()[:-1] + ', "metadata": ' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(PolicyError) as e:
        parse_intent_lines([_line(), deep], "in.jsonl")
    assert str(e.value) == f"in.jsonl:2: nested deeper than {MAX_INTENT_DEPTH} levels"
    # brackets inside strings are text, not nesting
    [ok] = parse_intent_lines([_line(metadata={"note": "[" * 100})], "in.jsonl")
    assert ok.metadata == {"note": "[" * 100}


def test_unknown_key_is_refused_and_named() -> None:
    with pytest.raises(PolicyError, match=r"^in\.jsonl:1: unknown key 'sied'"):
        parse_intent_lines([_line(sied="LONG")], "in.jsonl")


def test_side_is_decoded_into_the_enum() -> None:
    from dita.kernel import Side

    [it] = parse_intent_lines([_line()], "x")
    assert it.side is Side.LONG


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=200),
        st.dictionaries(
            st.sampled_from([*GOOD, "metadata", "bogus", "leverage"]),
            st.recursive(
                st.one_of(
                    st.none(),
                    st.booleans(),
                    st.integers(),
                    st.text(max_size=10),
                    st.sampled_from(["1e999999", "NaN", "LONG", "-1"]),
                ),
                lambda inner: (
                    st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=3), inner, max_size=3)
                ),
                max_leaves=20,
            ),
            max_size=6,
        ).map(json.dumps),
    )
)
def test_any_line_is_an_intent_or_one_policy_error_line(line: str) -> None:
    try:
        parse_intent_lines([line], "fuzz.jsonl")
    except PolicyError as e:
        assert "\n" not in str(e) and str(e).startswith("fuzz.jsonl:")


def test_intents_after_the_data_end_are_reported_not_silently_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    late = _line(intent_id="late", ts=4_000_000_000_000)
    (tmp_path / "in.jsonl").write_text(_line() + "\n" + late + "\n")
    r = CliRunner().invoke(main, ["run", "--intents", "in.jsonl", "--journal", "j.sqlite"])
    assert r.exit_code != 0
    assert "in.jsonl:2: intent 'late' at ts 4000000000000 is after the data's last bar" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "j.sqlite").exists()


# -- CSV -------------------------------------------------------------------------------------

ROW = "1704067200000,42000,42010,41990,42005,12.5,1704067259999"


@pytest.mark.parametrize(
    ("cell", "col", "needle"),
    [
        ("9" * 4301, 2, "column 2: a cell of 4301 characters"),  # int/Decimal of >4,300 digits
        ("9" * 100, 2, "open: a cell of 100 characters"),
        ("1" * 5000, 1, "column 1: a cell of 5000 characters"),
        ("1e999999", 3, "out of range"),
        ("²", 1, "integer timestamp"),
    ],
)
def test_bounded_cells_give_one_line_errors(
    tmp_path: Path, cell: str, col: int, needle: str
) -> None:
    cells = ROW.split(",")
    cells[col - 1] = cell
    p = tmp_path / "k.csv"
    p.write_text(ROW.replace("1704067200000", "1704067140000").replace("1704067259999", "1704067199999")
                 + "\n" + ",".join(cells) + "\n")  # fmt: skip
    with pytest.raises(MarketDataError) as e:
        read_bars(p, "BTC-USDT")
    msg = str(e.value)
    assert msg.startswith(f"{p}:2: ") and needle in msg and "\n" not in msg and len(msg) < 300


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=30) | st.sampled_from(["9" * 5000, "NaN", "1e999999"]),
                min_size=1, max_size=8))  # fmt: skip
def test_any_cell_is_a_bar_or_a_market_data_error(tmp_path_factory: pytest.TempPathFactory,
                                                 cells: list[str]) -> None:  # fmt: skip
    p = tmp_path_factory.mktemp("csv") / "k.csv"
    p.write_text(ROW + "\n" + ",".join(c.replace("\n", " ") for c in cells) + "\n")
    try:
        read_bars(p, "BTC-USDT")
    except MarketDataError as e:
        assert "\n" not in str(e)


# -- DSN passwords and secrets on the command line ------------------------------------------

PW = "hunter2-Secret"


@pytest.mark.parametrize(
    "dsn",
    [
        f"http://h:8123/?pw={PW}",
        f"http://h:8123/db?user=u&passwd={PW}",
        f"http://h/?PASSWORD={PW}&x=1",
        f"http://u:{PW}@h:8123/db",
        f"clickhouse://:{PW}@h",
        f"http://h/db;password={PW}",
        f"https://h/?sslpassword={PW}&access_token={PW}",
        f"http://h/?api_key={PW}",
    ],
)
def test_every_password_form_is_redacted(dsn: str) -> None:
    assert PW not in redact(dsn) and "***" in redact(dsn)
    assert has_secret(dsn)
    assert PW not in scrub(f"cannot reach {dsn}: {PW}", dsn)


def test_dsn_without_secret_is_shown_as_is() -> None:
    assert redact("http://u@h:8123/db?database=x") == "http://u@h:8123/db?database=x"
    assert not has_secret("http://u@h:8123/db?database=x")


def test_password_in_dsn_on_the_command_line_warns_and_env_does_not() -> None:
    dsn = f"http://u:{PW}@127.0.0.1:9/?x=1"
    r = CliRunner().invoke(main, ["clickhouse", "init", "--dsn", dsn])
    assert "warning: --dsn carries a password on the command line" in r.stderr
    assert "DITA_CLICKHOUSE_PASSWORD" in r.stderr and PW not in r.output + r.stderr
    r = CliRunner().invoke(main, ["clickhouse", "init"], env={"DITA_CLICKHOUSE_DSN": dsn})
    assert "warning" not in r.stderr and PW not in r.output + r.stderr


def test_api_secret_on_the_command_line_warns() -> None:
    r = CliRunner().invoke(main, ["emulate", "bingx", "--api-secret", PW, "--port", "-5"])
    assert "warning: --api-secret on the command line is visible to other users" in r.stderr
    assert "$BINGX_API_SECRET" in r.stderr and PW not in r.output + r.stderr
