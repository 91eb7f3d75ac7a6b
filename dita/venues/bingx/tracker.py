"""Turns everything BingX tells us about our orders into one clean event stream.

Theory of operation
-------------------
BingX reports an order through several channels that race each other: the
REST answer to the place/cancel call, ``ORDER_TRADE_UPDATE`` frames on the
user-data stream (which may be lost across a reconnect, duplicated, or arrive
before the REST answer), and REST queries made to fill gaps. ``OrderTracker``
keeps, per live order, what has already been reported (acked? cumulative
quantity and cost? terminal?) and turns each new report into only the events
that carry news:

* ACK once per order; a fill or terminal report for an unacked order emits the
  ACK first, so consumers see ACK, fills, end - whichever channel spoke first;
* fills by cumulative quantity: a report whose cumulative quantity does not
  advance emits nothing; one that advances by more than its own last quantity
  (a lost frame) emits the whole difference, priced from the average;
* one terminal event (CANCEL_ACK, EXPIRED, REJECT) per order.

Event ids are derived from the venue order id and the cumulative quantity, so
the same fact reported twice gets the same id even across restarts.

Protective orders (STOP_MARKET, TAKE_PROFIT_MARKET) carry no client order id on
BingX ("clientOrderId only supports LIMIT/MARKET", DOC25 "Place order"): their
reports name only the venue order id, which the place reply binds to our id.
A frame about an order nobody has named yet, arriving while such a place is
still waiting for its reply, is held until the reply names it (or the call
ends: then it is a stranger's, as before). After a restart ``adopt`` binds the
ids again from a query, so later reports reach the right order.

State is kept for live orders only and dropped when an order is finished and
no call about it is in flight, so memory is bounded by the number of live
orders. A small set of recently finished ids only suppresses noise: the kernel
itself refuses an already-applied fill, so correctness does not rest on it.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal

from dita.kernel.model import EventKind, OrderStatus, VenueEvent
from dita.kernel.money import money
from dita.venues.bingx import parse, wire
from dita.venues.bingx.errors import BingxError

_ZERO = Decimal(0)
_RECENT = 1024


@dataclass(slots=True)
class _Track:
    client_order_id: str
    symbol: str
    venue_order_id: str = ""
    quantity: Decimal | None = None
    cum_qty: Decimal = _ZERO
    cum_cost: Decimal = _ZERO
    fees: Decimal = _ZERO
    seen: bool = False  # we have heard anything from the venue about it
    cum_known: bool = False  # cum_qty is the venue's (we saw it from 0 or from a REST report)
    acked: bool = False
    terminal: bool = False
    in_flight: int = 0  # calls about this order still running
    cancel_rejects: int = 0
    protective: bool = False  # STOP_MARKET / TAKE_PROFIT_MARKET: followed by venue order id


@dataclass(frozen=True, slots=True)
class LiveOrder:
    client_order_id: str
    venue_order_id: str
    symbol: str
    protective: bool = False


class OrderTracker:
    """Per-order memory of what has been reported; see the module docstring."""

    def __init__(self) -> None:
        self._tracks: dict[str, _Track] = {}  # keyed by lower-case client order id
        self._cid_by_oid: dict[str, str] = {}
        self._finished: OrderedDict[str, str] = OrderedDict()  # venue id -> whose it was
        self.doubts: set[str] = set()  # orders whose reports disagree: query them
        self._anonymous_places = 0  # protective places waiting for their reply
        self._held: dict[str, list[wire.OrderTradeUpdate]] = {}  # oid -> unnamed frames

    # -- bookkeeping -----------------------------------------------------

    def begin_call(
        self,
        cid: str,
        symbol: str,
        quantity: Decimal | None = None,
        *,
        protective: bool = False,
    ) -> None:
        """A submit/cancel/query about ``cid`` is starting: keep its state until it ends.

        ``protective`` marks the order as one BingX reports without our id (see the
        module docstring); pass it for the place call of such an order."""
        t = self._track(cid.lower(), symbol)
        if quantity is not None:
            t.quantity = quantity
        if protective:
            t.protective = True
        if not t.seen:
            t.cum_known = True  # a new order of ours starts unfilled
        t.in_flight += 1

    def end_call(self, cid: str) -> None:
        t = self._tracks.get(cid.lower())
        if t is not None:
            t.in_flight = max(0, t.in_flight - 1)
            self._maybe_forget(t)

    def begin_anonymous_place(self) -> None:
        """A protective place is on its way: hold frames about orders nobody named yet."""
        self._anonymous_places += 1

    def end_anonymous_place(self) -> list[VenueEvent]:
        """That place is done. When no other is waiting, frames still held belong to no
        order of ours we know of: they are read as a stranger's, as they would have been."""
        self._anonymous_places = max(0, self._anonymous_places - 1)
        if self._anonymous_places:
            return []
        held, self._held = self._held, {}
        events: list[VenueEvent] = []
        for frames in held.values():
            for ev in frames:
                events += self.on_stream(ev)
        return events

    def claim(self, cid: str, oid: str) -> None:
        """Bind venue order ``oid`` to our order ``cid`` (a protective order found by what
        it is after a place of unknown outcome). A stranger's track under ``#oid`` (frames
        read while nobody had named the order) is dropped: what it reported reached no
        order of ours, and the next report of ``oid`` tells it again, under ``cid``."""
        t = self._tracks.get(cid.lower())
        if t is None or t.venue_order_id:
            return
        if self._tracks.pop(f"#{oid}", None) is not None:
            self._cid_by_oid.pop(oid, None)
        self._finished.pop(oid, None)
        self._bind(t, oid)

    def adopt(self, cid: str, o: wire.RestOrder) -> None:
        """Follow a protective order found by a query after a restart, from what the
        report shows (nothing is emitted: the caller reconciles from the report), so
        later reports, which name only the venue order id, reach ``cid``."""
        oid = parse.order_id(o.order_id)
        cid = cid.lower()
        if cid in self._tracks or oid in self._cid_by_oid or oid in self._finished:
            return
        status = parse.known_status(o.status)
        if status is not OrderStatus.WORKING and status is not None:
            return
        cum = parse.dec_or(o.executed_qty, _ZERO, "executedQty", signed=False)
        avg = parse.dec_or(o.avg_price, _ZERO, "avgPrice", signed=False)
        quantity = parse.dec_or(o.orig_qty, _ZERO, "origQty", signed=False)
        fees = -parse.dec_or(o.commission, _ZERO, "commission")
        t = self._track(cid, o.symbol)
        t.protective = True
        t.quantity = quantity or None
        with money():
            t.cum_qty, t.cum_cost, t.fees = cum, cum * avg, fees
        t.cum_known = t.acked = True
        self._bind(t, oid)

    def live(self) -> list[LiveOrder]:
        """Orders we still expect news about, in submission order."""
        return [
            LiveOrder(t.client_order_id, t.venue_order_id, t.symbol, t.protective)
            for t in self._tracks.values()
            if not t.terminal
        ]

    def knows(self, cid: str) -> bool:
        """True while we follow ``cid`` (submitted here and not yet finished)."""
        return cid.lower() in self._tracks

    def venue_order_id(self, cid: str) -> str:
        t = self._tracks.get(cid.lower())
        return t.venue_order_id if t is not None else ""

    def client_order_id(self, venue_order_id: str) -> str:
        """Our id for a venue order id we have bound (protective orders are reported by
        venue id only), "" if none."""
        return self._cid_by_oid.get(venue_order_id, "")

    def recently_finished(self, venue_order_id: str) -> bool:
        """An order of ours this process followed to its end (one of the last 1024; a
        stranger's, ``#<venue id>``, does not count)."""
        return not self._finished.get(venue_order_id, "#").startswith("#")

    def is_finished(self, cid: str, venue_order_id: str = "") -> bool:
        t = self._tracks.get(cid.lower())
        if t is not None:
            return t.terminal
        return venue_order_id in self._finished

    # -- inputs ----------------------------------------------------------

    def on_placed(self, cid: str, p: wire.PlacedOrder, ts: int) -> list[VenueEvent]:
        """The REST answer to a place: the venue holds the order (an ACK)."""
        oid = parse.placed_order_id(p)
        t = self._track(cid.lower(), p.symbol)
        self._bind(t, oid)
        if t.terminal and oid in self._finished:
            return []
        events = self._ack(t, ts)
        for ev in self._held.pop(oid, []):  # frames that came before this reply named it
            events += self.on_stream(ev)
        return events

    def on_rest(self, o: wire.RestOrder, ts: int | None = None) -> list[VenueEvent]:
        """A REST order object (query, open orders, cancel answer)."""
        oid = parse.order_id(o.order_id)
        cid = (parse.text(o.client_order_id) or self._cid_by_oid.get(oid, "")).lower() or f"#{oid}"
        if cid not in self._tracks and oid in self._finished:
            return []
        # read every number before changing any state: a refused report changes nothing
        quantity = parse.dec_or(o.orig_qty, _ZERO, "origQty", signed=False)
        cum = parse.dec_or(o.executed_qty, _ZERO, "executedQty", signed=False)
        avg = parse.dec_or(o.avg_price, _ZERO, "avgPrice", signed=False)
        total_fees = -parse.dec_or(o.commission, _ZERO, "commission")
        status = parse.known_status(o.status)
        if status is None:  # a status we do not know: the quantities tell
            status = OrderStatus.FILLED if quantity and cum >= quantity else OrderStatus.WORKING
        known = self._tracks.get(cid)
        prev_cum = known.cum_qty if known is not None else _ZERO
        prev_cost = known.cum_cost if known is not None else _ZERO
        missed: parse.FillDelta | None = None
        if cum > prev_cum and status is not OrderStatus.REJECTED:
            if avg <= 0:
                raise wire.WireError(f"order {oid}: executedQty {cum} without avgPrice")
            quote = parse.exact_cum_quote(
                cum, avg, parse.dec_or(o.cum_quote, _ZERO, "cumQuote", signed=False)
            )
            with money():
                value = (quote if quote is not None else avg * cum) - prev_cost
            missed = parse.gap(value, cum - prev_cum, f"order {oid}: cumQuote/avgPrice {avg}")
        t = self._track(cid, o.symbol)
        self._bind(t, oid)
        when = ts if ts is not None else (o.update_time or o.time)
        if t.quantity is None and quantity:
            t.quantity = quantity
        events: list[VenueEvent] = []
        if status is OrderStatus.REJECTED:
            events += self._terminal(t, EventKind.REJECT, when, f"bingx status {o.status}")
            return events
        events += self._ack(t, when)
        if missed is not None:
            events += self._fills(t, missed.fills, total_fees - t.fees, when, status)
        t.cum_known = True
        match status:
            case OrderStatus.CANCELED:
                events += self._terminal(t, EventKind.CANCEL_ACK, when, "")
            case OrderStatus.EXPIRED:
                events += self._terminal(t, EventKind.EXPIRED, when, "")
            case OrderStatus.FILLED:
                self._finish(t)
            case _:
                pass
        return events

    def on_stream(self, ev: wire.OrderTradeUpdate) -> list[VenueEvent]:
        """One ``ORDER_TRADE_UPDATE`` frame."""
        u = ev.order
        oid = parse.order_id(u.order_id, "i")
        named = parse.text(u.client_order_id) or self._cid_by_oid.get(oid, "")
        if (
            not named
            and self._anonymous_places
            and oid not in self._finished
            and len(self._held) < _RECENT
            and len(self._held.get(oid, ())) < _RECENT
        ):
            # perhaps the protective order whose place reply is still on its way
            self._held.setdefault(oid, []).append(ev)
            return []
        cid = named.lower() or f"#{oid}"
        if cid not in self._tracks and oid in self._finished:
            return []
        stranger = cid not in self._tracks  # e.g. placed by this engine before a restart
        known = self._tracks.get(cid)
        # read every number before changing any state: a refused frame changes nothing
        quantity = parse.dec_or(u.quantity, _ZERO, "q", signed=False)
        exec_type = parse.text(u.exec_type).strip().upper()
        status = parse.known_status(u.status)
        delta = None
        if exec_type in ("TRADE", "CALCULATED") or (
            exec_type not in ("NEW", "CANCELED", "CANCELLED", "EXPIRED") and not u.cum_qty.absent
        ):
            # a fill (or an execution type we do not know that carries a cumulative
            # quantity): whatever the status says, z decides what was filled
            exec_type = "TRADE"
            cum_known = known is not None and known.cum_known
            delta = parse.fill_delta(
                u, known.cum_qty if known is not None and cum_known else None,
                known.cum_cost if known is not None else _ZERO,
            )  # fmt: skip
        t = self._track(cid, u.symbol)
        self._bind(t, oid)
        when = ev.push_time or ev.event_time
        if t.quantity is None:
            t.quantity = quantity or None
        events: list[VenueEvent] = []
        match exec_type:
            case "NEW":
                events += self._ack(t, when)
            case "TRADE":
                events += self._ack(t, when)
                if delta is not None and stranger and not t.cum_known:
                    # First word of an order this process never followed: earlier fills
                    # (z - l) happened before we listened. Report the venue's cumulative
                    # quantity, not just this frame's: whoever applied the earlier fills
                    # (the kernel, after a restart) must see this one as news, not as old.
                    z = parse.dec_or(u.cum_qty, _ZERO, "z")
                    if z > delta.qty:
                        t.cum_qty = z - delta.qty
                        avg = parse.dec_or(u.avg_price, _ZERO, "ap")
                        with money():
                            mine = sum((q * p for q, p in delta.fills), _ZERO)
                            t.cum_cost = parse.cum_value(u, z) - mine if avg > 0 else _ZERO
                if delta is not None:
                    fill_status = status if status is not None else OrderStatus.WORKING
                    events += self._fills(t, delta.fills, delta.fee, when, fill_status)
                t.cum_known = True
                if t.quantity is not None and t.cum_qty >= t.quantity:
                    self._finish(t)
                elif status is OrderStatus.FILLED:
                    # "FILLED" but z short of the quantity (the 2023 docs' own example has
                    # z 0): keep following it and ask the venue, never assume the rest
                    self.doubts.add(cid)
            case "CANCELED" | "CANCELLED":
                events += self._catch_up(t, u, when)
                events += self._terminal(t, EventKind.CANCEL_ACK, when, "")
            case "EXPIRED":
                events += self._catch_up(t, u, when)
                events += self._terminal(t, EventKind.EXPIRED, when, "")
            case _:
                pass
        return events

    def on_reject(self, cid: str, symbol: str, err: BingxError, ts: int) -> list[VenueEvent]:
        """The venue refused the order outright: nothing exists."""
        t = self._track(cid.lower(), symbol)
        return self._terminal(t, EventKind.REJECT, ts, str(err))

    def on_cancel_reject(
        self, cid: str, reason: str, ts: int, rest: wire.RestOrder | None = None
    ) -> list[VenueEvent]:
        """The venue refused a cancel. Does not start following an order we had let go."""
        t = self._tracks.get(cid.lower())
        if t is not None:
            t.cancel_rejects += 1
            oid, seq = t.venue_order_id, str(t.cancel_rejects)
            cum: Decimal | None = t.cum_qty
        else:
            oid = parse.order_id(rest.order_id) if rest is not None else ""
            cum = (
                parse.dec_or(rest.executed_qty, _ZERO, "executedQty", signed=False)
                if rest is not None
                else None
            )
            seq = f"t{ts}"
        ev = VenueEvent(
            event_id=f"bingx:{oid or cid.lower()}:cancel-reject:{seq}",
            ts=ts,
            kind=EventKind.CANCEL_REJECT,
            client_order_id=cid.lower(),
            venue_order_id=oid,
            cum_qty=cum,
            reason=reason,
        )
        if t is not None:
            self._maybe_forget(t)
        return [ev]

    def untracked_end(self, o: wire.RestOrder) -> list[VenueEvent]:
        """The terminal event of an order we do not follow (e.g. cancelled after a restart).

        No fills: we cannot know which of them the consumer already has; its
        reconciliation works from the report.
        """
        match parse.known_status(o.status):
            case OrderStatus.CANCELED:
                kind = EventKind.CANCEL_ACK
            case OrderStatus.EXPIRED:
                kind = EventKind.EXPIRED
            case _:
                return []
        oid = parse.order_id(o.order_id)
        cum = parse.dec_or(o.executed_qty, _ZERO, "executedQty", signed=False)
        return [
            VenueEvent(
                event_id=f"bingx:{oid}:{kind.value.lower()}",
                ts=o.update_time or o.time,
                kind=kind,
                client_order_id=parse.text(o.client_order_id).lower(),
                venue_order_id=oid,
                cum_qty=cum,
            )
        ]

    def forget_unseen(self, cid: str, *, only_if_idle: bool = False) -> None:
        """Drop the state of an order the venue never saw (e.g. a submit that was NotSent).

        With ``only_if_idle`` nothing happens while a call about it is in flight.
        """
        t = self._tracks.get(cid.lower())
        if t is not None and not t.seen and not (only_if_idle and t.in_flight):
            t.terminal = True
            self._maybe_forget(t)

    # -- internals -------------------------------------------------------

    def _track(self, cid: str, symbol: str) -> _Track:
        t = self._tracks.get(cid)
        if t is None:
            t = _Track(client_order_id=cid, symbol=symbol)
            self._tracks[cid] = t
        return t

    def _bind(self, t: _Track, oid: str) -> None:
        t.seen = True
        if not t.venue_order_id:
            t.venue_order_id = oid
            self._cid_by_oid[oid] = t.client_order_id

    def _event_base(self, t: _Track) -> str:
        return f"bingx:{t.venue_order_id or t.client_order_id}"

    def _ack(self, t: _Track, ts: int) -> list[VenueEvent]:
        if t.acked or t.terminal:
            return []
        t.acked = True
        return [
            VenueEvent(
                event_id=f"{self._event_base(t)}:ack",
                ts=ts,
                kind=EventKind.ACK,
                client_order_id=t.client_order_id,
                venue_order_id=t.venue_order_id,
                cum_qty=t.cum_qty,
            )
        ]

    def _fills(
        self,
        t: _Track,
        parts: tuple[tuple[Decimal, Decimal], ...],
        fee: Decimal,
        ts: int,
        status: OrderStatus,
    ) -> list[VenueEvent]:
        """One fill event per (qty, price) part (a gap may be two), the fee on the first,
        the order's ``status`` on the last."""
        out = []
        for i, (qty, price) in enumerate(parts):
            last = i == len(parts) - 1
            out.append(
                self._fill(t, qty, price, fee if i == 0 else _ZERO, ts,
                           status if last else OrderStatus.WORKING)
            )  # fmt: skip
        return out

    def _fill(
        self, t: _Track, qty: Decimal, price: Decimal, fee: Decimal, ts: int, status: OrderStatus
    ) -> VenueEvent:
        with money():
            t.cum_qty += qty
            t.cum_cost += qty * price
            t.fees += fee
        done = status is OrderStatus.FILLED or (t.quantity is not None and t.cum_qty >= t.quantity)
        return VenueEvent(
            event_id=f"{self._event_base(t)}:fill:{t.cum_qty}",
            ts=ts,
            kind=EventKind.FILL if done else EventKind.PARTIAL_FILL,
            client_order_id=t.client_order_id,
            venue_order_id=t.venue_order_id,
            last_qty=qty,
            last_price=price,
            cum_qty=t.cum_qty,
            fee=fee,
        )

    def _catch_up(self, t: _Track, u: wire.OrderUpdate, ts: int) -> list[VenueEvent]:
        """A cancel/expiry frame whose ``z`` shows fills we never saw (lost frames)."""
        cum = parse.dec_or(u.cum_qty, _ZERO, "z", signed=False)
        avg = parse.dec_or(u.avg_price, _ZERO, "ap", signed=False)
        missed = None
        if cum > t.cum_qty:
            if avg <= 0:
                raise wire.WireError(f"order {u.order_id}: z={cum} without a usable ap")
            with money():
                value = parse.cum_value(u, cum) - t.cum_cost
            missed = parse.gap(value, cum - t.cum_qty, f"order {u.order_id}: Z/ap {avg}")
        events = self._ack(t, ts)
        if missed is not None:
            events += self._fills(t, missed.fills, _ZERO, ts, OrderStatus.WORKING)
        return events

    def _terminal(self, t: _Track, kind: EventKind, ts: int, reason: str) -> list[VenueEvent]:
        if t.terminal:
            return []
        t.terminal = True
        ev = VenueEvent(
            event_id=f"{self._event_base(t)}:{kind.value.lower()}",
            ts=ts,
            kind=kind,
            client_order_id=t.client_order_id,
            venue_order_id=t.venue_order_id,
            cum_qty=t.cum_qty,
            reason=reason,
        )
        self._maybe_forget(t)
        return [ev]

    def _finish(self, t: _Track) -> None:
        t.terminal = True
        self._maybe_forget(t)

    def _maybe_forget(self, t: _Track) -> None:
        if not t.terminal or t.in_flight:
            return
        self._tracks.pop(t.client_order_id, None)
        if t.venue_order_id:
            self._cid_by_oid.pop(t.venue_order_id, None)
            self._finished[t.venue_order_id] = t.client_order_id
            while len(self._finished) > _RECENT:
                self._finished.popitem(last=False)
