import re
from pathlib import Path

import pytest

from service.settings import Settings, SettingsError, describe


def test_reads_matbaa_variables():
    settings = Settings.from_env({"MATBAA_DIGITS": "latn", "MATBAA_MAX_BODY_BYTES": "1000",
                                  "MATBAA_DATA_DIR": "/srv/matbaa"})
    assert settings.digits == "latn"
    assert settings.max_body_bytes == 1000
    assert settings.data_dir == Path("/srv/matbaa")
    assert settings.store_url == "sqlite:////srv/matbaa/matbaa.sqlite3"


def test_database_url_wins_over_data_dir():
    settings = Settings.from_env({"MATBAA_DATABASE_URL": "postgresql://db/matbaa"})
    assert settings.store_url == "postgresql://db/matbaa"


@pytest.mark.parametrize("name, value", [
    ("MATBAA_DIGITS", "roman"), ("MATBAA_MAX_BODY_BYTES", "lots"),
    ("MATBAA_MAX_BODY_BYTES", "0"), ("MATBAA_PAPER", "a3"), ("MATBAA_HOT_CACHE_BYTES", "-1"),
])
def test_bad_values_name_the_variable(name, value):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


# Defaults the README says in words, since they depend on the machine.
DEFAULTS_IN_WORDS = {"MATBAA_RENDER_PROCESSES": "one per core"}


def test_every_setting_is_documented_in_the_readme_with_its_default():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(MATBAA_\w+)` \| ([^|]+) \|", readme, re.MULTILINE))
    for variable, default, help_text in describe():
        assert variable in rows, f"{variable} is missing from README.md's settings table"
        shown = rows[variable].strip()
        expected = DEFAULTS_IN_WORDS.get(variable) or (f"`{default}`" if default != ""
                                                       else "(empty)")
        assert shown == expected, f"{variable}: README says {shown}, the default is {expected}"
        assert help_text
