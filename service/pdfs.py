"""PDFs as readers get them: from the cache, else rendered once and kept.

One trip per request: the caller computes the ETag (from the article's revision, the
options and the assets) once, and the same value is the cache key, the answer's
ETag and the PDF's /ID.  The article itself is loaded only when the PDF must be made.
"""

from typing import NamedTuple


class Delivered(NamedTuple):
    pdf: bytes
    missing_glyphs: tuple
    file_stem: str
    hit: bool


def cached_pdf(cache, renderer, etag, options, load, before_render=None):
    """The PDF whose ETag is ``etag``: the cached file, else ``renderer.pdf(load(),
    options)`` kept under it.  ``before_render()`` is called on a miss, before the
    render (it may refuse, as the readers' rate limit does)."""
    cached = cache.get(etag)
    # The file name is kept with it, so a cached PDF is served without the article.
    if cached is not None and "file_stem" in cached[1]:
        pdf, facts = cached
        return Delivered(pdf, tuple(facts.get("missing_glyphs", ())), facts["file_stem"], True)
    article = load()
    if before_render is not None:
        before_render()
    result = renderer.pdf(article, options, identifier=etag)
    cache.put(etag, result.pdf, {"missing_glyphs": list(result.missing_glyphs),
                                 "file_stem": article.file_stem})
    return Delivered(result.pdf, tuple(result.missing_glyphs), article.file_stem, False)
