"""Fuzz every boundary where outside data enters dita (issue 11) and count what happens.

Boundaries and what is counted per input:

* kernel: random intents and venue events (real enums and plain strings, NaN,
  1e999999, 1e-999999, floats, huge sizes, fills of live orders...). crash = the
  kernel raised; state change = a refused input changed the snapshot; an
  accepted input that breaks an invariant counts as a crash too.
* wire: BingX payloads (valid samples mutated, garbage JSON) through the
  adapter's decoders and parse functions. crash = anything but ``WireError``;
  absurd = a NaN/Infinity/negative price or quantity that got through.
* jsonl: intents lines through ``parse_intent_lines``. crash = anything but
  ``PolicyError``; accepted lines then go to a kernel (crash if it raises).
* csv: small kline files with damaged cells through ``read_bars``. crash =
  anything but ``MarketDataError``.
* journal: a real journal (made by a short simulated run) with flipped bytes or
  truncated, then opened, read and replayed. refused = ``JournalError``; silent =
  it opened and replayed but its records differ from the original; harmless =
  identical records (the damage hit unused pages).
* emulator: garbage HTTP requests to a loopback BingX emulator. HTTP 500 = any
  5xx status (plus the emulator's internal error count).

Reproduce (the issue's counts):
    python bench/fuzz.py --seed 1 --kernel 50000 --wire 30000 --jsonl 20000 \\
        --csv 2000 --journal 1000 --emulator 2000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

D = Decimal


@dataclass
class Tally:
    name: str
    inputs: int = 0
    refusals: int = 0
    crashes: int = 0
    state_changes: int = 0
    extra: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def crash(self, what: str, exc: BaseException | None = None) -> None:
        self.crashes += 1
        if len(self.examples) < 5:
            tb = "".join(traceback.format_exception_only(type(exc), exc)).strip() if exc else ""
            self.examples.append(f"{what[:300]} -> {tb[:300]}")

    def bump(self, key: str, n: int = 1) -> None:
        self.extra[key] = self.extra.get(key, 0) + n


# --------------------------------------------------------------------------- values

NASTY_NUMBERS = [
    "1e60", "1e999999", "-1e999999", "9.9e999999", "1e-999999", "-1e-999999", "NaN", "sNaN",
    "Infinity", "-Infinity", "-0", "0", "-1", "1e-30", "1e25", "0.1", "1", "2", "50000",
    "49999.9", "1E+3", "0.0005", "1e-19", "123456789012345678901234567890.123",
]  # fmt: skip


def any_number(r: random.Random) -> Any:
    k = r.random()
    if k < 0.55:
        return D(r.choice(NASTY_NUMBERS))
    if k < 0.65:
        return r.choice([1.0, float("nan"), 1e300, 0.5])
    if k < 0.72:
        return r.choice([1, 0, -5, 10**70, True])
    if k < 0.8:
        return r.choice(["1", "LONG", "", None, [], {}])
    return D(r.randint(-5, 10**6)) / D(10) ** r.randint(0, 8)


# --------------------------------------------------------------------------- kernel


def fuzz_kernel(n: int, r: random.Random) -> Tally:
    import msgspec

    from dita.kernel import (
        Action,
        EventKind,
        Instrument,
        IntentError,
        Kernel,
        KernelIntent,
        OrderType,
        Side,
        VenueEvent,
    )

    t = Tally("kernel")
    insts = [
        Instrument("BTC-USDT", D("0.1"), D("0.001"), D("0.001"), D("5")),
        Instrument("ETH-USDT", D("0.01"), D("0.01"), D("0.01"), D("5"), max_leverage=D(50)),
    ]

    def fresh() -> Kernel:
        return Kernel(3, insts, D(r.choice(["1000", "100000", "0"])))

    def enum_or_str(enum: Any) -> Any:
        k = r.random()
        if k < 0.7:
            return r.choice(list(enum))
        if k < 0.9:
            return r.choice(list(enum)).value  # the plain string: must be refused
        return r.choice([None, 1, "BOGUS", ""])

    def maybe(value: Any, p: float = 0.6) -> Any:
        return value if r.random() < p else any_number(r)

    def corrupt(obj: Any, fields_: list[str]) -> Any:
        """``obj`` with 0 to 2 of its fields replaced by nasty values (a third left valid)."""
        import dataclasses

        changes: dict[str, Any] = {}
        for _ in range(r.choice([0, 1, 1, 2])):
            name = r.choice(fields_)
            if name in ("side", "action", "order_type", "kind"):
                v = getattr(obj, name, None)
                changes[name] = r.choice([v.value if v is not None else "LONG", None, "BOGUS", 1])
            elif name in ("ts",):
                changes[name] = r.choice([-1, 2**70, 1.5, "x", True])
            elif name in ("exit_leg_ratios",):
                changes[name] = r.choice(
                    [
                        (D("1e999999"), D("-1e999999")),
                        (),
                        "x",
                        (D("1e-999999"),) * 3,
                        (D("0.3"), D("NaN")),
                        (D(1),) * 200,
                        (D("1e-999999"), D(1)),
                    ]
                )
            elif name in ("metadata",):
                changes[name] = r.choice([None, [], "x"])
            elif name in ("intent_id", "event_id", "trade_id", "asset", "client_order_id",
                          "reason", "venue_order_id"):  # fmt: skip
                changes[name] = r.choice(["", None, 5, "zz", b"x"])
            elif name == "slot_id":
                changes[name] = r.choice([5, -1, True, "0", None])
            else:
                changes[name] = any_number(r)
        if not changes:
            return obj
        if not isinstance(obj, KernelIntent):
            return dataclasses.replace(obj, **changes)
        # An intent is a typed message: built through its constructor, a wrong type is
        # refused at decode (IntentError naming the field) and never reaches the kernel;
        # half the time the fields are swapped in unchecked instead (msgspec.structs.
        # replace), so the kernel's own refusals are fuzzed too.
        if r.random() < 0.5:
            flat = {f: getattr(obj, f) for f in intent_fields if hasattr(obj, f)} | changes
            try:
                return KernelIntent(**flat)
            except IntentError as e:
                return e
        own = {k: v for k, v in changes.items() if k in obj.__struct_fields__}
        return msgspec.structs.replace(obj, **own) if own else obj

    intent_fields = ["intent_id", "ts", "slot_id", "action", "trade_id", "asset", "side", "size",
                     "order_type", "limit_price", "leverage", "exit_leg_ratios",
                     "reference_price", "reason", "metadata"]  # fmt: skip
    event_fields = ["event_id", "ts", "kind", "client_order_id", "venue_order_id", "last_qty",
                    "last_price", "cum_qty", "fee", "reason", "asset", "amount"]  # fmt: skip
    k = fresh()
    seq = 0
    for i in range(n):
        if i % 500 == 0:
            k = fresh()
        seq += 1
        live = k.live_orders()
        slot = r.randrange(3)
        if r.random() < 0.45 or not live:
            action = r.choice([Action.ENTER, Action.ENTER, Action.EXIT, Action.CANCEL])
            limit = r.random() < 0.5
            asset = r.choice(["BTC-USDT", "ETH-USDT"])
            px = D("50000") if asset == "BTC-USDT" else D("3000")
            base_i = KernelIntent(
                intent_id=f"i{seq}",
                ts=seq,
                slot_id=slot,
                action=action,
                trade_id=f"t{seq}" if action is Action.ENTER else "",
                asset=asset if action is Action.ENTER else "",
                side=r.choice([Side.LONG, Side.SHORT]) if action is Action.ENTER else None,
                size=D(r.choice(["0.01", "0.5", "1"])) if action is Action.ENTER else None,
                order_type=OrderType.LIMIT if limit else OrderType.MARKET,
                limit_price=px if limit else None,
                leverage=D(r.choice(["1", "2", "10"])),
                exit_leg_ratios=r.choice([(D(1),), (D("0.5"), D("0.5"))]),
                reference_price=None if limit else px,
            )
            inp: Any = corrupt(base_i, intent_fields)
            call: Any = k.process_intent
            if isinstance(inp, IntentError):
                t.inputs += 1
                t.refusals += 1  # refused where it was decoded: the kernel never saw it
                t.bump(f"decode {inp.field}")
                continue
        else:
            o = r.choice(live)
            kind = r.choice([EventKind.ACK, EventKind.FILL, EventKind.PARTIAL_FILL,
                             EventKind.PARTIAL_FILL, EventKind.CANCEL_ACK, EventKind.REJECT,
                             EventKind.CANCEL_REJECT, EventKind.FEE, EventKind.FUNDING,
                             EventKind.EXPIRED])  # fmt: skip
            remaining = o.quantity - o.filled_qty
            qty = remaining if kind is EventKind.FILL else min(remaining, D("0.01"))
            px = D("50000") if o.asset == "BTC-USDT" else D("3000")
            base_e = VenueEvent(
                event_id=f"e{seq}",
                ts=seq,
                kind=kind,
                client_order_id=o.client_order_id,
                venue_order_id=o.venue_order_id,
                last_qty=qty,
                last_price=px,
                cum_qty=o.filled_qty + qty,
                fee=D(r.choice(["0", "0.5", "-0.1", "0.00012345"])),
                asset=o.asset,
                amount=D(r.choice(["1.5", "-2", "0.01"])),
            )
            inp = corrupt(base_e, event_fields)
            call = k.on_venue_event
        t.inputs += 1
        try:
            before = json.dumps(k.snapshot(), sort_keys=True)
        except Exception as e:  # the previous accepted input left an unsnapshotable state
            t.crash("snapshot after an accepted input", e)
            k = fresh()
            continue
        try:
            out = call(inp)
        except Exception as e:
            t.crash(repr(inp), e)
            k = fresh()
            continue
        if not out.accepted:
            t.refusals += 1
            t.bump(f"code {out.diagnostic_code}")
            if json.dumps(k.snapshot(), sort_keys=True) != before:
                t.state_changes += 1
                if len(t.examples) < 5:
                    t.examples.append(f"state changed on refusal: {inp!r}")
            continue
        t.bump("accepted")
        try:
            problems = k.check_invariants()
            k.snapshot()
        except Exception as e:
            t.crash(f"after accepting {inp!r}", e)
            k = fresh()
            continue
        if problems:
            t.crash(f"invariant broken after accepting {inp!r}: {problems[:2]}")
            k = fresh()
    return t


# --------------------------------------------------------------------------- wire

_WIRE_SAMPLES: dict[str, dict[str, Any]] = {
    "order": {"symbol": "BTC-USDT", "orderId": 172998235239792314, "side": "BUY", "type": "LIMIT",
              "status": "PARTIALLY_FILLED", "positionSide": "BOTH", "origQty": "0.0100",
              "price": "50000.0", "executedQty": "0.0050", "avgPrice": "50000.0",
              "cumQuote": "250", "commission": "-0.1250", "time": 1704067200000,
              "updateTime": 1704067201000, "clientOrderId": "dt-abc-1-e-0", "reduceOnly": False},
    "position": {"symbol": "BTC-USDT", "positionAmt": "0.0100", "positionSide": "LONG",
                 "avgPrice": "50000.0", "currency": "USDT"},
    "balance": {"asset": "USDT", "balance": "1000.5", "availableMargin": "900.1",
                "equity": "1001"},
    "contract": {"symbol": "BTC-USDT", "quantityPrecision": 4, "pricePrecision": 1,
                 "tradeMinQuantity": "0.0001", "tradeMinUSDT": "2", "maxLongLeverage": 125,
                 "maxShortLeverage": 125, "currency": "USDT", "status": 1},
    "update": {"s": "BTC-USDT", "i": 172998235239792314, "z": "0.0050", "S": "BUY", "o": "LIMIT",
               "x": "TRADE", "X": "PARTIALLY_FILLED", "c": "dt-abc-1-e-0", "q": "0.0100",
               "p": "50000.0", "ap": "50000.0", "l": "0.0050", "L": "50000.0", "n": "-0.125",
               "N": "USDT", "T": 1704067201000, "ps": "BOTH", "rp": "0", "ro": False},
    "account": {"a": {"m": "FUNDING_FEE", "B": [{"a": "USDT", "wb": "1000", "cw": "1000",
                                                 "bc": "-0.5"}],
                      "P": [{"s": "BTC-USDT", "pa": "0.01", "ep": "50000", "ps": "BOTH"}]},
                "E": 1704067201000},
    "placed": {"order": {"symbol": "BTC-USDT", "orderId": 172998235239792314, "side": "BUY",
                         "type": "LIMIT", "price": "50000", "quantity": "0.01",
                         "clientOrderID": "dt-abc-1-e-0", "status": "NEW"}},
}  # fmt: skip

_WIRE_VALUES: list[Any] = [
    "NaN", "Infinity", "-Infinity", "-1", "1e999999", "1e-999999", "9" * 5000, "", None, True,
    [], {}, 1e308, -0.0, 2**64, -(2**63), "0x10", " 1 ", "1_000", "١٢", 0, "abc", [[[[]]]],
]  # fmt: skip


def _mutate_json(r: random.Random, obj: Any) -> Any:
    if isinstance(obj, dict) and obj:
        out = dict(obj)
        for _ in range(r.randint(1, 3)):
            key = r.choice(list(out))
            k = r.random()
            if k < 0.6:
                out[key] = r.choice(_WIRE_VALUES) if r.random() < 0.7 else _mutate_json(r, out[key])
            elif k < 0.8:
                del out[key]
                if not out:
                    break
            else:
                out[r.choice(["zz", key.upper(), key + "x"])] = r.choice(_WIRE_VALUES)
        return out
    if isinstance(obj, list) and obj:
        return [_mutate_json(r, x) for x in obj]
    return r.choice(_WIRE_VALUES)


def _recorded_corpus() -> list[tuple[str, bytes]]:
    """(kind, payload) from the recorded BingX payloads (each .source names its decoder)."""
    root = Path(__file__).resolve().parent.parent / "tests" / "venues" / "bingx" / "recorded"
    out = []
    for src in sorted(root.glob("*.source")):
        kind = next(
            (ln.split(":", 1)[1].strip() for ln in src.read_text().splitlines()
             if ln.startswith("decoder:")),
            None,
        )  # fmt: skip
        payload = src.with_suffix(".json")
        if kind and payload.exists():
            out.append((kind, payload.read_bytes()))
    return out


def _absurd(value: Any, name: str = "", depth: int = 0) -> str | None:
    """A non-finite, huge or (for prices and quantities) negative Decimal inside ``value``."""
    import dataclasses

    if depth > 8:
        return None
    if isinstance(value, Decimal):
        if not value.is_finite() or abs(value) >= D("1e20"):
            return f"{name}={value}"
        low = name.lower()
        if value < 0 and any(
            w in low for w in ("price", "qty", "quantity", "size", "tick", "step")
        ):
            return f"{name}={value}"
        return None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            hit = _absurd(getattr(value, f.name), f.name, depth + 1)
            if hit:
                return hit
    elif isinstance(value, dict):
        for k, v in value.items():
            hit = _absurd(v, str(k), depth + 1)
            if hit:
                return hit
    elif isinstance(value, list | tuple):
        for v in value:
            hit = _absurd(v, name, depth + 1)
            if hit:
                return hit
    return None


def fuzz_wire(n: int, r: random.Random) -> Tally:
    """Mutated recorded payloads (and the samples above) through ``readers.read``."""
    from dita.venues.bingx import readers, wire

    t = Tally("wire")
    # decoders the corpus names that are not reader kinds are envelopes (errors, empty data)
    corpus = [(k if k in readers.KINDS else "envelope", p) for k, p in _recorded_corpus()]
    samples = {"order": "order", "position": "positions", "balance": "balance_v3",
               "contract": "contracts", "update": "stream", "account": "stream",
               "placed": "place"}  # fmt: skip
    for name, kind in samples.items():
        obj: Any = _WIRE_SAMPLES[name]
        if name in ("position", "balance", "contract"):
            obj = [obj]
        if name == "update":
            obj = {"e": "ORDER_TRADE_UPDATE", "E": 1, "o": obj}
        if name == "account":
            obj = {"e": "ACCOUNT_UPDATE", **obj}
        if kind != "stream":
            obj = {"code": 0, "msg": "", "data": obj}
        corpus.append((kind, json.dumps(obj).encode()))
    absurd = bugs = 0
    for _ in range(n):
        kind, raw = r.choice(corpus)
        k = r.random()
        payload = raw
        if k < 0.75:
            try:
                payload = json.dumps(_mutate_json(r, json.loads(raw))).encode()
            except ValueError:
                payload = raw
        elif k < 0.9:
            b = bytearray(raw)
            for _ in range(r.randint(1, 4)):
                if b:
                    b[r.randrange(len(b))] = r.randrange(256)
            payload = bytes(b)
        elif k < 0.97:
            payload = r.choice(
                [raw[: r.randint(0, len(raw))], b"[" * 50_000, b"\xff\xfe", b"",
                 b'{"a":' * 3000 + b"1" + b"}" * 3000, raw.replace(b'"', b"", 1)]
            )  # fmt: skip
        if r.random() < 0.05:
            kind = r.choice(readers.KINDS)  # the wrong reader for this payload
        t.inputs += 1
        try:
            value = readers.read(kind, payload)
        except wire.WireError as e:
            t.refusals += 1
            cause = e.__cause__
            if isinstance(
                cause, ArithmeticError | KeyError | IndexError | TypeError | RecursionError
            ):
                bugs += 1  # readers.read turned a reader exception into WireError
                t.crash(f"{kind}: {payload[:150]!r}", cause)
            continue
        except Exception as e:
            t.crash(f"{kind}: {payload[:200]!r}", e)
            continue
        hit = _absurd(value)
        if hit:
            absurd += 1
            if len(t.examples) < 5:
                t.examples.append(f"absurd value passed ({hit}): {kind}: {payload[:200]!r}")
    t.bump("absurd values passed", absurd)
    t.bump("reader exceptions behind WireError", bugs)
    return t


# --------------------------------------------------------------------------- jsonl


def fuzz_jsonl(n: int, r: random.Random) -> Tally:
    from dita.kernel import Instrument, Kernel
    from dita.policy import PolicyError, parse_intent_lines

    t = Tally("jsonl")
    k = Kernel(2, [Instrument("BTC-USDT", D("0.1"), D("0.001"), D("0.001"), D("5"))], D(1000))
    base = {"intent_id": "i", "ts": 1, "slot_id": 0, "action": "ENTER", "trade_id": "t1",
            "asset": "BTC-USDT", "side": "LONG", "size": "0.01", "order_type": "LIMIT",
            "limit_price": "50000", "exit_leg_ratios": ["0.5", "0.5"]}  # fmt: skip
    strings = ["1e999999", "NaN", "-1", "1e60", "1e-999999", "LONG", "SHORT", "BUY", "", "x" * 5000]
    for i in range(n):
        obj: dict[str, Any] = dict(base, intent_id=f"i{i}", ts=i)
        for _ in range(r.randint(0, 3)):
            key = r.choice([*base, "metadata", "sid", "reason", "leverage", "reference_price"])
            c = r.random()
            if c < 0.15:
                depth = r.randint(1, 5000)
                obj["metadata"] = json.loads("[" * min(depth, 900) + "]" * min(depth, 900))
                line_override = None
                if depth > 900:  # deeper than json.dumps can write: build the text directly
                    line_override = depth
                obj["__deep__"] = line_override
            elif c < 0.6:
                obj[key] = r.choice(strings)
            elif c < 0.8:
                obj[key] = r.choice([1.5, 10**30, None, True, [], {"a": 1}, -1])
            else:
                obj.pop(key, None)
        deep = obj.pop("__deep__", None)
        line = json.dumps(obj)
        if deep:
            line = line[:-1] + ', "metadata": ' + "[" * deep + "]" * deep + "}"
        if r.random() < 0.05:
            line = line[: r.randint(0, len(line))]
        t.inputs += 1
        try:
            intents = parse_intent_lines([line], "fuzz.jsonl")
        except PolicyError as e:
            t.refusals += 1
            if "\n" in str(e):
                t.crash("multi-line error", e)
            continue
        except Exception as e:
            t.crash(line[:200], e)
            continue
        if i % 2 == 0:  # a fresh kernel often, so that well-formed ENTERs are accepted
            k = Kernel(
                2, [Instrument("BTC-USDT", D("0.1"), D("0.001"), D("0.001"), D("5"))], D(100_000)
            )
        for it in intents:
            try:
                before = json.dumps(k.snapshot(), sort_keys=True)
                out = k.process_intent(it)
                if not out.accepted and json.dumps(k.snapshot(), sort_keys=True) != before:
                    t.state_changes += 1
                if out.accepted:
                    t.bump("accepted by the kernel")
                else:
                    t.bump("refused by the kernel")
            except Exception as e:
                t.crash(f"kernel on {line[:200]}", e)
    return t


# --------------------------------------------------------------------------- csv


def fuzz_csv(n: int, r: random.Random, tmp: Path) -> Tally:
    from dita.marketdata import MarketDataError, read_bars

    t = Tally("csv")
    cells = ["NaN", "Infinity", "-1", "1e999999", "9" * 5000, "1" * 4301, "", "x", "1e-999999",
             "²", "١٢٣", " 5 ", "0", "-0", "1.5.5", "9" * 30, "\x00", '"', "1e30"]  # fmt: skip
    for i in range(n):
        rows = []
        t0 = 1_704_067_200_000
        for j in range(r.randint(1, 6)):
            ts = t0 + 60_000 * j
            rows.append([str(ts), "50000", "50010", "49990", "50005", "12.5", str(ts + 59_999)])
        for _ in range(r.randint(1, 3)):
            row = r.choice(rows)
            col = r.randrange(len(row) + 1)
            if col == len(row):
                row.append(r.choice(cells))
            elif r.random() < 0.15:
                del row[col]
            else:
                row[col] = r.choice(cells)
        text = "\n".join(",".join(x) for x in rows) + "\n"
        if r.random() < 0.3:
            text = "open_time,open,high,low,close,volume,close_time\n" + text
        path = tmp / f"f{i % 7}.csv"
        path.write_text(text, encoding="utf-8")
        t.inputs += 1
        try:
            read_bars(path, "BTC-USDT")
        except MarketDataError as e:
            t.refusals += 1
            if "\n" in str(e) or len(str(e)) > 600:
                t.crash(f"error not one short line: {str(e)[:100]}")
        except Exception as e:
            t.crash(text[:200], e)
    return t


# --------------------------------------------------------------------------- journal


def _journal_records(path: Path) -> list[tuple[int, str, bytes]]:
    from dita import codec
    from dita.journal.replay import replay
    from dita.journal.sqlite import SqliteJournal

    j = SqliteJournal.open(path, readonly=True, create=False)
    try:
        recs = [(x.seq, str(x.kind), codec.encode(x.body)) for x in j.read_from(1)]
        replay(j)
    finally:
        j.close()
    return recs


def _journal_status(path: Path) -> bool | Exception:
    """What ``dita status`` does: True if it rendered, False if refused (JournalError)."""
    import io

    from rich.console import Console

    from dita.journal.errors import JournalError
    from dita.serve.status import render_status
    from dita.serve.view import JournalView

    try:
        with JournalView.open(path) as view:
            Console(file=io.StringIO(), width=120).print(render_status(view))
        return True
    except JournalError:
        return False
    except Exception as e:
        return e


def fuzz_journal(n: int, r: random.Random, tmp: Path) -> Tally:
    from dita.journal.errors import JournalError

    t = Tally("journal")
    src = tmp / "src"
    src.mkdir()
    journal = src / "journal.sqlite"
    subprocess.run(
        [sys.executable, "-m", "dita.cli", "run", "--journal", str(journal)],
        check=True,
        capture_output=True,
    )
    original = _journal_records(journal)
    data = journal.read_bytes()
    silent = harmless = 0
    for i in range(n):
        damaged = bytearray(data)
        how = r.random()
        if how < 0.25:
            damaged = damaged[: r.randrange(len(damaged))]
        else:
            for _ in range(r.choice([1, 1, 2, 8])):
                pos = r.randrange(len(damaged))
                damaged[pos] ^= 1 << r.randrange(8) if how < 0.8 else r.randrange(1, 256)
        case = tmp / f"j{i % 3}"
        shutil.rmtree(case, ignore_errors=True)
        case.mkdir()
        path = case / "journal.sqlite"
        path.write_bytes(bytes(damaged))
        t.inputs += 1
        status = _journal_status(path)  # dita status's fast path, before anything else opens it
        if isinstance(status, Exception):
            t.crash(f"case {i}: dita status", status)
            continue
        try:
            got = _journal_records(path)
        except JournalError:
            if status:
                t.bump("status shown for a journal open refuses")
            t.refusals += 1
            if path.read_bytes() != bytes(damaged):
                t.state_changes += 1  # a refused file must be left untouched
            continue
        except Exception as e:
            t.crash(f"case {i} ({'truncated' if how < 0.25 else 'flipped'})", e)
            continue
        if got == original:
            harmless += 1
        else:
            silent += 1
            if len(t.examples) < 5:
                t.examples.append(f"case {i}: damaged journal accepted with other records")
    t.bump("silently accepted damaged journals", silent)
    t.bump("damage in unused bytes (same records)", harmless)
    return t


# --------------------------------------------------------------------------- emulator


def fuzz_emulator(n: int, r: random.Random) -> Tally:
    import logging

    import httpx

    from dita.venues.bingx.clock import wall_clock_ms
    from dita.venues.bingx.signing import signature
    from dita.venues.bingx_emulator import BingxEmulator

    logging.getLogger("aiohttp").setLevel(logging.CRITICAL)  # its own log of each 400 it answers
    t = Tally("emulator")
    key, secret = "fuzzkey", "fuzzsecret"
    loop = asyncio.new_event_loop()
    emu = BingxEmulator(key, secret)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(emu.start(), loop).result(10)
    paths = ["/openApi/swap/v2/trade/order", "/openApi/swap/v2/trade/batchOrders",
             "/openApi/swap/v2/trade/allOpenOrders", "/openApi/swap/v2/trade/openOrders",
             "/openApi/swap/v2/trade/allOrders", "/openApi/swap/v1/trade/fullOrder",
             "/openApi/swap/v2/trade/leverage", "/openApi/swap/v2/trade/marginType",
             "/openApi/swap/v2/user/positions", "/openApi/swap/v3/user/balance",
             "/openApi/swap/v2/quote/depth", "/openApi/swap/v3/quote/klines",
             "/openApi/user/auth/userDataStream", "/openApi/swap/v2/trade/closeAllPositions",
             "/nope", "/"]  # fmt: skip
    keys = ["symbol", "side", "type", "positionSide", "quantity", "price", "orderId",
            "clientOrderId", "leverage", "limit", "interval", "startTime", "batchOrders",
            "recvWindow", "listenKey", "timeInForce", "reduceOnly"]  # fmt: skip
    values = ["BTC-USDT", "BUY", "SELL", "LIMIT", "MARKET", "LONG", "BOTH", "0", "-1", "NaN",
              "1e999999", "9" * 3000, "0.001", "50000", "", "[1,2]", '[{"symbol":"BTC-USDT"}]',
              "[" * 1500 + "]" * 1500, "1m", "\u00e9", "%00"]  # fmt: skip
    statuses: Counter[int] = Counter()
    try:
        with httpx.Client(base_url=emu.rest_url, timeout=15) as http:
            for _ in range(n):
                items = [(r.choice(keys), r.choice(values)) for _ in range(r.randint(0, 6))]
                if r.random() < 0.6:
                    items.append(("timestamp", str(wall_clock_ms())))
                    raw = "&".join(f"{k}={v}" for k, v in items)
                    items.append(("signature", signature(secret, raw)))
                headers = {}
                kk = r.random()
                if kk < 0.7:
                    headers["X-BX-APIKEY"] = key
                elif kk < 0.85:
                    headers["X-BX-APIKEY"] = "wrong"
                if r.random() < 0.5:
                    headers["Content-Type"] = r.choice(
                        ["application/json", "application/x-www-form-urlencoded", "text/plain"]
                    )
                body = r.choice(
                    [
                        b"",
                        b"{not json",
                        b"[" * 20_000 + b"]" * 20_000,
                        bytes(r.randbytes(100)),
                        json.dumps(dict(items)).encode(),
                        b'{"a":' * 2000 + b"1" + b"}" * 2000,
                    ]
                )
                t.inputs += 1
                try:
                    resp = http.request(
                        r.choice(["GET", "POST", "DELETE", "PUT"]),
                        r.choice(paths),
                        params=items,
                        content=body,
                        headers=headers,
                    )
                except httpx.HTTPError as e:
                    t.bump("connection errors")
                    if len(t.examples) < 5:
                        t.examples.append(f"transport error: {type(e).__name__}")
                    continue
                statuses[resp.status_code] += 1
                if resp.status_code >= 500:
                    t.crash(f"HTTP {resp.status_code} for {resp.request.url!s:.200}")
                    continue
                try:
                    code = resp.json().get("code", 0) if resp.content else 0
                except (ValueError, AttributeError):
                    code = 0
                if resp.status_code >= 400 or code not in (0, None):
                    t.refusals += 1
    finally:
        asyncio.run_coroutine_threadsafe(emu.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
    t.bump("HTTP 500", sum(v for s, v in statuses.items() if s >= 500))
    t.bump("internal errors (100500)", emu.internal_errors)
    return t


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--kernel", type=int, default=5000, help="kernel inputs")
    ap.add_argument("--wire", type=int, default=3000, help="BingX wire payloads")
    ap.add_argument("--jsonl", type=int, default=2000, help="JSONL intent lines")
    ap.add_argument("--csv", type=int, default=200, help="CSV files")
    ap.add_argument("--journal", type=int, default=100, help="damaged journals")
    ap.add_argument("--emulator", type=int, default=200, help="garbage emulator requests")
    args = ap.parse_args(argv)
    tallies: list[Tally] = []
    with tempfile.TemporaryDirectory(prefix="dita-fuzz-") as d:
        tmp = Path(d)
        for name, fn in (
            ("kernel", lambda n, r: fuzz_kernel(n, r)),
            ("wire", lambda n, r: fuzz_wire(n, r)),
            ("jsonl", lambda n, r: fuzz_jsonl(n, r)),
            ("csv", lambda n, r: fuzz_csv(n, r, tmp)),
            ("journal", lambda n, r: fuzz_journal(n, r, tmp)),
            ("emulator", lambda n, r: fuzz_emulator(n, r)),
        ):
            count = getattr(args, name)
            if count <= 0:
                continue
            start = time.perf_counter()
            tally = fn(count, random.Random(f"{args.seed}-{name}"))
            tally.seconds = time.perf_counter() - start
            tallies.append(tally)
            print(f"... {name}: done in {tally.seconds:.1f} s", file=sys.stderr, flush=True)
    print(f"{'boundary':<10} {'inputs':>8} {'refusals':>9} {'crashes':>8} {'state chg':>10}  other")
    for t in tallies:
        other = ", ".join(
            f"{k}: {v}" for k, v in sorted(t.extra.items()) if not k.startswith("code ")
        )
        print(
            f"{t.name:<10} {t.inputs:>8} {t.refusals:>9} {t.crashes:>8} {t.state_changes:>10}  {other}"
        )
    for t in tallies:
        for ex in t.examples:
            print(f"  {t.name}: {ex}")
    cmd = " ".join(
        ["python bench/fuzz.py", f"--seed {args.seed}"]
        + [
            f"--{n} {getattr(args, n)}"
            for n in ("kernel", "wire", "jsonl", "csv", "journal", "emulator")
        ]
    )
    print(f"reproduce: {cmd}")
    bad = sum(t.crashes + t.state_changes for t in tallies) + sum(
        t.extra.get(k, 0)
        for t in tallies
        for k in ("silently accepted damaged journals", "HTTP 500", "absurd values passed")
    )
    return 1 if bad else 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
