import pytest

from service.normalize import readable_address


@pytest.mark.parametrize("given, shown", [
    # A site's Arabic slug, as WordPress gives it, shown in letters.
    ("https://akhbar.example/%D8%AB%D9%82%D8%A7%D9%81%D8%A9/2024/?p=123",
     "https://akhbar.example/ثقافة/2024/?p=123"),
    ("www.akhbar.example/%d9%83%d9%84", "www.akhbar.example/كل"),
    # Escaped ASCII keeps its meaning: a slash, a space, a percent sign stay escaped.
    ("https://a.example/x%2Fy%20z%25", "https://a.example/x%2Fy%20z%25"),
    # A right-to-left override or a no-break space would change what is printed.
    ("https://a.example/%E2%80%AEfdp.exe", "https://a.example/%E2%80%AEfdp.exe"),
    ("https://a.example/%D9%83%C2%A0%D9%83", "https://a.example/ك%C2%A0ك"),
    # Bytes that are not UTF-8 stay as they were, around the letters that are.
    ("https://a.example/%FF%D9%83%D9", "https://a.example/%FFك%D9"),
    # The host as given: no look-alike letters.
    ("https://xn--mgbh0fb.example/", "https://xn--mgbh0fb.example/"),
    ("https://%D9%83.example", "https://%D9%83.example"),
    ("https://a.example/plain", "https://a.example/plain"),
])
def test_readable_address(given, shown):
    assert readable_address(given) == shown


def test_address_escaped_twice_is_not_decoded():
    # Arabic UTF-8 read as Windows-1252 and escaped again (a corpus address): its
    # "letters" would be «Ã˜Âª…», no more readable, and one has no glyph here.  The
    # long escaped segment is printed as "…"; a short one as given.
    url = "http://news.example/ar/article/%C3%98%C2%AA%C3%98%C2%B9%C3%99%CB%86/96/7?a=%C3%98"
    assert readable_address(url) == "http://news.example/ar/article/…/96/7?a=%C3%98"
    assert readable_address("http://n.example/%C3%98%C2%AA/1") == "http://n.example/%C3%98%C2%AA/1"
    assert readable_address("https://a.example/caf%C3%A9") == "https://a.example/café"


def test_letters_without_a_glyph_stay_escaped():
    url = "https://a.example/%D9%83-%E1%88%B0"        # «ك» and an Ethiopic syllable
    assert readable_address(url, covered={ord("ك")}) == url
    assert readable_address(url, covered={ord("ك"), 0x1230}) == "https://a.example/ك-ሰ"
