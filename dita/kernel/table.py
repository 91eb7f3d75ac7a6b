"""The slot state machine's contract as data (DESIGN.md, "The trade slot state machine").

The kernel does not look this table up: it derives each slot's stage from the
trade's orders and position (``derive_stage``). The table states what that
derivation must produce, row by row; ``tests/kernel/test_table.py`` runs every
row against the kernel and checks that every (stage, input) pair *not* in the
table is refused or leaves the stage alone. The README's state diagram is
generated from it by ``mermaid()``.
"""

from __future__ import annotations

from dataclasses import dataclass

from dita.kernel.model import TradeStage

S = TradeStage

INPUTS = (
    "ENTER",
    "EXIT",
    "CANCEL",
    "ACK",
    "PARTIAL_FILL",
    "FILL",
    "CANCEL_ACK",
    "CANCEL_REJECT",
    "REJECT",
    "EXPIRED",
    "FEE",
)


@dataclass(frozen=True, slots=True)
class Row:
    from_stage: TradeStage
    input: str
    to_stage: TradeStage
    when: str = ""  # the condition that picks this row among several for one input
    why: str = ""  # one line for rare rows


TABLE: tuple[Row, ...] = (
    Row(S.IDLE, "ENTER", S.ORDER_REQUESTED, "valid, margin available"),
    Row(
        S.CLOSED,
        "ENTER",
        S.ORDER_REQUESTED,
        "valid, margin available",
        "a closed slot is free at once",
    ),
    Row(S.ORDER_REQUESTED, "ACK", S.ENTRY_WORKING),
    Row(S.ORDER_REQUESTED, "PARTIAL_FILL", S.ENTRY_WORKING, "", "a fill may arrive before its ack"),
    Row(S.ORDER_REQUESTED, "FILL", S.POSITION_OPEN, "", "a fill may arrive before its ack"),
    Row(S.ORDER_REQUESTED, "REJECT", S.IDLE, "nothing filled"),
    Row(
        S.ORDER_REQUESTED, "CANCEL", S.ORDER_REQUESTED, "", "the order goes PENDING_CANCEL (flaw 1)"
    ),
    Row(
        S.ORDER_REQUESTED,
        "CANCEL_ACK",
        S.IDLE,
        "nothing filled",
        "cancelled before the ack arrived",
    ),
    Row(S.ORDER_REQUESTED, "EXPIRED", S.IDLE, "nothing filled", "an IOC order may expire unacked"),
    Row(S.ENTRY_WORKING, "PARTIAL_FILL", S.ENTRY_WORKING),
    Row(S.ENTRY_WORKING, "FILL", S.POSITION_OPEN),
    Row(S.ENTRY_WORKING, "REJECT", S.IDLE, "nothing filled"),
    Row(S.ENTRY_WORKING, "CANCEL", S.ENTRY_WORKING, "", "the order goes PENDING_CANCEL (flaw 1)"),
    Row(S.ENTRY_WORKING, "CANCEL_ACK", S.IDLE, "nothing filled", "flaw 2"),
    Row(
        S.ENTRY_WORKING, "CANCEL_ACK", S.POSITION_OPEN, "partly filled", "flaw 2: keep what filled"
    ),
    Row(S.ENTRY_WORKING, "EXPIRED", S.IDLE, "nothing filled"),
    Row(S.ENTRY_WORKING, "EXPIRED", S.POSITION_OPEN, "partly filled"),
    Row(S.POSITION_OPEN, "EXIT", S.EXIT_WORKING, "next leg or explicit size"),
    Row(S.EXIT_WORKING, "PARTIAL_FILL", S.EXIT_WORKING, "", "PnL of that fill settled (flaw 5)"),
    Row(S.EXIT_WORKING, "FILL", S.POSITION_OPEN, "position remains"),
    Row(
        S.EXIT_WORKING,
        "FILL",
        S.CLOSED,
        "position now zero",
        "the one place CLOSED is set (flaw 4)",
    ),
    Row(S.EXIT_WORKING, "CANCEL", S.EXIT_WORKING, "", "the order goes PENDING_CANCEL"),
    Row(S.EXIT_WORKING, "CANCEL_ACK", S.POSITION_OPEN),
    Row(S.EXIT_WORKING, "REJECT", S.POSITION_OPEN),
    Row(S.EXIT_WORKING, "EXPIRED", S.POSITION_OPEN),
    Row(
        S.IDLE,
        "FILL",
        S.POSITION_OPEN,
        "late fill of a cancelled entry",
        "fills are money that moved",
    ),
)


def rows_for(stage: TradeStage, input_: str) -> list[Row]:
    return [r for r in TABLE if r.from_stage is stage and r.input == input_]


def mermaid() -> str:
    """A Mermaid state diagram of the table (one edge per distinct from/to/input)."""
    lines = ["stateDiagram-v2", "    [*] --> IDLE"]
    seen: set[tuple[str, str, str]] = set()
    for r in TABLE:
        label = r.input + (f" ({r.when})" if r.when and r.from_stage is not r.to_stage else "")
        key = (r.from_stage.value, r.to_stage.value, label)
        if key in seen or r.from_stage is r.to_stage:
            continue
        seen.add(key)
        lines.append(f"    {r.from_stage.value} --> {r.to_stage.value}: {label}")
    return "\n".join(lines) + "\n"
