"""OpenAPI: the HTTP surface described for clients (served at /openapi.json)."""

from .article import Article
from .render import VERSION

_ERROR = {"description": "error", "content": {"application/json": {
    "schema": {"$ref": "#/components/schemas/Error"}}}}
_PDF = {"description": "the PDF", "content": {"application/pdf": {
    "schema": {"type": "string", "format": "binary"}}}}
_OPTIONS = [
    {"name": "paper", "in": "query", "schema": {"type": "string", "enum": ["a4", "a5", "letter"]}},
    {"name": "digits", "in": "query", "schema": {"type": "string", "enum": ["arab", "latn"]}},
    {"name": "size", "in": "query", "schema": {"type": "string", "enum": ["s", "m", "l"]}},
    {"name": "images", "in": "query", "schema": {"type": "string", "enum": ["0", "1"]}},
    {"name": "archival", "in": "query", "schema": {"type": "string", "enum": ["0", "1"]}},
]
# A yes/no option in JSON: a boolean, as JSON says it, or the query string's 0/1.
_YES_NO = {"description": "true or false (or 1/0, \"1\"/\"0\", as in the query string)",
           "anyOf": [{"type": "boolean"}, {"enum": ["0", "1", 0, 1]}]}
_SOURCE_ERRORS = {str(code): _ERROR for code in (403, 404, 422, 429, 502, 503, 504)}
_ID = {"name": "article_id", "in": "path", "required": True,
       "schema": {"type": "string", "pattern": r"^[\w.\-]+$"}}
_JOB = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}
_JSON = {"description": "JSON", "content": {"application/json": {"schema": {"type": "object"}}}}



def _model_schemas():
    """The article's JSON schema from the model itself (pydantic), with the models it
    refers to, as components."""
    schema = Article.model_json_schema(ref_template="#/components/schemas/{model}")
    return {**schema.pop("$defs", {}), "Article": schema}


def _FORM(fields):
    """A form body of text fields (the desk's)."""
    return {"content": {"application/x-www-form-urlencoded": {"schema": {
        "type": "object", "properties": {name: {"type": "string"} for name in fields}}}}}


def spec():
    errors = {str(code): _ERROR for code in (400, 401, 403, 404, 413, 415, 422, 429, 503)}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Matbaa", "version": VERSION,
                 "description": "Typeset PDFs of Arabic news articles."},
        "components": {
            "schemas": {
                **_model_schemas(),
                "Error": {"type": "object", "properties": {"error": {
                    "type": "object", "required": ["code", "message_ar", "message_en"],
                    "properties": {"code": {"type": "string"}, "message_ar": {"type": "string"},
                                   "message_en": {"type": "string"},
                                   "field": {"type": "string"}}}}},
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "paths": {
            "/": {"get": {"summary": "Stored articles with links (HTML)",
                          "responses": {"200": {"description": "HTML page"}}}},
            "/articles": {"get": {
                "summary": "Stored articles, newest first",
                "parameters": [{"name": "page", "in": "query",
                                "schema": {"type": "integer", "minimum": 1,
                                           "maximum": 1_000_000}},
                               {"name": "per_page", "in": "query",
                                "schema": {"type": "integer", "maximum": 100}}],
                "responses": {"200": _JSON, "422": _ERROR}}},
            "/articles/import": {"post": {
                "summary": "Import a saved article page (text/html): stores and returns it; "
                           "or an RSS or Atom feed: one article per item, each item's outcome",
                "security": [{"bearer": []}],
                "parameters": [{"name": "url", "in": "query", "schema": {"type": "string"}}],
                "requestBody": {"required": True, "content": {
                    "text/html": {"schema": {"type": "string"}},
                    "application/rss+xml": {"schema": {"type": "string"}},
                    "application/atom+xml": {"schema": {"type": "string"}}}},
                "responses": {
                    "201": {"description": "the stored article (a page)", "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/Article"}}}},
                    "200": {"description": "a feed's items: created, updated, unchanged, "
                                           "failed_count, items [{id, outcome}], failed "
                                           "[{item, guid, error}]", "content": {
                        "application/json": {"schema": {"type": "object", "required": [
                            "items", "failed"]}}}},
                    **errors}}},
            "/articles/{article_id}.pdf": {"get": {
                "summary": "An article as PDF (numeric ids are WordPress posts when "
                           "MATBAA_WORDPRESS_URL is set)",
                "parameters": [_ID, *_OPTIONS,
                               {"name": "download", "in": "query", "schema": {"enum": ["1"]}}],
                "responses": {"200": _PDF, "304": {"description": "not modified"},
                              **_SOURCE_ERRORS}}},
            "/articles/by-slug/{slug}.pdf": {"get": {
                "summary": "A WordPress post, found by its slug, as PDF",
                "parameters": [{"name": "slug", "in": "path", "required": True,
                                "schema": {"type": "string"}}, *_OPTIONS,
                               {"name": "download", "in": "query", "schema": {"enum": ["1"]}}],
                "responses": {"200": _PDF, "304": {"description": "not modified"},
                              **_SOURCE_ERRORS}}},
            "/hooks/wordpress": {"post": {
                "summary": "WordPress published, updated or unpublished a post: load it now "
                           "and render it in the background (or remove it). JSON; a form "
                           "only with an API key",
                "security": [{"bearer": []}],
                "requestBody": {"required": True, "content": {
                    "application/json": {"schema": {
                        "type": "object", "required": ["post_id"],
                        "properties": {"post_id": {"type": ["integer", "string"]}}}},
                    "application/x-www-form-urlencoded": {"schema": {
                        "type": "object", "properties": {"post_id": {"type": "string"}}}}}},
                "responses": {"200": _JSON, "201": _JSON, **errors, **_SOURCE_ERRORS}}},
            "/articles/{article_id}": {"put": {
                "summary": "Create or update an article; its PDF is rendered in the background. "
                           "With If-Match (the ETag GET gave), only if it has not changed since",
                "security": [{"bearer": []}],
                "parameters": [_ID, {"name": "If-Match", "in": "header",
                                     "schema": {"type": "string"}}],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Article"}}}},
                "responses": {"200": _JSON, "201": _JSON, "412": _ERROR, **errors}},
                "get": {
                "summary": "A stored article's JSON; its ETag is the revision, for If-Match",
                "parameters": [_ID],
                "responses": {"200": {"description": "the article", "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Article"}}}},
                    "404": _ERROR, "503": _ERROR}}},
            "/articles/{article_id}/print": {"get": {
                "summary": "An article as print HTML, with the reader's toolbar",
                "parameters": [_ID, *_OPTIONS, {
                    "name": "print", "in": "query", "schema": {"enum": ["1"]},
                    "description": "open the browser's print dialog once loaded"}],
                "responses": {"200": {"description": "HTML page"}, **_SOURCE_ERRORS}}},
            "/assets/{mount}/{filename}": {"get": {
                "summary": "Fonts and stylesheet of the print view",
                "parameters": [{"name": "mount", "in": "path", "required": True,
                                "schema": {"enum": ["fonts", "print", "site", "brand"]}},
                               {"name": "filename", "in": "path", "required": True,
                                "schema": {"type": "string"}}],
                "responses": {"200": {"description": "the file"}, "404": _ERROR}}},
            "/render": {"post": {
                "summary": "Render an article sent as JSON; nothing is stored",
                "security": [{"bearer": []}],
                "parameters": _OPTIONS,
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Article"}}}},
                "responses": {"200": _PDF, **errors}}},
            "/health": {"get": {"summary": "Store, fonts, templates and cache checks",
                                "responses": {"200": _JSON, "503": _JSON}}},
            "/version": {"get": {"summary": "Versions and digests", "responses": {"200": _JSON}}},
            "/editions": {"post": {
                "summary": "Many stored articles as one PDF, made in the background",
                "security": [{"bearer": []}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["title"],
                    "properties": {
                        "title": {"type": "string", "minLength": 1, "maxLength": 300},
                        "articles": {"type": "array", "items": {"type": "string"}},
                        "filter": {"type": "object", "properties": {
                            "section": {"type": "string"},
                            "from": {"type": "string", "format": "date"},
                            "to": {"type": "string", "format": "date"},
                            "source": {"enum": ["wordpress", "local"]}}},
                        "options": {"type": "object", "properties": {
                            "paper": {"enum": ["a4", "a5", "letter"]},
                            "digits": {"enum": ["arab", "latn"]},
                            "size": {"enum": ["s", "m", "l"]},
                            "images": _YES_NO,
                            "archival": _YES_NO}}}}}}},
                "responses": {"202": _JSON, **errors}}},
            "/editions/{job_id}": {"get": {
                "summary": "An edition job: status (queued, running, done, failed), "
                           "done/total, pages, per-article errors",
                "parameters": [_JOB],
                "responses": {"200": _JSON, "404": _ERROR}}},
            "/editions/{job_id}.pdf": {"get": {
                "summary": "The edition's PDF once its job is done",
                "parameters": [_JOB, {"name": "download", "in": "query",
                                      "schema": {"enum": ["1"]}}],
                "responses": {"200": _PDF, "404": _ERROR, "409": _ERROR}}},
            "/desk": {"get": {
                "summary": "The desk (HTML): sign in, find stored articles, make editions",
                "parameters": [{"name": name, "in": "query", "schema": {"type": "string"}}
                               for name in ("q", "section", "from", "to", "page")],
                "responses": {"200": {"description": "HTML page"},
                              "403": {"description": "HTML page: not this machine"}}}},
            "/desk/sign-in": {"post": {
                "summary": "Sign in to the desk with an API key (form, CSRF token)",
                "requestBody": _FORM(["key", "csrf"]),
                "responses": {"303": {"description": "to the desk"},
                              "400": {"description": "no or another CSRF token"},
                              "401": {"description": "HTML page: the key is not one"}}}},
            "/desk/sign-out": {"post": {
                "summary": "Sign out of the desk (form, CSRF token)",
                "requestBody": _FORM(["csrf"]),
                "responses": {"303": {"description": "to the desk"},
                              "400": {"description": "no or another CSRF token"}}}},
            "/desk/editions": {"post": {
                "summary": "Make an edition from the desk's form (CSRF token); to its page",
                "requestBody": _FORM(["csrf", "title", "scope", "ids", "q", "section", "from",
                                      "to", "paper", "digits", "archival"]),
                "responses": {"303": {"description": "to the edition's page"},
                              "400": {"description": "no or another CSRF token"},
                              "403": {"description": "not signed in"},
                              "422": {"description": "HTML page: what is wrong"}}}},
            "/desk/editions/{job_id}": {"get": {
                "summary": "An edition's page on the desk (HTML): progress, pages, SHA-256",
                "parameters": [_JOB],
                "responses": {"200": {"description": "HTML page"},
                              "303": {"description": "to the desk, to sign in"},
                              "404": _ERROR}}},
            "/metrics": {"get": {
                "summary": "Prometheus metrics: requests, renders, cache, refusals, queue",
                "responses": {"200": {"description": "Prometheus text format", "content": {
                    "text/plain": {"schema": {"type": "string"}}}}}}},
            "/openapi.json": {"get": {"summary": "This description",
                                      "responses": {"200": _JSON}}},
        },
    }
