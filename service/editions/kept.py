"""Kept pages: each article's edition pages laid out once, for every edition that prints it.

An archive's editions are made of articles it has printed before: the daily, the
weekly, a section's month.  An article's pages in an edition depend only on the
article's revision, the edition options, whether it opens its section (the
section's heading above it), and our templates, fonts, version and site name, so
they are laid out once and kept under a key of those (``page_key``); an edition is
then its front, its page numbers and the assembly.  An update gives the article a
new revision, and so a new key: its old pages are never used again and age out.

Where they are kept: in the PDF cache folder, beside the readers' PDFs, under its
size cap and eviction (one machine), or in the store's ``kept_pages`` table under
the same cap (Celery workers on several machines share it).

Fonts.  A page laid out alone embeds its own subset of each font; 300 articles
kept that way would carry 300 copies of every font into an edition.  So what is
kept has no font programs: each of our fonts' programs is replaced by a stub that
names the font file (its SHA-256), and the glyph widths and ToUnicode maps stay.
When an edition is assembled, each font is subset once from its file, to every
glyph its pages use (glyph ids are kept, as WeasyPrint's subsets keep them), and
every page's font points to that one program (``FontMerger``).  A font that is not
one of our files (none should be) keeps its own program.
"""

import hashlib
import io
import logging
import re
from datetime import datetime, timezone
from pathlib import Path

import pikepdf
from sqlalchemy import DateTime, Integer, LargeBinary, String, delete, func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column

from ..store import Base, read_retried, store_error

log = logging.getLogger(__name__)

KIND = "edition-pages"
STUB = pikepdf.Name("/MatbaaFontFile")
# The tables WeasyPrint drops from its subsets (its fonts.py): layout is done.
DROP_TABLES = ("BASE", "DSIG", "EBDT", "EBLC", "EBSC", "GPOS", "GSUB", "JSTF", "LTSH",
               "PCLT", "SVG ")


def page_key(renderer, article, options, section_start):
    """What an article's edition pages are made from, as a cache key."""
    text = ":".join([KIND, article.id, article.revision, options.key, renderer.assets_digest,
                     renderer.settings.site_name, "1" if section_start else "0"])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class FontFiles:
    """Our font files by PostScript name and by SHA-256: where a stub's program is."""

    def __init__(self, folder):
        from fontTools.ttLib import TTFont

        self.by_name, self.by_sha = {}, {}
        seen = set()
        for path in sorted(Path(folder).glob("*.[ot]tf")):
            data = path.read_bytes()
            name = _postscript_name(TTFont(io.BytesIO(data), lazy=True))
            if name in seen:          # two files, one name: neither is stubbed
                self.by_name.pop(name, None)
                continue
            seen.add(name)
            sha = hashlib.sha256(data).hexdigest()
            self.by_name[name] = sha
            self.by_sha[sha] = data


def _postscript_name(font):
    return (font["name"].getDebugName(6), font["head"].unitsPerEm)


def _font_dicts(pdf):
    """Each Type0 font of every page once, with its descendant and descriptor."""
    seen = set()
    for page in pdf.pages:
        fonts = page.obj.get("/Resources", {}).get("/Font", {})
        for font in fonts.values():
            if font.objgen in seen or font.get("/Subtype") != "/Type0":
                continue
            seen.add(font.objgen)
            descendant = font.DescendantFonts[0]
            descriptor = descendant.get("/FontDescriptor")
            if descriptor is not None:
                yield font, descendant, descriptor


def strip_fonts(pdf, files):
    """Replace the programs of our fonts in ``pdf`` by stubs naming their files."""
    from fontTools.ttLib import TTFont

    stubs = {}
    for _font, _descendant, descriptor in _font_dicts(pdf):
        program = descriptor.get("/FontFile2")
        if program is None or STUB in program:
            continue
        if program.objgen not in stubs:
            try:
                name = _postscript_name(TTFont(io.BytesIO(program.read_bytes()), lazy=True))
            except Exception:     # not a font fontTools reads: left whole
                name = None
            sha = files.by_name.get(name)
            stubs[program.objgen] = None if sha is None else pdf.make_indirect(
                pikepdf.Stream(pdf, b"", pikepdf.Dictionary({"/MatbaaFontFile": pikepdf.String(sha)})))
        if stubs[program.objgen] is not None:
            descriptor.FontFile2 = stubs[program.objgen]


class FontMerger:
    """Give the stubbed fonts of kept pages one program per font file, subset to every
    glyph their pages use, and one font per file where their glyphs agree (the same
    width and text for a glyph in every article: the widths and ToUnicode maps are then
    joined).

    One source at a time, before its pages are copied (``take``): each stubbed font of
    its pages is put in its group there and replaced by a small placeholder, so that the
    edition copies one font dictionary per group, not every article's widths and maps
    (they made most of an edition's objects, and its memory grew with them).  ``finish``
    then writes the programs, widths and maps, and puts the groups' fonts in place of
    the placeholders."""

    PLACEHOLDER = "/MatbaaFont"

    def __init__(self, edition, files):
        self.edition, self.files = edition, files
        self.groups = {}        # sha -> [[widths, texts, the group's font in the edition]]

    def take(self, source):
        placeholders = {}       # a source font's objgen -> its placeholder
        for page in source.pages:
            fonts = page.obj.get("/Resources", {}).get("/Font")
            if fonts is None:
                continue
            for name, font in list(fonts.items()):
                if font.objgen not in placeholders:
                    placeholders[font.objgen] = self._placeholder(font)
                if placeholders[font.objgen] is not None:
                    fonts[name] = placeholders[font.objgen]

    def _placeholder(self, font):
        if font.get("/Subtype") != "/Type0":
            return None
        descendant = font.DescendantFonts[0]
        descriptor = descendant.get("/FontDescriptor")
        program = descriptor.get("/FontFile2") if descriptor is not None else None
        if program is None or STUB not in program:
            return None
        sha = str(program[STUB])
        if sha not in self.files.by_sha:
            raise ValueError(f"kept pages name a font file this version does not have ({sha})")
        widths = _widths(descendant.get("/W", []))
        texts = _to_unicode(font.get("/ToUnicode"))
        group = self.groups.setdefault(sha, [])
        for index, entry in enumerate(group):
            if texts is not None and entry[1] is not None and _agree(entry[0], widths) \
                    and _agree(entry[1], texts):
                entry[0].update(widths)
                entry[1].update(texts)
                break
        else:
            index = len(group)
            # Copied with its stream data: the source is closed before the edition
            # is saved.
            own_streams(self.edition, None, [font])
            group.append([widths, texts, self.edition.copy_foreign(font)])
        return pikepdf.Dictionary({self.PLACEHOLDER: pikepdf.String(f"{sha}:{index}")})

    def finish(self):
        """Programs, widths and maps written, placeholders replaced.  Returns how many
        programs were made."""
        edition = self.edition
        for sha, group in sorted(self.groups.items()):
            program = _subset(edition, self.files.by_sha[sha],
                              {g for widths, _t, _f in group for g in widths})
            for widths, texts, font in group:
                descendant = font.DescendantFonts[0]
                descendant.W = _widths_array(widths)
                if texts is not None:
                    font.ToUnicode = edition.make_indirect(pikepdf.Stream(edition, _cmap(texts)))
                descendant.FontDescriptor.FontFile2 = program
        for page in edition.pages:
            fonts = page.obj.get("/Resources", {}).get("/Font")
            if fonts is None:
                continue
            for name, font in list(fonts.items()):
                if self.PLACEHOLDER in font:
                    sha, index = str(font[self.PLACEHOLDER]).rsplit(":", 1)
                    fonts[name] = self.groups[sha][int(index)][2]
        return len(self.groups)


def own_streams(edition, source, roots=None):
    """Copy the stream data of pages just taken from ``source`` into the edition,
    which otherwise reads it from the source only when it is saved.  With ``roots``
    (pages, a font), only the streams they reach (a font the merger left behind is not
    copied); else every stream of the source.  (A foreign object copied again is the copy
    already made; a stream the pages do not use is not written.)"""
    for obj in (_reached_streams(roots) if roots is not None else source.objects):
        if isinstance(obj, pikepdf.Stream):
            copy = edition.copy_foreign(obj)
            copy.write(obj.read_raw_bytes(), filter=copy.get("/Filter"),
                       decode_parms=copy.get("/DecodeParms"), type_check=False)


def _reached_streams(roots):
    """The indirect streams reachable from ``roots`` (not through /Parent)."""
    seen, found = set(), []
    stack = list(roots)
    while stack:
        obj = stack.pop()
        if not isinstance(obj, (pikepdf.Dictionary, pikepdf.Array, pikepdf.Stream)):
            continue
        if obj.is_indirect:
            if obj.objgen in seen:
                continue
            seen.add(obj.objgen)
        if isinstance(obj, pikepdf.Stream):
            found.append(obj)
            stack.extend(value for key, value in obj.stream_dict.items() if key != "/Parent")
        elif isinstance(obj, pikepdf.Dictionary):
            stack.extend(value for key, value in obj.items() if key != "/Parent")
        elif isinstance(obj, pikepdf.Array):
            stack.extend(obj)
    return found


def _subset(pdf, data, glyphs):
    """One font program: ``data`` cut to ``glyphs``, their ids kept (as WeasyPrint's)."""
    import uharfbuzz as hb

    subset = hb.SubsetInput()
    for glyph in sorted(glyphs | {0}):
        subset.glyph_set.add(glyph)
    drop = subset.sets(hb.SubsetInputSets.DROP_TABLE_TAG)
    for tag in DROP_TABLES:
        drop.add(int.from_bytes(tag.encode("ascii"), "big"))
    subset.flags = (hb.SubsetFlags.RETAIN_GIDS | hb.SubsetFlags.NO_HINTING
                    | hb.SubsetFlags.PASSTHROUGH_UNRECOGNIZED | hb.SubsetFlags.DESUBROUTINIZE)
    program_bytes = hb.subset(hb.Face(hb.Blob(data)), subset).blob.data
    program = pdf.make_indirect(pikepdf.Stream(pdf, program_bytes))
    program.Length1 = len(program_bytes)
    return program


def _agree(kept, new):
    return all(kept.get(key, value) == value for key, value in new.items())


def _widths(array):
    """{glyph: width} of a /W array: ``c [w …]`` and ``c_first c_last w``."""
    widths, items, i = {}, list(array), 0
    while i < len(items):
        first = int(items[i])
        if isinstance(items[i + 1], pikepdf.Array):
            widths.update({first + n: float(w) for n, w in enumerate(items[i + 1])})
            i += 2
        else:
            widths.update({g: float(items[i + 2]) for g in range(first, int(items[i + 1]) + 1)})
            i += 3
    return widths


def _widths_array(widths):
    array, run, start = [], [], None
    for glyph in sorted(widths):
        if start is None or glyph != start + len(run):
            if run:
                array += [start, run]
            start, run = glyph, []
        run.append(_number(widths[glyph]))
    if run:
        array += [start, run]
    return pikepdf.Array(array)


def _number(value):
    return int(value) if float(value).is_integer() else round(value, 3)


_BFCHAR = re.compile(rb"<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]*)>")


def _to_unicode(stream):
    """{glyph: text hex} of a ToUnicode CMap of ``bfchar`` entries (WeasyPrint writes no
    other kind); None for any other, which is then left as it is."""
    if stream is None:
        return None
    data = stream.read_bytes()
    if b"beginbfrange" in data:
        return None
    texts = {}
    for block in re.findall(rb"beginbfchar(.*?)endbfchar", data, re.S):
        texts.update({int(g, 16): text.lower() for g, text in _BFCHAR.findall(block)})
    return texts


def _cmap(texts):
    lines = [b"/CIDInit /ProcSet findresource begin", b"12 dict begin", b"begincmap",
             b"/CIDSystemInfo", b"<< /Registry (Adobe)", b"/Ordering (UCS)",
             b"/Supplement 0", b">> def", b"/CMapName /Adobe-Identity-UCS def",
             b"/CMapType 2 def", b"1 begincodespacerange", b"<0000> <ffff>",
             b"endcodespacerange"]
    items = sorted(texts.items())
    for i in range(0, len(items), 100):
        batch = items[i:i + 100]
        lines.append(f"{len(batch)} beginbfchar".encode())
        lines += [b"<%04x> <%s>" % (glyph, text) for glyph, text in batch]
        lines.append(b"endbfchar")
    lines += [b"endcmap", b"CMapName currentdict /CMap defineresource pop", b"end", b"end"]
    return b"\n".join(lines)


def split_part(part_pdf, starts, count, files):
    """Cut a laid-out part into its articles' pages: ``starts`` gives each article's
    first page (1-based, by its place in the part, 1..count).  Returns one PDF each,
    their fonts stubbed."""
    bounds = [starts[i] for i in range(1, count + 1)]
    with pikepdf.open(io.BytesIO(part_pdf)) as part:
        strip_fonts(part, files)
        total = len(part.pages)
        pdfs = []
        for i, first in enumerate(bounds):
            last = bounds[i + 1] - 1 if i + 1 < count else total
            with pikepdf.new() as one:
                one.pages.extend(part.pages[first - 1:last])
                # The part's pages share one resource dictionary: each article keeps
                # only the fonts and images its own pages draw.
                one.remove_unreferenced_resources()
                out = io.BytesIO()
                one.save(out, deterministic_id=True)
                pdfs.append(out.getvalue())
    return pdfs


def keep_article_pages(renderer, kept, article, options):
    """Lay out an article's edition pages before any edition asks for them (after it is
    stored): as opening its section and not, since editions differ; kept ones are left."""
    for opens in (False, True):
        key = page_key(renderer, article, options, opens)
        if kept.counts([key]) == [None]:
            [(pdf, pages)] = (renderer.pool or renderer).edition_pages(
                [article], options, [1] if opens else [])
            kept.put(key, pdf, pages)


# -- where they are kept --------------------------------------------------------------


def taken_one_by_one(pages, kept, keys, lay_out):
    """Each article's pages as the edition takes them: ``pages`` is [(pdf, count)], pdf
    None where it is to be read from ``kept`` then (by ``keys``, ``kept.read_ahead`` at a
    time: one query each, not one per article, where they are in a database); an article
    gone from there since it was counted (evicted, or found corrupt) is laid out again
    (``lay_out(index)`` → (pdf, count)).  Each is let go of once taken: an edition of
    thousands never holds them all besides the edition it grows."""
    read, ahead = {}, kept.read_ahead
    for index, (pdf, count) in enumerate(pages):
        pages[index] = (None, count)
        if pdf is None:
            if index not in read:
                wanted = [index] + [i for i in range(index + 1, min(index + ahead, len(pages)))
                                    if pages[i][0] is None]
                read = dict(zip(wanted, kept.get_many([keys[i] for i in wanted])))
            pdf, again = read.pop(index) or lay_out(index)
            if again != count:
                raise RuntimeError(f"kept pages {keys[index]} were {count} pages, "
                                   f"read again {again}")
        yield pdf
        pdf = None


class FolderPages:
    """Kept pages as entries of the PDF cache folder (``cache.PdfCache``): the readers'
    PDFs' cap and least-recently-used eviction apply to them too."""

    read_ahead = 1        # files: read as they are taken

    def __init__(self, cache):
        self.cache = cache

    def get(self, key):
        found = self.cache.get(key)
        if found is None or found[1].get("kind") != KIND:
            return None
        return found[0], found[1]["pages"]

    def get_many(self, keys):
        return [self.get(key) for key in keys]

    def pages(self, key):
        """How many pages an article's kept pages are, without reading them; or None."""
        facts = self.cache.facts(key)
        return facts["pages"] if facts is not None and facts.get("kind") == KIND else None

    def counts(self, keys):
        """``pages`` for each of ``keys``."""
        return [self.pages(key) for key in keys]

    def put(self, key, pdf, pages):
        """Keep an article's pages; False when they could not be written."""
        return self.cache.put(key, pdf, {"kind": KIND, "pages": pages})


class KeptPageRow(Base):
    __tablename__ = "kept_pages"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    pages: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)
    used_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class StorePages:
    """Kept pages in the store's database, shared by workers on several machines; the
    least recently used go first once they pass ``max_bytes`` (MATBAA_CACHE_MAX_BYTES)."""

    read_ahead = 32       # one query for so many articles' pages

    def __init__(self, store, max_bytes):
        self.store, self.max_bytes = store, max_bytes
        if not getattr(store, "_kept_pages_table", False):
            try:
                Base.metadata.create_all(store.engine, tables=[KeptPageRow.__table__])
            except SQLAlchemyError as exc:
                # As a lost connection anywhere else: transient, the task tried again
                # (seen failing an edition when PostgreSQL restarted mid-way).
                raise store_error(exc) from None
            store._kept_pages_table = True

    def get(self, key):
        return self.get_many([key])[0]

    @read_retried
    def get_many(self, keys):
        """``get`` for each of ``keys``, in one query."""
        with self.store.session() as session:
            found = {row.key: (bytes(row.pdf), row.pages) for row in session.execute(
                select(KeptPageRow.key, KeptPageRow.pdf, KeptPageRow.pages).where(
                    KeptPageRow.key.in_(keys)))}
            session.execute(update(KeptPageRow).where(KeptPageRow.key.in_(list(found)))
                            .values(used_at=datetime.now(timezone.utc)))
            session.commit()
        return [found.get(key) for key in keys]

    @read_retried
    def counts(self, keys):
        """How many pages each of ``keys``' kept pages are, without reading them (None
        where none are kept), in one query."""
        with self.store.session() as session:
            found = dict(session.execute(select(KeptPageRow.key, KeptPageRow.pages).where(
                KeptPageRow.key.in_(keys))).all())
        return [found.get(key) for key in keys]

    def put(self, key, pdf, pages):
        """Keep an article's pages (True: a database that cannot be written raises)."""
        with self.store.session() as session:
            session.merge(KeptPageRow(key=key, pdf=pdf, pages=pages, size=len(pdf),
                                      used_at=datetime.now(timezone.utc)))
            session.commit()
            total = session.scalar(select(func.coalesce(func.sum(KeptPageRow.size), 0)))
            if total > self.max_bytes:
                self._evict(session, total)
        return True

    def _evict(self, session, total):
        target = self.max_bytes * 0.9
        gone = []
        for key, size in session.execute(select(KeptPageRow.key, KeptPageRow.size).order_by(
                KeptPageRow.used_at)):
            if total <= target:
                break
            gone.append(key)
            total -= size
        session.execute(delete(KeptPageRow).where(KeptPageRow.key.in_(gone)))
        session.commit()
        log.info("kept edition pages evicted down to %d bytes", total)
