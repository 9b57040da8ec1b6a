from __future__ import annotations

from prefect_gitops.render.escaping import (
    escape_data,
    escape_property,
    json_visible,
    safe_line_start,
    visible,
)


def test_visible_writes_control_characters_as_escapes() -> None:
    assert visible("a\nb\rc\td") == "a\\nb\\rc\\td"
    assert visible("\x1b[31mred\x00\x7f\x85") == "\\x1b[31mred\\x00\\x7f\\x85"
    assert visible("line\u2028sep\u202eevil") == "line\\u2028sep\\u202eevil"
    assert visible("plain: é ü 日本 `code`") == "plain: é ü 日本 `code`"
    assert visible("a\nb\x1b", keep_newlines=True) == "a\nb\\x1b"


def test_workflow_command_escaping_follows_the_toolkit() -> None:
    assert escape_data("100%\r\n::error::x") == "100%25%0D%0A::error::x"
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    assert escape_data("bell\x07") == "bell\\x07"
    assert escape_data("100% a\r\nb: c, d") == "100%25 a%0D%0Ab: c, d"
    assert escape_property("100% a\r\nb: c, d") == "100%25 a%0D%0Ab%3A c%2C d"


def test_a_path_never_opens_a_line_as_a_command() -> None:
    assert safe_line_start("::error::x/prefect.yaml:1:1:") == "./::error::x/prefect.yaml:1:1:"
    assert safe_line_start("flows/prefect.yaml:1:1:") == "flows/prefect.yaml:1:1:"


def test_json_visible_escapes_only_inside_strings_and_keeps_the_data() -> None:
    import json

    data = {"k\u2028": ["v\x85", "\u202e", "plain é"]}
    text = json.dumps(data, indent=2, ensure_ascii=False)
    safe = json_visible(text)
    assert json.loads(safe) == data
    assert "\u2028" not in safe and "\x85" not in safe and "\u202e" not in safe
    assert "é" in safe and safe.count("\n") == text.count("\n")
