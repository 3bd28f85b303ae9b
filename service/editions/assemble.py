"""Assembly: an edition's front, parts and page numbers put together into one PDF.

The parts are laid out apart (``plan``), each without page numbers; here they
follow the cover and contents, the numbers are laid over every page as forms,
the contents' entries become links to their articles and the bookmarks are made.
The same edition gives the same bytes.
"""

import ctypes
import gc
import io
from concurrent.futures import ThreadPoolExecutor

import pikepdf

from ..template import section_name
from .kept import FontMerger, own_streams
from .plan import placement


def assemble(renderer, title, articles, options, parts, render_footers=None, front=None,
             overlays=None, fonts=None, body=None):
    """Put laid-out parts together: front matter, page numbers, bookmarks. Returns bytes.

    ``parts``: the results of ``Renderer.edition_part``, in order.
    ``render_footers(options, total, first, last)``: PDFs (a list, in order) of the
    page-number pages ``first``..``last``; by default made here in one document.
    ``front``: the cover and contents (``Renderer.edition_front``), made while the
    parts were laid out; made here when not given.  Their page numbers (the
    contents' and the footers) are laid over them here, as the parts' are.
    ``overlays``: those page-number pages, made already (Celery's overlay tasks):
    the contents' numbers, then the footers' PDFs in order.
    A part is a laid-out part (``pdf``), or kept pages (``pdfs``: one PDF per article,
    in order, an iterable read as the edition is put together); ``fonts``
    (``kept.FontFiles``) gives kept pages' fonts their programs (``kept.FontMerger``).
    ``body``: the parts' pages put together already (``kept_body``, or a future of
    it), made while the front and the page numbers were.
    """
    if front is None:
        front = renderer.edition_front(title, articles, options)
    if render_footers is None:
        def render_footers(options, total, first, last):
            return [renderer.edition_footers(options, total, first, last)]
    total, numbers, placed, first_footer = placement(front, parts)
    if overlays is not None:
        numbers_pdf, made = overlays[0], overlays[1:]
    else:
        with ThreadPoolExecutor(max_workers=1) as executor:
            footers_made = executor.submit(render_footers, options, total, first_footer, total)
            numbers_pdf = renderer.edition_numbers(options, front["pages"], placed)
            made = footers_made.result()
    footer_pdfs = [pikepdf.open(io.BytesIO(pdf)) for pdf in made]   # open while used
    footers = [page for pdf in footer_pdfs for page in pdf.pages]
    number_pages = pikepdf.open(io.BytesIO(numbers_pdf))
    if body is None:
        edition = pikepdf.open(io.BytesIO(front["pdf"]))
        sources = append_pages(edition, parts, fonts)   # open until the edition is saved
    else:
        edition, sources = body.result() if hasattr(body, "result") else body
        _put_front(edition, front["pdf"])
    for number in range(total):
        # By hand, not Page.add_overlay: that picks a new random resource name each
        # time, and the same edition must give the same bytes.  One name per page:
        # the pages of a part share one resource dictionary.
        layers = []
        if number + 1 in placed:
            layers.append(number_pages.pages[number])
        if number + 1 >= first_footer:
            layers.append(footers[number + 1 - first_footer])
        page = edition.pages[number]
        if layers:
            # WeasyPrint's pages turn the y axis downwards (a `cm` outside any q/Q);
            # an overlay drawn after that would come out upside down at the top.
            page.contents_add(pikepdf.Stream(edition, b"q"), prepend=True)
            page.contents_add(pikepdf.Stream(edition, b"Q"), prepend=False)
        for layer, overlay in enumerate(layers):
            name = f"/MatbaaPage{number + 1}" + ("" if layer == len(layers) - 1 else "n")
            form = edition.copy_foreign(overlay.as_form_xobject())
            page.add_resource(form, pikepdf.Name.XObject, pikepdf.Name(name))
            page.contents_add(pikepdf.Stream(edition, f"q {name} Do Q".encode()),
                              prepend=False)
    _link_contents(edition, front["rooms"], numbers)
    with edition.open_outline() as outline:
        outline.root.clear()
        outline.root.append(pikepdf.OutlineItem("المحتويات", first_footer - 1))
        current = None
        for index, article in enumerate(articles, 1):
            name = section_name(article)
            page = numbers[index] - 1
            if current is None or current.title != name:
                current = pikepdf.OutlineItem(name, page)
                outline.root.append(current)
            current.children.append(pikepdf.OutlineItem(article.title, page))
    out = io.BytesIO()
    # Object streams: an edition of kept pages has a font per article and file
    # where their glyphs disagree, and thousands of small dictionaries.
    edition.save(out, deterministic_id=True,
                 object_stream_mode=pikepdf.ObjectStreamMode.generate)
    # Closed now, not whenever they are collected: a job process makes edition after
    # edition, and an edition holds every object it copied from its sources.
    for document in (edition, number_pages, *footer_pdfs, *sources):
        document.close()
    return out.getvalue()


def kept_body(parts, fonts=None):
    """The parts' pages in a PDF of their own, their fonts merged (``fonts``): made
    before the front is, which ``assemble`` then puts before them.  Returns the PDF
    and the sources it still reads from."""
    body = pikepdf.new()
    return body, append_pages(body, parts, fonts)


def _put_front(edition, front_pdf):
    """The cover and contents before the body's pages, and what the front's document
    says of itself (language, named destinations, title and author), as an edition
    built on its front has."""
    front = pikepdf.open(io.BytesIO(front_pdf))
    for index, page in enumerate(front.pages):
        edition.pages.insert(index, page)
    own_streams(edition, front)
    for key in ("/Lang", "/Names", "/ViewerPreferences", "/MarkInfo"):
        if key in front.Root:
            value = front.Root[key]
            if isinstance(value, (pikepdf.Dictionary, pikepdf.Array)):
                value = edition.copy_foreign(front.make_indirect(value))
            edition.Root[key] = value
    edition.trailer.Info = edition.copy_foreign(front.make_indirect(front.trailer.Info))
    front.close()


def append_pages(edition, parts, fonts=None):
    """Every part's pages after the edition's own, in order.  Returns the sources
    still open, to be kept until the edition is saved (their streams are copied then).
    Kept pages (``pdfs``) are copied whole and closed one by one: an edition of
    thousands of articles never holds them all open at once.  With ``fonts``
    (``kept.FontFiles``) their stubbed fonts are merged as they come (``FontMerger``)."""
    sources = []
    merger = FontMerger(edition, fonts) if fonts is not None else None
    for part in parts:
        if "pdfs" not in part:
            source = pikepdf.open(io.BytesIO(part["pdf"]))
            sources.append(source)
            edition.pages.extend(source.pages)
            continue
        for pdf in part["pdfs"]:
            with pikepdf.open(io.BytesIO(pdf)) as source:
                if merger is not None:
                    merger.take(source)
                edition.pages.extend(source.pages)
                own_streams(edition, source, [p.obj for p in source.pages])
            del pdf          # let go of before the next one is read
    if merger is not None:
        merger.finish()
    return sources


def _link_contents(edition, rooms, numbers):
    """Make each entry of the contents a link to its article's first page, as the
    contents of an edition laid out as one document are (there WeasyPrint makes them
    from the entries' <a href>; a front laid out apart from the parts has no page to
    point to yet)."""
    for index, room in sorted(rooms.items()):
        if len(room) < 5:        # a front kept by an earlier version: no links, as then
            continue
        page_number, left, bottom, top, right = room
        page = edition.pages[page_number - 1]
        height = float(page.mediabox[3])
        # CSS px from the top left corner → PDF points from the bottom left (1 px = 0.75 pt).
        rect = [round(left * 0.75, 3), round(height - bottom * 0.75, 3),
                round(right * 0.75, 3), round(height - top * 0.75, 3)]
        link = edition.make_indirect(pikepdf.Dictionary(
            Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Link, Rect=rect,
            Border=[0, 0, 0], F=4,
            Dest=[edition.pages[numbers[index] - 1].obj, pikepdf.Name.Fit]))
        if pikepdf.Name.Annots not in page.obj:
            page.obj.Annots = pikepdf.Array()
        page.obj.Annots.append(link)


def page_count(pdf):
    with pikepdf.open(io.BytesIO(pdf)) as document:
        return len(document.pages)


def give_back_memory():
    """What a job freed, given back to the system before the next: a process that makes
    edition after edition otherwise keeps the high-water mark of each (glibc keeps
    freed heap and per-thread arenas for reuse, and a big edition's objects come back
    scattered), and the next one's peak lands above it."""
    gc.collect()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):     # not glibc: nothing to ask
        pass
