"""--policy from a file or the current directory, with parameters; refusals and undelivered
intents in the summary; LegacyIntents given a slot from the kernel's state."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from dita.app.runner import default_instrument
from dita.cli import main, parse_params
from dita.kernel import Kernel, TradeStage
from dita.legacy import LegacyConversionError, LegacyIntent, legacy_to_kernel
from dita.marketdata import Bar
from dita.policy import JsonlIntents, PolicyError, PolicyView, load_policy
from dita.reporting.summary import undelivered_lines

POLICY = """
class P:
    def __init__(self, n: int = 1, label: str = "x") -> None:
        self.n, self.label = n, label

    def on_bar(self, bar, view):
        return None  # nothing to do: None is as good as []

    def on_outcome(self, outcome, view):
        return []
"""


def test_a_policy_file_loads_by_path_with_parameters(tmp_path: Path) -> None:
    f = tmp_path / "sub" / "pol.py"
    f.parent.mkdir()
    f.write_text(POLICY, encoding="utf-8")
    p = load_policy(f"{f}:P", {"n": 3, "label": "y"})
    assert (p.n, p.label) == (3, "y")  # type: ignore[attr-defined]
    with pytest.raises(PolicyError, match=r"does not take the parameters \['m'\]"):
        load_policy(f"{f}:P", {"m": 1})
    with pytest.raises(PolicyError, match="no such file"):
        load_policy(f"{tmp_path}/nope.py:P")


def test_a_module_in_the_current_directory_loads_without_pythonpath(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "h8_cwd_policy.py").write_text(POLICY, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(
        "sys.path", [p for p in __import__("sys").path if p not in ("", str(tmp_path))]
    )
    assert load_policy("h8_cwd_policy:P", {"n": 2}).n == 2  # type: ignore[attr-defined]


def test_an_instance_refuses_parameters() -> None:
    with pytest.raises(PolicyError, match="is an instance: it cannot take parameters"):
        load_policy("tests.engine.test_policy:NULL", {"n": 1})


def test_params_are_read_as_toml_values() -> None:
    assert parse_params(("a=10", "b=0.02", "c=true", "d=hello", 'e="0.5"')) == {
        "a": 10, "b": Decimal("0.02"), "c": True, "d": "hello", "e": "0.5",
    }  # fmt: skip
    assert isinstance(parse_params(("b=0.1",))["b"], Decimal)  # never a float
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_params(("novalue",))


def test_refusals_are_counted_by_diagnostic_and_late_intents_named(tmp_path: Path) -> None:
    lines = [
        '{"intent_id":"a","ts":1704067259999,"slot_id":0,"action":"ENTER","trade_id":"t1",'
        '"asset":"BTC-USDT","side":"LONG","size":"0.5"}',  # MARKET without reference_price
        '{"intent_id":"b","ts":1704067259999,"slot_id":9,"action":"EXIT","trade_id":"t1"}',
        '{"intent_id":"c","ts":1704067319999,"slot_id":1,"action":"EXIT","trade_id":"t1"}',
    ]
    f = tmp_path / "i.jsonl"
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = CliRunner().invoke(main, ["run", "--intents", str(f), "--no-journal", "--quiet"])
    assert r.exit_code == 0, r.output
    table = {k.strip(): v.strip() for k, v in
             (ln.strip("│").split("│")[:2] for ln in r.stdout.splitlines() if ln.startswith("│"))}  # fmt: skip
    assert table["refused intents"] == "3"
    assert table["REFERENCE_PRICE_REQUIRED"] == "1"
    assert table["UNKNOWN_SLOT"] == "1"
    assert table["NO_POSITION"] == "1"
    # an intent timed after the data ends is refused before the run starts
    late = '{"intent_id":"late","ts":1904067259999,"slot_id":0,"action":"EXIT","trade_id":"t1"}'
    f.write_text("\n".join([*lines, late]) + "\n", encoding="utf-8")
    r = CliRunner().invoke(main, ["run", "--intents", str(f), "--no-journal", "--quiet"])
    assert r.exit_code == 1 and "intent 'late' at ts 1904067259999" in r.stderr


def test_intents_a_stopped_run_never_delivered_are_listed() -> None:
    src = JsonlIntents.read(io.StringIO(
        '{"intent_id":"x1","ts":10,"slot_id":0,"action":"CANCEL"}\n'
        '{"intent_id":"x2","ts":99,"slot_id":1,"action":"EXIT","trade_id":"t"}\n'))  # fmt: skip
    bar = Bar("BTC-USDT", 0, *(Decimal(1),) * 5, close_ts=50)
    view = PolicyView(Kernel(2, [default_instrument()], Decimal(1000)))
    assert [i.intent_id for i in src.on_bar(bar, view)] == ["x1"]
    assert [i.intent_id for i in src.undelivered] == ["x2"]
    assert undelivered_lines(src.undelivered, 50) == [
        "1 intent(s) never delivered: timed after the run's last bar (the last bar closed at 50)",
        "  x2 ts 99 EXIT slot 1",
    ]


def _legacy(action: str, trade_id: str, n: int) -> LegacyIntent:
    return LegacyIntent(timestamp=1, trade_id=trade_id, decision_id=f"d{n}", asset="BTC-USDT",
                        action=action, side="LONG", target_size=0.01, reference_price=50_000.0)  # fmt: skip


def test_legacy_intents_get_the_slot_the_kernel_state_implies() -> None:
    k = Kernel(3, [default_instrument()], Decimal(100_000))
    first = legacy_to_kernel(_legacy("ENTER", "a", 1), k)
    assert first.slot_id == 0
    assert k.process_intent(first).accepted
    second = legacy_to_kernel(_legacy("ENTER", "b", 2), k)
    assert second.slot_id == 1  # slot 0 is taken now
    assert k.process_intent(second).accepted
    assert k.slot(1).stage is TradeStage.ORDER_REQUESTED
    assert legacy_to_kernel(_legacy("CANCEL", "b", 3), k).slot_id == 1
    assert legacy_to_kernel(_legacy("CANCEL", "a", 4), k).slot_id == 0
    # a trade no slot holds goes to slot 0, where the kernel refuses it by its trade id
    ghost = legacy_to_kernel(_legacy("CANCEL", "ghost", 5), k)
    assert ghost.slot_id == 0 and not k.process_intent(ghost).accepted
    with pytest.raises(LegacyConversionError, match="without a trade_id"):
        legacy_to_kernel(_legacy("EXIT", "", 6), k)


def test_policy_params_come_from_the_run_config_and_param_overrides_them(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    (tmp_path / "run.toml").write_text(
        f'policy = "{root}/examples/ma_cross.py:MaCross"\n\n'
        "[policy_params]\nfast = 12\nslow = 50\nnotional = 2500.5\n",
        encoding="utf-8",
    )
    j = tmp_path / "j.sqlite"
    args = ["run", "--config", str(tmp_path / "run.toml"), "--journal", str(j), "--quiet"]
    r = CliRunner().invoke(main, [*args, "--param", "slow=60"])
    assert r.exit_code == 0, r.output
    from dita.journal import RecordKind
    from dita.verify import open_journal

    with open_journal(j) as jr:
        run = jr.first(RecordKind.RUN)
    assert run is not None
    assert run.body.params["policy_params"] == {  # type: ignore[union-attr]
        "fast": 12, "notional": "2500.5", "slow": 60,
    }  # fmt: skip
    (tmp_path / "bad.toml").write_text("[policy_params]\n'not-a-name' = 1\n", encoding="utf-8")
    r = CliRunner().invoke(main, ["run", "--config", str(tmp_path / "bad.toml"), "--no-journal"])
    assert r.exit_code == 1 and "are not Python identifiers" in r.stderr
