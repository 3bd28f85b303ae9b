"""Planning: the order of an edition's articles, its parts, and where its page numbers go.

An edition laid out as one document takes one process about as long as its pages.
Laid out in parallel, its articles are cut into parts laid out side by side
(render processes, or Celery workers), then put together (``assemble``): a cover
and contents made beside them, the page numbers the parts found laid over the
contents, «صفحة x من y» over every page, and the bookmarks.  Archival editions
stay one document (PDF/A is kept whole).
"""

from ..template import section_name


def in_section_order(articles):
    """Articles grouped by section, sections in the order of their first article."""
    groups = {}
    for article in articles:
        groups.setdefault(section_name(article), []).append(article)
    return [article for group in groups.values() for article in group]


def section_openers(ordered):
    """The articles (1-based) that open their section: the first of each."""
    seen, opens = set(), set()
    for index, article in enumerate(ordered, 1):
        name = section_name(article)
        if name not in seen:
            seen.add(name)
            opens.add(index)
    return opens


def plan_parts(articles, parts):
    """Cut (ordered) articles into about ``parts`` parts of similar length.

    Returns [(first index, articles, indices that begin a section)], indices
    counted from 1 over the whole edition.
    """
    weights = [len(a.body_html or "") + sum(len(p) for p in a.paragraphs or ()) + 2000
               for a in articles]
    target = sum(weights) / max(1, parts)
    plan, current, weight, first = [], [], 0, 1
    seen = set()
    starts = set()
    for index, (article, size) in enumerate(zip(articles, weights), 1):
        name = section_name(article)
        if name not in seen:
            seen.add(name)
            starts.add(index)
        if current and weight + size / 2 > target and len(plan) < parts - 1:
            plan.append((first, current, sorted(i for i in starts if first <= i < index)))
            current, weight, first = [], 0, index
        current.append(article)
        weight += size
    if current:
        plan.append((first, current, sorted(i for i in starts if i >= first)))
    return plan


def placement(front, parts):
    """Where an edition's page numbers go, once its front and parts are laid out.

    Returns the page count, each article's first page (by its index in the
    edition), the numbers to lay over the contents ({page: [(left, bottom,
    number)]}) and the first page with a footer: every page from the contents on
    carries «صفحة x من y»; the cover none.
    """
    total = front["pages"] + sum(p["pages"] for p in parts)
    numbers, offset = {}, front["pages"]
    for part in parts:
        numbers.update({index: offset + page for index, page in part["starts"].items()})
        offset += part["pages"]
    placed = {}
    for index, (page, x, y, *_box) in sorted(front["rooms"].items()):
        placed.setdefault(page, []).append((x, y, numbers[index]))
    return total, numbers, placed, front["contents_page"]


# Page-number pages are cheap (~0.004 s each): below this many a share is not worth
# a round trip to another render process, or a task.
FOOTER_SHARE_PAGES = 50
# Celery: the footers in at most this many tasks (the workers' count is not known).
OVERLAY_FOOTER_SHARES = 4


def footer_shares(first, last, most):
    """Pages ``first``..``last`` cut into at most ``most`` runs of similar length,
    each of FOOTER_SHARE_PAGES pages or more (one when there are fewer)."""
    count = last - first + 1
    shares = min(most, max(1, count // FOOTER_SHARE_PAGES))
    bounds = [first + count * i // shares for i in range(shares + 1)]
    return [(bounds[i], bounds[i + 1] - 1) for i in range(shares)]
