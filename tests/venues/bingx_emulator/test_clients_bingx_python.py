"""A second, independent public client: ``bingx-python`` (PyPI, tigusigalpa/bingx-python,
synchronous, ``requests``-based), unchanged but for its base URL, against the emulator.

Two things about this client, both its own and not the emulator's: its top-level
``BingXClient`` defaults to base64 signatures, which BingX does not document (its
signature is lower-case hex, PROTOCOL.md §2.1), so the client is built with its own
``signature_encoding="hex"`` option; and it signs the parameters sorted but sends them
in the order it built them, which the emulator accepts as the real venue evidently
does (the client is used against it). Its market-data WebSocket does not gunzip frames,
which BingX always gzips, so it is left out of the matrix. Every request goes to
127.0.0.1: the client is given only the emulator's URL and its fallback list
(``open-api.bingx.pro``) applies only to the two real hosts.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from tests.venues.bingx_emulator.clients import (
    API_KEY,
    API_SECRET,
    SYMBOL_ID,
    Matrix,
    ThreadedEmulator,
    expect,
)

bingx = pytest.importorskip("bingx")

pytestmark = pytest.mark.clients


@pytest.fixture
def served() -> Iterator[ThreadedEmulator]:
    with ThreadedEmulator() as t:
        yield t


def _ok(answer: dict[str, Any]) -> Any:
    expect(answer.get("code") == 0, f"{answer}")
    return answer.get("data")


def test_bingx_python_against_the_emulator(served: ThreadedEmulator) -> None:
    emu = served.emu
    for i in range(3):
        served.run(lambda i=i: emu.trade(SYMBOL_ID, Decimal(60000 + 10 * i), Decimal("0.5")))
    client = bingx.BingXClient(API_KEY, API_SECRET, base_uri=emu.rest_url, signature_encoding="hex")
    expect(client.http_client._fallback_urls == [emu.rest_url], "no fallback to a real host")
    market, account, trade = client.market(), client.account(), client.trade()
    m = Matrix(f"bingx-python {bingx.__version__}")

    import asyncio

    def run(name: str, fn: Any) -> Any:
        async def call() -> Any:
            return fn()

        return asyncio.run(m.step(name, call))

    def contracts() -> None:
        rows = _ok(market.get_contracts())
        expect(SYMBOL_ID in {r["symbol"] for r in rows}, "BTC-USDT listed")

    run("contracts", contracts)
    run(
        "ticker",
        lambda: expect(_ok(market.get_24hr_ticker(SYMBOL_ID))["lastPrice"] == "60020", "last"),
    )
    run(
        "order book",
        lambda: expect(len(_ok(market.get_depth(SYMBOL_ID, 5))["bids"]) == 5, "5 bids"),
    )
    run(
        "book ticker",
        lambda: expect(
            _ok(market.get_book_ticker(SYMBOL_ID))["book_ticker"]["ask_price"] > "0", "ask"
        ),
    )
    run(
        "klines 1m / 1h",
        lambda: expect(
            _ok(market.get_klines(SYMBOL_ID, "1m"))[0]["close"] == "60020"
            and len(_ok(market.get_klines(SYMBOL_ID, "1h"))) == 1,
            "bars",
        ),
    )
    run(
        "recent trades",
        lambda: expect(len(_ok(market.get_recent_trades(SYMBOL_ID))) == 3, "3 prints"),
    )
    run(
        "premium index",
        lambda: expect(_ok(market.get_premium_index(SYMBOL_ID))["markPrice"] == "60020", "mark"),
    )
    run(
        "funding rate history",
        lambda: expect(isinstance(_ok(market.get_quote_funding_rate(SYMBOL_ID)), list), "rows"),
    )
    run(
        "open interest",
        lambda: expect(_ok(market.get_open_interest(SYMBOL_ID))["symbol"] == SYMBOL_ID, "oi"),
    )
    run("balance", lambda: expect(_ok(account.get_balance())[0]["balance"] == "10000", "10000"))
    run(
        "set / get leverage",
        lambda: (
            _ok(account.set_leverage(SYMBOL_ID, "BOTH", 9)),
            expect(_ok(account.get_leverage(SYMBOL_ID))["longLeverage"] == 9, "9x"),
        ),
    )
    run(
        "margin type",
        lambda: (
            _ok(trade.change_margin_type(SYMBOL_ID, "CROSSED")),
            expect(_ok(trade.get_margin_type(SYMBOL_ID))["marginType"] == "CROSSED", "crossed"),
        ),
    )
    state: dict[str, Any] = {}

    def place_limit() -> None:
        order = _ok(trade.create_order({
            "symbol": SYMBOL_ID, "side": "BUY", "positionSide": "BOTH", "type": "LIMIT",
            "quantity": "0.01", "price": "59000", "clientOrderId": "bx-py-1",
        }))["order"]  # fmt: skip
        state["limit"] = order["orderId"]

    run("place limit (form body)", place_limit)
    run(
        "query order",
        lambda: expect(
            _ok(trade.get_order(SYMBOL_ID, str(state["limit"])))["order"]["clientOrderId"]
            == "bx-py-1",
            "found",
        ),
    )
    run(
        "open orders",
        lambda: expect(len(_ok(trade.get_open_orders(SYMBOL_ID))["orders"]) == 1, "one"),
    )
    run("cancel order", lambda: _ok(trade.cancel_order(SYMBOL_ID, str(state["limit"]))))

    def place_market() -> None:
        _ok(trade.create_order({
            "symbol": SYMBOL_ID, "side": "BUY", "positionSide": "BOTH", "type": "MARKET",
            "quantity": "0.02",
        }))  # fmt: skip
        rows = _ok(account.get_positions(SYMBOL_ID))
        expect(
            len(rows) == 1 and Decimal(rows[0]["positionAmt"]).copy_abs() == Decimal("0.02"),
            f"{rows}",
        )

    run("place market + positions", place_market)
    run(
        "order history (allOrders)",
        lambda: expect(
            {o["orderId"] for o in _ok(trade.get_order_history(SYMBOL_ID))["orders"]}
            >= {state["limit"]},
            "both",
        ),
    )

    def cancel_all() -> None:
        for price in ("58000", "57000"):
            _ok(trade.create_order({
                "symbol": SYMBOL_ID, "side": "BUY", "positionSide": "BOTH", "type": "LIMIT",
                "quantity": "0.01", "price": price,
            }))  # fmt: skip
        _ok(trade.cancel_all_orders(SYMBOL_ID))
        expect(_ok(trade.get_open_orders(SYMBOL_ID))["orders"] == [], "none open")

    run("cancel all", cancel_all)

    def close_all() -> None:
        expect(len(_ok(trade.close_all_positions(SYMBOL_ID))["success"]) == 1, "one close order")
        expect(_ok(account.get_positions(SYMBOL_ID)) == [], "flat")

    run("close all positions", close_all)
    run(
        "listen key",
        lambda: expect(len(client.listen_key().generate()["listenKey"]) == 64, "a key"),
    )
    m.check()
    assert all(r.path.startswith("/openApi") for r in emu.requests)
