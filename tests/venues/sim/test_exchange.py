"""The simulated matching engine, one behaviour per test, with exact numbers."""

from __future__ import annotations

from decimal import Decimal

import pytest

from dita.kernel.model import EventKind, Side
from dita.marketdata.model import Trade
from dita.venues.sim import (
    DuplicateOrderError,
    FeeSchedule,
    FixedBps,
    OrderRequest,
    RandomBps,
    RejectCode,
    reject_code,
)
from tests.venues.sim.helpers import (
    BTC,
    BUY,
    MIN,
    SELL,
    SYM,
    T0,
    D,
    bar,
    kinds,
    limit,
    make,
    market,
)

ACK, PART, FILL = EventKind.ACK, EventKind.PARTIAL_FILL, EventKind.FILL


def seeded_with_price(**overrides: object):
    x = make(**overrides)
    x.on_bar(bar(0, "100", "100", "100", "100"))
    return x


# ---------------------------------------------------------------- market orders


def test_market_order_fills_at_next_bar_open_with_taker_fee() -> None:
    x = seeded_with_price(fees=FeeSchedule(maker=D("0.0002"), taker=D("0.0005")))
    [ack] = x.submit(market("m", BUY, "0.5"), T0 + 30_000)
    assert (ack.kind, ack.ts, ack.cum_qty) == (ACK, T0 + 30_000, 0)
    [fill] = x.on_bar(bar(1, "101.3", "102", "99", "100"))
    assert (fill.kind, fill.ts, fill.last_qty, fill.last_price, fill.cum_qty) == (
        FILL,
        T0 + MIN,
        D("0.5"),
        D("101.3"),
        D("0.5"),
    )
    assert fill.fee == D("0.02532500")  # 0.5 * 101.3 * 0.0005, exact


def test_fixed_slippage_moves_against_the_taker_and_rounds_away_from_it() -> None:
    x = seeded_with_price(slippage=FixedBps(D("3")))
    x.submit(market("b", BUY, "0.1"), T0 + 1)
    x.submit(market("s", SELL, "0.1"), T0 + 1)
    buy, sell = x.on_bar(bar(1, "100.0", "101", "99", "100"))
    # 100 * (1 +/- 0.0003) = 100.03 / 99.97 -> buy rounds up to 100.1, sell down to 99.9
    assert (buy.client_order_id, buy.last_price) == ("b", D("100.1"))
    assert (sell.client_order_id, sell.last_price) == ("s", D("99.9"))


def test_random_slippage_is_bounded_and_repeats_for_a_seed() -> None:
    def prices(seed: int) -> list[Decimal]:
        x = seeded_with_price(slippage=RandomBps(D("50")), seed=seed, initial_balance=D(10**7))
        out: list[Decimal] = []
        for i in range(1, 40):
            x.submit(market(f"m{i}", BUY, "0.1"), T0 + (i - 1) * MIN + 1)
            [fill] = x.on_bar(bar(i, "1000", "1000", "1000", "1000"))
            assert fill.last_price is not None
            out.append(fill.last_price)
        return out

    a = prices(1)
    assert a == prices(1)
    assert a != prices(2)
    assert all(D("1000") <= p <= D("1005") for p in a)
    assert len(set(a)) > 5


def test_market_order_before_any_price_is_rejected() -> None:
    x = make()
    [r] = x.submit(market("m", BUY, "0.1"), T0)
    assert r.kind is EventKind.REJECT
    assert reject_code(r) is RejectCode.NO_MARKET_PRICE


# ---------------------------------------------------------------- limit orders


def test_resting_buy_limit_fills_at_its_price_only_when_low_reaches_it() -> None:
    x = seeded_with_price(participation=D(1))
    x.submit(limit("l", BUY, "1", "99.5"), T0 + 1)
    assert x.on_bar(bar(1, "100", "100.5", "99.6", "100")) == []
    [fill] = x.on_bar(bar(2, "100", "100.2", "99.5", "99.9"))
    assert (fill.kind, fill.last_price, fill.reason) == (FILL, D("99.5"), "maker")
    assert fill.fee == D("0.01990000")  # maker 0.0002 * 99.5


def test_resting_limit_fills_at_its_price_even_when_the_bar_gaps_through_it() -> None:
    x = seeded_with_price(participation=D(1))
    x.submit(limit("l", BUY, "1", "99.5"), T0 + 1)
    [fill] = x.on_bar(bar(1, "98", "98.5", "97", "98"))
    assert (fill.last_price, fill.reason) == (D("99.5"), "maker")


def test_marketable_limit_takes_the_open_as_taker() -> None:
    x = seeded_with_price(participation=D(1))
    x.submit(limit("l", BUY, "1", "101"), T0 + 1)  # above the last price 100
    [fill] = x.on_bar(bar(1, "100.4", "100.6", "100.1", "100.5"))
    assert (fill.last_price, fill.reason) == (D("100.4"), "taker")


def test_sell_limit_fills_when_high_reaches_it() -> None:
    x = seeded_with_price(participation=D(1))
    x.on_bar(bar(1, "100", "100", "100", "100"))
    x.submit(market("m", BUY, "1"), T0 + MIN + 1)
    x.on_bar(bar(2, "100", "100", "100", "100"))
    x.submit(limit("tp", SELL, "1", "101", reduce_only=True), T0 + 2 * MIN + 1)
    assert x.on_bar(bar(3, "100", "100.9", "99", "100")) == []
    [fill] = x.on_bar(bar(4, "100", "101", "99", "100"))
    assert (fill.kind, fill.last_price) == (FILL, D("101"))
    assert x.positions() == []


def test_partial_fills_follow_participation_over_several_bars() -> None:
    x = seeded_with_price(participation=D("0.1"))
    x.submit(limit("big", BUY, "10", "99"), T0 + 1)
    events = []
    for i in range(1, 6):
        events += x.on_bar(bar(i, "99.5", "100", "98", "99", v="25"))
    # 10% of 25 = 2.5 per bar: 2.5, 5, 7.5, 10
    assert [e.kind for e in events] == [PART, PART, PART, FILL]
    assert [e.cum_qty for e in events] == [D("2.5"), D("5.0"), D("7.5"), D("10.0")]
    assert all(e.last_qty == D("2.5") for e in events)
    assert sum((e.last_qty or D(0)) for e in events) == events[-1].cum_qty == D(10)


def test_orders_share_the_bar_volume_best_price_first() -> None:
    x = seeded_with_price(participation=D("0.5"))
    x.submit(limit("low", BUY, "3", "98"), T0 + 1)
    x.submit(limit("high", BUY, "3", "99"), T0 + 2)
    events = x.on_bar(bar(1, "99.5", "100", "97", "99", v="8"))  # 4 available to buyers
    assert [(e.client_order_id, e.kind, e.last_qty) for e in events] == [
        ("high", FILL, D("3")),
        ("low", PART, D("1.0")),
    ]


def test_trades_fill_limits_at_the_limit_and_market_orders_at_the_print() -> None:
    x = make(participation=D(1))
    x.on_trade(Trade(SYM, T0, D("100"), D("1")))
    x.submit(limit("l", BUY, "1", "99"), T0)
    x.submit(market("m", BUY, "0.5"), T0)
    # The market order takes 0.5 of the print's 0.9; the resting limit gets the rest.
    events = x.on_trade(Trade(SYM, T0 + 5, D("98.7"), D("0.9")))
    assert [(e.client_order_id, e.kind, e.last_qty, e.last_price) for e in events] == [
        ("m", FILL, D("0.5"), D("98.7")),
        ("l", PART, D("0.4"), D("99")),
    ]


# ---------------------------------------------------------------- latency and races


def test_latency_delays_the_ack_and_an_order_arriving_mid_bar_meets_the_next_bar() -> None:
    x = seeded_with_price(latency_ms=250, participation=D(1))
    assert x.submit(limit("l", BUY, "1", "99"), T0 + 10) == []
    assert x.advance(T0 + 259) == []
    [ack] = x.advance(T0 + 260)
    assert (ack.kind, ack.ts) == (ACK, T0 + 260)
    x2 = seeded_with_price(latency_ms=250, participation=D(1))
    x2.submit(limit("l", BUY, "1", "99"), T0 + MIN - 100)  # arrives 150 ms into bar 1
    events = x2.on_bar(bar(1, "100", "100", "98", "99"))
    assert kinds(events) == []  # not even acked: it arrives after bar 1's open
    events = x2.on_bar(bar(2, "100", "100", "98", "99"))
    assert kinds(events) == [("l", ACK), ("l", FILL)]
    assert events[0].ts == T0 + MIN + 150
    assert events[1].ts == T0 + 2 * MIN


def test_cancel_that_arrives_after_the_fill_is_rejected() -> None:
    x = seeded_with_price(latency_ms=100, participation=D(1))
    x.submit(limit("l", BUY, "1", "99"), T0 + 1)
    x.advance(T0 + 101)
    x.cancel("l", T0 + MIN - 50)  # sent before bar 1 opens, arrives 50 ms into it
    events = x.on_bar(bar(1, "100", "100", "98", "99"))
    assert kinds(events) == [("l", FILL)]
    [rej] = x.advance(T0 + MIN + 50)
    assert rej.kind is EventKind.CANCEL_REJECT
    assert rej.cum_qty == D(1)
    assert rej.reason.startswith("ORDER_FINISHED")


def test_cancel_that_arrives_before_the_market_reaches_the_order_is_acked() -> None:
    x = seeded_with_price(latency_ms=100, participation=D(1))
    x.submit(limit("l", BUY, "1", "99"), T0 + 1)
    assert kinds(x.cancel("l", T0 + MIN - 200)) == [("l", ACK)]  # the ack fell due meanwhile
    events = x.on_bar(bar(1, "100", "100", "98", "99"))
    assert kinds(events) == [("l", EventKind.CANCEL_ACK)]
    assert events[0].cum_qty == 0


def test_cancel_of_a_partly_filled_order_acks_with_what_filled() -> None:
    x = seeded_with_price(participation=D("0.1"))
    x.submit(limit("l", BUY, "5", "99"), T0 + 1)
    x.on_bar(bar(1, "100", "100", "98", "99", v="10"))
    [c] = x.cancel("l", T0 + MIN + 1)
    assert (c.kind, c.cum_qty) == (EventKind.CANCEL_ACK, D("1.0"))
    assert x.order("l").status.value == "CANCELED"  # type: ignore[union-attr]
    assert x.on_bar(bar(2, "100", "100", "90", "99", v="1000")) == []


def test_cancel_of_an_unknown_order_is_rejected() -> None:
    x = seeded_with_price()
    [r] = x.cancel("nope", T0 + 1)
    assert (r.kind, r.client_order_id) == (EventKind.CANCEL_REJECT, "nope")
    assert x.account_of(r) == "main"


def test_duplicate_client_order_id_raises_and_changes_nothing() -> None:
    x = seeded_with_price(latency_ms=500)
    x.submit(limit("l", BUY, "1", "99"), T0 + 1)
    with pytest.raises(DuplicateOrderError, match="'l'"):  # still in flight
        x.submit(limit("l", BUY, "2", "98"), T0 + 2)
    x.advance(T0 + 600)
    with pytest.raises(DuplicateOrderError):
        x.submit(limit("l", BUY, "2", "98"), T0 + 700)
    report = x.order("l")
    assert report is not None and report.quantity == D(1)


def test_time_cannot_go_back() -> None:
    x = seeded_with_price()
    with pytest.raises(ValueError, match="time went backwards"):
        x.submit(market("m", BUY, "1"), T0 - 1)


# ---------------------------------------------------------------- rejects


@pytest.mark.parametrize(
    ("req", "code"),
    [
        (
            OrderRequest("r", "ETH-USDT", BUY, limit("r", BUY, "1", "1").order_type, D(1), D(1)),
            RejectCode.UNKNOWN_SYMBOL,
        ),
        (limit("r", BUY, "0", "99"), RejectCode.INVALID_QUANTITY),
        (limit("r", BUY, "-1", "99"), RejectCode.INVALID_QUANTITY),
        (limit("r", BUY, "0.0025", "99"), RejectCode.INVALID_PRECISION),
        (limit("r", BUY, "1", "99.05"), RejectCode.INVALID_PRECISION),
        (limit("r", BUY, "1", "0"), RejectCode.INVALID_PRICE),
        (
            OrderRequest("r", SYM, BUY, limit("r", BUY, "1", "1").order_type, D(1), None),
            RejectCode.INVALID_PRICE,
        ),
        (
            OrderRequest("r", SYM, BUY, market("r", BUY, "1").order_type, D(1), D(99)),
            RejectCode.INVALID_PRICE,
        ),
        (limit("r", BUY, "0.001", "99"), RejectCode.BELOW_MIN_QUANTITY),
        (limit("r", BUY, "0.04", "99"), RejectCode.BELOW_MIN_NOTIONAL),  # 3.96 < 5
        (market("r", SELL, "1", reduce_only=True), RejectCode.REDUCE_ONLY),
        (
            limit("r", BUY, "1002", "99.9"),
            RejectCode.INSUFFICIENT_MARGIN,
        ),  # 100,000 wallet, leverage 1
    ],
)
def test_rejects(req: OrderRequest, code: RejectCode) -> None:
    x = seeded_with_price()
    [r] = x.submit(req, T0 + 1)
    assert r.kind is EventKind.REJECT, r
    assert reject_code(r) is code, r.reason
    assert r.cum_qty == 0
    assert x.open_orders() == []
    report = x.order("r")
    assert report is not None and report.status.value == "REJECTED"


def test_leverage_turns_an_insufficient_margin_reject_into_an_ack() -> None:
    x = seeded_with_price()
    [r] = x.submit(limit("a", BUY, "1500", "99.9"), T0 + 1)
    assert reject_code(r) is RejectCode.INSUFFICIENT_MARGIN
    x.set_leverage(SYM, D(2))
    [a] = x.submit(limit("b", BUY, "1500", "99.9"), T0 + 2)
    assert a.kind is ACK
    assert x.balance().available == D(100_000) - D("1500") * D("99.9") / 2


def test_working_orders_reserve_margin() -> None:
    x = seeded_with_price()
    assert x.submit(limit("a", BUY, "600", "99.9"), T0 + 1)[0].kind is ACK
    [r] = x.submit(limit("b", BUY, "600", "99.9"), T0 + 2)
    assert reject_code(r) is RejectCode.INSUFFICIENT_MARGIN


def test_reduce_only_rejects_increase_and_flip_but_allows_a_full_close_below_minimums() -> None:
    x = seeded_with_price(participation=D(1))
    x.submit(market("open", BUY, "0.06"), T0 + 1)  # notional ~6 >= 5
    x.on_bar(bar(1, "100", "100", "100", "100"))
    x.submit(market("part", SELL, "0.05", reduce_only=True), T0 + MIN + 1)
    x.on_bar(bar(2, "100", "100", "100", "100"))  # 0.01 left: notional 1, below the minimum 5
    assert x.position_qty(SYM) == D("0.01")
    [inc] = x.submit(market("inc", BUY, "0.01", reduce_only=True), T0 + 2 * MIN + 1)
    [flip] = x.submit(market("flip", SELL, "0.02", reduce_only=True), T0 + 2 * MIN + 1)
    [small] = x.submit(market("small", SELL, "0.005", reduce_only=True), T0 + 2 * MIN + 1)
    [close] = x.submit(market("close", SELL, "0.01", reduce_only=True), T0 + 2 * MIN + 1)
    assert [reject_code(e) for e in (inc, flip, small)] == [RejectCode.REDUCE_ONLY] * 2 + [
        RejectCode.BELOW_MIN_NOTIONAL
    ]
    assert "increase" in inc.reason and "flip" in flip.reason
    assert close.kind is ACK
    [fill] = x.on_bar(bar(3, "100", "100", "100", "100"))
    assert (fill.client_order_id, fill.kind) == ("close", FILL)
    assert x.positions() == []


def test_reduce_only_order_expires_when_the_position_is_gone() -> None:
    x = seeded_with_price(participation=D(1))
    x.submit(market("open", BUY, "1"), T0 + 1)
    x.on_bar(bar(1, "100", "100", "100", "100"))
    x.submit(limit("tp", SELL, "1", "110", reduce_only=True), T0 + MIN + 1)
    x.submit(market("flat", SELL, "1", reduce_only=True), T0 + MIN + 1)
    x.on_bar(bar(2, "100", "100", "100", "100"))
    events = x.on_bar(bar(3, "110", "111", "109", "110"))
    assert kinds(events) == [("tp", EventKind.EXPIRED)]
    assert reject_code(events[0]) is RejectCode.REDUCE_ONLY


# ---------------------------------------------------------------- positions, money, funding


def test_round_trip_wallet_equals_initial_plus_pnl_minus_fees_exactly() -> None:
    x = seeded_with_price(
        participation=D(1), fees=FeeSchedule(maker=D("0.0002"), taker=D("0.0005"))
    )
    x.submit(market("e", BUY, "0.3"), T0 + 1)
    fills = x.on_bar(bar(1, "100.1", "101", "99", "100"))
    x.submit(limit("x1", SELL, "0.1", "100.7", reduce_only=True), T0 + MIN + 1)
    x.submit(limit("x2", SELL, "0.2", "100.9", reduce_only=True), T0 + MIN + 1)
    fills += x.on_bar(bar(2, "100", "101", "99", "100"))
    assert [e.kind for e in fills] == [FILL, FILL, FILL]
    fees = sum(e.fee for e in fills)
    pnl = D("0.1") * D("100.7") + D("0.2") * D("100.9") - D("0.3") * D("100.1")
    assert x.balance().wallet == D(100_000) + pnl - fees
    assert x.balance().available == x.balance().wallet
    assert x.positions() == []


def test_an_opposite_order_flips_the_position() -> None:
    x = seeded_with_price(participation=D(1))
    x.submit(market("l", BUY, "1"), T0 + 1)
    x.on_bar(bar(1, "100", "100", "100", "100"))
    x.submit(market("s", SELL, "3"), T0 + MIN + 1)
    x.on_bar(bar(2, "102", "102", "102", "102"))
    [pos] = x.positions()
    assert (pos.side, pos.quantity, pos.entry_price) == (Side.SHORT, D(2), D(102))
    assert x.position_qty(SYM) == D(-2)


def test_funding_is_charged_at_each_interval_longs_pay_shorts_receive() -> None:
    x = make(participation=D(1), funding_rate=D("0.0001"), accounts=("long", "short"))
    x.on_bar(bar(0, "100", "100", "100", "100"))
    x.submit(market("a", BUY, "2"), T0 + 1, account="long")
    x.submit(market("b", SELL, "1"), T0 + 1, account="short")
    x.on_bar(bar(1, "100", "100", "100", "250"))
    events = x.advance(T0 + 8 * 3_600_000)
    assert [(e.kind, e.ts, e.asset, e.amount) for e in events] == [
        (EventKind.FUNDING, T0 + 8 * 3_600_000, SYM, D("-0.05000000")),  # 2 * 250 * 0.0001, paid
        (EventKind.FUNDING, T0 + 8 * 3_600_000, SYM, D("0.02500000")),  # received
    ]
    assert [x.account_of(e) for e in events] == ["long", "short"]
    assert len({e.event_id for e in events}) == 2
    assert x.advance(T0 + 16 * 3_600_000 - 1) == []
    assert len(x.advance(T0 + 24 * 3_600_000)) == 4  # 16:00 and 00:00, two accounts each


def test_no_funding_when_flat() -> None:
    x = seeded_with_price(funding_rate=D("0.01"))
    assert x.advance(T0 + 48 * 3_600_000) == []


def test_accounts_are_separate() -> None:
    x = make(participation=D(1), accounts=("a", "b"))
    x.on_bar(bar(0, "100", "100", "100", "100"))
    x.submit(limit("same-id", BUY, "1", "99"), T0 + 1, account="a")
    [ack_b] = x.submit(limit("same-id", SELL, "1", "101"), T0 + 1, account="b")
    assert x.account_of(ack_b) == "b"
    assert [o.side for o in x.open_orders("a")] == [BUY]
    assert [o.side for o in x.open_orders("b")] == [SELL]
    x.on_bar(bar(1, "100", "102", "98", "100"))
    assert x.position_qty(SYM, "a") == 1 and x.position_qty(SYM, "b") == -1
    assert x.balance("a").wallet != x.balance("b").wallet  # different fills, different fees


def test_ids_are_unique_and_counted() -> None:
    x = seeded_with_price(first_order_id=1_000_000_000_000_000_000, id_prefix="emu")
    [a] = x.submit(limit("a", BUY, "1", "99"), T0 + 1)
    [b] = x.submit(limit("b", BUY, "1", "99"), T0 + 1)
    assert (a.event_id, b.event_id) == ("emu-1", "emu-2")
    assert (a.venue_order_id, b.venue_order_id) == ("1000000000000000000", "1000000000000000001")
    assert x.order_by_venue_id(b.venue_order_id).client_order_id == "b"  # type: ignore[union-attr]


def test_bad_config_is_refused() -> None:
    with pytest.raises(ValueError, match="participation"):
        make(participation=D(0))
    with pytest.raises(ValueError, match="duplicate instrument"):
        make(instruments=(BTC, BTC))


def test_fee_is_rounded_half_up_to_the_quantum() -> None:
    fees = FeeSchedule(maker=D("-0.000005"), taker=D("0.000005"))
    assert fees.fee(D("0.001"), D("1"), maker=False) == D("0.00000001")  # 0.000000005 -> up
    assert fees.fee(D("0.001"), D("1"), maker=True) == D(
        "-0.00000001"
    )  # rebates round away from zero too
    assert fees.fee(D("0.001"), D("0.9"), maker=False) == D("0.00000000")  # 0.0000000045 -> down


def test_a_clock_starting_at_zero_skips_empty_funding_times_and_still_charges_later() -> None:
    x = make(participation=D(1), funding_rate=D("0.0001"))
    x.advance(0)
    x.on_bar(bar(0, "100", "100", "100", "100"))  # 54 years of empty funding times, skipped
    x.submit(market("m", BUY, "1"), T0 + 1)
    x.on_bar(bar(1, "100", "100", "100", "100"))
    [f] = x.advance(T0 + 8 * 3_600_000)
    assert (f.kind, f.ts, f.amount) == (EventKind.FUNDING, T0 + 8 * 3_600_000, D("-0.01000000"))
