from __future__ import annotations

import io
import os

from dotenv import dotenv_values
from hypothesis import given, settings
from hypothesis import strategies as st

from prefect_gitops.prefect.envfile import parse_bindings, read_env_text

# Pieces that exercise every rule of python-dotenv's grammar, glued at random.
PIECES = [
    "A", "b_2", "=", " ", "\t", "\n", "\r\n", "\r", "#", "'", '"', "\\", "\\n", "\\'", '\\"',
    "export ", "${A}", "${HOME_X}", "${NOPE:-dflt}", "${}", "x y", " # c", "=#", "é",
]  # fmt: skip
ENVIRON = {"HOME_X": "/home/x", "A": "from-environ"}


def values(text: str) -> dict[str, str | None]:
    return {key: b.value for key, b in read_env_text(text, ENVIRON).items()}


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=30).map("".join))
def test_same_values_as_python_dotenv(text: str) -> None:
    # python-dotenv expands from os.environ; give it the same variables as our parser.
    saved = {key: os.environ.get(key) for key in ENVIRON}
    os.environ.update(ENVIRON)
    try:
        expected = dotenv_values(stream=io.StringIO(text))
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    got = values(text)
    assert got == dict(expected)
    assert list(got) == list(expected)


def test_documented_rules() -> None:
    text = (
        "\ufeff# comment\n"
        "export URL='http://a:1/api'  # trailing\n"
        'QUOTED="line1\\nline2"\n'
        "BARE = value with spaces   # note\n"
        "EMPTY=\n"
        "NOVALUE\n"
        "HASH=#not-a-comment\n"
        "this line does not parse = '\n"
        "REF=${URL}/x ${MISSING:-d}\n"
        "URL=second\n"
    )
    assert values(text) == {
        "URL": "second",
        "QUOTED": "line1\nline2",
        "BARE": "value with spaces",
        "EMPTY": "",
        "NOVALUE": None,
        "HASH": "#not-a-comment",
        "REF": "http://a:1/api/x d",
    }
    lines = {b.key: b.line for b in parse_bindings(text)}
    assert lines["QUOTED"] == 3 and lines["REF"] == 9


def test_multiline_value_keeps_the_next_line_number() -> None:
    bindings = parse_bindings('A="one\ntwo"\nB=3\n')
    assert [(b.key, b.value, b.line) for b in bindings] == [("A", "one\ntwo", 1), ("B", "3", 3)]


def test_earlier_bindings_win_over_the_environment_when_expanding() -> None:
    assert values("A=local\nB=${A}-${HOME_X}\n")["B"] == "local-/home/x"
    assert values("B=${A}\n")["B"] == "from-environ"
