"""Hostile articles opened as a reader opens them: the print view in a real Chromium.

Each article is stored through ``PUT /articles/<id>`` (or published in the real
WordPress) and its print view opened in Debian's chromium.  The page fails on any
dialog, any flag a script sets, any ``javascript:`` link, any element or attribute
that could run script, and any request to the canaries (HTTP listeners on 127.0.0.1
and on [::1]).  Each case is opened twice: as served, under the page's
Content-Security-Policy, and with the policy bypassed, so that the sanitiser is
tested on its own and the policy cannot hide a hole in it.
"""

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from service.app import create_app
from service.settings import Settings

from .test_browser import LiveServer, browser  # noqa: F401  (a fixture)

FLAG = "window.__pwned=1;alert(document.domain)"


class _Canary(BaseHTTPRequestHandler):
    def do_GET(self):       # noqa: N802 (the handler's name)
        self.server.hits.append(self.path)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


class _CanaryV6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


@pytest.fixture(scope="module")
def canaries():
    """Listeners on 127.0.0.1 and [::1] (one port each) counting every request."""
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), _Canary), _CanaryV6(("::1", 0), _Canary)]
    for server in servers:
        server.hits = []
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield servers
    for server in servers:
        server.shutdown()
        server.server_close()


def bodies(v4, v6):
    """Article bodies: escaped markup the sanitiser must keep as text, and raw markup."""
    urls = {"v4": f"http://127.0.0.1:{v4}", "v6": f"http://[::1]:{v6}"}
    img = f'<img src=x onerror="{FLAG}">'
    escaped = {"img": '&lt;img src=x onerror="{f}"&gt;'.format(f=FLAG),
               "script": f"&lt;script&gt;{FLAG}&lt;/script&gt;",
               "svg": f"&lt;svg onload={FLAG}&gt;"}
    cases = {}
    for name, text in escaped.items():
        cases[f"escaped-{name}-span"] = f"{text}<span>نص</span><p>فقرة</p>"
        cases[f"escaped-{name}-url"] = f"{text} https://example.com/x <p>فقرة</p>"
        cases[f"escaped-{name}-email"] = f"{text} x@example.com"
        cases[f"escaped-{name}-in-p"] = f"<p>{text}<span>نص</span></p>"
    cases.update({
        "escaped-twice": f"&amp;lt;img src=x onerror={FLAG}&amp;gt;<span>نص</span>",
        "escaped-numeric": f"&#60;img src=x onerror={FLAG}&#62;<span>نص</span>",
        "escaped-iframe": f'&lt;iframe srcdoc="&lt;script&gt;{FLAG}&lt;/script&gt;"&gt;'
                          "<span>نص</span>",
        "img-onerror": img,
        "script": f"<script>{FLAG}</script><p>نص</p>",
        "svg-onload": f"<svg onload={FLAG}><p>نص</p>",
        "svg-script": f"<svg><script>{FLAG}</script></svg><p>نص</p>",
        "math-mglyph": f"<math><mtext><table><mglyph><style><img src=x onerror={FLAG}>",
        "noscript-title": f'<noscript><p title="</noscript>{img}"></noscript><p>نص</p>',
        "template": f"<template>{img}</template><p>نص</p>",
        "iframe-srcdoc": f'<iframe srcdoc="<script>{FLAG}</script>"></iframe><p>نص</p>',
        "javascript-link": f'<a href="javascript:{FLAG}">رابط</a>',
        "javascript-tab": f'<a href="jav&#x09;ascript:{FLAG}">رابط</a>',
        "javascript-spaces": f'<a href="  JAVASCRIPT:{FLAG}">رابط</a>',
        "data-link": f'<a href="data:text/html,<script>{FLAG}</script>">رابط</a>',
        "object": f'<object data="javascript:{FLAG}"></object><p>نص</p>',
        "embed": f'<embed src="data:text/html,<script>{FLAG}</script>"><p>نص</p>',
        "form": f'<form action="javascript:{FLAG}"><button>زر</button></form><p>نص</p>',
        "details-ontoggle": f"<details open ontoggle={FLAG}><summary>x</summary></details>",
        "body-onload": f"<body onload={FLAG}><p>نص</p></body>",
        "input-onfocus": f"<input autofocus onfocus={FLAG}><p>نص</p>",
        "video-source": f"<video><source onerror={FLAG}></video><p>نص</p>",
        "unclosed-img": f"<p>نص</p><img src=x onerror={FLAG}",
        "cdata": f"<![CDATA[{img}]]><p>نص</p>",
        "comment": f"<!--><img src=x onerror={FLAG}>--><p>نص</p>",
        "svg-xlink": f'<svg><a xlink:href="javascript:{FLAG}"><text>x</text></a></svg>',
        "meta-refresh": f'<meta http-equiv="refresh" content="0;url=javascript:{FLAG}">'
                        "<p>نص</p>",
        "base": f'<base href="javascript:{FLAG}//"><a href="x">رابط</a>',
        "style-import": f"<style>@import '{urls['v4']}/import.css';</style><p>نص</p>",
        "style-attr": f'<p style="background:url({urls["v4"]}/style)">نص</p>',
        "img-canary": f'<img src="{urls["v4"]}/img.png"><p>نص</p>',
        "img-canary-v6": f'<img src="{urls["v6"]}/img.png"><p>نص</p>',
        "srcset-canary": f'<img srcset="{urls["v4"]}/set.png 2x"><p>نص</p>',
        "link-canary": f'<link rel="stylesheet" href="{urls["v6"]}/link.css"><p>نص</p>',
    })
    return cases


def fields(v4):
    """Hostile values in every other field the print view shows."""
    script = f"<script>{FLAG}</script>"
    return {
        "title": {"title": f"<img src=x onerror={FLAG}>عنوان"},
        "subtitle": {"subtitle": f'"><svg onload={FLAG}>'},
        "author": {"author": f"</span>{script}"},
        "site": {"site": f"{script}الوطن"},
        "section": {"section": f"<img src=x onerror={FLAG}>"},
        "tags": {"tags": [script, f"<a href=javascript:{FLAG}>x</a>"]},
        "categories": {"categories": [script], "breadcrumb": [f"<svg onload={FLAG}>"]},
        "caption-alt": {"lead_image": {"src": "data:image/gif;base64,R0lGODlhAQABAAAAACw=",
                                       "caption": f"<svg onload={FLAG}>",
                                       "alt": f'" onerror="{FLAG}'}},
        "url": {"url": f'https://example.com/"><script>{FLAG}</script>'},
        "url-canary": {"url": f"{v4}/x?q=<img/src={v4}/url.png>"},
    }


CASES = sorted(bodies(0, 0)) + [f"field-{name}" for name in sorted(fields(""))]


@pytest.fixture(scope="module")
def hostile_live(tmp_path_factory, canaries):
    app = create_app(Settings.from_env(data_dir=tmp_path_factory.mktemp("hostile-browser")))
    v4, v6 = (server.server_address[1] for server in canaries)
    client = app.test_client()
    articles = {f"body-{n}": {"body_html": b} for n, b in bodies(v4, v6).items()}
    articles.update({f"field-{n}": f for n, f in fields(f"http://127.0.0.1:{v4}").items()})
    for name, values in articles.items():
        data = {"title": "مقال", "body_html": "<p>نص المقال</p>", **values}
        response = client.put(f"/articles/{name}", json=data)
        assert response.status_code == 201, response.get_data(as_text=True)
    server = LiveServer(app)
    yield server
    server.stop()


def test_at_least_forty_cases():
    assert len(CASES) >= 40


# What a page of ours may hold that could run or load anything: the toolbar's script only.
DOM_CHECK = """() => {
  const found = [];
  for (const e of document.querySelectorAll("*")) {
    for (const a of e.attributes) {
      if (a.name.startsWith("on")) found.push(`${e.tagName} ${a.name}`);
      if (/^\\s*(javascript|data:text|vbscript):/i.test(a.value.replace(/[\\t\\n\\r]/g, "")))
        found.push(`${e.tagName} ${a.name}=${a.value.slice(0, 40)}`);
    }
  }
  for (const e of document.querySelectorAll(
      "script:not([src$='/assets/print/toolbar.js']), iframe, object, embed, svg, math, base, "
      + "meta[http-equiv], link:not([rel=stylesheet][href$='/assets/print/print.css']), "
      + "style:not(head > style), form:not(.toolbar), input, template, noscript"))
    found.push(e.tagName);
  return found;
}"""


def article_id(case):
    return case if case.startswith("field-") else f"body-{case}"


def open_case(browser, live, article, bypass_csp):  # noqa: F811 (browser, a fixture)
    context = browser.new_context(bypass_csp=bypass_csp)
    page = context.new_page()
    dialogs, errors = [], []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("pageerror", lambda error: errors.append(str(error)))
    response = page.goto(f"{live.url}/articles/{article}/print", wait_until="load")
    page.wait_for_timeout(100)   # timers, autofocus, toggles
    facts = {"status": response.status, "dialogs": dialogs, "errors": errors,
             "flag": page.evaluate("window.__pwned === undefined ? null : window.__pwned"),
             "dom": page.evaluate(DOM_CHECK),
             "text": page.inner_text("article")}
    context.close()
    return facts


@pytest.mark.parametrize("bypass_csp", [False, True], ids=["as-served", "without-csp"])
@pytest.mark.parametrize("case", CASES)
def test_hostile_article_runs_no_script(browser, hostile_live, canaries, case,  # noqa: F811
                                        bypass_csp):
    before = [len(server.hits) for server in canaries]
    facts = open_case(browser, hostile_live, article_id(case), bypass_csp)
    assert facts["status"] == 200
    assert facts["dialogs"] == [] and facts["flag"] is None, facts
    assert facts["dom"] == [], facts["dom"]
    assert facts["errors"] == [], facts["errors"]
    assert [len(server.hits) for server in canaries] == before, [s.hits for s in canaries]
    assert "مقال" in facts["text"] or "نص" in facts["text"]


def test_escaped_markup_is_printed_as_text(browser, hostile_live):  # noqa: F811
    """What the article wrote as «&lt;img …&gt;» a reader sees as those characters."""
    facts = open_case(browser, hostile_live, "body-escaped-img-span", bypass_csp=True)
    assert '<img src=x onerror="window.__pwned=1;alert(document.domain)">نص' in facts["text"]


@pytest.mark.parametrize("values", [
    {"url": f"javascript:{FLAG}"}, {"url": "javascript://example.com/%0aalert(1)"},
    {"lead_image": {"src": f"javascript:{FLAG}"}},
    {"lead_image": {"src": "data:text/html,<script>alert(1)</script>"}},
], ids=["url", "url-comment", "lead-src", "lead-data-html"])
def test_script_addresses_are_refused_at_the_door(hostile_live, values):
    client = hostile_live.app.test_client()
    response = client.put("/articles/refused", json={"title": "t", "body_html": "<p>x</p>",
                                                     **values})
    assert response.status_code == 422
    assert response.get_json()["error"]["field"] in ("url", "lead_image.src", "lead_image")
    assert client.get("/articles/refused/print").status_code == 404


def test_wordpress_custom_html_block_with_escaped_markup(browser, wordpress_site,  # noqa: F811
                                                         tmp_path, canaries):
    """A post whose Custom HTML block holds escaped markup, printed from WordPress."""
    v4 = canaries[0].server_address[1]
    content = ("<!-- wp:html -->\n"
               f'&lt;img src=x onerror="{FLAG}"&gt;<span>نص</span>'
               f"&lt;script&gt;{FLAG}&lt;/script&gt; https://example.com/x\n"
               "<!-- /wp:html -->\n<!-- wp:html -->\n"
               f'<img src="http://127.0.0.1:{v4}/wp.png"><p>فقرة</p>\n<!-- /wp:html -->')
    post_id = wordpress_site.new_post("مقال من ووردبريس", content)
    settings = Settings.from_env(data_dir=tmp_path / "data", wordpress_url=wordpress_site.url)
    server = LiveServer(create_app(settings))
    try:
        before = len(canaries[0].hits)
        for bypass_csp in (False, True):
            facts = open_case(browser, server, str(post_id), bypass_csp)
            assert facts["status"] == 200
            assert facts["dialogs"] == [] and facts["flag"] is None, facts
            assert facts["dom"] == [], facts["dom"]
            assert "onerror" in facts["text"]     # printed as the text it is
        assert len(canaries[0].hits) == before
    finally:
        server.stop()
        wordpress_site.php(f"wp_delete_post({post_id}, true);")
