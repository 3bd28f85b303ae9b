"""A pytest plugin for WeasyPrint's own test suite: Matbaa's mends installed first.

Loaded with ``-p matbaa_mends_plugin`` (tests/engine/test_weasyprint_suite.py); the
mends are installed through the one way in, ``engine.install``, with Matbaa's fonts for
the text layer's mark twins.  Fontconfig is left as the suite sets it (it uses system
and its own fonts).
"""

from service import engine
from service.fonts import FontSet
from service.settings import Settings


def pytest_configure(config):
    fonts = FontSet(Settings.from_env().fonts_dir)
    states = engine.install(fonts)
    inactive = [state["name"] for state in states if not state["active"]]
    if inactive:
        raise RuntimeError(f"mends not installed: {inactive}")
