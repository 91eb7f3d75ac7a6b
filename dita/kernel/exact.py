"""Exact field types for the kernel's input Structs, checked where inputs are built.

msgspec decodes a JSON float into a ``Decimal`` field and ``convert`` turns ``"LONG"``
into ``Side.LONG``, even with ``strict=True``; a Struct built in Python is not checked at
all. So each input type's fields are read once from its annotations into a tuple of
(field, allowed types, item type) and an instance is checked with ``type(v) is T`` tests:
exactly ``Decimal`` (not a float, an int or a subclass), exactly the enum (not its
string), exactly ``int`` (not a bool), ``None`` only where the annotation allows it.
Values of the right type that the kernel cannot take (a NaN size, a negative slot) pass:
the kernel refuses those with its own diagnostics.
"""

from __future__ import annotations

import types
import typing
from decimal import Decimal
from enum import Enum
from typing import Any

# (field name, the types its value may exactly have, the type of each item of a tuple field)
FieldCheck = tuple[str, tuple[type, ...], type | None]

_CHECKS: dict[type, tuple[FieldCheck, ...]] = {}


_BY_NAME: dict[type, dict[str, FieldCheck]] = {}


def exact_fields(cls: type) -> dict[str, FieldCheck]:
    """``cls``'s fields in order, each with its exact types (built once; do not modify)."""
    by_name = _BY_NAME.get(cls)
    if by_name is None:
        by_name = _BY_NAME[cls] = {c[0]: c for c in _checks(cls)}
    return by_name


def _checks(cls: type) -> tuple[FieldCheck, ...]:
    checks = _CHECKS.get(cls)
    if checks is None:
        hints = typing.get_type_hints(cls)
        names: tuple[str, ...] = cls.__struct_fields__  # type: ignore[attr-defined]
        checks = _CHECKS[cls] = tuple(_field_check(n, hints[n]) for n in names)
    return checks


def _field_check(name: str, hint: Any) -> FieldCheck:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = typing.get_args(hint)
    else:
        args = (hint,)
    allowed: list[type] = []
    item: type | None = None
    for a in args:
        origin = typing.get_origin(a)
        if origin is tuple:
            targs = typing.get_args(a)
            if len(targs) != 2 or targs[1] is not Ellipsis or not isinstance(targs[0], type):
                raise TypeError(f"{name}: only tuple[T, ...] is supported, got {a!r}")
            allowed.append(tuple)
            item = targs[0]
        elif origin is dict:
            allowed.append(dict)
        elif a is None or a is type(None):
            allowed.append(type(None))
        elif isinstance(a, type):
            allowed.append(a)
        else:
            raise TypeError(f"{name}: no exact check for {a!r}")
    return name, tuple(allowed), item


def first_wrong(obj: object) -> tuple[str, str] | None:
    """(field, what is wrong) for ``obj``'s first field of the wrong type, or None."""
    for check in _CHECKS.get(type(obj)) or _checks(type(obj)):
        name, allowed, item = check
        v = getattr(obj, name)
        # the common case inline: one type test per field (wrong_value words the refusal)
        if type(v) not in allowed or (item is not None and type(v) is tuple):
            wrong = wrong_value(check, v)
            if wrong is not None:
                return name, wrong
    return None


def wrong_value(check: FieldCheck, v: object) -> str | None:
    """What is wrong with ``v`` as the value of ``check``'s field, or None."""
    name, allowed, item = check
    if type(v) not in allowed:
        return f"{name}={v!r} is a {type(v).__name__}, not {_names(allowed)}{_hint(allowed, v)}"
    if item is not None and type(v) is tuple:
        for x in v:
            if type(x) is not item:
                return (
                    f"{name} holds {x!r}, a {type(x).__name__}, not {item.__name__}"
                    f"{_hint((item,), x)}"
                )
    return None


def _hint(allowed: tuple[type, ...], v: object) -> str:
    """How to write ``v`` as the type the field takes, when there is an obvious way."""
    for t in allowed:
        if issubclass(t, Enum) and isinstance(v, str):
            member = next((m for m in t if m.value == v), None)
            if member is not None:
                return f" (write {t.__name__}.{member.name}: the text equals it but is not it)"
        if t is Decimal and isinstance(v, float | int) and not isinstance(v, bool):
            return f' (write Decimal("{v!r}"): money travels exact, never as a float)'
    return ""


def _names(allowed: tuple[type, ...]) -> str:
    return " or ".join("None" if t is type(None) else t.__name__ for t in allowed)
