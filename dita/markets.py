"""Instruments and their market model (fees, funding, slippage), per symbol.

Where an instrument comes from, first match wins:

1. a ``[instruments."SYMBOL"]`` table in the run config (``--config``);
2. an instruments file named by ``instrument_files`` / ``--instruments``
   (what ``dita instruments fetch`` writes), later files first;
3. the bundled BingX list (``dita/data/bingx_instruments.toml``; each entry
   names its source).

A symbol found nowhere is an error (``MarketError``), never a default grid.

An instruments file is TOML, one table per symbol::

    [instruments."DOGE-USDT"]
    tick = "0.00001"        # price grid
    step = "1"              # quantity grid
    min_qty = "1"
    min_notional = "2"      # USDT
    maker_fee = "0.0002"    # optional: fraction of notional, negative = rebate
    taker_fee = "0.0005"    # optional
    funding_rate = "0.0001" # optional: per funding interval, longs pay when > 0
    funding_interval_h = 8  # optional
    slippage = "random:2"   # optional: none | fixed:<bps> | random:<max bps>
    max_price = "1000"      # optional: the kernel refuses prices, sizes, leverage above
    max_quantity = "1e9"    #   these (defaults: dita.kernel.model's DEFAULT_MAX_*)
    max_leverage = "50"
    source = "..."          # optional: where these numbers come from

Numbers are read exactly (TOML floats are parsed as ``Decimal``, strings too).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Any

from dita.kernel import Instrument
from dita.venues.sim.exchange import FixedBps, NoSlippage, RandomBps, Slippage

BUNDLED = "bingx_instruments.toml"
HOUR_MS = 3_600_000
_INSTRUMENT_KEYS = frozenset({
    "tick", "step", "min_qty", "min_notional", "maker_fee", "taker_fee", "funding_rate",
    "funding_interval_h", "slippage", "source", "max_price", "max_quantity", "max_leverage",
})  # fmt: skip
_MODEL_KEYS = ("maker_fee", "taker_fee", "funding_rate", "funding_interval_h", "slippage")


class MarketError(ValueError):
    """An instrument or market setting that cannot be used; one line naming where."""


@dataclass(frozen=True, slots=True)
class MarketModel:
    """Fees, funding and slippage; ``None`` = not set here (a later layer decides)."""

    maker_fee: Decimal | None = None
    taker_fee: Decimal | None = None
    funding_rate: Decimal | None = None
    funding_interval_ms: int | None = None
    slippage: Slippage | None = None

    def over(self, base: MarketModel) -> MarketModel:
        """This model where it is set, ``base`` elsewhere."""

        def pick(a: Any, b: Any) -> Any:
            return a if a is not None else b

        return MarketModel(
            pick(self.maker_fee, base.maker_fee),
            pick(self.taker_fee, base.taker_fee),
            pick(self.funding_rate, base.funding_rate),
            pick(self.funding_interval_ms, base.funding_interval_ms),
            pick(self.slippage, base.slippage),
        )


@dataclass(frozen=True, slots=True)
class InstrumentSpec:
    instrument: Instrument
    model: MarketModel
    source: str  # where it was read from (file and, if given, the table's source note)


def parse_slippage(text: str, where: str = "slippage") -> Slippage:
    """``none`` | ``fixed:<bps>`` | ``random:<max bps>`` (bps >= 0; random in 0.01 bps steps)."""
    kind, _, arg = text.strip().lower().partition(":")
    if kind == "none" and not arg:
        return NoSlippage()
    if kind in ("fixed", "random") and arg:
        bps = _decimal(arg, where)
        if bps < 0:
            raise MarketError(f"{where}: {text!r}: bps must be >= 0")
        if kind == "fixed":
            return FixedBps(bps)
        if bps != bps.quantize(Decimal("0.01")):
            raise MarketError(f"{where}: {text!r}: random slippage is drawn in 0.01 bps steps")
        return RandomBps(bps)
    raise MarketError(f"{where}: {text!r} is not none, fixed:<bps> or random:<max bps>")


def slippage_text(s: Slippage) -> str:
    match s:
        case NoSlippage():
            return "none"
        case FixedBps(value=v):
            return f"fixed:{v}"
        case RandomBps(maximum=m):
            return f"random:{m}"
    return repr(s)


def _decimal(value: object, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise MarketError(f"{where}: {value!r} is not a number")
    try:
        d = Decimal(value) if not isinstance(value, str) else Decimal(value.strip())
    except InvalidOperation:
        raise MarketError(f"{where}: {value!r} is not a number") from None
    if not d.is_finite():
        raise MarketError(f"{where}: {value!r} is not a finite number")
    return d


def decimal_setting(value: object, where: str) -> Decimal:
    return _decimal(value, where)


def hours_setting(value: object, where: str) -> int:
    """A funding interval in hours (a positive number; fractions allowed down to 1 ms)."""
    h = _decimal(value, where)
    ms = h * HOUR_MS
    if h <= 0 or ms != ms.to_integral_value():
        raise MarketError(f"{where}: {value!r} must be a positive number of hours (whole ms)")
    return int(ms)


def model_from_table(table: Mapping[str, Any], where: str) -> MarketModel:
    def dec(key: str) -> Decimal | None:
        return _decimal(table[key], f"{where}.{key}") if key in table else None

    interval = (
        hours_setting(table["funding_interval_h"], f"{where}.funding_interval_h")
        if "funding_interval_h" in table
        else None
    )
    slip = table.get("slippage")
    if slip is not None and not isinstance(slip, str):
        raise MarketError(f"{where}.slippage: {slip!r} is not a string")
    return MarketModel(
        maker_fee=dec("maker_fee"),
        taker_fee=dec("taker_fee"),
        funding_rate=dec("funding_rate"),
        funding_interval_ms=interval,
        slippage=parse_slippage(slip, f"{where}.slippage") if slip is not None else None,
    )


def spec_from_table(symbol: str, table: object, where: str) -> InstrumentSpec:
    here = f'{where}: [instruments."{symbol}"]'
    if not isinstance(table, dict):
        raise MarketError(f"{here} is not a table")
    unknown = sorted(set(table) - _INSTRUMENT_KEYS)
    if unknown:
        raise MarketError(f"{here}: unknown key(s) {unknown} (known: {sorted(_INSTRUMENT_KEYS)})")
    missing = [k for k in ("tick", "step", "min_qty", "min_notional") if k not in table]
    if missing:
        raise MarketError(f"{here}: missing {missing}")
    tick = _decimal(table["tick"], f"{here}.tick")
    step = _decimal(table["step"], f"{here}.step")
    min_qty = _decimal(table["min_qty"], f"{here}.min_qty")
    min_notional = _decimal(table["min_notional"], f"{here}.min_notional")
    if tick <= 0 or step <= 0:
        raise MarketError(f"{here}: tick and step must be > 0")
    if min_qty < 0 or min_notional < 0:
        raise MarketError(f"{here}: min_qty and min_notional must be >= 0")
    limits: dict[str, Decimal] = {}
    for key in ("max_price", "max_quantity", "max_leverage"):
        if key in table:
            limits[key] = _decimal(table[key], f"{here}.{key}")
            if limits[key] <= 0:
                raise MarketError(f"{here}: {key} must be > 0")
    note = table.get("source")
    source = where if not isinstance(note, str) or not note else f"{where} ({note})"
    return InstrumentSpec(
        Instrument(symbol, tick, step, min_qty, min_notional, **limits),
        model_from_table(table, here),
        source,
    )


def specs_from_document(doc: Mapping[str, Any], where: str) -> dict[str, InstrumentSpec]:
    table = doc.get("instruments", {})
    if not isinstance(table, dict):
        raise MarketError(f"{where}: 'instruments' is not a table")
    return {sym: spec_from_table(sym, t, where) for sym, t in table.items()}


def read_toml(path: Path, what: str) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh, parse_float=Decimal)
    except FileNotFoundError:
        raise MarketError(f"{path}: no such {what}") from None
    except OSError as e:
        raise MarketError(f"{path}: cannot read {what}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise MarketError(f"{path}: not valid TOML: {e}") from None


def load_instruments_file(path: Path) -> dict[str, InstrumentSpec]:
    doc = read_toml(path, "instruments file")
    unknown = sorted(set(doc) - {"instruments", "fetched"})
    if unknown:
        raise MarketError(f"{path}: unknown top-level key(s) {unknown}")
    return specs_from_document(doc, str(path))


def bundled_instruments() -> dict[str, InstrumentSpec]:
    text = resources.files("dita").joinpath("data", BUNDLED).read_text(encoding="utf-8")
    return specs_from_document(tomllib.loads(text, parse_float=Decimal), f"<bundled>/{BUNDLED}")


class InstrumentBook:
    """The instruments a run may use, in precedence order (first hit wins)."""

    def __init__(self, layers: Iterable[Mapping[str, InstrumentSpec]]) -> None:
        self._layers = list(layers)

    @classmethod
    def build(
        cls, config_table: Mapping[str, InstrumentSpec] | None, files: Iterable[Path]
    ) -> InstrumentBook:
        layers: list[Mapping[str, InstrumentSpec]] = []
        if config_table:
            layers.append(config_table)
        layers += [load_instruments_file(p) for p in reversed(list(files))]
        layers.append(bundled_instruments())
        return cls(layers)

    def get(self, symbol: str) -> InstrumentSpec:
        for layer in self._layers:
            spec = layer.get(symbol)
            if spec is not None:
                return spec
        raise MarketError(
            f'no instrument for {symbol}: add an [instruments."{symbol}"] table to the run '
            f"config, or an instruments file (dita instruments fetch); known: {', '.join(self.symbols())}"
        )

    def symbols(self) -> list[str]:
        out: set[str] = set()
        for layer in self._layers:
            out |= set(layer)
        return sorted(out)


def _toml_str(s: str) -> str:
    out = s.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(c if c >= " " else f"\\u{ord(c):04x}" for c in out) + '"'


def render_instruments_file(
    instruments: Iterable[tuple[Instrument, Decimal | None, Decimal | None]], *, source: str,
    fetched_ms: int,
) -> str:  # fmt: skip
    """TOML for ``load_instruments_file``: (instrument, maker fee, taker fee) per symbol."""
    lines = [
        f"# {source}",
        "# written by `dita instruments fetch`; a run config uses it with",
        '#   instrument_files = ["<this file>"]',
        "",
        "[fetched]",
        f"source = {_toml_str(source)}",
        f"at_ms = {fetched_ms}",
    ]
    for inst, maker, taker in sorted(instruments, key=lambda t: t[0].symbol):
        lines += [
            "",
            f"[instruments.{_toml_str(inst.symbol)}]",
            f"tick = {_toml_str(str(inst.tick_size))}",
            f"step = {_toml_str(str(inst.step_size))}",
            f"min_qty = {_toml_str(str(inst.min_quantity))}",
            f"min_notional = {_toml_str(str(inst.min_notional))}",
        ]
        if maker is not None:
            lines.append(f"maker_fee = {_toml_str(str(maker))}")
        if taker is not None:
            lines.append(f"taker_fee = {_toml_str(str(taker))}")
        lines.append(f"source = {_toml_str(source)}")
    return "\n".join(lines) + "\n"
