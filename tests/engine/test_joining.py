import pytest

from service.engine.joining import joining_type


@pytest.mark.parametrize("char, kind", [
    ("ب", "D"), ("ع", "D"), ("ي", "D"), ("ا", "R"), ("و", "R"), ("د", "R"), ("ة", "R"),
    ("ء", "U"), ("\u0640", "C"), ("\u200d", "C"), ("\u064b", "T"), ("\u0651", "T"),
    ("a", "U"), ("1", "U"), ("\u200c", "U"), ("پ", "D"), ("ژ", "R"),
])
def test_joining_types(char, kind):
    assert joining_type(char) == kind
