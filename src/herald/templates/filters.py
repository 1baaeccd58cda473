"""Filters, metered: a step each, a size check before those with a size argument (or a cost
per character), and the result's size after.

Jinja calls filters directly, not through the sandbox's `call`, so each is wrapped here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import update_wrapper
from typing import Any

from jinja2.runtime import Context
from jinja2.utils import _PassArg, pass_context

from herald.kit.errors import RenderLimit
from herald.templates.guards import Args, Kwargs, arg, as_int, check_printf, padded, replaced
from herald.templates.limits import MAX_RANGE, MAX_VALUE_CHARS, RENDER_CPU_SECONDS, SLOW_FILTERS
from herald.templates.meter import Meter, check_items, check_len, too_big

Pre = Callable[[Meter, Any, Args, Kwargs], tuple[Any, Args]]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _f_center(meter: Meter, value: Any, args: Args, kwargs: Kwargs) -> tuple[Any, Args]:
    padded(value, args, kwargs)
    return value, args


def _f_indent(meter: Meter, value: Any, args: Args, kwargs: Kwargs) -> tuple[Any, Args]:
    text, width = _text(value), arg(args, kwargs, 0, "width", 4)
    per_line = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    check_len(len(text) + (text.count("\n") + 1) * per_line)
    return text, args


def _f_wordwrap(meter: Meter, value: Any, args: Args, kwargs: Kwargs) -> tuple[Any, Args]:
    text = _text(value)
    width = as_int(arg(args, kwargs, 0, "width", 79)) or 1
    wrap = arg(args, kwargs, 2, "wrapstring") or "\n"
    # Every line ends at a space or newline of the text, or is a piece of a long word.
    lines = text.count(" ") + text.count("\n") + text.count("\t") + len(text) // max(width, 1) + 2
    check_len(len(text) + lines * len(_text(wrap)))
    return text, args


def _f_replace(meter: Meter, value: Any, args: Args, kwargs: Kwargs) -> tuple[Any, Args]:
    text = _text(value)
    old, new = arg(args, kwargs, 0, "old"), arg(args, kwargs, 1, "new")
    count = arg(args, kwargs, 2, "count")
    replaced(text, (_text(old), _text(new), -1 if count is None else count), {})
    return text, args


def _f_join(meter: Meter, value: Any, args: Args, kwargs: Kwargs) -> tuple[Any, Args]:
    items = list(value) if not isinstance(value, list | tuple) else value
    sep = _text(arg(args, kwargs, 0, "d", ""))
    # Items print as themselves (or, by attribute, as a part of themselves: bounded the same).
    check_len(sum(meter.size(item) for item in items) + len(sep) * max(len(items) - 1, 0))
    return items, args


def _f_format(meter: Meter, value: Any, args: Args, kwargs: Kwargs) -> tuple[Any, Args]:
    check_printf(_text(value))
    return value, args


def _f_batch(meter: Meter, value: Any, args: Args, kwargs: Kwargs) -> tuple[Any, Args]:
    count = as_int(arg(args, kwargs, 0, "linecount"))
    if count is not None and arg(args, kwargs, 1, "fill_with") is not None:
        check_len(count * 3, "a filled batch")
    return value, args


def _f_slice(meter: Meter, value: Any, args: Args, kwargs: Kwargs) -> tuple[Any, Args]:
    # slice() loops once per slice asked for, even over an empty sequence.
    slices = as_int(arg(args, kwargs, 0, "slices"))
    if slices is not None and slices > MAX_RANGE:
        raise RenderLimit(f"slice() into {slices:,} parts; at most {MAX_RANGE:,}")
    return value, args


def _f_tojson(meter: Meter, value: Any, args: Args, kwargs: Kwargs) -> tuple[Any, Args]:
    indent = arg(args, kwargs, 0, "indent")
    width = len(indent) if isinstance(indent, str) else indent if isinstance(indent, int) else 0
    if width > 8:
        raise RenderLimit("tojson's indent is limited to 8")
    return value, args


def _f_urlize(meter: Meter, value: Any, args: Args, kwargs: Kwargs) -> tuple[Any, Args]:
    text = _text(value)
    extra = sum(len(_text(arg(args, kwargs, i, name) or "")) for i, name in ((2, "target"), (3, "rel")))
    words = text.count(" ") + text.count("\n") + 1
    check_len(2 * len(text) + words * (64 + extra), "urlize's output")
    return text, args


def _f_sum(meter: Meter, value: Any, args: Args, kwargs: Kwargs) -> tuple[Any, Args]:
    # Summing lists or strings copies the running total once per item: quadratic.
    if not isinstance(arg(args, kwargs, 1, "start", 0), int | float):
        raise RenderLimit("sum() adds numbers; its start must be a number")
    return value, args


def _f_list(meter: Meter, value: Any, args: Args, kwargs: Kwargs) -> tuple[Any, Args]:
    if isinstance(value, str):
        check_items(len(value), "a list of characters")
    return value, args


def _f_pprint(meter: Meter, value: Any, args: Args, kwargs: Kwargs) -> tuple[Any, Args]:
    # Nested values print one item a line, indented by depth.
    check_len(meter.size(value) * 8, "pprint's output")
    return value, args


def _slow(name: str, per_ms: int) -> Pre:
    longest = int(per_ms * RENDER_CPU_SECONDS * 1000)

    def check(meter: Meter, value: Any, args: Args, kwargs: Kwargs) -> tuple[Any, Args]:
        text = _text(value)
        if len(text) > longest:
            raise RenderLimit(f"{name} takes at most {longest:,} characters (it was given {len(text):,})")
        return text, args

    return check


def _then(first: Pre, second: Pre) -> Pre:
    def both(meter: Meter, value: Any, args: Args, kwargs: Kwargs) -> tuple[Any, Args]:
        value, args = first(meter, value, args, kwargs)
        return second(meter, value, args, kwargs)

    return both


PRE: dict[str, Pre] = {
    "center": _f_center,
    "indent": _f_indent,
    "wordwrap": _f_wordwrap,
    "replace": _f_replace,
    "join": _f_join,
    "format": _f_format,
    "batch": _f_batch,
    "slice": _f_slice,
    "tojson": _f_tojson,
    "urlize": _f_urlize,
    "sum": _f_sum,
    "list": _f_list,
    "pprint": _f_pprint,
}
for _name, _per_ms in SLOW_FILTERS.items():
    PRE[_name] = _then(_slow(_name, _per_ms), PRE[_name]) if _name in PRE else _slow(_name, _per_ms)
# Constant-time whatever their input: left as they are, off the meter.
UNMETERED = frozenset({"default", "d", "length", "count", "first", "last", "abs", "attr", "round"})


def bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """`func` metered: a step, the size check before (if it has one), the result's after."""
    pre = PRE.get(name)
    pass_arg = _PassArg.from_obj(func)

    def bounded(context: Context, value: Any, *args: Any, **kwargs: Any) -> Any:
        meter: Meter = context.meter  # type: ignore[attr-defined]
        meter.step()
        if pre is not None:
            value, args = pre(meter, value, args, kwargs)
        if pass_arg is None:
            result = func(value, *args, **kwargs)
        elif pass_arg is _PassArg.eval_context:
            result = func(context.eval_ctx, value, *args, **kwargs)
        elif pass_arg is _PassArg.environment:
            result = func(context.environment, value, *args, **kwargs)
        else:
            result = func(context, value, *args, **kwargs)
        if isinstance(result, str):
            if len(result) > MAX_VALUE_CHARS:
                raise too_big(f"the result of {name}", len(result))
            return result
        if isinstance(result, Iterator):
            # batch() and slice() yield lists they build as they go: measured as they come.
            return (meter.check(item, f"an item of {name}") for item in result)
        return meter.check(result, f"the result of {name}")

    # Copying the wrapped filter's attributes copies its pass_* marker too: mark after.
    return pass_context(update_wrapper(bounded, func))


def bounded_filters(filters: dict[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    return {name: f if name in UNMETERED else bounded_filter(name, f) for name, f in filters.items()}
