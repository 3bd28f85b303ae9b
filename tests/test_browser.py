"""The print view and the WordPress buttons as readers use them, in a real Chromium.

Debian's ``chromium`` driven by Playwright (``executable_path``; no browser is
downloaded).  Screenshots of the print view at phone and desktop widths are
kept in MATBAA_TEST_ARTIFACTS (default ``test-artifacts/``).
"""

import io
import os
import shutil
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from pypdf import PdfReader
from werkzeug.serving import make_server

from service.app import create_app
from service.settings import Settings
from service.verify import normalize

from .conftest import pdftotext, unavailable
from .test_reader_options import dark_pixels

SEED = "kuwait-coalition-meeting"
ARTIFACTS = Path(os.environ.get("MATBAA_TEST_ARTIFACTS") or
                 Path(__file__).resolve().parent.parent / "test-artifacts")
# Records calls to window.print() instead of opening a dialog headless Chromium lacks.
PRINT_SPY = "window.__printCalls = 0; window.print = () => { window.__printCalls += 1; };"


def _chromium():
    path = shutil.which("chromium")
    try:
        import playwright  # noqa: F401
    except ImportError:
        path = None
    if not path:
        unavailable("Debian's chromium and the playwright package are needed (scripts/dev)")
    return path


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    executable = _chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield browser
        browser.close()


class LiveServer:
    """The app on a real socket on 127.0.0.1, served from a thread."""

    def __init__(self, app):
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.thread.join(timeout=10)


@pytest.fixture
def live(app, loaded_store):
    server = LiveServer(app)
    yield server
    server.stop()


@pytest.fixture
def page(browser):
    context = browser.new_context(accept_downloads=True, locale="ar")
    context.add_init_script(PRINT_SPY)
    page = context.new_page()
    yield page
    context.close()


def pdf_facts(path, tmp_path):
    data = Path(path).read_bytes()
    reader = PdfReader(io.BytesIO(data))
    box = reader.pages[0].mediabox
    return {
        "size": (round(float(box.width)), round(float(box.height))),
        # The sample's lead image is a large dark drawing (SVG, drawn inline).
        "dark": dark_pixels(SimpleNamespace(data=data), tmp_path),
        "text": " ".join(normalize(pdftotext(data, tmp_path)).split()),
    }


def test_print_view_options_change_the_downloaded_pdf(live, page, tmp_path):
    page.goto(f"{live.url}/articles/{SEED}/print")
    assert page.get_attribute("html", "lang") == "ar"
    assert page.get_attribute("html", "dir") == "rtl"
    with page.expect_download() as default_download:
        page.get_by_role("link", name="تنزيل PDF").click()
    default = pdf_facts(default_download.value.path(), tmp_path)
    assert default["size"] == (595, 842)             # A4

    # Choosing an option reloads the view with it; the download follows.
    with page.expect_navigation():
        page.get_by_label("الورق").select_option("letter")
    with page.expect_navigation():
        page.get_by_label("الصور").select_option("0")
    assert "paper=letter" in page.url and "images=0" in page.url
    assert page.get_by_label("الورق").input_value() == "letter"
    with page.expect_download() as download:
        page.get_by_role("link", name="تنزيل PDF").click()
    assert download.value.suggested_filename.endswith(".pdf")
    chosen = pdf_facts(download.value.path(), tmp_path)
    assert chosen["size"] == (612, 792)              # US Letter
    assert default["dark"] > 2 * chosen["dark"]      # no lead image
    assert "الدول الأعضاء في التحالف الدولي" in chosen["text"]
    assert chosen["text"].split()[:20] == default["text"].split()[:20]


def test_print_view_keeps_to_its_content_security_policy(live, page):
    """The page's own stylesheet, fonts and script load under its policy; nothing is refused."""
    messages = []
    page.on("console", lambda message: messages.append(message.text))
    response = page.goto(f"{live.url}/articles/{SEED}/print", wait_until="load")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.evaluate("document.fonts.ready")
    assert page.evaluate("document.fonts.check('16px \"Matbaa Naskh\"')")
    assert page.evaluate("getComputedStyle(document.querySelector('.headline')).fontFamily") \
        .startswith('"Matbaa Kufi"')
    assert [m for m in messages if "Content Security Policy" in m] == []


def test_inline_pdf_opens_in_the_browsers_viewer(live, page):
    """With the headers it is served with (CSP default-src 'none', frame-ancestors, nosniff)."""
    headers = page.goto(f"{live.url}/articles/{SEED}.pdf").all_headers()
    assert headers["content-security-policy"].startswith("default-src 'none'")
    assert headers["x-content-type-options"] == "nosniff"
    for _ in range(100):
        viewer = [f for f in page.frames if f.url.startswith("chrome-extension://")]
        if viewer:
            break
        page.wait_for_timeout(100)
    assert viewer, [f.url for f in page.frames]
    # The viewer shows the file name, then the PDF's own title once it has opened it.
    from playwright.sync_api import expect

    expect(viewer[0].locator("#title").first).to_contain_text("الكويت تدعو إلى «جهد جماعي»",
                                                              timeout=15_000)


def test_print_button_opens_the_print_dialog(live, page):
    page.goto(f"{live.url}/articles/{SEED}/print")
    assert page.evaluate("window.__printCalls") == 0
    page.get_by_role("button", name="طباعة").click()
    assert page.evaluate("window.__printCalls") == 1


def test_print_parameter_opens_the_dialog_on_load(live, page):
    page.goto(f"{live.url}/articles/{SEED}/print?print=1", wait_until="load")
    page.wait_for_function("window.__printCalls === 1")


def test_toolbar_is_keyboard_usable(live, page):
    page.goto(f"{live.url}/articles/{SEED}/print")
    reached = []
    for _ in range(12):
        page.keyboard.press("Tab")
        reached.append(page.evaluate(
            "document.activeElement.tagName + ':' + document.activeElement.textContent.trim()"))
        if reached[-1].startswith("BUTTON:طباعة"):
            break
    assert reached[0].startswith("SELECT"), reached
    assert reached[-1].startswith("BUTTON:طباعة"), reached
    assert any(r.startswith("A:تنزيل PDF") for r in reached), reached
    page.keyboard.press("Enter")
    assert page.evaluate("window.__printCalls") == 1


def test_toolbar_is_hidden_in_print(live, page):
    page.goto(f"{live.url}/articles/{SEED}/print")
    assert page.locator(".toolbar").is_visible()
    page.emulate_media(media="print")
    assert not page.locator(".toolbar").is_visible()


@pytest.mark.parametrize("device,width,height", [("phone", 390, 844), ("desktop", 1280, 900)])
def test_screenshots_at_phone_and_desktop_widths(live, browser, device, width, height):
    context = browser.new_context(viewport={"width": width, "height": height},
                                  device_scale_factor=1)
    page = context.new_page()
    page.goto(f"{live.url}/articles/{SEED}/print")
    page.evaluate("document.fonts.ready")
    # Nothing wider than the screen: no sideways scrolling on a phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert page.locator(".toolbar").bounding_box()["width"] <= width
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"print-view-{device}.png"
    page.screenshot(path=str(shot), full_page=False)
    context.close()
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- WordPress with the plugin installed ------------------------------------------------


@pytest.fixture
def wp_live(tmp_path, wordpress_site):
    settings = Settings.from_env(data_dir=tmp_path / "data", wordpress_url=wordpress_site.url,
                                 wordpress_freshness=3600)
    server = LiveServer(create_app(settings))
    wordpress_site.php(
        "activate_plugin('matbaa-print/matbaa-print.php');"
        f"update_option('matbaa_print_service_url', '{server.url}');")
    yield server
    wordpress_site.php("deactivate_plugins('matbaa-print/matbaa-print.php');"
                       "delete_option('matbaa_print_service_url');")
    server.stop()


def test_wordpress_post_button_gives_that_posts_pdf(wp_live, wordpress_site, page, tmp_path):
    post_id = wordpress_site.made["main"]
    link = wordpress_site.php(f"echo get_permalink({post_id});")
    page.goto(link)
    pdf_button = page.get_by_role("link", name="تنزيل PDF")
    assert pdf_button.get_attribute("href") == f"{wp_live.url}/articles/{post_id}.pdf?download=1"
    print_button = page.get_by_role("link", name="طباعة")
    assert print_button.get_attribute("href") == f"{wp_live.url}/articles/{post_id}/print?print=1"
    # The plugin loads nothing from anywhere but the site itself.
    sources = page.evaluate(
        "[...document.querySelectorAll('script[src], link[href]')].map(e => e.src || e.href)")
    assert all(s.startswith(wordpress_site.url) for s in sources if s), sources
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pdf_button.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "wordpress-post-buttons.png"))
    with page.expect_download() as download:
        pdf_button.click()
    facts = pdf_facts(download.value.path(), tmp_path)
    assert "مجلس الوزراء يناقش «رؤية الكويت»" in facts["text"]
    assert "سارة المطيري" in facts["text"]


def test_wordpress_update_reaches_matbaa_through_the_plugin(wp_live, wordpress_site):
    post_id = wordpress_site.new_post("خبر قبل التعديل", "<p>نص.</p>")
    store = wp_live.app.extensions["matbaa.store"]
    # Publishing called the hook: the post is stored before any reader asked.
    assert store.get(str(post_id)).title == "خبر قبل التعديل"
    wordpress_site.update_post(post_id, post_title="خبر بعد التعديل")
    assert store.get(str(post_id)).title == "خبر بعد التعديل"   # despite an hour's freshness
    wordpress_site.php(f"wp_trash_post({post_id});")
    assert store.get(str(post_id)) is None


def test_home_page_under_its_policy_at_phone_width(live, browser):
    """The home page as a newsroom's visitor sees it: its stylesheet and fonts load
    under the page's own Content-Security-Policy, it counts in Arabic, and it fits a
    390-px phone."""
    context = browser.new_context(locale="ar", viewport={"width": 390, "height": 800})
    page = context.new_page()
    refused = []
    page.on("console", lambda message: refused.append(message.text)
            if message.type == "error" else None)
    try:
        response = page.goto(f"{live.url}/")
        assert "style-src 'self' 'sha256-" in response.headers["content-security-policy"]
        page.wait_for_load_state("networkidle")
        assert page.locator(".count").inner_text() == "3 مقالات في المخزن."
        header = page.locator(".site-header")
        assert header.evaluate("e => getComputedStyle(e).backgroundColor") == \
            "rgb(26, 79, 139)"                                   # site.css applied
        assert page.evaluate("document.fonts.check('17px \"Matbaa Naskh\"', 'مقال')")
        assert page.evaluate(
            "[...document.fonts].some(f => f.family.includes('Matbaa Naskh')"
            " && f.status === 'loaded')")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert page.get_by_role("link", name="PDF", exact=True).count() == 3
        assert refused == []
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "home-390.png"), full_page=True)
    finally:
        context.close()
