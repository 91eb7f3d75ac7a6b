"""`dita selftest bingx` against the loopback emulator: in every answer profile every check
passes and the account ends flat; an emulator made to answer one check wrongly (the
profile's ``rewrite`` hook) makes exactly that check fail, naming what differed; without
--testnet the self-test refuses unless --yes-real-money, before any request."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from dita.cli import main
from dita.selftest import Check, SelfTest
from dita.venues.bingx import Credentials, Endpoints
from dita.venues.bingx_emulator import BingxEmulator
from dita.venues.bingx_emulator.answers import AnswerProfile
from tests.venues.bingx.conftest import API_KEY, API_SECRET

REPO = Path(__file__).resolve().parents[3]

PROFILES = {
    "default": AnswerProfile(),
    "legacy": AnswerProfile.legacy(),
    "numeric-place-decimals": AnswerProfile(place_decimals="number"),
    "resting-NEW": AnswerProfile(resting_status="NEW"),
    "cancel-reply-PENDING": AnswerProfile(cancel_reply_status="PENDING"),
    "usdc-blank": AnswerProfile(usdc_row="blank"),
    "usdc-none": AnswerProfile(usdc_row="none"),
    "trade-status-unknown": AnswerProfile(trade_status_unknown=True),
    "one-way-LONG_SHORT": AnswerProfile(one_way_positions="LONG_SHORT"),
    "listen-key-json-body": AnswerProfile(listen_key_empty_body=False),
    "no-rate-limit-headers": AnswerProfile(rate_limit_headers=False),
}


async def _emulator(profile: AnswerProfile) -> BingxEmulator:
    emu = BingxEmulator(API_KEY, API_SECRET, answers=profile)
    await emu.start()
    await emu.set_price("BTC-USDT", Decimal(60000))
    return emu


async def _selftest(emu: BingxEmulator) -> list[Check]:
    test = SelfTest(
        Endpoints.loopback(emu.port), Credentials(API_KEY, API_SECRET), "BTC-USDT",
        pacing=False, timeout_s=5,
    )  # fmt: skip
    return await test.run()


def _flat(emu: BingxEmulator) -> bool:
    positions = emu.exchange.positions_data({})
    return not emu.exchange.open_orders({}).get("orders") and all(
        Decimal(p.get("positionAmt", "0") or "0") == 0 for p in positions
    )


@pytest.mark.parametrize("name", sorted(PROFILES))
async def test_every_check_passes_in_every_answer_profile_and_ends_flat(name: str) -> None:
    emu = await _emulator(PROFILES[name])
    try:
        checks = await _selftest(emu)
        failed = [(c.name, c.detail) for c in checks if not c.passed]
        assert not failed, failed
        assert len(checks) == 17 and checks[-1].name == "ends flat"
        assert emu.exchange.order_count() >= 5
        assert _flat(emu)
    finally:
        await emu.close()


def _order_price_off(key: str, data: Any) -> Any:
    if key == "GET /openApi/swap/v2/trade/order" and isinstance(data, dict):
        order = dict(data["order"])
        if order.get("type") == "LIMIT":
            order["price"] = str(Decimal(order["price"]) + 1)
        return {**data, "order": order}
    return data


def _open_orders_hidden(key: str, data: Any) -> Any:
    if key == "GET /openApi/swap/v2/trade/openOrders" and isinstance(data, dict):
        return {**data, "orders": []}
    return data


def _position_doubled(key: str, data: Any) -> Any:
    if key == "GET /openApi/swap/v2/user/positions" and isinstance(data, list):
        return [
            {**row, "positionAmt": str(Decimal(row["positionAmt"]) * 2)}
            if isinstance(row, dict) and row.get("positionAmt")
            else row
            for row in data
        ]
    return data


def _balance_v2_off(key: str, data: Any) -> Any:
    if key == "GET /openApi/swap/v2/user/balance" and isinstance(data, dict):
        row = dict(data["balance"])
        row["balance"] = str(Decimal(row["balance"]) + 5)
        return {**data, "balance": row}
    return data


WRONG: dict[str, tuple[Callable[[str, Any], Any], str, str]] = {
    "order-price": (_order_price_off, "query by client order id", "price: sent "),
    "open-orders": (_open_orders_hidden, "open orders show it", "is not among the 0 open orders"),
    "position": (_position_doubled, "position on REST and stream", "REST position 0.0002, filled 0.0001"),
    "balance-v2": (_balance_v2_off, "balance v2 and v3", "v2 says USDT "),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(WRONG))
async def test_a_wrong_answer_fails_its_check_naming_what_differed(name: str) -> None:
    rewrite, check_name, detail = WRONG[name]
    emu = await _emulator(AnswerProfile(rewrite=rewrite))
    try:
        checks = await _selftest(emu)
        failed = {c.name: c.detail for c in checks if not c.passed}
        assert check_name in failed, failed
        assert detail in failed[check_name]
        # the wrong answer is the only failure (the other checks still run; the end is flat)
        assert set(failed) == {check_name}, failed
        assert _flat(emu)
    finally:
        await emu.close()


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINGX_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


async def test_the_command_prints_the_table_and_records_a_capture(tmp_path: Path) -> None:
    emu = await _emulator(AnswerProfile())
    capture = tmp_path / "wire"
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "dita.cli", "selftest", "bingx", "--bingx-base-url",
            emu.rest_url, "--record-wire", str(capture), "--no-pacing", cwd=tmp_path,
            env=_env(BINGX_API_KEY=API_KEY, BINGX_API_SECRET=API_SECRET),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out_b, err_b = await asyncio.wait_for(proc.communicate(), 120)
    finally:
        await emu.close()
    out, err = out_b.decode(), err_b.decode()
    assert proc.returncode == 0, out + err
    assert "17/17 checks passed" in out
    for row in ("server time and clock offset", "duplicate client order id", "ends flat"):
        assert row in out
    assert "PASS" in out and "FAIL" not in out
    assert API_SECRET not in out + err and API_KEY not in out + err
    assert (capture / "wire.jsonl").is_file() and len(list(capture.glob("*.source"))) > 20
    for path in capture.iterdir():
        assert API_KEY.encode() not in path.read_bytes()


def test_without_testnet_it_refuses_unless_yes_real_money(tmp_path: Path) -> None:
    env = {"BINGX_API_KEY": "k" * 20, "BINGX_API_SECRET": "s" * 30}
    r = CliRunner().invoke(main, ["selftest", "bingx"], env=env)
    assert r.exit_code == 1
    assert "without --testnet the self-test trades REAL MONEY on https://open-api.bingx.com" in (
        r.stderr
    )
    r = CliRunner().invoke(main, ["selftest", "bingx", "--testnet", "--no-pacing"], env=env)
    assert r.exit_code == 1 and "--no-pacing is for a loopback emulator only" in r.stderr
    r = CliRunner().invoke(
        main, ["selftest", "bingx", "--bingx-base-url", "https://example.com"], env=env
    )
    assert r.exit_code == 1 and "only a loopback emulator is accepted" in r.stderr


async def test_a_position_held_before_the_run_is_left_as_it_was() -> None:
    emu = await _emulator(AnswerProfile())
    try:
        emu.exchange.place(
            {"symbol": "BTC-USDT", "side": "BUY", "type": "MARKET", "quantity": "0.0005",
             "positionSide": "BOTH"}
        )  # fmt: skip
        checks = await _selftest(emu)
        failed = [(c.name, c.detail) for c in checks if not c.passed]
        assert not failed, failed
        assert "net position 0.0005 (before the run 0.0005)" in checks[-1].understood
        (row,) = [p for p in emu.exchange.positions_data({}) if Decimal(p["positionAmt"])]
        assert Decimal(row["positionAmt"]) == Decimal("0.0005")
    finally:
        await emu.close()
