"""Article model: the JSON contract every source is mapped to, validated."""

import hashlib
import json
import re
import unicodedata
from datetime import datetime
from typing import Annotated

from pydantic import (
    BaseModel, ConfigDict, Field, StringConstraints, ValidationError, ValidationInfo,
    WithJsonSchema, field_validator, model_validator)
from pydantic_core import PydanticCustomError

from .dates import DateUnreadable, parse_date
from .errors import ArticleInvalid
from .plurals import count

# Languages written right to left; everything else is laid out left to right.
RTL_LANGUAGES = {"ar", "fa", "he", "ur", "ps", "ckb", "sd", "ug", "yi", "dv", "syr"}

NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
ArticleId = Annotated[str, StringConstraints(
    strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[\w.\-]+$")]
HttpUrl = Annotated[str, StringConstraints(
    strip_whitespace=True, max_length=2000, pattern=r"^https?://[^\s]+$")]


# How the API description (service.openapi) gives a date: every form the model reads
# (service.dates); the written forms are too many for a pattern.
_DATE_SCHEMA = {"description": "ISO 8601; RFC 2822 as feeds write it (Tue, 05 Jun 2018 "
               "18:36:06 +0400); day first in digits (17/05/2015, 17-05-2015 21:30), never "
               "month first; or written out in Arabic with any Arabic series of month "
               "names («الأربعاء، 07 أكتوبر 2020 - 12:09 م», «24 نيسان / أبريل 2020 09:22 "
               "مساءً», «3 جويلية 2019»). Without a zone in the text, the site's "
               "(MATBAA_TIMEZONE). A bare year or a month without a day is refused.",
               "anyOf": [{"type": "string", "format": "date-time"},
                         {"type": "string", "format": "date"},
                         {"type": "string", "minLength": 6}]}
Date = Annotated[datetime, WithJsonSchema(_DATE_SCHEMA)]


def _describe_source(schema):
    # "source" is read before validation (it names the site) and is not a field.
    schema["properties"]["source"] = {
        "description": "The publication, as news datasets name it, when `site` is absent.",
        "anyOf": [{"type": "string"},
                  {"type": "object", "properties": {"name": {"type": "string"}}}]}


class LeadImage(BaseModel):
    """The article's main picture; ``src`` is an http(s) or ``data:`` URL."""

    model_config = ConfigDict(extra="ignore")

    src: Annotated[str, StringConstraints(
        strip_whitespace=True, min_length=1, pattern=r"^(https?://|data:image/)")]
    caption: str | None = None
    alt: str | None = None


class Article(BaseModel):
    """A news article as Matbaa stores and prints it."""

    # Unknown fields are ignored so that richer payloads (a CMS export) are accepted.
    model_config = ConfigDict(extra="ignore", frozen=True, json_schema_extra=_describe_source)

    id: ArticleId
    title: NonEmpty
    body_html: str | None = None
    paragraphs: list[str] | None = None
    slug: str | None = None
    url: HttpUrl | None = None
    site: str | None = None
    # The site's logo (an http(s) image address: a WordPress site's own), in the
    # masthead where MATBAA_BRAND_LOGO gives none; fetched as images are.
    site_logo: HttpUrl | None = None
    subtitle: str | None = None
    section: str | None = None
    breadcrumb: list[NonEmpty] = Field(default_factory=list)
    categories: list[NonEmpty] = Field(default_factory=list)
    tags: list[NonEmpty] = Field(default_factory=list)
    author: str | None = None
    published_at: Date | None = None
    updated_at: Date | None = None
    lang: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")] = "ar"
    lead_image: LeadImage | None = None

    @model_validator(mode="before")
    @classmethod
    def _source_as_site(cls, data):
        # News datasets and APIs name the publication "source" (the corpus: "Jawhara
        # FM"; NewsAPI: {"name": …}).  Without it the print said «read the article on
        # the site of» the service's own name, under another site's address.
        if isinstance(data, dict) and not data.get("site"):
            source = data.get("source")
            name = source.get("name") if isinstance(source, dict) else source
            if isinstance(name, str) and name.strip():
                data = {**data, "site": name.strip()}
        return data

    @field_validator("published_at", "updated_at", mode="before")
    @classmethod
    def _date(cls, value, info: ValidationInfo):
        # Every source's dates go through the one reader (service.dates), in the
        # site's zone when the text names none.
        if value is None:
            return None
        try:
            return parse_date(value, (info.context or {}).get("timezone"))
        except DateUnreadable:
            raise PydanticCustomError(
                "date_unreadable", "not a date that can be read without guessing: {text}",
                {"text": str(value)[:200]}) from None

    @field_validator("paragraphs")
    @classmethod
    def _paragraphs_not_empty(cls, value):
        if value is not None and not any(p.strip() for p in value):
            raise ValueError("must hold at least one non-empty paragraph")
        return value

    @model_validator(mode="after")
    def _has_body(self):
        if not (self.body_html and self.body_html.strip()) and not self.paragraphs:
            raise ValueError("body_html or paragraphs is required")
        return self

    @property
    def direction(self):
        return "rtl" if self.lang.split("-")[0].lower() in RTL_LANGUAGES else "ltr"

    @property
    def revision(self):
        """Hash of the article's content: it changes whenever anything printed changes."""
        canonical = json.dumps(self.to_json(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]

    def to_json(self):
        return self.model_dump(mode="json", exclude_none=True)

    @property
    def file_stem(self):
        """A name for the PDF file: the slug, else the title, else the id."""
        for candidate in (self.slug, self.title, self.id):
            stem = slug_of(candidate or "", keep=r"\-").strip("-")[:120]
            if stem:
                return stem
        return "article"


def slug_of(text, keep=r".\-"):
    """``text`` as a name: letters, digits, ``_`` and ``keep``; anything else becomes "-".

    Combining marks (Arabic harakat: «يُشعل») are dropped first: they are not word
    characters, and a hyphen in their place cuts the word in two («ي-شعل»).
    """
    bare = "".join(c for c in unicodedata.normalize("NFC", text)
                   if not unicodedata.category(c).startswith("M"))
    return re.sub(rf"[^\w{keep}]+", "-", bare)


def parse_article(data, max_chars=None, timezone=None):
    """Validate ``data`` (a dict from JSON) as an Article, or raise ArticleInvalid.

    ``timezone`` (a tzinfo: Settings.zone) is the site's, for dates written without one.
    """
    if not isinstance(data, dict):
        raise ArticleInvalid("(root)", "must be a JSON object",
                             "يجب أن يكون المقال كائن JSON")
    try:
        article = Article.model_validate(data, context={"timezone": timezone})
    except ValidationError as exc:
        first = exc.errors()[0]
        # The only whole-object rule is "a body is required": name the body field.
        where = ".".join(str(p) for p in first["loc"]) or "body_html"
        message = first["msg"].removeprefix("Value error, ")
        arabic = _arabic_reason(where, first["type"])
        if first["type"] == "date_unreadable":
            arabic += f": «{first['ctx']['text']}»"
        raise ArticleInvalid(where, message, arabic) from None
    if max_chars is not None:
        size = len(article.title) + len(article.body_html or "") + sum(
            len(p) for p in article.paragraphs or ())
        if size > max_chars:
            raise ArticleInvalid(
                "body_html", f"article is {size} characters, over the limit of {max_chars};"
                " raise MATBAA_MAX_ARTICLE_CHARS",
                f"المقال أطول من الحد المسموح ({count(max_chars, 'character')})")
    return article


_ARABIC_REASONS = {
    "missing": "حقل مطلوب",
    "string_type": "يجب أن يكون نصاً",
    "list_type": "يجب أن يكون قائمة",
    "string_too_short": "لا يجوز أن يكون فارغاً",
    "string_too_long": "أطول من المسموح",
    "string_pattern_mismatch": "صيغته غير صالحة",
    "date_unreadable": "تاريخ لا يُقرأ دون تخمين (يلزم يوم وشهر وسنة)",
    "model_type": "يجب أن يكون كائناً",
    "value_error": "قيمته غير صالحة",
}


def _arabic_reason(field, error_type):
    reason = _ARABIC_REASONS.get(error_type, "قيمته غير صالحة")
    if field == "body_html" and error_type == "value_error":
        reason = "يجب أن يحتوي المقال على body_html أو paragraphs"
    return f"الحقل «{field}»: {reason}"
