"""A shortcut in front of jsonschema for values that are obviously valid.

Building a jsonschema validator and walking it costs tens of microseconds per value, and a
repository checks thousands of values (job variables, flow parameters) that are almost all
valid. `surely_valid` answers True only when plain data (exact `str`, `int`, `float`,
`bool`, `None`, `dict`, `list`) certainly has no error under Draft 2020-12 with no format
checker, using a few common keywords; any other keyword, `$ref`, or doubt gives False,
which means "ask jsonschema" and never "invalid". So callers skip jsonschema only where
it would have reported nothing.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

# Keywords jsonschema acts on (others are annotations it ignores); `format` only checks
# with a format checker, which neither of our validators has.
_ASSERTING = frozenset(Draft202012Validator.VALIDATORS) - {"format"}
# Draft 2020-12 types of plain data: bool is not a number, 1.0 is an integer.
_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
    "object": (dict,),
    "array": (list,),
}
_PLAIN = frozenset({str, int, float, bool, type(None), dict, list})


def _is_type(value: Any, name: str) -> bool:
    if name == "integer" and type(value) is float:
        return value.is_integer()
    return type(value) in _TYPES[name]


def surely_valid(schema: Any, value: Any) -> bool:
    """True only if `value` certainly validates against `schema` (see the module)."""
    if schema is True:
        return True
    if not isinstance(schema, dict) or type(value) not in _PLAIN:
        return False
    for keyword, arg in schema.items():
        if keyword not in _ASSERTING:
            continue
        if keyword == "type":
            names = arg if isinstance(arg, list) else [arg]
            if not all(isinstance(n, str) and n in _TYPES for n in names):
                return False  # jsonschema raises on an unknown type
            if not any(_is_type(value, name) for name in names):
                return False
        elif keyword == "anyOf":
            if not isinstance(arg, list) or not any(surely_valid(s, value) for s in arg):
                return False
        elif keyword == "enum":
            # jsonschema compares strings with `==`; other kinds have subtler rules
            if not (type(value) is str and isinstance(arg, list) and value in arg):
                return False
        elif keyword == "properties":
            if not isinstance(arg, dict):
                return False
            if type(value) is dict and not all(
                surely_valid(sub, value[name]) for name, sub in arg.items() if name in value
            ):
                return False
        elif keyword == "additionalProperties":
            if "patternProperties" in schema:
                return False
            properties = schema.get("properties", {})
            if not isinstance(properties, dict):
                return False
            if type(value) is dict and not all(
                surely_valid(arg, item) for name, item in value.items() if name not in properties
            ):
                return False
        elif keyword == "items":
            if type(value) is list and not all(surely_valid(arg, item) for item in value):
                return False
        else:
            return False
    return True
