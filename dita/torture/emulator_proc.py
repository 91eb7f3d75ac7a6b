"""The BingX emulator in its own process, plus a small control port for the torture harness.

``python -m dita.torture.emulator_proc --balance 10000`` (API key and secret
from ``BINGX_API_KEY``/``BINGX_API_SECRET``) prints one JSON line
``{"port": P, "control": C}`` and serves until killed. Control (127.0.0.1:C):

* ``POST /trade?price=&volume=``: a public print (fills crossing LIMIT orders);
* ``GET /truth``: every order the emulator holds (by client order id), the
  count of place requests per client order id, positions and balance.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections import Counter
from decimal import Decimal
from typing import Any

from aiohttp import web

from dita.venues.bingx_emulator import BingxEmulator
from dita.venues.bingx_emulator.sim_engine import SimEngine
from dita.venues.sim.exchange import DEFAULT_ACCOUNT

SYMBOL = "BTC-USDT"
PLACE = ("POST", "/openApi/swap/v2/trade/order")


def _s(d: Decimal | None) -> str | None:
    return None if d is None else str(d)


def truth(emu: BingxEmulator) -> dict[str, Any]:
    ex = emu.exchange
    assert isinstance(ex, SimEngine)
    sim = ex.sim
    orders = []
    for o in sim._account(DEFAULT_ACCOUNT).orders.values():
        r = o.report()
        wire_cid = ex._wire_cid.get(r.client_order_id, r.client_order_id)
        if r.status.value == "REJECTED" and r.cum_qty == 0:
            continue  # BingX keeps no trace of a refused order
        orders.append(
            {
                "client_order_id": wire_cid,
                "venue_order_id": r.venue_order_id,
                "asset": r.asset,
                "side": r.side.value,
                "order_type": r.order_type.value,
                "quantity": str(r.quantity),
                "limit_price": _s(r.limit_price),
                "reduce_only": r.reduce_only,
                "status": r.status.value,
                "cum_qty": str(r.cum_qty),
                "avg_price": _s(r.avg_price),
                "fees": str(r.fees),
                "ts": r.ts,
            }
        )
    places: Counter[str] = Counter()
    for req in emu.requests:
        if (req.method, req.path) == PLACE:
            cid = req.params.get("clientOrderId", req.params.get("clientOrderID", "")).lower()
            places[cid] += 1
    bal = sim.balance()
    return {
        "orders": orders,
        "place_requests": dict(places),
        "positions": [
            {
                "asset": p.asset,
                "side": p.side.value,
                "quantity": str(p.quantity),
                "entry_price": str(p.entry_price),
            }
            for p in sim.positions()
        ],
        "balance": {"asset": bal.asset, "wallet": str(bal.wallet), "available": str(bal.available)},
    }


async def main(balance: Decimal) -> None:
    key, secret = os.environ["BINGX_API_KEY"], os.environ["BINGX_API_SECRET"]
    emu = BingxEmulator(
        key, secret, initial_balance=balance, listen_key_ttl_ms=10 * 365 * 86_400_000
    )
    async with emu:

        async def trade(request: web.Request) -> web.Response:
            q = request.query
            await emu.trade(SYMBOL, Decimal(q["price"]), Decimal(q["volume"]))
            return web.json_response({"ok": True})

        async def get_truth(request: web.Request) -> web.Response:
            return web.json_response(truth(emu))

        app = web.Application()
        app.router.add_post("/trade", trade)
        app.router.add_get("/truth", get_truth)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        control = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        print(json.dumps({"port": emu.port, "control": control}), flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--balance", default="10000")
    args = ap.parse_args()
    asyncio.run(main(Decimal(args.balance)))
