"""Engine: every change Matbaa makes to WeasyPrint and pydyf, in one room, one protocol.

Each change is a ``Mend``: its name, the attributes it replaces, why, whether the
product's correctness needs it or only its speed, and where the cause is written up
with a minimal reproduction (an anchor of docs/upstream.md).  ``install()`` takes
them in order; for each it first checks the WeasyPrint version the mends were made
from (WEASYPRINT_VERSION, pinned exactly in pyproject.toml) and that every target
exists, then lets the mend check its targets' shape (signatures, source text) and
prepare its replacements.  Only when all of that holds is anything replaced, so a
mend is installed whole or not at all, and a refused one says why.

``install()`` returns every mend's state; ``GET /version`` lists them and
``/health`` is not ok while a mend that correctness needs is inactive (a speed-only
one is reported, not fatal).

Nothing here imports WeasyPrint at module level: the renderer points fontconfig at
our fonts before WeasyPrint is first imported (``isolate_fontconfig``).
"""

import importlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

log = logging.getLogger(__name__)

# The WeasyPrint release the mends were written against and checked with (its own
# test suite runs with them in tests/engine/test_weasyprint_suite.py).
WEASYPRINT_VERSION = "70.0"
CORRECTNESS, SPEED = "correctness", "speed"


class Refused(Exception):
    """A mend's target is not what the mend was written for."""


@dataclass(frozen=True)
class Mend:
    name: str
    needed_for: str            # CORRECTNESS or SPEED
    replaces: tuple            # dotted names: module attributes, or a class's
    why: str
    upstream: str              # anchor in docs/upstream.md
    # prepare(context) -> apply(): checks the targets' shape (raising Refused) and
    # returns the function that puts the replacements in place.
    prepare: object
    # Whether it is in place now.
    active: object
    requires: tuple = ()       # mends this one cannot work without
    # refresh(context), when installed already: take in what changed (new fonts).
    refresh: object = None

    def state(self, active, reason=""):
        return {"name": self.name, "active": active, "needed_for": self.needed_for,
                "replaces": list(self.replaces), "why": self.why if active else reason,
                "upstream": f"docs/upstream.md#{self.upstream}"}


@dataclass
class Context:
    """What mends need from the renderer."""

    font_set: object = None                 # service.fonts.FontSet (mark twins)
    kept_lines_bytes: int = 32 * 1024 * 1024


_states = {}


def mends():
    """Every mend, in the order they are installed."""
    from . import joining, layout, pdfwrite, textlayer

    return [*textlayer.MENDS, *joining.MENDS, *layout.MENDS, *pdfwrite.MENDS]


def install(font_set=None, kept_lines_bytes=32 * 1024 * 1024, version=None):
    """Install every mend that can be; return the state of each (idempotent)."""
    import weasyprint

    context = Context(font_set, kept_lines_bytes)
    version = weasyprint.__version__ if version is None else version
    states = []
    for mend in mends():
        try:
            _install(mend, context, version)
        except Refused as refusal:
            log.warning("WeasyPrint left as it is where mend %r would go: %s", mend.name,
                        refusal)
            state = mend.state(False, str(refusal))
        else:
            state = mend.state(True)
        _states[mend.name] = state
        states.append(state)
    return states


def _install(mend, context, version):
    if version != WEASYPRINT_VERSION:
        raise Refused(f"written for WeasyPrint {WEASYPRINT_VERSION}, found {version}")
    for name in mend.requires:
        if not _states.get(name, {}).get("active"):
            raise Refused(f"needs mend {name!r}, which is not active")
    if mend.active():
        if mend.refresh is not None:
            mend.refresh(context)
        return
    for target in mend.replaces:
        resolve(target)
    apply = mend.prepare(context)
    apply()
    if not mend.active():
        raise Refused("installed, but its replacements are not in place")


def states():
    """The state of every mend, as the last ``install`` left it."""
    return [_states.get(m.name) or m.state(False, "not installed") for m in mends()]


def broken():
    """The mends correctness needs that are not active."""
    return [s for s in states() if s["needed_for"] == CORRECTNESS and not s["active"]]


def resolve(dotted):
    """The object a dotted name (``weasyprint.draw.text.draw_first_line``) names."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            try:
                target = (target.__dict__[attribute] if isinstance(target, type)
                          else getattr(target, attribute))
            except (AttributeError, KeyError):
                raise Refused(f"{dotted} does not exist") from None
        return target
    raise Refused(f"{dotted} cannot be imported")


def isolate_fontconfig(fonts_dir, cache_dir):
    """Point fontconfig at our fonts only, before WeasyPrint loads it.

    Pango falls back to any system font for a character our fonts lack; with
    no system fonts visible, such a character cannot silently print in a
    foreign face: the coverage guard reports it instead.  This is process-wide
    on purpose: one renderer per process.
    """
    if os.environ.get("MATBAA_FONTCONFIG_ISOLATED") == str(fonts_dir):
        return
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    conf = Path(cache_dir) / "fonts.conf"
    conf.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">\n'
        f"<fontconfig><dir>{escape(str(fonts_dir))}</dir>"
        f"<cachedir>{escape(str(cache_dir))}</cachedir></fontconfig>\n", encoding="utf-8")
    os.environ["FONTCONFIG_FILE"] = str(conf)
    os.environ["MATBAA_FONTCONFIG_ISOLATED"] = str(fonts_dir)
