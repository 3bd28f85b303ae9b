"""The desk (/desk): sign in with a key, find articles, make an edition and take it,
as an archivist does it in Chromium, keyboard only, on a 390-px phone; and its forms'
guards (session cookie, CSRF token) through the test client."""

import io
import re
import time

import pytest
from pypdf import PdfReader

from service.app import create_app
from service.article import parse_article
from service.settings import Settings
from service.verify import normalize

from .conftest import pdftotext
from .test_browser import LiveServer, browser  # noqa: F401  (a fixture)

KEY = "desk-test-key-0123456789"


def articles():
    """Six short articles of our own in one section, and one in another."""
    made = [{"id": f"desk-{n}", "title": f"تقرير الموازنة العامة رقم {n}",
             "section": "اقتصاد", "published_at": f"2026-03-{10 + n:02d}T08:00:00+03:00",
             "paragraphs": [f"ناقش المجلس في جلسته رقم {n} بنود الموازنة العامة للدولة "
                            "وخطط الإنفاق على الطرق والمدارس والمستشفيات."]}
            for n in range(1, 7)]
    made.append({"id": "desk-other", "title": "مباراة الكأس النهائية", "section": "رياضة",
                 "published_at": "2026-03-12T20:00:00+03:00",
                 "paragraphs": ["فاز الفريق بالكأس بعد مباراة حافلة."]})
    return [parse_article(a) for a in made]


@pytest.fixture
def desk_app(tmp_path):
    app = create_app(Settings.from_env(data_dir=tmp_path / "data", api_keys=KEY))
    app.extensions["matbaa.store"].upsert_many(articles())
    yield app
    runner = app.extensions.get("matbaa.job_runner")
    if runner is not None:
        runner.close()


def tab_to(page, selector, most=60):
    """Press Tab until ``selector`` has the focus, as a keyboard user gets there."""
    for _ in range(most):
        if page.evaluate("s => document.activeElement?.matches(s)", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{selector} is not reached with Tab")


def csrf_of(html):
    return re.search(r'name="csrf" value="([^"]+)"', html)[1]


def test_the_desk_asks_for_a_key_and_guards_its_forms(desk_app):
    client = desk_app.test_client()
    page = client.get("/desk")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'name="key"' in html and "desk-1" not in html
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    token = csrf_of(html)
    # Without the form's token, nothing is done.
    assert client.post("/desk/sign-in", data={"key": KEY}).status_code == 400
    refused = client.post("/desk/sign-in", data={"key": "wrong", "csrf": token})
    assert refused.status_code == 401 and "المفتاح غير صحيح" in refused.get_data(as_text=True)
    signed = client.post("/desk/sign-in", data={"key": KEY, "csrf": token})
    assert signed.status_code == 303
    cookie = signed.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/desk" in cookie
    assert KEY not in cookie
    found = client.get("/desk?q=الموازنة&section=اقتصاد&from=2026-03-12&to=2026-03-15")
    html = found.get_data(as_text=True)
    assert "4 مقالات" in html                       # 12th to 15th: desk-2 … desk-5
    assert 'value="desk-2"' in html and 'value="desk-1"' not in html
    # An edition cannot be made without the token either.
    made = client.post("/desk/editions", data={"title": "x", "ids": ["desk-2"]})
    assert made.status_code == 400
    # A search that finds nothing makes no edition, and says so.
    token = csrf_of(html)
    empty = client.post("/desk/editions", data={"csrf": token, "title": "x",
                                                "scope": "filter", "q": "لا يوجد"})
    assert empty.status_code == 422
    assert "لا توجد مقالات تطابق البحث" in empty.get_data(as_text=True)
    nothing = client.post("/desk/editions", data={"csrf": token, "title": "x"})
    assert nothing.status_code == 422
    assert desk_app.extensions["matbaa.jobs"].recent() == []


def test_no_keys_let_in_this_machine_only(tmp_path):
    app = create_app(Settings.from_env(data_dir=tmp_path / "data"))
    client = app.test_client()
    assert 'name="q"' in client.get("/desk").get_data(as_text=True)
    away = client.get("/desk", environ_base={"REMOTE_ADDR": "203.0.113.5"})
    assert away.status_code == 403 and 'name="q"' not in away.get_data(as_text=True)


def test_an_archivist_makes_an_edition_keyboard_only_on_a_phone(
        desk_app, browser, tmp_path):  # noqa: F811
    server = LiveServer(desk_app)
    context = browser.new_context(locale="ar", viewport={"width": 390, "height": 844},
                                  accept_downloads=True)
    page = context.new_page()
    refused = []
    page.on("console", lambda message: refused.append(message.text)
            if message.type == "error" else None)
    try:
        page.goto(f"{server.url}/desk")
        keyboard = page.keyboard
        tab_to(page, "#key")
        keyboard.type(KEY)
        with page.expect_navigation():
            keyboard.press("Enter")
        page.locator("#q").wait_for()
        tab_to(page, "#q")
        keyboard.type("الموازنة")
        with page.expect_navigation():
            keyboard.press("Enter")
        assert page.locator(".count").inner_text().startswith("6 مقالات")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        boxes = page.locator('input[name="ids"]')
        tab_to(page, 'input[name="ids"]')
        for n in range(5):                           # Space ticks, Tab goes on
            keyboard.press("Space")
            keyboard.press("Tab")
        assert [boxes.nth(n).is_checked() for n in range(6)] == [True] * 5 + [False]
        tab_to(page, "#title")
        keyboard.type("عدد الموازنة")
        with page.expect_navigation():
            keyboard.press("Enter")
        assert re.search(r"/desk/editions/[0-9a-f]{32}$", page.url)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.locator(".status").filter(has_text="اكتملت النسخة").wait_for(timeout=120_000)
        page.wait_for_load_state("load")
        assert page.locator("progress").evaluate("e => e.value === e.max")
        tab_to(page, "a.download")
        with page.expect_download() as download:
            keyboard.press("Enter")
        from pathlib import Path

        pdf = Path(download.value.path()).read_bytes()
        sha = page.locator(".sha").inner_text()
        import hashlib

        assert hashlib.sha256(pdf).hexdigest() == sha
        pages = len(PdfReader(io.BytesIO(pdf)).pages)
        assert page.locator(".pages").inner_text().startswith(f"{pages} ")
        assert pages >= 6                          # cover and contents, five articles
        text = " ".join(normalize(pdftotext(pdf, tmp_path)).split())
        assert "عدد الموازنة" in text and "تقرير الموازنة العامة رقم 5" in text
        assert "رقم 1 " not in text + " "           # the sixth was not chosen
        # The edition is listed on the desk with its status and SHA-256.
        page.goto(f"{server.url}/desk")
        row = page.locator(".recent tbody tr").first
        assert "عدد الموازنة" in row.inner_text() and sha[:16] in row.inner_text()
        assert refused == []
    finally:
        context.close()
        server.stop()


def test_the_edition_page_works_without_script(desk_app, browser):  # noqa: F811
    """No script: the page refreshes itself until the edition is done."""
    server = LiveServer(desk_app)
    context = browser.new_context(locale="ar", java_script_enabled=False)
    page = context.new_page()
    try:
        client = desk_app.test_client()
        html = client.get("/desk").get_data(as_text=True)
        client.post("/desk/sign-in", data={"key": KEY, "csrf": csrf_of(html)})
        html = client.get("/desk?q=الموازنة").get_data(as_text=True)
        made = client.post("/desk/editions", data={
            "csrf": csrf_of(html), "title": "بلا نص برمجي", "scope": "filter",
            "q": "الموازنة", "paper": "a5", "digits": "latn"})
        assert made.status_code == 303
        location = made.headers["Location"]
        cookie = client.get_cookie("matbaa_desk", path="/desk")
        context.add_cookies([{"name": "matbaa_desk", "value": cookie.value,
                              "url": f"{server.url}/desk"}])
        page.goto(f"{server.url}{location}")
        deadline = time.monotonic() + 120
        while "اكتملت النسخة" not in page.locator(".status").inner_text():
            assert time.monotonic() < deadline
            page.wait_for_timeout(500)
        assert page.locator(".result").is_visible()
    finally:
        context.close()
        server.stop()
