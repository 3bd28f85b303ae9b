"""Dates as newsrooms write them: one reader for the JSON model, pages, WordPress and feeds.

Read: ISO 8601; RFC 822/2822 (feeds: «Tue, 05 Jun 2018 18:36:06 +0400»); day first
in digits (17/05/2015 21:30; never month first); and Arabic written out, with the
month names of every Arabic locale in Babel's CLDR data: the Egyptian/Gulf series
(يناير، فبراير …), the Levantine (كانون الثاني، شباط، آذار …), the Maghrebi (جانفي،
فيفري، أفريل …), or two of them joined («نيسان / أبريل», «نيسان (أبريل)»), which
must then name the same month.  Weekday names and the words around a byline's date
(«تم نشره», «الساعة») are passed over; Arabic-Indic digits read as digits; ص/م,
صباحاً/مساءً and AM/PM set the half of the day.

The zone is the text's own (+0400, GMT+3, UTC) or else the site's (MATBAA_TIMEZONE);
with neither, the wall-clock time is kept as written.  Nothing is guessed: a date
needs a day, a month and a year, so a bare year or «أبريل 2020» is refused.
"""

import email.utils
import functools
import re
import unicodedata
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, localedata


class DateUnreadable(ValueError):
    """The text is not a date this module can read without guessing."""

    def __init__(self, text):
        super().__init__(f"not a date: {text!r}")
        self.text = text


def zone(name):
    """The IANA zone ``name`` (MATBAA_TIMEZONE), or None for an empty name."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (an IANA name: Africa/Cairo, "
                         "Asia/Amman, UTC)") from None


_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹٫", "01234567890123456789.")
_MARKS = re.compile(r"[\u064B-\u065F\u0670\u0640\u200c-\u200f\u061c\u202a-\u202e\u2066-\u2069]")


def _fold(text):
    """Text as month names are matched: ASCII digits, no harakat or tatweel, one alef,
    final yeh and heh as written either way, lower case, «،» as a comma."""
    text = unicodedata.normalize("NFKC", text).translate(_DIGITS)
    text = _MARKS.sub("", text)
    text = re.sub("[أإآٱ]", "ا", text).replace("ى", "ي").replace("ة", "ه")
    return " ".join(text.replace("،", ",").replace("؛", ";").lower().split())


@functools.cache
def _names():
    """Month numbers, weekday names and day halves by their folded names, from CLDR.

    A folded name that two locales give to different months is dropped rather than
    guessed at (none is, in Babel's data; the check keeps it so).
    """
    months, weekdays, halves = {}, set(), {}
    clashes = set()
    locales = [loc for loc in localedata.locale_identifiers()
               if loc == "ar" or loc.startswith("ar_")] + ["en"]
    for identifier in locales:
        locale = Locale.parse(identifier)
        for context in ("format", "stand-alone"):
            for width in ("wide", "abbreviated"):
                for number, name in locale.months[context][width].items():
                    folded = _fold(name.rstrip("."))
                    if months.setdefault(folded, number) != number:
                        clashes.add(folded)
                for name in locale.days[context][width].values():
                    weekdays.add(_fold(name.rstrip(".")))
                for half, name in locale.day_periods.get(context, {}).get(width, {}).items():
                    if half in ("am", "pm"):
                        halves[_fold(name)] = half
    for folded in clashes:
        del months[folded]
    # The fuller forms bylines write beside CLDR's ص/م.
    halves.update({_fold(w): "am" for w in ("صباحاً", "صباحا", "فجراً", "a.m.")})
    halves.update({_fold(w): "pm" for w in ("مساءً", "مساء", "ظهراً", "عصراً", "p.m.")})
    return months, weekdays, halves


# Words around a date in a byline or a meta field, passed over like weekday names.
_FILLERS = {_fold(w) for w in (
    "تم", "نشره", "نشرها", "نشر", "نشرت", "منشور", "بتاريخ", "تاريخ", "النشر", "في",
    "يوم", "الساعة", "الساعه", "اخر", "آخر", "تحديث", "التحديث", "حدث", "محدث", "بتوقيت",
    "published", "updated", "on", "at", "posted")}

_TIME = r"(?P<h>\d{1,2})[:.](?P<mi>\d\d)(?::(?P<s>\d\d)(?:\.\d+)?)?"
_ZONE = (r"(?P<zone>z|(?:gmt|utc|غرينتش|جرينتش)(?:\s*(?P<zh>[+-]\d{1,2})(?::?(?P<zm>\d\d))?)?"
         r"|(?P<oh>[+-]\d\d):?(?P<om>\d\d))")


@functools.cache
def _patterns():
    months, _weekdays, halves = _names()
    month = "|".join(re.escape(m) for m in sorted(months, key=len, reverse=True))
    half = "|".join(re.escape(h) for h in sorted(halves, key=len, reverse=True))
    # Two month names joined: «نيسان / أبريل», «نيسان (أبريل)», «نيسان - أبريل».
    months_re = rf"(?P<m1>{month})(?:\s*[/(\-–]\s*(?P<m2>{month})\s*\)?)?"
    clock = rf"{_TIME}(?:\s*(?P<half>{half})(?![\w]))?(?:\s*{_ZONE})?"
    written = (rf"(?<![\w])(?P<d>\d{{1,2}})\s*(?:-\s*)?{months_re}\s*,?\s*(?P<y>\d{{4}})"
               rf"(?:\s*م(?![\w]))?(?:\s*[,\-–|@]?\s*(?:(?:الساعه|at)\s*)?{clock})?(?![\w])")
    digits = (rf"(?<![\w/.\-])(?P<d>\d{{1,2}})(?P<sep>[/.\-])(?P<mo>\d{{1,2}})(?P=sep)"
              rf"(?P<y>\d{{4}})(?:\s*م(?![\w]))?"
              rf"(?:(?:\s*[,\-–|@]?\s*(?:(?:الساعه|at)\s*)?|T){clock})?(?![\w/.\-])")
    # The time first: «09:22 م - 24 أبريل 2020».
    time_first = (rf"(?<![\w:])(?P<h>\d{{1,2}}):(?P<mi>\d\d)(?::(?P<s>\d\d))?"
                  rf"(?:\s*(?P<half>{half})(?![\w]))?\s*[,\-–|]?\s*"
                  rf"(?P<d>\d{{1,2}})\s*{months_re}\s*,?\s*(?P<y>\d{{4}})(?:\s*م(?![\w]))?(?![\w])")
    return [re.compile(p) for p in (written, time_first, digits)]


def _build(match, default_zone):
    months, _weekdays, _halves = _names()
    groups = match.groupdict()
    if groups.get("m1") is not None:
        month = months[groups["m1"]]
        if groups.get("m2") and months[groups["m2"]] != month:
            return None  # «نيسان / مايو»: two months named, which one is meant?
    else:
        month = int(groups["mo"])
    hour = int(groups.get("h") or 0)
    minute = int(groups.get("mi") or 0)
    second = int(groups.get("s") or 0)
    half = groups.get("half")
    if half:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if _names()[2][half] == "pm" else 0)
    try:
        value = datetime(int(groups["y"]), month, int(groups["d"]), hour, minute, second)
    except ValueError:
        return None
    tz = _zone_of(groups)
    if tz is not None:
        return value.replace(tzinfo=tz)
    return value.replace(tzinfo=default_zone) if default_zone else value


def _zone_of(groups):
    if groups.get("oh"):
        sign = -1 if groups["oh"].startswith("-") else 1
        return timezone(sign * timedelta(hours=abs(int(groups["oh"])),
                                         minutes=int(groups["om"])))
    if groups.get("zone"):
        if not groups.get("zh"):
            return timezone.utc
        sign = -1 if groups["zh"].startswith("-") else 1
        return timezone(sign * timedelta(hours=abs(int(groups["zh"])),
                                         minutes=int(groups.get("zm") or 0)))
    return None


def _only_words_around(rest):
    """True when what is left beside a date is weekday names, byline words and
    punctuation: nothing that could change which date is meant."""
    _months, weekdays, _halves = _names()
    for word in re.findall(r"[^\s,;:.\-–|/()\[\]«»\"'@]+", rest):
        if word not in weekdays and word not in _FILLERS:
            return False
    return True


def parse_date(value, default_zone=None):
    """``value`` (a string or datetime) as a datetime, or raise DateUnreadable."""
    if isinstance(value, datetime):
        return value if value.tzinfo or not default_zone else value.replace(tzinfo=default_zone)
    if isinstance(value, date):
        value = value.isoformat()
    if not isinstance(value, str) or not value.strip():
        raise DateUnreadable(value)
    text = value.strip()
    iso = _iso(text.translate(_DIGITS), default_zone)
    if iso is not None:
        return iso
    rfc = _rfc2822(text)
    if rfc is not None:
        return rfc
    folded = _fold(text)
    for pattern in _patterns():
        for match in pattern.finditer(folded):
            rest = folded[:match.start()] + " " + folded[match.end():]
            if _only_words_around(rest):
                found = _build(match, default_zone)
                if found is not None:
                    return found
    raise DateUnreadable(value)


def find_date(text, default_zone=None):
    """The first date written in ``text`` (a byline, a date line), or None."""
    folded = _fold(text or "")
    for pattern in _patterns():
        for match in pattern.finditer(folded):
            found = _build(match, default_zone)
            if found is not None:
                return found
    return None


_ISO = re.compile(r"\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?)?"
                  r"(?:\s*(?:Z|[+-]\d\d(?::?\d\d)?))?", re.IGNORECASE)


def _iso(text, default_zone):
    if not _ISO.fullmatch(text):
        return None
    try:
        value = datetime.fromisoformat(text.replace(" Z", "Z").replace("z", "Z"))
    except ValueError:
        return None
    if value.tzinfo is None and default_zone:
        value = value.replace(tzinfo=default_zone)
    return value


_RFC2822 = re.compile(r"(?:[a-z]{3},\s*)?\d{1,2}\s+[a-z]{3}\s+\d{2,4}\s+\d\d:\d\d(?::\d\d)?"
                      r"(?:\s+(?:[+-]\d{4}|[a-z]{1,5}))?", re.IGNORECASE)


def _rfc2822(text):
    # A feed's pubDate.  Its zone is always written (RFC 822 has no local time), but
    # "-0000" means "unknown": read as UTC, as feed readers do.
    if not _RFC2822.fullmatch(text):
        return None
    try:
        value = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
