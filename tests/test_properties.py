"""Property-based tests (hypothesis) of the sanitizer and the article schema."""

import string

import lxml.html
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.article import Article, parse_article
from service.errors import ArticleInvalid
from service.sanitize import ALLOWED_ATTRIBUTES, ALLOWED_TAGS, clean_body

TAGS = sorted(ALLOWED_TAGS | {"script", "style", "iframe", "object", "svg", "form", "a", "img",
                              "link", "meta", "base", "button", "nav", "x-custom"})
ATTRS = ["href", "src", "style", "onclick", "onerror", "class", "id", "dir", "lang", "srcset"]
VALUES = st.sampled_from([
    "javascript:alert(1)", "file:///etc/passwd", "http://127.0.0.1/", "data:text/html,x",
    "https://example.com/a", "url(file:///x)", "rtl", "ar", "print", "x" * 5])
TEXT = st.text(alphabet=string.ascii_letters + " ابتثجحخدرسعكلمنهوي«»<>&\"'", max_size=20)


@st.composite
def html_fragments(draw, depth=0):
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        if depth < 4 and draw(st.booleans()):
            tag = draw(st.sampled_from(TAGS))
            attrs = " ".join(f'{name}="{draw(VALUES)}"' for name in draw(
                st.lists(st.sampled_from(ATTRS), max_size=3, unique=True)))
            parts.append(f"<{tag} {attrs}>{draw(html_fragments(depth + 1))}</{tag}>")
        else:
            parts.append(draw(TEXT).replace("<", "&lt;"))
    return "".join(parts)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(html_fragments())
def test_sanitized_html_has_only_safe_markup(fragment):
    body, links = clean_body(fragment)
    root = lxml.html.fragment_fromstring(body or "<p></p>", create_parent="div")
    for element in root.iter():
        if element is root:
            continue
        assert element.tag in ALLOWED_TAGS, element.tag
        for name, value in element.attrib.items():
            assert not name.startswith("on") and name not in {"style", "id", "srcset"}
            assert "javascript:" not in value.lower() and "file:" not in value.lower()
            if name == "src":
                assert value.startswith("data:image/")
            if name == "href":
                assert value.startswith(("http://", "https://", "mailto:"))
    assert all(href.startswith(("http://", "https://")) for _text, href in links)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(
    st.sampled_from(["id", "title", "body_html", "paragraphs", "url", "lang", "published_at",
                     "categories", "lead_image", "author", "extra"]),
    st.one_of(st.none(), st.integers(), st.text(max_size=30),
              st.lists(st.text(max_size=10), max_size=3), st.dictionaries(
                  st.sampled_from(["src", "caption"]), st.text(max_size=20), max_size=2))))
def test_schema_accepts_or_names_a_field(data):
    try:
        article = parse_article(data)
    except ArticleInvalid as error:
        assert error.details["field"]
        assert error.message_ar and error.message_en
    else:
        assert isinstance(article, Article) and article.title.strip()
        assert article.body_html or article.paragraphs
        # Whatever was accepted survives a round trip through the store's JSON.
        assert parse_article(article.to_json()).revision == article.revision


# -- What the template and WeasyPrint receive ----------------------------------------------

XHTML = "{http://www.w3.org/1999/xhtml}"
# Classes the pipeline itself adds to allowed elements (sanitize, normalize).
OWN_CLASSES = {"noted", "image-note", "address", "has-address"}
ESCAPED = st.sampled_from([
    '&lt;img src=x onerror="alert(document.domain)"&gt;',
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "&lt;svg onload=alert(1)&gt;",
    "&amp;lt;img src=x onerror=alert(1)&amp;gt;",           # escaped twice
    "&#60;script&#62;alert(1)&#60;/script&#62;", "&#x3c;iframe src=javascript:alert(1)&#x3e;",
    "<![CDATA[<img src=x onerror=alert(1)>]]>",
    "<!-- <img src=x onerror=alert(1)> -->", "<!--><img src=x onerror=alert(1)>-->",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<svg><style><img src=x onerror=alert(1)></style></svg>",
    '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
    "<template><script>alert(1)</script></template>",
    '<a href="jav&#x09;ascript:alert(1)">رابط</a>', '<a href=" javascript:alert(1)">رابط</a>',
    '<img src="data:text/html,<script>alert(1)</script>">',
    "<style>@import 'http://127.0.0.1/x.css';</style>",
    "<span>نص</span>", "<span dir=rtl>نص</span>", "https://example.com/?q=<b>",
    "www.example.com", "x@example.com", '<a href="https://example.com/a">رابط</a>',
])


@st.composite
def hostile_bodies(draw):
    # Text after the hostile parts, so that a body sanitised to nothing stays an article.
    return "".join(draw(st.lists(st.one_of(ESCAPED, html_fragments()), min_size=1,
                                 max_size=6))) + "<p>نص</p>"


def _allowed_element(element):
    """Why ``element`` (an html5 tree node) is not what the allowlist allows, or None."""
    if not element.tag.startswith(XHTML):
        return f"foreign element {element.tag}"
    tag = element.tag[len(XHTML):]
    if tag not in ALLOWED_TAGS:
        return f"element <{tag}>"
    allowed = ALLOWED_ATTRIBUTES["*"] | ALLOWED_ATTRIBUTES.get(tag, set())
    for name, value in element.attrib.items():
        if name == "class":
            if not set(value.split()) <= OWN_CLASSES:
                return f"class {value!r} on <{tag}>"
        elif name == "id" or name not in allowed:
            return f"attribute {name} on <{tag}>"
        if name == "src" and not value.startswith("data:image/"):
            return f"src {value[:40]!r}"
        if name == "href" and not value.startswith(("http://", "https://", "mailto:")):
            return f"href {value[:40]!r}"
    return None


_RENDERER = []


def _renderer():
    if not _RENDERER:
        import tempfile

        from service.render import Renderer
        from service.settings import Settings

        _RENDERER.append(Renderer(Settings.from_env(data_dir=tempfile.mkdtemp())))
    return _RENDERER[0]


@settings(max_examples=1000, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(hostile_bodies())
def test_print_html_holds_only_what_the_allowlist_allows(body):
    """Parse the HTML WeasyPrint and the browser get as they parse it (html5), and walk it."""
    import tinyhtml5

    renderer = _renderer()
    article = parse_article({"id": "p", "title": "عنوان", "body_html": body})
    for document in (renderer.html(article), renderer.html(
            article, asset_base="/assets/", pdf_href="/articles/p.pdf?download=1")):
        root = tinyhtml5.parse(document)
        for element in root.iter():
            assert not element.tag.endswith("}script") or element.get("src"), document
            for name, value in element.attrib.items():
                assert not name.lower().startswith("on"), (name, body)
                assert "javascript:" not in value.lower().replace("\t", ""), (value, body)
        (container,) = [e for e in root.iter(f"{XHTML}div") if e.get("class") == "body"]
        for element in container.iter():
            if element is not container:
                assert _allowed_element(element) is None, (_allowed_element(element), body)
