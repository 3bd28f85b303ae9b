"""Counting in Arabic: a number with its noun in the form Arabic gives it.

Arabic has six plural categories (zero, one, two, few, many, other); which one a
number takes is CLDR's rule, read from Babel, not written here: 3–10 take the plural
(«٣ مقالات»), 11–99 the accusative singular («١١ مقالًا»), 100–102 and round hundreds
the singular («١٠٠ مقال»).  One and two are said without the number («مقال واحد»,
«مقالان»), as Arabic writes them.
"""

from babel import Locale

_ARABIC = Locale("ar")
_ARABIC_INDIC = str.maketrans("0123456789,", "٠١٢٣٤٥٦٧٨٩٬")

# noun -> form for each CLDR category; {n} is the number.
NOUNS = {
    "article": {"zero": "لا مقالات", "one": "مقال واحد", "two": "مقالان",
                "few": "{n} مقالات", "many": "{n} مقالًا", "other": "{n} مقال"},
    "page": {"zero": "لا صفحات", "one": "صفحة واحدة", "two": "صفحتان",
             "few": "{n} صفحات", "many": "{n} صفحةً", "other": "{n} صفحة"},
    "character": {"zero": "لا أحرف", "one": "حرف واحد", "two": "حرفان",
                  "few": "{n} أحرف", "many": "{n} حرفًا", "other": "{n} حرف"},
    "second": {"zero": "لا ثوانٍ", "one": "ثانية واحدة", "two": "ثانيتان",
               "few": "{n} ثوانٍ", "many": "{n} ثانيةً", "other": "{n} ثانية"},
    "edition": {"zero": "لا نسخ", "one": "نسخة واحدة", "two": "نسختان",
                "few": "{n} نسخ", "many": "{n} نسخةً", "other": "{n} نسخة"},
}


def count(number, noun, system="latn"):
    """``number`` of ``noun`` (a key of NOUNS) in Arabic, its digits in ``system``
    ('latn' or 'arab')."""
    written = f"{number:,}"
    if system == "arab":
        written = written.translate(_ARABIC_INDIC)
    return NOUNS[noun][_ARABIC.plural_form(number)].format(n=written)
