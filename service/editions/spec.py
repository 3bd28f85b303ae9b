"""The edition a client asks for: a title, and article ids or a filter, and options."""

from dataclasses import asdict, dataclass, field, fields, replace
from datetime import date

from ..errors import ArticleInvalid
from ..template import RenderOptions

MAX_TITLE = 300


@dataclass(frozen=True)
class EditionSpec:
    title: str
    ids: tuple = ()
    section: str | None = None
    start: date | None = None
    end: date | None = None
    source: str | None = None
    options: dict = field(default_factory=dict)

    @classmethod
    def from_json(cls, data, settings):
        """Validate a request body; raises ArticleInvalid naming the field."""
        if not isinstance(data, dict):
            raise ArticleInvalid("(root)", "must be a JSON object", "يجب أن يكون الطلب كائن JSON")
        title = data.get("title")
        if not isinstance(title, str) or not title.strip() or len(title) > MAX_TITLE:
            raise ArticleInvalid("title", f"a non-empty text of at most {MAX_TITLE} characters",
                                 "الحقل «title»: عنوان النسخة مطلوب")
        ids = data.get("articles")
        query = data.get("filter")
        if (ids is None) == (query is None):
            raise ArticleInvalid("articles", "give either 'articles' (ids) or 'filter'",
                                 "أرسل «articles» أو «filter»، لا كليهما ولا أياً منهما")
        if ids is not None:
            if (not isinstance(ids, list) or not ids or len(ids) > settings.max_edition_articles
                    or not all(isinstance(i, str) and i.strip() for i in ids)):
                raise ArticleInvalid(
                    "articles", f"a list of 1 to {settings.max_edition_articles} article ids; "
                    "raise MATBAA_MAX_EDITION_ARTICLES for more",
                    "الحقل «articles»: قائمة معرّفات المقالات")
            return cls(title=title.strip(), ids=tuple(dict.fromkeys(ids)),
                       options=_options(data.get("options"), settings))
        if not isinstance(query, dict):
            raise ArticleInvalid("filter", "must be an object", "الحقل «filter» يجب أن يكون كائناً")
        section = query.get("section")
        if section is not None and not isinstance(section, str):
            raise ArticleInvalid("filter.section", "must be a text", "الحقل «filter.section» نص")
        source = query.get("source")
        if source not in (None, "wordpress", "local"):
            raise ArticleInvalid("filter.source", "must be 'wordpress' or 'local'",
                                 "الحقل «filter.source»: wordpress أو local")
        return cls(title=title.strip(), section=section or None, source=source,
                   start=_date(query, "from"), end=_date(query, "to"),
                   options=_options(data.get("options"), settings))

    def to_json(self):
        data = asdict(self)
        for key in ("start", "end"):
            data[key] = data[key].isoformat() if data[key] else None
        data["ids"] = list(self.ids)
        return data

    @classmethod
    def from_stored(cls, data):
        data = dict(data)
        for key in ("start", "end"):
            data[key] = date.fromisoformat(data[key]) if data[key] else None
        data["ids"] = tuple(data["ids"])
        return cls(**data)

    def render_options(self, settings):
        """The options asked for, over the defaults of the settings."""
        return replace(RenderOptions.defaults(settings), **self.options)


def _date(query, key):
    value = query.get(key)
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ArticleInvalid(f"filter.{key}", "must be a date, YYYY-MM-DD",
                             f"الحقل «filter.{key}»: تاريخ بصيغة YYYY-MM-DD") from None


def _options(options, settings):
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise ArticleInvalid("options", "must be an object", "الحقل «options» يجب أن يكون كائناً")
    parsed = RenderOptions.from_query({k: _query_value(v) for k, v in options.items()},
                                      settings)
    return {f.name: getattr(parsed, f.name) for f in fields(parsed) if f.name in options}


def _query_value(value):
    """A JSON option as the query string writes it: true/false and 1/0 as "1"/"0"
    (so that `"archival": true` reads as JSON reads), texts as they are; anything
    else is left to be refused with the values allowed."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int) and value in (0, 1):
        return str(value)
    return value if isinstance(value, str) else repr(value)


def select_articles(store, spec):
    if spec.ids:
        return store.find(ids=spec.ids)
    return store.find(section=spec.section, start=spec.start, end=spec.end, source=spec.source)


def chosen_articles(store, spec):
    """The articles a job lays out and the errors it reports for ids not stored;
    raises ArticleInvalid when nothing is left to lay out."""
    articles = select_articles(store, spec)
    if not articles:
        raise ArticleInvalid("articles", "no stored article matches", "لا توجد مقالات مطابقة")
    found = {a.id for a in articles}
    return articles, [{"id": i, "code": "article_not_found"} for i in spec.ids if i not in found]
