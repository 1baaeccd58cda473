"""Size checks made before an operation runs, so that a huge value is refused, not built.

Every operator, method and filter that can make a value much larger than its inputs (a
repetition, a power, a padding width, a separator or replacement repeated once per item or
line) has its result's size predicted from its inputs, which is cheap, and refused over the
limit. What cannot grow much is measured after it runs, by the meter's `check`. Filters
have their own module (`filters`), as Jinja calls them directly.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable
from typing import Any

from jinja2.utils import Namespace, generate_lorem_ipsum

from herald.kit.errors import RenderLimit
from herald.templates.limits import MAX_RANGE
from herald.templates.meter import Meter, check_bits, check_items, check_len, too_big

Args = tuple[Any, ...]
Kwargs = dict[str, Any]

_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "*": operator.mul,
    "**": operator.pow,
    "+": operator.add,
    "%": operator.mod,
}
_NUMBERS = frozenset({int, float, bool})
_SIZED = (str, bytes, bytearray, list, tuple)
# A printf conversion's widths and precisions, each a number or `*` (taken from the values).
_PRINTF_FLAGS = r"%(?:\([^)]*\))?[-#0 +]*"
_PRINTF_WIDTH = re.compile(_PRINTF_FLAGS + r"(\d+)")
_PRINTF_PRECISION = re.compile(_PRINTF_FLAGS + r"\d*\.(\d+)")
_PRINTF_STAR = re.compile(_PRINTF_FLAGS + r"\d*\.?\*")
_DIGITS = re.compile(r"0*([1-9]\d*)")
_WHITESPACE = [" ", "\n", "\t", "\r", "\x0b", "\x0c"]


def as_int(value: object) -> int | None:
    return value if isinstance(value, int) else None


def arg(args: Args, kwargs: Kwargs, index: int, name: str, default: Any = None) -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


# -- Operators -----------------------------------------------------------------------------


def binop(meter: Meter, op: str, left: Any, right: Any) -> Any:
    """`*`, `**`, `+` and `%` of the template, each refused before it would build too much."""
    if type(left) in _NUMBERS and type(right) in _NUMBERS:
        # Arithmetic, the common case: only a product or a power can grow a number much.
        if op == "*" and type(left) is int and type(right) is int:
            check_bits(left.bit_length() + right.bit_length())
        elif op == "**" and type(left) is int and type(right) is int and right > 0 and abs(left) > 1:
            check_bits(left.bit_length() * right)
        return _OPS[op](left, right)
    meter.step()
    if op == "*":
        return _check_mul(meter, left, right)
    if op == "**":
        if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
            check_bits(left.bit_length() * right)
    elif op == "+":
        if isinstance(left, list | tuple) and isinstance(right, list | tuple):
            check_items(len(left) + len(right))
            size = meter.size(left) + meter.size(right)
            check_len(size)
            return meter.remember(operator.add(left, right), size)
        if isinstance(left, str | bytes) and isinstance(right, str | bytes):
            check_len(len(left) + len(right))
    else:
        if isinstance(left, str | bytes):
            check_printf(left)
            return meter.check(left % right)
        return left % right
    return _OPS[op](left, right)


def _check_mul(meter: Meter, left: Any, right: Any) -> Any:
    if isinstance(left, int) and isinstance(right, int):
        check_bits(left.bit_length() + right.bit_length())
        return left * right
    seq, times = (left, right) if isinstance(right, int) else (right, left)
    if isinstance(seq, _SIZED) and isinstance(times, int) and times > 1:
        size = meter.size(seq) * times
        check_len(size)
        if isinstance(seq, list | tuple):
            check_items(len(seq) * times)
            return meter.remember(seq * times, size)
    return left * right


def check_printf(fmt: str | bytes) -> None:
    """A printf-style format's widths and precisions, which pad to any size asked: all of
    them together, as one format can hold many."""
    text = fmt if isinstance(fmt, str) else fmt.decode("latin-1")
    if "%" not in text:
        return
    if "*" in text and _PRINTF_STAR.search(text):
        raise RenderLimit("a % format's `*` width or precision is not supported")
    numbers = _PRINTF_WIDTH.findall(text) + _PRINTF_PRECISION.findall(text)
    if max(map(len, numbers), default=0) > 9:
        raise too_big("a % formatted string", float("inf"))
    check_len(len(text) + sum(map(int, numbers)), "a % formatted string")


def check_format_spec(spec: str) -> None:
    """A str.format field's spec (`{:>999999999}`): any number in it is a width or precision."""
    for digits in _DIGITS.findall(spec):
        check_len(int(digits) if len(digits) < 10 else float("inf"), "a formatted field")


# -- Method calls ----------------------------------------------------------------------------


def padded(s: Any, args: Args, kwargs: Kwargs) -> Args:
    width = as_int(arg(args, kwargs, 0, "width", 0))
    if width is not None:
        check_len(width)
    return args


def _expandtabs(s: Any, args: Args, kwargs: Kwargs) -> Args:
    size = as_int(arg(args, kwargs, 0, "tabsize", 8))
    if size is not None and size > 1:
        check_len(len(s) + s.count("\t" if isinstance(s, str) else b"\t") * size)
    return args


def replaced(s: Any, args: Args, kwargs: Kwargs) -> Args:
    old, new = arg(args, kwargs, 0, "old"), arg(args, kwargs, 1, "new")
    if isinstance(old, str | bytes) and isinstance(new, str | bytes) and len(new) > len(old):
        count = as_int(arg(args, kwargs, 2, "count", -1))
        found = s.count(old) if old else len(s) + 1
        if count is not None and count >= 0:
            found = min(found, count)
        check_len(len(s) + found * (len(new) - len(old)))
    return args


def _join(s: Any, args: Args, kwargs: Kwargs) -> Args:
    if not args:
        return args
    parts = list(args[0])
    check_len(sum(len(p) for p in parts if isinstance(p, _SIZED)) + len(s) * max(len(parts) - 1, 0))
    return (parts, *args[1:])


def _translate(s: Any, args: Args, kwargs: Kwargs) -> Args:
    table = arg(args, kwargs, 0, "table")
    values = table.values() if isinstance(table, dict) else table if isinstance(table, list | tuple) else ()
    longest = max((len(v) for v in values if isinstance(v, str)), default=1)
    check_len(len(s) * longest)
    return args


def _split(s: Any, args: Args, kwargs: Kwargs) -> Args:
    sep = arg(args, kwargs, 0, "sep")
    if isinstance(sep, str | bytes) and sep:
        pieces = s.count(sep) + 1
    else:  # runs of whitespace: at most one piece per whitespace character, and one more
        spaces = _WHITESPACE if isinstance(s, str) else [c.encode() for c in _WHITESPACE]
        pieces = sum(s.count(c) for c in spaces) + 1
    limit = as_int(arg(args, kwargs, 1, "maxsplit", -1))
    if limit is not None and limit >= 0:
        pieces = min(pieces, limit + 1)
    check_items(pieces, "a split")
    return args


def _splitlines(s: Any, args: Args, kwargs: Kwargs) -> Args:
    cr, lf = ("\r", "\n") if isinstance(s, str) else (b"\r", b"\n")
    check_items(s.count(cr) + s.count(lf) + 1, "a split")
    return args


_STRING_METHODS: dict[str, Callable[[Any, Args, Kwargs], Args]] = {
    "split": _split,
    "rsplit": _split,
    "splitlines": _splitlines,
    "center": padded,
    "ljust": padded,
    "rjust": padded,
    "zfill": padded,
    "expandtabs": _expandtabs,
    "replace": replaced,
    "join": _join,
    "translate": _translate,
}


def before_call(func: Any, args: Args, kwargs: Kwargs) -> Args:
    """The arguments to call `func` with, once its result is known to fit."""
    owner = getattr(func, "__self__", None)
    if isinstance(owner, str | bytes | bytearray):
        check = _STRING_METHODS.get(getattr(func, "__name__", ""))
        if check is not None:
            return check(owner, args, kwargs)
    elif isinstance(owner, int) and getattr(func, "__name__", "") == "to_bytes":
        length = as_int(arg(args, kwargs, 0, "length", 1))
        if length is not None:
            check_len(length)
    return args


# -- Globals and joins -------------------------------------------------------------------------


def bounded_range(*args: int) -> range:
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise RenderLimit(f"range() of {len(rng):,} items; at most {MAX_RANGE:,}")
    return rng


def bounded_lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    if not all(isinstance(v, int) and v <= 100 for v in (n, min, max)):
        raise RenderLimit("lipsum() takes counts of at most 100")
    return generate_lorem_ipsum(n, html, min, max)


class BoundedNamespace(Namespace):
    """A namespace that prints as its name: its attributes can change after it is put in a
    list, so its size cannot be measured once, and a list of namespaces holding lists of
    namespaces would print exponentially."""

    def __repr__(self) -> str:
        return "<Namespace>"


def concat(parts: Iterable[str]) -> str:
    """A buffer's join (macros, set blocks, call blocks), refused before it would be too long."""
    parts = parts if isinstance(parts, list) else list(parts)
    check_len(sum(map(len, parts)), "a block's output")
    return "".join(parts)
