"""Dates as newsrooms write them (service.dates), and as the API answers for them."""

from datetime import datetime, timedelta, timezone

import pytest
from babel.dates import format_datetime
from hypothesis import given, settings, strategies as st

from service.article import parse_article
from service.dates import DateUnreadable, find_date, parse_date, zone
from service.errors import ArticleInvalid
from service.settings import SettingsError, Settings

# Typed here, not taken from Babel, so that the test does not check CLDR against itself.
SERIES = {
    "egyptian/gulf": ["يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو", "يوليو",
                      "أغسطس", "سبتمبر", "أكتوبر", "نوفمبر", "ديسمبر"],
    "levantine": ["كانون الثاني", "شباط", "آذار", "نيسان", "أيار", "حزيران", "تموز",
                  "آب", "أيلول", "تشرين الأول", "تشرين الثاني", "كانون الأول"],
    "maghrebi": ["جانفي", "فيفري", "مارس", "أفريل", "ماي", "جوان", "جويلية", "أوت",
                 "سبتمبر", "أكتوبر", "نوفمبر", "ديسمبر"],
    "moroccan": ["يناير", "فبراير", "مارس", "أبريل", "ماي", "يونيو", "يوليوز", "غشت",
                 "شتنبر", "أكتوبر", "نونبر", "دجنبر"],
}


@pytest.mark.parametrize("series", SERIES)
@pytest.mark.parametrize("month", range(1, 13))
def test_every_month_of_every_series(series, month):
    name = SERIES[series][month - 1]
    assert parse_date(f"14 {name} 2021") == datetime(2021, month, 14)
    assert parse_date(f"الخميس ٣ {name} ٢٠٢٢ - ٠٩:٠٥ م") == datetime(2022, month, 3, 21, 5)


@pytest.mark.parametrize("written, expected", [
    # A feed's pubDate (RFC 2822), and how Arabic news feeds write it.
    ("Tue, 05 Jun 2018 18:36:06 +0400",
     datetime(2018, 6, 5, 18, 36, 6, tzinfo=timezone(timedelta(hours=4)))),
    ("Sun, 01 Dec 2026 10:00:00 GMT", datetime(2026, 12, 1, 10, tzinfo=timezone.utc)),
    # Egypt's article:published_time, and a Jordanian byline.
    ("الأربعاء، 07 أكتوبر 2020 - 12:09 م", datetime(2020, 10, 7, 12, 9)),
    ("تم نشره الجمعة 24 نيسان / أبريل 2020 09:22 مساءً", datetime(2020, 4, 24, 21, 22)),
    ("24 نيسان (أبريل) 2020", datetime(2020, 4, 24)),
    ("السبت 1 أوت 2020م الساعة 10:30 صباحاً", datetime(2020, 8, 1, 10, 30)),
    ("12:00 ص - 1 يناير 2020", datetime(2020, 1, 1, 0, 0)),
    ("2 تشرين الأول 2019 10:00 GMT+3",
     datetime(2019, 10, 2, 10, tzinfo=timezone(timedelta(hours=3)))),
    ("2020-04-24T21:22:00Z", datetime(2020, 4, 24, 21, 22, tzinfo=timezone.utc)),
    ("2020-04-24", datetime(2020, 4, 24)),
    ("١٧/٠٥/٢٠١٥ ٢١:٣٠", datetime(2015, 5, 17, 21, 30)),
])
def test_dates_as_written(written, expected):
    assert parse_date(written) == expected


@pytest.mark.parametrize("written", [
    "2020",                          # a bare year: no date is guessed from it
    "أبريل 2020",                    # a month without its day
    "05/17/2015",                    # month first: never how an Arabic site writes it
    "24 نيسان / مايو 2020",          # two months named: which one?
    "قبل 24 أبريل 2020",             # a word that changes what is meant
    "31 فبراير 2020",
    "13:00 م 24 أبريل 2020",         # 13 in the afternoon
    "yesterday",
    "",
])
def test_what_cannot_be_read_is_refused(written):
    with pytest.raises(DateUnreadable):
        parse_date(written)


def test_the_sites_zone_for_dates_written_without_one():
    amman = zone("Asia/Amman")
    assert parse_date("24 أبريل 2020 09:22", amman).utcoffset() == timedelta(hours=3)
    # The text's own zone wins.
    assert parse_date("Tue, 05 Jun 2018 18:36:06 +0400", amman).utcoffset() == \
        timedelta(hours=4)
    assert parse_date("2020-04-24T09:22:00", amman).tzinfo is amman
    with pytest.raises(ValueError, match="IANA"):
        zone("Mars/Olympus")


def test_the_timezone_setting_is_checked_at_start():
    assert Settings.from_env({"MATBAA_TIMEZONE": "Asia/Amman"}).zone == zone("Asia/Amman")
    assert Settings.from_env({}).zone is None
    with pytest.raises(SettingsError, match="MATBAA_TIMEZONE"):
        Settings.from_env({"MATBAA_TIMEZONE": "Amman"})


def test_a_date_found_in_a_byline():
    byline = "كتب: أحمد — الجمعة 1 رمضان 1441 هـ الموافق 24 أبريل 2020 - 09:22 م"
    assert find_date(byline) == datetime(2020, 4, 24, 21, 22)
    assert find_date("تحديث: منذ ساعتين") is None


LOCALES = ["ar_EG", "ar_SA", "ar_SY", "ar_LB", "ar_JO", "ar_IQ", "ar_TN", "ar_DZ", "ar_MA"]
PATTERNS = ["EEEE، d MMMM y h:mm a", "d MMMM y", "d MMMM y، HH:mm", "dd/MM/y HH:mm",
            "EEEE d MMMM y - hh:mm a"]
ARABIC_DIGITS = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


@settings(max_examples=300, deadline=None)
@given(moment=st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 12, 31)),
       locale=st.sampled_from(LOCALES), pattern=st.sampled_from(PATTERNS),
       arabic_digits=st.booleans())
def test_what_babel_writes_reads_back(moment, locale, pattern, arabic_digits):
    moment = moment.replace(second=0, microsecond=0)
    written = format_datetime(moment, pattern, locale=locale)
    if arabic_digits:
        written = written.translate(ARABIC_DIGITS)
    expected = moment if "m" in pattern else moment.replace(hour=0, minute=0)
    assert parse_date(written) == expected, written


def test_the_model_reads_them_in_the_sites_zone():
    article = parse_article({"id": "a", "title": "t", "paragraphs": ["x"],
                             "published_at": "Tue, 05 Jun 2018 18:36:06 +0400",
                             "updated_at": "الأربعاء، 07 أكتوبر 2020 - 12:09 م"},
                            timezone=zone("Africa/Cairo"))
    assert article.to_json()["published_at"] == "2018-06-05T18:36:06+04:00"
    assert article.to_json()["updated_at"] == "2020-10-07T12:09:00+02:00"  # no DST in Egypt in 2020


def test_the_model_refuses_quoting_the_text():
    with pytest.raises(ArticleInvalid) as info:
        parse_article({"id": "a", "title": "t", "paragraphs": ["x"], "published_at": "2020"})
    assert info.value.details["field"] == "published_at"
    assert "«2020»" in info.value.message_ar and "2020" in str(info.value)


def test_http_put_takes_feed_and_arabic_dates_and_refuses_with_the_text(client, store):
    answer = client.put("/articles/d1", json={
        "title": "عنوان", "paragraphs": ["نص"],
        "published_at": "تم نشره الجمعة 24 نيسان / أبريل 2020 09:22 مساءً"})
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["article"]["published_at"] == "2020-04-24T21:22:00"
    refused = client.put("/articles/d2", json={"title": "عنوان", "paragraphs": ["نص"],
                                                "published_at": "أبريل 2020"})
    assert refused.status_code == 422
    error = refused.get_json()["error"]
    assert (error["code"], error["field"]) == ("invalid_article", "published_at")
    assert "«أبريل 2020»" in error["message_ar"] and "أبريل 2020" in error["message_en"]
    assert store.get("d2") is None
