"""WeasyPrint's own test suite, with Matbaa's mends installed and without: the same
outcome, test by test.

The suite is the one in the sdist of the pinned WeasyPrint (scripts/dev takes it from
PyPI into .venv/weasyprint-suite/<version>/tests); its drawing tests need Ghostscript
(Debian's ``ghostscript``).  Run twice in fresh processes, with junit reports compared
per test, so an upgrade of WeasyPrint or a new mend is checked against WeasyPrint's own
expectations.
"""

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from service import engine

from ..conftest import unavailable

ROOT = Path(__file__).resolve().parent.parent.parent
SUITE = ROOT / ".venv" / "weasyprint-suite" / engine.WEASYPRINT_VERSION
# Tests whose outcome a mend changes on purpose, with the reason: none so far.
CHANGED_ON_PURPOSE = {}


def run_suite(report, plugin):
    arguments = [sys.executable, "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider",
                 f"--junitxml={report}"]
    env = dict(os.environ)
    if plugin:
        arguments += ["-p", "matbaa_mends_plugin"]
        env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), str(ROOT)])
    subprocess.run(arguments, cwd=SUITE, env=env, capture_output=True, timeout=900)
    outcomes = {}
    for case in ET.parse(report).iter("testcase"):
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "failed"
            elif child.tag == "skipped":
                outcome = "skipped"
        outcomes[f"{case.get('classname')}::{case.get('name')}"] = outcome
    return outcomes


def test_weasyprint_suite_gives_the_same_outcomes_with_the_mends(tmp_path):
    if not (SUITE / "tests" / "conftest.py").is_file():
        unavailable(f"WeasyPrint's test suite is not in {SUITE} (scripts/dev test puts it "
                    "there)")
    plain = run_suite(tmp_path / "plain.xml", plugin=False)
    mended = run_suite(tmp_path / "mended.xml", plugin=True)
    assert len(plain) > 4000 and sum(o == "passed" for o in plain.values()) > 4000
    changed = {name: (plain.get(name), mended.get(name)) for name in plain.keys() | mended.keys()
               if plain.get(name) != mended.get(name) and name not in CHANGED_ON_PURPOSE}
    assert changed == {}, changed
