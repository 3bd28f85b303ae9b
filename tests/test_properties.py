"""Property-based tests (hypothesis) of the sanitizer and the article schema."""

import string

import lxml.html
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.article import Article, parse_article
from service.errors import ArticleInvalid
from service.sanitize import ALLOWED_TAGS, clean_body

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
