"""A bounded reader for the original system's ``str(dict)`` messages.

The original producer wrote ``str({'recipe_id': 5})``. We read such text as a
Python literal, but never with ``eval``: the text is size-capped, parsed into
an AST, and only literal nodes (constants, dicts, lists, tuples, and a minus
sign before a number) up to a fixed depth are accepted. Anything else is a
``ValueError`` the caller turns into a poison message.
"""

from __future__ import annotations

import ast
import math
from typing import Any

MAX_LEGACY_BYTES = 16 * 1024
MAX_DEPTH = 16
INT_MIN, INT_MAX = -(2**63), 2**64 - 1  # what JSON (orjson) can carry


def parse_literal(text: str) -> Any:
    """The value of a Python literal, or ``ValueError`` saying why not."""
    if len(text) > MAX_LEGACY_BYTES:
        raise ValueError(f"legacy literal over {MAX_LEGACY_BYTES} bytes")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        raise ValueError(f"not a Python literal ({type(exc).__name__})") from None
    return _value(tree.body, depth=0)


def _value(node: ast.AST, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise ValueError(f"literal nested deeper than {MAX_DEPTH}")
    if isinstance(node, ast.Constant):
        return _constant(node.value)
    if isinstance(node, ast.Dict):
        if any(key is None for key in node.keys):
            raise ValueError("dict unpacking is not a literal")
        return {
            _key(key, depth): _value(value, depth + 1)
            for key, value in zip(node.keys, node.values, strict=True)
        }
    if isinstance(node, ast.List | ast.Tuple):
        return [_value(item, depth + 1) for item in node.elts]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = _value(node.operand, depth + 1)
        if isinstance(operand, int | float) and not isinstance(operand, bool):
            return _constant(-operand if isinstance(node.op, ast.USub) else operand)
    raise ValueError(f"{type(node).__name__} is not allowed in a legacy message")


def _constant(value: Any) -> Any:
    """A constant JSON can carry: ints within 64 bits, finite floats."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        if not INT_MIN <= value <= INT_MAX:
            raise ValueError("integer outside the 64-bit range")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("number is not finite")
        return value
    raise ValueError(f"unsupported constant {type(value).__name__}")


def _key(node: ast.AST | None, depth: int) -> str:
    assert node is not None  # noqa: S101 (checked by the caller)
    key = _value(node, depth + 1)
    if not isinstance(key, str):
        raise ValueError("legacy message keys must be strings")
    return key
