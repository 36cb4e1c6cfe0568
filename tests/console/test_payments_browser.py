"""Cash at the office in a real browser (Debian's Chromium via Playwright, as tests/console/test_browser.py): one
officer looks a member's bill up, sees whose it is and records the cash; a second officer, in another browser,
confirms it; the daily report shows it; then an underpayment from the sandbox bank is settled in the payment review
queue. Screenshots go to the test's directory, and to docs/screenshots/ when CONSOLE_SCREENSHOTS=1."""

# ruff: noqa: F811  (the browser, page and bank fixtures are imported from their modules and used as arguments)
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from lsso_mobile.i18n import format_money
from lsso_mobile.models import Payment, PaymentReview
from tests.api.test_payments import make_bill, payer, periods, settings_overrides, settled  # noqa: F401
from tests.console.test_browser import DESKTOP, base_url, browser, page, shoot, sign_in, switch_language  # noqa: F401
from tests.console.test_payments_console import second_officer  # noqa: F401

pytestmark = pytest.mark.slow


def test_cash_is_recorded_confirmed_by_a_second_officer_and_reported(
    page, browser, base_url, app, payer, bank, staff, second_officer, db, tmp_path
):
    api = app.test_client()
    bill = make_bill(api, payer["headers"], periods(3)).json

    sign_in(page, staff["officer"])
    expect(page).to_have_url(re.compile(r"/console/inbox"))
    page.click("header nav a[href$='/console/cash']")
    expect(page.locator("h1")).to_have_text("ເງິນສົດຢູ່ຫ້ອງການ")
    page.fill("#bill", f"{bill['number'][:3]} {bill['number'][3:6]} {bill['number'][6:]}")
    page.click('button[data-action="find-bill"]')
    expect(page.locator("[data-bill-number]")).to_have_text(bill["number"])
    expect(page.locator("[data-bill-amount]")).to_have_text(format_money(bill["amount"], "lo"))
    expect(page.locator("[data-months]")).to_contain_text(bill["months"][0]["period"])
    page.fill("#amount", str(bill["amount"] - 1))
    page.click('button[data-action="record-cash"]')
    expect(page.locator("#amount-error")).to_be_visible()
    shoot(page, "console-cash", tmp_path)
    page.fill("#amount", str(bill["amount"]))
    page.click('button[data-action="record-cash"]')
    expect(page.locator(".flash")).to_contain_text(bill["number"])
    row = page.locator(f'#awaiting tr[data-cash="{bill["number"]}"]')
    expect(row).to_contain_text("ທ່ານເປັນຜູ້ຮັບ")  # no confirm button for the officer who took it
    expect(row.locator('button[data-action="confirm-cash"]')).to_have_count(0)

    second = browser.new_context(base_url=base_url, viewport=DESKTOP, locale="lo-LA")
    second.set_default_timeout(10_000)
    try:
        colleague = second.new_page()
        sign_in(colleague, second_officer)
        expect(colleague).to_have_url(re.compile(r"/console/inbox"))
        colleague.goto("/console/cash")
        shoot(colleague, "console-cash-awaiting", tmp_path)
        colleague.locator(f'tr[data-cash="{bill["number"]}"] button[data-action="confirm-cash"]').click()
        expect(colleague.locator(".flash")).to_contain_text(bill["number"])
        expect(colleague.locator(f'#awaiting tr[data-cash="{bill["number"]}"]')).to_have_count(0)
    finally:
        second.close()
    assert db.scalar(select(Payment.status)).value == "credited"
    assert api.get(f"/api/v1/me/bills/{bill['id']}", headers=payer["headers"]).json["status"] == "paid"

    page.click("text=ລາຍງານເງິນສົດປະຈຳວັນ")
    expect(page.locator("[data-confirmed-count]")).to_have_text("1")
    expect(page.locator("[data-confirmed-total]")).to_have_text(format_money(bill["amount"], "lo"))
    expect(page.locator(f'tr[data-cash="{bill["number"]}"] [data-status]')).to_have_text("ບັນທຶກເຂົ້າແລ້ວ")
    with page.expect_download() as download:
        page.click("[data-csv]")
    assert bill["number"] in download.value.path().read_text(encoding="utf-8-sig")
    shoot(page, "console-cash-report", tmp_path)
    switch_language(page, "en")
    expect(page.locator("h1")).to_have_text("Daily cash report")
    shoot(page, "console-cash-report", tmp_path)
    switch_language(page, "lo")

    # The bank takes less than the next bill: the payment waits in the review queue for an officer.
    short_bill = make_bill(api, payer["headers"], [periods(4)[-1]]).json
    tx = bank.pay(short_bill["number"], short_bill["amount"] - 50_000)
    assert settled(api, bank, db, tx) == "review"
    review_id = db.scalar(select(PaymentReview.id))
    page.click("header nav a[href$='/console/payment-reviews']")
    item = page.locator(f'tr[data-review="{review_id}"]')
    expect(item.locator("[data-reason]")).to_have_text("ຈຳນວນເງິນບໍ່ກົງກັບໃບເກັບເງິນ")
    expect(item.locator("[data-expected]")).to_have_text(format_money(short_bill["amount"], "lo"))
    expect(item.locator("[data-paid]")).to_have_text(format_money(short_bill["amount"] - 50_000, "lo"))
    shoot(page, "console-payment-review", tmp_path)
    item.locator("select[name=action]").select_option("refund")
    item.locator("textarea[name=note]").fill("ຈ່າຍຂາດ 50.000 ກີບ; ຄືນເງິນຢູ່ຫ້ອງການແລ້ວ.")
    item.locator('button[data-action="resolve"]').click()
    expect(page.locator(".flash")).to_contain_text(f"#{review_id}")
    page.select_option("select[name=status]", "refunded")
    page.click("form.filters button")
    expect(page.locator(f'tr[data-review="{review_id}"] [data-outcome]')).to_have_text("ສົ່ງເງິນຄືນແລ້ວ")
    shoot(page, "console-payment-review-settled", tmp_path)
