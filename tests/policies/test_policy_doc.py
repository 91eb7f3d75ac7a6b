"""docs/policy.md names every field a policy touches and every diagnostic code, as the code has
them (a new field or code without its line in the reference fails here)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from dita.kernel import (
    AccountView,
    Instrument,
    KernelDiagnosticCode,
    KernelIntent,
    KernelOutcome,
    Order,
    TradeRecord,
    TradeSlot,
)
from dita.kernel.model import INTENT_FIELDS
from dita.legacy import LegacyIntent
from dita.marketdata import Bar

DOC = (Path(__file__).resolve().parents[2] / "docs" / "policy.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "cls",
    [
        Bar,
        KernelIntent,
        TradeSlot,
        AccountView,
        Instrument,
        KernelOutcome,
        Order,
        TradeRecord,
        LegacyIntent,
    ],
)
def test_every_field_is_documented(cls: type) -> None:
    missing = [n for n in _field_names(cls) if f"`{n}`" not in DOC]
    assert not missing, f"docs/policy.md does not name {cls.__name__}.{missing}"


def test_field_tables_list_the_fields_in_the_code_and_nothing_else() -> None:
    for cls, heading in ((Bar, "## `Bar`"), (KernelIntent, "## `KernelIntent`"),
                         (TradeSlot, "### `TradeSlot`"), (AccountView, "### `AccountView`"),
                         (Instrument, "### `Instrument`")):  # fmt: skip
        section = DOC[DOC.index(heading) :]
        section = section[: section.index("\n#", 1)]
        rows = re.findall(r"^\| `(\w+)` \|", section, flags=re.M)
        assert rows == list(_field_names(cls)), heading


def _field_names(cls: type) -> tuple[str, ...]:
    # KernelIntent: the arguments its checking constructor takes (one per field of any action)
    if cls is KernelIntent:
        return INTENT_FIELDS
    return tuple(f.name for f in dataclasses.fields(cls))


def test_every_diagnostic_code_is_documented() -> None:
    missing = [c.value for c in KernelDiagnosticCode if f"`{c.value}`" not in DOC]
    assert not missing


def test_policy_view_members_are_documented() -> None:
    from dita.policy import PolicyView

    members = [m for m in dir(PolicyView) if not m.startswith("_")]
    assert members and all(f"`{m}" in DOC for m in members), members
