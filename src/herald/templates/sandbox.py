"""The bounded Jinja2 environment: a sandbox whose compiled templates report to a meter.

Jinja's sandbox stops a template from reaching Python's internals, not from exhausting the
process. On top of it, this environment:

- compiles every loop body to start with a meter step, and routes every call, size-making
  operator (`*`, `**`, `+`, `%`), `~`, filter, comparison, test and slice through the meter,
  with each result's size predicted or measured (`guards`);
- does not fold constants at compile time: `{{ 'a' * 10**9 }}` is refused when it runs, by
  the meter, not evaluated at save time by Jinja's optimiser;
- forbids changing lists and dicts in place, as a container's size is measured once;
- joins every buffer (macro, set block, call block) with a size check (`concat`, which the
  compiled code takes from the environment).
"""

from __future__ import annotations

import types
from collections import deque
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from functools import update_wrapper
from typing import Any, Protocol

from jinja2 import ChainableUndefined, StrictUndefined, Template, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context, Undefined, markup_join, str_join
from jinja2.sandbox import (
    ImmutableSandboxedEnvironment,
    SandboxedEnvironment,
    SandboxedEscapeFormatter,
    SandboxedFormatter,
    modifies_known_mutable,
)
from markupsafe import Markup

from herald.kit.errors import RenderFailed
from herald.templates import guards
from herald.templates.filters import bounded_filters
from herald.templates.meter import Meter, check_len

_STEP = "(context.meter.step() or "
_GET_PARENT = "parent_template = environment.get_template("
_MUTABLE = (list, dict, set, bytearray, deque)


class BoundedCodeGenerator(CodeGenerator):
    """Jinja's code generator with the meter's calls compiled in (see the module's docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loop_bodies: set[int] = set()

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        self._loop_bodies.add(id(node.body))
        super().visit_For(node, frame)

    def blockvisit(self, nodes: Iterable[nodes.Node], frame: Frame) -> None:
        if id(nodes) in self._loop_bodies:
            self.writeline("context.meter.loop()")
        super().blockvisit(nodes, frame)

    def writeline(self, x: str, node: nodes.Node | None = None, extra: int = 0) -> None:
        # `{% extends %}` names one of the app's layouts, which the render carries: the parent
        # comes from the render's context (`BoundedEnvironment.layout`), never a loader.
        if x == _GET_PARENT:
            x = "parent_template = environment.layout(context, "
        super().writeline(x, node, extra)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.join_values(context, (")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")

    def _made(self, visit: Callable[[Any, Frame], None], node: nodes.Expr, frame: Frame) -> None:
        self.write("environment.made(context, ")
        visit(node, frame)
        self.write(")")

    def visit_List(self, node: nodes.List, frame: Frame) -> None:
        self._made(super().visit_List, node, frame)

    def visit_Dict(self, node: nodes.Dict, frame: Frame) -> None:
        self._made(super().visit_Dict, node, frame)

    def visit_Tuple(self, node: nodes.Tuple, frame: Frame) -> None:
        if node.ctx == "load":
            self._made(super().visit_Tuple, node, frame)
        else:  # an assignment's or a loop's target
            super().visit_Tuple(node, frame)

    def _stepped(self, visit: Callable[[Any, Frame], None], node: nodes.Expr, frame: Frame) -> None:
        # Comparing, testing and slicing take time in proportion to the values: a template
        # made of thousands of them must still meet the meter.
        self.write(_STEP)
        visit(node, frame)
        self.write(")")

    def visit_Compare(self, node: nodes.Compare, frame: Frame) -> None:
        self._stepped(super().visit_Compare, node, frame)

    def visit_Test(self, node: nodes.Test, frame: Frame) -> None:
        self._stepped(super().visit_Test, node, frame)

    def visit_Getitem(self, node: nodes.Getitem, frame: Frame) -> None:
        if isinstance(node.arg, nodes.Slice):
            self._stepped(super().visit_Getitem, node, frame)
        else:
            super().visit_Getitem(node, frame)


class Layouts(Protocol):
    """The layouts one render may extend: the app's, as the template's content carries them."""

    def template(self, name: str, env: BoundedEnvironment) -> Template: ...


class MeteredContext(Context):
    """A render's context, carrying the meter of the render it belongs to and its layouts."""

    meter: Meter
    layouts: Layouts | None = None

    def derived(self, locals: dict[str, Any] | None = None) -> Context:
        context = super().derived(locals)
        context.meter = self.meter  # type: ignore[attr-defined]
        context.layouts = self.layouts  # type: ignore[attr-defined]
        return context


class BoundedFormatter(SandboxedFormatter):
    """str.format's formatter, counting the fields it has formatted: one format string can
    hold thousands, each within the limit."""

    written = 0

    def format_field(self, value: Any, format_spec: str) -> Any:
        guards.check_format_spec(format_spec)
        out = super().format_field(value, format_spec)
        self.written += len(out)
        check_len(self.written, "a formatted string")
        return out


class BoundedEscapeFormatter(BoundedFormatter, SandboxedEscapeFormatter):
    pass


class Lenient(ChainableUndefined):
    """A missing variable in a trial render: absorbs every operation, so the parts of the
    template that do not depend on data still run, and are held to the limits."""

    __slots__ = ()

    def _absorb(self, *args: Any, **kwargs: Any) -> Lenient:
        return self

    # Undefined types these as never returning; here they return.
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _absorb  # type: ignore[assignment]
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = _absorb  # type: ignore[assignment]
    __pow__ = __rpow__ = __pos__ = __neg__ = __call__ = _absorb  # type: ignore[assignment]

    def _never(self, other: Any) -> bool:
        return False

    __lt__ = __le__ = __gt__ = __ge__ = _never  # type: ignore[assignment]

    def __int__(self) -> int:  # type: ignore[override]
        return 0

    def __float__(self) -> float:  # type: ignore[override]
        return 0.0


# The names a preview's render found undefined, in order (set around each field's render).
MISSING: ContextVar[list[str] | None] = ContextVar("herald_missing", default=None)


class Recording(Lenient):
    """A preview's undefined: absorbed like a trial's, and its name noted in `MISSING` when
    it is used in a way the send's `StrictUndefined` refuses (`_USES`).

    Noting it when it is made instead reported guarded templates as broken: Jinja makes an
    undefined for `coupon` in `{% if coupon is defined %}` and `{{ coupon | default('') }}`
    too, and those test or replace it, which sends fine.
    """

    __slots__ = ()

    def _note(self) -> None:
        found = MISSING.get()
        if found is not None and self._undefined_name is not None:
            found.append(self._undefined_name)

    def __getattr__(self, name: str) -> ChainableUndefined:
        # `order.total` on a missing `order`: strict refuses it (a dunder is Python probing a
        # protocol, and answered as Jinja does).
        if name[:2] != "__":
            self._note()
        return super().__getattr__(name)


def _noting(name: str) -> Callable[..., Any]:
    lenient = getattr(Lenient, name)

    def use(self: Recording, *args: Any, **kwargs: Any) -> Any:
        self._note()
        return lenient(self, *args, **kwargs)

    use.__name__ = name
    return use


# Every operation `StrictUndefined` fails (printing, iterating, truth, comparing, arithmetic,
# calls, items), read from Jinja's own classes so that the preview and the send agree. One
# the lenient class lacks (`in`) falls back on another here (iterating).
_FAILS = Undefined._fail_with_undefined_error
_USES = {n for c in (Undefined, StrictUndefined) for n, v in vars(c).items() if v is _FAILS and n[:2] == "__"}
for _use in sorted(n for n in _USES if hasattr(Lenient, n)):
    setattr(Recording, _use, _noting(_use))


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    code_generator_class = BoundedCodeGenerator
    context_class = MeteredContext
    intercepted_binops = frozenset({"*", "**", "+", "%"})
    concat = staticmethod(guards.concat)

    def __init__(self, *, html: bool, undefined: type[Undefined]) -> None:
        super().__init__(undefined=undefined, autoescape=html, keep_trailing_newline=True, optimized=False)
        self.globals.update(range=guards.bounded_range, lipsum=guards.bounded_lipsum, namespace=guards.BoundedNamespace)
        self.filters = bounded_filters(self.filters)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        # As the immutable sandbox decides, with its abstract-class checks (slow, and on every
        # attribute of every object) kept to the builtin containers a template can reach.
        if not SandboxedEnvironment.is_safe_attribute(self, obj, attr, value):
            return False
        return not (isinstance(obj, _MUTABLE) and modifies_known_mutable(obj, attr))

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        # Refused at once, not as an undefined value that fails only when used: a trial
        # render's lenient undefined would otherwise print it as nothing.
        raise SecurityError(f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe")

    def layout(self, context: Context, name: Any, parent: str | None) -> Template:
        """The parent of `{% extends name %}`: a layout the render was given, or none."""
        layouts: Layouts | None = getattr(context, "layouts", None)
        if layouts is None or not isinstance(name, str):
            raise RenderFailed(f"layout {name!r} is not published")
        return layouts.template(name, self)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        return guards.binop(context.meter, operator, left, right)  # type: ignore[attr-defined]

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        meter: Meter = __context.meter  # type: ignore[attr-defined]
        meter.enter()
        if len(args) > 4 or len(kwargs) > 4:
            # A macro sees its arguments as `varargs` and `kwargs`, which print.
            meter.check(args, "a call's arguments")
            meter.check(kwargs, "a call's arguments")
        try:
            result = super().call(__context, __obj, *guards.before_call(__obj, args, kwargs), **kwargs)
        finally:
            meter.depth -= 1
        if isinstance(result, str):
            check_len(len(result), "a call's result")
            return result
        return meter.check(result, "a call's result")

    def join_values(self, context: Context, values: tuple[Any, ...]) -> str:
        """`a ~ b`: measured before it is joined."""
        meter: Meter = context.meter  # type: ignore[attr-defined]
        meter.step()
        check_len(sum(meter.size(v) for v in values), "a ~ joined string")
        joined = markup_join(values) if context.eval_ctx.autoescape else str_join(values)
        return meter.check(joined)  # type: ignore[no-any-return]

    def made(self, context: Context, value: Any) -> Any:
        """A list, tuple or dict written in the template."""
        meter: Meter = context.meter  # type: ignore[attr-defined]
        meter.step()
        return meter.check(value, "a literal")

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """`str.format` and `format_map`, with each field's width and precision bounded."""
        if not isinstance(value, types.MethodType | types.BuiltinMethodType) or value.__name__ not in (
            "format",
            "format_map",
        ):
            return None
        owner = value.__self__
        if not isinstance(owner, str):
            return None
        is_map = value.__name__ == "format_map"
        formatter: BoundedFormatter
        if isinstance(owner, Markup):
            formatter = BoundedEscapeFormatter(self, escape=owner.escape)
        else:
            formatter = BoundedFormatter(self)
        kind = type(owner)

        def wrapper(*args: Any, **kwargs: Any) -> str:
            formatter.written = len(owner)
            if is_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one positional argument")
                return kind(formatter.vformat(owner, (), args[0]))
            return kind(formatter.vformat(owner, args, kwargs))

        return update_wrapper(wrapper, value)


def _env(html: bool, undefined: type[Undefined]) -> BoundedEnvironment:
    return BoundedEnvironment(html=html, undefined=undefined)


# Strict for sending (a missing variable is an error, not a blank in a customer's inbox),
# lenient for the trial render at save time; text, or HTML with autoescaping.
STRICT = {False: _env(False, StrictUndefined), True: _env(True, StrictUndefined)}
LENIENT = {False: _env(False, Lenient), True: _env(True, Lenient)}
# For previews: lenient, noting each undefined name.
RECORDING = {False: _env(False, Recording), True: _env(True, Recording)}
GLOBALS = STRICT[False].globals
