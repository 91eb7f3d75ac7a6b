"""The run config file (``dita run --config run.toml``) and where each setting comes from.

Every key is also a ``dita run`` flag (``--latency-ms`` for ``latency_ms``)
and an environment variable (``DITA_LATENCY_MS``). Precedence, first wins:
**flag > environment variable > config file > bundled default**. For fees,
funding and slippage the config may also set a value per symbol, inside the
symbol's ``[instruments."SYMBOL"]`` table; see ``resolve_model``.

An example (every key optional)::

    data = ["data/BTCUSDT-1m-2024-01.zip", "data/ETHUSDT-1m-2024-01.zip"]
    policy = "dita.policies.demo:DemoPolicy"
    capital = "10000"
    seed = 7
    slots = 2
    participation = "0.01"      # share of a bar's volume resting orders may take
    latency_ms = 50
    maker_fee = "0.0002"        # all symbols, unless the symbol's table says otherwise
    taker_fee = "0.0005"
    funding_rate = "0.0001"
    funding_interval_h = 8
    slippage = "random:2"       # none | fixed:<bps> | random:<max bps>
    instrument_files = ["bingx-contracts.toml"]   # from `dita instruments fetch`

    [policy_params]             # keyword arguments of the policy's constructor
    fast = 8                    # (floats arrive as Decimal); --param KEY=VALUE overrides one

    [instruments."DOGE-USDT"]
    tick = "0.00001"
    step = "1"
    min_qty = "1"
    min_notional = "2"
    taker_fee = "0.0004"

Relative paths in the file are relative to the file's directory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from dita.markets import (
    HOUR_MS,
    InstrumentSpec,
    MarketError,
    MarketModel,
    decimal_setting,
    hours_setting,
    parse_slippage,
    read_toml,
    specs_from_document,
)
from dita.venues.sim.exchange import RandomBps

ENV_PREFIX = "DITA_"

# key -> bundled default (None: no default; the run decides)
DEFAULTS: dict[str, Any] = {
    "data": (),
    "symbol": None,
    "policy": None,
    "capital": Decimal(100_000),
    "seed": 7,
    "slots": 2,
    "participation": Decimal("0.01"),
    "latency_ms": 50,
    "maker_fee": Decimal("0.0002"),
    "taker_fee": Decimal("0.0005"),
    "funding_rate": Decimal("0.0001"),
    "funding_interval_h": 8,
    "slippage": "random:2",
    "instrument_files": (),
    "policy_params": {},
}
KEYS = frozenset(DEFAULTS) | {"instruments"}
DEFAULT_MODEL = MarketModel(
    maker_fee=Decimal("0.0002"),
    taker_fee=Decimal("0.0005"),
    funding_rate=Decimal("0.0001"),
    funding_interval_ms=8 * HOUR_MS,
    slippage=RandomBps(Decimal(2)),
)


def env_var(key: str) -> str:
    return ENV_PREFIX + key.upper()


@dataclass(frozen=True)
class RunConfig:
    """A parsed config file: its settings (validated types) and its instrument tables."""

    path: Path | None = None
    values: Mapping[str, Any] = field(default_factory=dict)
    instruments: Mapping[str, InstrumentSpec] = field(default_factory=dict)


def _paths(value: object, key: str, base: Path) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise MarketError(f"{key}: expected a path or a list of paths")
    out = []
    for item in items:
        prefix, sep, rest = item.partition("=")
        if sep and "/" not in prefix and "\\" not in prefix:
            out.append(f"{prefix}={base / rest}")  # SYMBOL=PATH
        else:
            out.append(str(base / item))
    return tuple(out)


def load_run_config(path: Path) -> RunConfig:
    doc = read_toml(path, "run config")
    where = str(path)
    unknown = sorted(set(doc) - KEYS)
    if unknown:
        raise MarketError(f"{where}: unknown key(s) {unknown} (known: {sorted(KEYS)})")
    base = path.parent
    values: dict[str, Any] = {}
    for key, raw in doc.items():
        here = f"{where}: {key}"
        match key:
            case "instruments":
                continue
            case "policy_params":
                if not isinstance(raw, dict):
                    raise MarketError(f"{here}: expected a table of the policy's parameters")
                bad = [k for k in raw if not k.isidentifier()]
                if bad:
                    raise MarketError(f"{here}: {bad} are not Python identifiers")
                values[key] = dict(raw)
            case "data" | "instrument_files":
                values[key] = _paths(raw, here, base)
            case "symbol" | "policy" | "slippage":
                if not isinstance(raw, str) or not raw:
                    raise MarketError(f"{here}: expected a non-empty string")
                if key == "policy" and raw.partition(":")[0].endswith(".py"):
                    raw = str(base / raw)
                values[key] = raw
            case "seed" | "slots" | "latency_ms":
                if isinstance(raw, bool) or not isinstance(raw, int):
                    raise MarketError(f"{here}: expected an integer, got {raw!r}")
                values[key] = raw
            case "funding_interval_h":
                hours_setting(raw, here)
                values[key] = raw
            case _:
                values[key] = decimal_setting(raw, here)
    if "slippage" in values:
        parse_slippage(values["slippage"], f"{where}: slippage")
    return RunConfig(path, values, specs_from_document(doc, where))


def resolve(key: str, explicit: Mapping[str, Any], config: RunConfig | None) -> Any:
    """flag/env (``explicit``) > config > bundled default."""
    if key in explicit:
        return explicit[key]
    if config is not None and key in config.values:
        return config.values[key]
    return DEFAULTS[key]


def _model(values: Mapping[str, Any], where: str) -> MarketModel:
    return MarketModel(
        maker_fee=decimal_setting(values["maker_fee"], where) if "maker_fee" in values else None,
        taker_fee=decimal_setting(values["taker_fee"], where) if "taker_fee" in values else None,
        funding_rate=(
            decimal_setting(values["funding_rate"], where) if "funding_rate" in values else None
        ),
        funding_interval_ms=(
            hours_setting(values["funding_interval_h"], where)
            if "funding_interval_h" in values
            else None
        ),
        slippage=parse_slippage(values["slippage"], where) if "slippage" in values else None,
    )


def resolve_model(
    spec: InstrumentSpec, explicit: Mapping[str, Any], config: RunConfig | None
) -> MarketModel:
    """One symbol's fees, funding and slippage, first set wins:

    flag/env > the config's ``[instruments."SYMBOL"]`` table > the config's
    top-level key > the instruments file or bundled list > bundled default.
    """
    flags = _model(explicit, "flag/environment")
    top = _model(config.values, str(config.path)) if config is not None else MarketModel()
    from_config = config is not None and config.instruments.get(spec.instrument.symbol) is spec
    layers = [flags, spec.model, top] if from_config else [flags, top, spec.model]
    model = DEFAULT_MODEL
    for layer in reversed(layers):
        model = layer.over(model)
    return model
