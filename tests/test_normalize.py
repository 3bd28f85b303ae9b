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
