"""Counting in Arabic with CLDR's plural rules (service/plurals.py)."""

import pytest

from service.plurals import count


@pytest.mark.parametrize("number, expected", [
    (0, "لا مقالات"), (1, "مقال واحد"), (2, "مقالان"), (3, "3 مقالات"), (10, "10 مقالات"),
    (11, "11 مقالًا"), (99, "99 مقالًا"), (100, "100 مقال"), (102, "102 مقال"),
    (103, "103 مقالات"), (111, "111 مقالًا"), (2000, "2,000 مقال"),
])
def test_articles_take_the_arabic_form_of_their_number(number, expected):
    assert count(number, "article") == expected


def test_arabic_indic_digits_and_separator():
    assert count(1003, "page", "arab") == "١٬٠٠٣ صفحات"
    assert count(30, "second", "arab") == "٣٠ ثانيةً"


def test_every_noun_has_every_category():
    from babel import Locale

    from service.plurals import NOUNS

    categories = set(Locale("ar").plural_form.tags) | {"other"}
    assert categories == {"zero", "one", "two", "few", "many", "other"}
    for forms in NOUNS.values():
        assert set(forms) == categories
