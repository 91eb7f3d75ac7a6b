"""report.html in a real headless browser: it draws, zooms and sorts with no console error and
no network request."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from dita.app.runner import execute, prepare_sim_run
from dita.journal import SqliteJournal
from dita.marketdata.synthetic import synthetic_bars
from dita.reporting.report import write_report
from tests.browser import browser


def test_report_renders_offline_without_console_errors(tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite"
    run = prepare_sim_run(journal=journal)
    execute(run, bars=iter(synthetic_bars("BTC-USDT", 3000, 3, Decimal(42000))))
    with SqliteJournal.open(journal, readonly=True, create=False) as j:
        page_path = write_report(j, tmp_path, journal)
        trades = j.trades()
    url = page_path.resolve().as_uri()
    with browser() as ctx:
        from playwright.sync_api import expect

        page = ctx.new_page()
        console: list[str] = []
        requests: list[str] = []
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(url)
        page.wait_for_selector("body[data-ready='1']", timeout=15_000)
        # the charts are there: a price line with fill markers, equity and drawdown
        assert page.locator("#price-charts svg path.mark-entry").count() > 0
        assert page.locator("#price-charts svg path.mark-exit").count() > 0
        assert page.locator("#chart-equity svg path").count() >= 2
        assert page.locator("#chart-drawdown svg path").count() >= 1
        # zoom: the wheel narrows the time window of every chart
        first_label = page.locator("#chart-equity svg text").nth(5).text_content()
        page.locator("#chart-equity svg").scroll_into_view_if_needed()
        box = page.locator("#chart-equity svg").bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        for _ in range(6):
            page.mouse.wheel(0, -300)
        expect(page.locator("#chart-equity svg text").nth(5)).not_to_have_text(first_label or "")
        # the trade table sorts by net PnL on a click: the first row is the worst trade
        page.locator("#t-trades th", has_text="net PnL").click()
        worst = min(trades, key=lambda t: t.net_pnl)
        first_net = page.locator("#t-trades tbody tr").first.locator("td").last.text_content()
        assert Decimal(first_net or "nan") == worst.net_pnl
        rows = page.locator("#t-trades tbody tr").count()
        assert rows == min(len(trades), 2000)
        # statistics are in the page as computed
        net = page.locator('td[data-stat="trades"]').text_content()
        assert net == f"{len(trades):,}"
    assert console == []
    assert requests == [url]
