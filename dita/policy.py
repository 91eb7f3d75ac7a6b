"""The policy side: what drives the kernel.

A policy is any object with two methods (``Policy``): ``on_bar`` is called once
per closed bar, ``on_outcome`` once per kernel outcome (every accepted or
refused intent and every venue event), and both return the intents to submit
next. Policies see the kernel only through a read-only ``PolicyView``; they
never perform I/O through dita and never read a clock (``view.now_ms`` is the
engine's clock, which in a simulation is market-data time).

Two ways to plug one in:

* ``load_policy("package.module:attr")`` or ``load_policy("path/file.py:attr",
  params)``: ``attr`` is a policy class or factory (called with ``params`` as
  keyword arguments) or an instance. See docs/policy.md.
* ``JsonlIntents``: a file (or stdin) of intents, one JSON object per line, so
  a policy written in any language can drive dita. Each line is a
  ``KernelIntent`` in dita's codec (Decimals as strings, enums by name)::

      {"intent_id":"i1","ts":1704067260000,"slot_id":0,"action":"ENTER",
       "trade_id":"t1","asset":"BTC-USDT","side":"LONG","size":"0.01",
       "order_type":"LIMIT","limit_price":"42300.0","exit_leg_ratios":["0.5","0.5"]}

  An intent is delivered at the first bar whose close time is at or after its
  ``ts``; ``ts`` must not decrease from one line to the next.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol, TextIO, runtime_checkable

import msgspec

from dita import codec
from dita.kernel import AccountView, Instrument, Kernel, KernelIntent, KernelOutcome, TradeSlot
from dita.kernel.model import INTENT_FIELDS, FlatIntent
from dita.marketdata import Bar


class PolicyView:
    """What a policy may look at: the kernel's read-only views and the engine's clock."""

    __slots__ = ("_kernel", "now_ms")

    def __init__(self, kernel: Kernel) -> None:
        self._kernel = kernel
        self.now_ms = 0

    @property
    def slot_count(self) -> int:
        return self._kernel.slot_count

    def slot(self, n: int) -> TradeSlot:
        return self._kernel.slot(n)

    @property
    def account(self) -> AccountView:
        return self._kernel.account

    @property
    def instruments(self) -> dict[str, Instrument]:
        return self._kernel.instruments


@runtime_checkable
class Policy(Protocol):
    """Called on each bar and on each kernel outcome; returns intents to submit next."""

    def on_bar(self, bar: Bar, view: PolicyView) -> Sequence[KernelIntent]: ...

    def on_outcome(self, outcome: KernelOutcome, view: PolicyView) -> Sequence[KernelIntent]: ...


class PolicyError(ValueError):
    """A policy cannot be loaded, or its intents cannot be read. One line, names where."""


def load_policy(spec: str, params: Mapping[str, Any] | None = None) -> Policy:
    """The policy named by ``spec``, ready to run.

    ``spec`` is ``module:attr`` (an importable module; the current directory is
    searched too, so ``my_policy:MyPolicy`` finds ``./my_policy.py``) or
    ``path/to/file.py:attr`` (loaded from that file; its directory is put on
    ``sys.path`` so it can import its neighbours). ``attr`` (dotted names
    allowed) is a class or a factory, called with ``params`` as keyword
    arguments, or a ready instance (then ``params`` must be empty).

    The policy may return ``KernelIntent``s or ``dita.legacy.LegacyIntent``s
    (converted losslessly by the engine just before each is run).
    """
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise PolicyError(
            f"policy {spec!r}: expected 'module:attr' or 'path/to/file.py:attr', "
            "e.g. 'dita.policies.demo:DemoPolicy'"
        )
    module = _import_policy_module(spec, target)
    obj: object = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise PolicyError(f"policy {spec!r}: module {target!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    kwargs = dict(params or {})
    if isinstance(obj, type) or (not isinstance(obj, Policy) and callable(obj)):
        try:
            obj = obj(**kwargs)
        except TypeError as e:
            if kwargs:
                raise PolicyError(
                    f"policy {spec!r}: it does not take the parameters {sorted(kwargs)}: {e}"
                ) from None
            raise PolicyError(f"policy {spec!r}: constructing it failed: TypeError: {e}") from None
        except Exception as e:
            raise PolicyError(
                f"policy {spec!r}: constructing it failed: {type(e).__name__}: {e}"
            ) from None
    elif kwargs:
        raise PolicyError(
            f"policy {spec!r} is an instance: it cannot take parameters {sorted(kwargs)} "
            "(name its class or a factory instead)"
        )
    if not isinstance(obj, Policy):
        raise PolicyError(
            f"policy {spec!r}: {type(obj).__name__} has no on_bar(bar, view) and on_outcome(outcome, view)"
        )
    return obj


def _import_policy_module(spec: str, target: str) -> ModuleType:
    if target.endswith(".py") or "/" in target or os.sep in target:
        path = Path(target).expanduser()
        if not path.is_file():
            raise PolicyError(f"policy {spec!r}: no such file {str(path)!r}")
        name = f"dita_policy_{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]}"
        if name in sys.modules:
            return sys.modules[name]
        folder = str(path.resolve().parent)
        if folder not in sys.path:
            sys.path.append(folder)
        loader_spec = importlib.util.spec_from_file_location(name, path)
        if loader_spec is None or loader_spec.loader is None:
            raise PolicyError(f"policy {spec!r}: {str(path)!r} is not a Python file")
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[name] = module  # dataclasses and pickling look their module up by name
        try:
            loader_spec.loader.exec_module(module)
        except Exception as e:  # a policy file that fails on import: say so, in one line
            del sys.modules[name]
            raise PolicyError(
                f"policy {spec!r}: loading {path} failed: {type(e).__name__}: {e}"
            ) from None
        return module
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.append(cwd)  # last: a file here never shadows an installed package
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as e:
        if e.name is not None and (target == e.name or target.startswith(e.name + ".")):
            raise PolicyError(f"policy {spec!r}: no module named {e.name!r}") from None
        raise PolicyError(
            f"policy {spec!r}: importing {target} failed: ModuleNotFoundError: {e}"
        ) from None
    except Exception as e:  # a policy module that fails on import: say so, in one line
        raise PolicyError(
            f"policy {spec!r}: importing {target} failed: {type(e).__name__}: {e}"
        ) from None


# --------------------------------------------------------------------------- JSONL intents


class JsonlIntents:
    """A policy that replays intents read from JSON lines, each at its timestamp.

    All lines are read and validated when the source is built (a bad line
    raises ``PolicyError`` naming the file and line), so a run never starts on
    a file it would fail halfway through.
    """

    def __init__(
        self, intents: Iterable[KernelIntent], *, label: str = "", lines: Sequence[int] = ()
    ) -> None:
        self._intents = list(intents)
        self._next = 0
        self._label = label
        self._lines = list(lines)

    def undeliverable(self, last_close_ts: int) -> str | None:
        """One line naming the intents timed after the data's last bar, or None if none are."""
        late = [i for i, it in enumerate(self._intents) if it.ts > last_close_ts]
        if not late:
            return None
        first = late[0]
        where = f"{self._label}:{self._lines[first]}" if first < len(self._lines) else self._label
        return (
            f"{where}: intent {self._intents[first].intent_id!r} at ts {self._intents[first].ts} "
            f"is after the data's last bar (closes at {last_close_ts}) and would never be "
            f"delivered ({len(late)} such intent{'s' if len(late) != 1 else ''})"
        )

    @classmethod
    def read(cls, source: str | Path | TextIO, label: str | None = None) -> JsonlIntents:
        if isinstance(source, str | Path):
            path = Path(source)
            name = label or str(path)
            try:
                with path.open("r", encoding="utf-8") as fh:
                    return cls._of(_parse_numbered(fh, name), name)
            except FileNotFoundError:
                raise PolicyError(f"{name}: no such intents file") from None
            except (OSError, UnicodeDecodeError) as e:
                raise PolicyError(f"{name}: cannot read intents: {e}") from None
        return cls._of(_parse_numbered(source, label or "<stdin>"), label or "<stdin>")

    @classmethod
    def _of(cls, numbered: list[tuple[int, KernelIntent]], label: str) -> JsonlIntents:
        return cls([it for _, it in numbered], label=label, lines=[n for n, _ in numbered])

    def __len__(self) -> int:
        return len(self._intents)

    @property
    def undelivered(self) -> Sequence[KernelIntent]:
        """Intents not delivered yet: after a run, those timed after the last bar closed."""
        return self._intents[self._next :]

    def on_bar(self, bar: Bar, view: PolicyView) -> Sequence[KernelIntent]:
        start = self._next
        while self._next < len(self._intents) and self._intents[self._next].ts <= bar.close_ts:
            self._next += 1
        return self._intents[start : self._next]

    def on_outcome(self, outcome: KernelOutcome, view: PolicyView) -> Sequence[KernelIntent]:
        return ()


# A line nested deeper than this is refused before it is parsed (no RecursionError).
MAX_INTENT_DEPTH = 32
_INTENT_KEYS = frozenset(INTENT_FIELDS)
# the keys whose value is a Decimal (or a list of them): a JSON string, never a number
_DECIMAL_KEYS = ("size", "limit_price", "leverage", "exit_leg_ratios", "reference_price")
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(r"[\[\]{}]")


def _depth(text: str) -> int:
    """Deepest nesting of [] and {} outside strings (an unbalanced line fails to parse later)."""
    depth = deepest = 0
    for m in _BRACKETS.finditer(_STRINGS.sub("", text)):
        if m.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def parse_intent_lines(lines: Iterable[str], label: str) -> list[KernelIntent]:
    """Decode JSONL intents; the first bad line raises ``PolicyError('<label>:<line>: ...')``."""
    return [it for _, it in _parse_numbered(lines, label)]


def _parse_numbered(lines: Iterable[str], label: str) -> list[tuple[int, KernelIntent]]:
    decoder = codec.decoder(FlatIntent)
    out: list[tuple[int, KernelIntent]] = []
    last_ts: int | None = None
    for lineno, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            if _depth(text) > MAX_INTENT_DEPTH:
                raise PolicyError(f"{label}:{lineno}: nested deeper than {MAX_INTENT_DEPTH} levels")
            try:
                obj = json.loads(text, parse_float=_refuse_float)
            except _FloatInJson as e:
                raise _FloatInJson(e.args[0], _float_key(text)) from None
            if not isinstance(obj, dict):
                raise PolicyError(
                    f"{label}:{lineno}: an intent is a JSON object, got {type(obj).__name__}"
                )
            unknown = sorted(k for k in obj if k not in _INTENT_KEYS)
            if unknown:
                raise PolicyError(
                    f"{label}:{lineno}: unknown key {unknown[0]!r}"
                    + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else "")
                    + f"; an intent has only {', '.join(sorted(_INTENT_KEYS))}"
                )
            for key in _DECIMAL_KEYS:
                v = obj.get(key)
                if (
                    v is not None
                    and not isinstance(v, str)
                    and not (isinstance(v, list) and all(isinstance(x, str) for x in v))
                ):
                    raise PolicyError(
                        f"{label}:{lineno}: {key} must be a Decimal as a JSON string "
                        f'(e.g. "1.5"), got {json.dumps(v)}'
                    )
            intent = decoder.decode(text).intent()
        except PolicyError:
            raise
        except _FloatInJson as e:
            where = f", in {e.args[1]}" if e.args[1] else ""
            raise PolicyError(
                f"{label}:{lineno}: number {e.args[0]} must be a string "
                f'(Decimals travel as "{e.args[0]}"){where}'
            ) from None
        except (ValueError, msgspec.DecodeError) as e:
            raise PolicyError(f"{label}:{lineno}: bad intent: {_one_line(str(e))}") from None
        if last_ts is not None and intent.ts < last_ts:
            raise PolicyError(
                f"{label}:{lineno}: ts {intent.ts} is before the previous line's {last_ts}"
            )
        last_ts = intent.ts
        out.append((lineno, intent))
    return out


class _FloatInJson(ValueError):
    pass


def _refuse_float(text: str) -> float:
    raise _FloatInJson(text, "")


class _FloatText(str):
    pass


def _float_key(text: str) -> str:
    """The top-level key holding the line's first JSON float (or within it), or ""."""

    def has_float(v: object) -> bool:
        if isinstance(v, _FloatText):
            return True
        if isinstance(v, list):
            return any(has_float(x) for x in v)
        return isinstance(v, dict) and any(has_float(x) for x in v.values())

    try:
        obj = json.loads(text, parse_float=_FloatText)
    except ValueError:
        return ""
    if isinstance(obj, dict):
        return next((str(k) for k, v in obj.items() if has_float(v)), "")
    return ""


def _one_line(s: str) -> str:
    return " ".join(s.split())


@dataclass(frozen=True, slots=True)
class NullPolicy:
    """Does nothing; useful for replaying a venue's events alone."""

    def on_bar(self, bar: Bar, view: PolicyView) -> Sequence[KernelIntent]:
        return ()

    def on_outcome(self, outcome: KernelOutcome, view: PolicyView) -> Sequence[KernelIntent]:
        return ()
