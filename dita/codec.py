"""The one JSON codec for dita's frozen dataclasses (msgspec).

Decimals are encoded as JSON strings (``"0.10"`` stays ``"0.10"``, exponent
and sign included) and decoded from strings straight into ``Decimal``, never
through float. Encoders and decoders are built once and shared.

Schema-evolution rules (they double as journal-format rules): a new field gets
a default; a field is never renamed or re-typed; an enum value is never
reused for a different meaning.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

T = TypeVar("T")

_ENCODER = msgspec.json.Encoder(decimal_format="string")


def encode(obj: Any) -> bytes:
    """JSON bytes for a model dataclass, enum, Decimal or plain value."""
    return _ENCODER.encode(obj)


_DECODERS: dict[Any, msgspec.json.Decoder[Any]] = {}


def decoder(tp: type[T]) -> msgspec.json.Decoder[T]:
    """The strict decoder for ``tp``, built once and cached."""
    dec = _DECODERS.get(tp)
    if dec is None:
        dec = _DECODERS[tp] = msgspec.json.Decoder(tp)
    return dec


def decode(data: bytes | str, tp: type[T]) -> T:
    """Decode JSON into ``tp``, validating every field; raises ``msgspec.ValidationError``."""
    return decoder(tp).decode(data)
