"""The project as a newcomer installs it: `python3 -m venv` and that venv's own pip.

scripts/dev upgrades pip first, which hid a missing dependency: the pip that Python
3.11's venv brings (23.2) does not install lxml's "html_clean" extra, which jusText
asks for, so every page import answered 500.  Here the declared dependencies alone
must be enough: the page and feed import tests pass in such a venv.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from .conftest import unavailable

ROOT = Path(__file__).resolve().parent.parent


def test_a_venv_with_its_own_pip_passes_the_import_tests(tmp_path, settings):
    python = shutil.which("python3") or sys.executable
    project = tmp_path / "project"
    # A copy, so that installing it leaves nothing in the checkout.
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    for folder in ("service", "fonts", "templates", "tests"):
        shutil.copytree(ROOT / folder, project / folder, ignore=skip)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, project / name)
    venv = tmp_path / "venv"
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    print(subprocess.run([str(venv / "bin" / "pip"), "--version"], check=True,
                         capture_output=True, text=True).stdout)
    installed = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "-e",
                                f"{project}[test]"], capture_output=True, text=True)
    if installed.returncode and "Could not find a version" in installed.stderr:
        unavailable(f"the package index cannot be reached: {installed.stderr[-300:]}")
    assert installed.returncode == 0, installed.stderr[-2000:]
    env = {**os.environ, "MATBAA_SHARED_DIR": str(settings.shared_dir)}
    run = subprocess.run([str(venv / "bin" / "python"), "-m", "pytest", "-q",
                          "-p", "no:cacheprovider", "tests/test_source.py", "tests/test_feeds.py",
                          "-k", "not wordpress"], capture_output=True, text=True, cwd=project,
                         env=env)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-1000:]
    assert " passed" in run.stdout and "skipped" not in run.stdout, run.stdout[-500:]
