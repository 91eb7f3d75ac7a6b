"""The BingX emulator in its own process, plus a small control port for the torture harness.

``python -m dita.testing.torture.emulator_proc --balance 10000`` (API key and secret
from ``BINGX_API_KEY``/``BINGX_API_SECRET``) prints one JSON line
``{"port": P, "control": C}`` and serves until killed. Control (127.0.0.1:C):

* ``POST /trade?price=&volume=``: a public print (fills crossing LIMIT orders);
* ``GET /truth``: every order the emulator holds (by client order id), the
  count of place requests per client order id, positions and balance, and the
  faults injected so far by kind;
* ``POST /faults?rate=``: change the random fault rate (0 stops injecting).

``--fault-rate R --fault-seed S`` injects ordinary faults at random, each kind
at probability R per request (or stream frame) of its kind (``FaultyEmulator``):
on order writes (place, cancel) HTTP 500 before execution, HTTP 504 after
execution and BingX 100410 (rate limited); HTTP 502 on reads (order query, open
orders, positions, balance); user-data frames dropped and duplicated; stream
disconnects; and a fill pushed on the stream before the REST answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections import Counter
from decimal import Decimal
from random import Random
from typing import Any

from aiohttp import web

from dita.venues.bingx_emulator import BingxEmulator
from dita.venues.bingx_emulator.server import HttpFault
from dita.venues.bingx_emulator.sim_engine import SimEngine
from dita.venues.sim.exchange import DEFAULT_ACCOUNT

SYMBOL = "BTC-USDT"
PLACE = ("POST", "/openApi/swap/v2/trade/order")


ORDER_PATH = "/openApi/swap/v2/trade/order"
READS = {
    ("GET", ORDER_PATH),
    ("GET", "/openApi/swap/v2/trade/openOrders"),
    ("GET", "/openApi/swap/v2/user/positions"),
    ("GET", "/openApi/swap/v3/user/balance"),
}
WRITES = {("POST", ORDER_PATH), ("DELETE", ORDER_PATH)}


class FaultyEmulator(BingxEmulator):
    """The emulator with ordinary faults injected at random (see the module docstring).

    ``rate`` applies per kind; ``counts`` says how many of each were injected."""

    def __init__(self, *a: Any, rate: float = 0.0, seed: int = 0, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.rate = rate
        self.rng = Random(seed)
        self.counts: Counter[str] = Counter()

    def _hit(self, kind: str) -> bool:
        if self.rate > 0 and self.rng.random() < self.rate:
            self.counts[kind] += 1
            return True
        return False

    def _take_fault(self, method: str, path: str) -> HttpFault | None:
        explicit = super()._take_fault(method, path)
        if explicit is not None or self.rate <= 0:
            return explicit
        what = "place" if method == "POST" else "cancel"
        self.stream_before_rest = False
        if (method, path) in WRITES:
            if self._hit(f"{what}: HTTP 500 before execution"):
                return HttpFault(path, method, status=500)
            if self._hit(f"{what}: HTTP 504 after execution"):
                return HttpFault(path, method, status=504, after_execute=True)
            if self._hit(f"{what}: 100410 rate limited"):
                return HttpFault(path, method, code=100410, msg="rate limited (injected)")
            if method == "POST" and self._hit("place: fill pushed before the REST answer"):
                self.stream_before_rest = True
        elif (method, path) in READS and self._hit(f"read {path.rsplit('/', 1)[-1]}: HTTP 502"):
            return HttpFault(path, method, status=502)
        return None

    async def _flush(self, wait: bool = False, printing: bool = False) -> None:
        events = len(self.exchange.outbox)
        for _ in range(events):
            if self._hit("stream: frame dropped"):
                self.drop_next_events += 1
            elif self._hit("stream: frame duplicated"):
                self.duplicate_next_events += 1
        await super()._flush(wait, printing)
        if events and self._conns and self.rate > 0 and self.rng.random() < self.rate / 10:
            self.counts["stream: disconnect"] += 1
            await self.disconnect_streams()


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
    cancelled: set[str] = set()
    placed_after_cancel: set[str] = set()
    for req in emu.requests:
        cid = req.params.get("clientOrderId", req.params.get("clientOrderID", "")).lower()
        if (req.method, req.path) == PLACE:
            places[cid] += 1
            if cid in cancelled:
                placed_after_cancel.add(cid)
        elif (req.method, req.path) == ("DELETE", ORDER_PATH) and cid:
            cancelled.add(cid)
    bal = sim.balance()
    return {
        "orders": orders,
        "place_requests": dict(places),
        # a place request that came after a cancel request for the same client order id
        "placed_after_cancel": sorted(placed_after_cancel),
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


async def main(balance: Decimal, fault_rate: float = 0.0, fault_seed: int = 0) -> None:
    key, secret = os.environ["BINGX_API_KEY"], os.environ["BINGX_API_SECRET"]
    emu = FaultyEmulator(
        key, secret, initial_balance=balance, listen_key_ttl_ms=10 * 365 * 86_400_000,
        rate=fault_rate, seed=fault_seed,
    )  # fmt: skip
    async with emu:

        async def trade(request: web.Request) -> web.Response:
            q = request.query
            await emu.trade(SYMBOL, Decimal(q["price"]), Decimal(q["volume"]))
            return web.json_response({"ok": True})

        async def get_truth(request: web.Request) -> web.Response:
            return web.json_response({**truth(emu), "faults": dict(emu.counts)})

        async def faults(request: web.Request) -> web.Response:
            emu.rate = float(request.query["rate"])
            return web.json_response({"rate": emu.rate})

        app = web.Application()
        app.router.add_post("/trade", trade)
        app.router.add_get("/truth", get_truth)
        app.router.add_post("/faults", faults)
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
    ap.add_argument("--fault-rate", type=float, default=0.0)
    ap.add_argument("--fault-seed", type=int, default=0)
    args = ap.parse_args()
    asyncio.run(main(Decimal(args.balance), args.fault_rate, args.fault_seed))
