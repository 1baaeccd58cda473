"""Rendering message content with a bounded Jinja2 sandbox.

Templates are edited by product people, so they run sandboxed, and a missing variable is an
error rather than an empty string in a customer's inbox. Every render is held to the limits
of `limits` (CPU, loop iterations, nesting, value and output sizes): a breach stops it with
`RenderLimit`. Compiled templates are cached by source text, so an edit takes effect at once
and an unchanged template compiles once.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextvars import Token
from typing import Any, Protocol

from jinja2 import Template, TemplateError, UndefinedError
from jinja2.exceptions import SecurityError

from herald.kit.errors import HeraldError, InvalidTemplate, MissingVariable, RenderFailed, RenderLimit
from herald.templates import responsive
from herald.templates.compiler import CACHE, Compiled, compiled, compiled_async
from herald.templates.limits import MJML_MAX_CHARS
from herald.templates.meter import Meter
from herald.templates.responsive import settled
from herald.templates.sandbox import GLOBALS, LENIENT, MISSING, RECORDING, BoundedEnvironment

# Where an email content carries the live source of the layouts its html extends, by name:
# copied there when the template (or the layout) is published, so a send reads one row.
LAYOUTS = "layouts"
# The fields that are HTML (autoescaped): an email's html, or its MJML (`responsive`).
HTML_FIELDS = ("html", "mjml")


class Layouts:
    """The layouts one render may extend, by name; each compiled (and cached) by its source."""

    __slots__ = ("sources",)

    def __init__(self, sources: dict[str, str]) -> None:
        self.sources = sources

    def template(self, name: str, env: BoundedEnvironment) -> Template:
        source = self.sources.get(name)
        if not isinstance(source, str):
            raise RenderFailed(f"layout {name!r} is not published")
        return compiled(source, True).bound(env)


class Fields:
    """One message's render: every field shares the scope and the meter. A channel's
    `render` draws each of its fields through it.

    `trial` absorbs missing variables (a save's trial render); `record` also notes their
    names per field in `missing` (a preview).
    """

    __slots__ = ("envs", "layouts", "meter", "missing", "scope")

    def __init__(
        self, ctx: dict[str, Any], trial: bool, layouts: dict[str, str] | None = None, *, record: bool = False
    ) -> None:
        # The variables a template sees: the sandbox's globals, overridden by the context,
        # merged once per message rather than once per field by Template.render.
        self.scope = {**GLOBALS, **ctx}
        self.meter = Meter()
        self.envs = RECORDING if record else LENIENT if trial else None
        self.layouts = Layouts(layouts) if layouts else None
        self.missing: dict[str, list[str]] | None = {} if record else None

    def render(self, source: str, *, field: str, cap: int, html: bool = False) -> str:
        # One method, not a wrapper around one: the send path calls this for every field.
        noted = None if self.missing is None else MISSING.set([])
        try:
            found = CACHE.get((source, html))
            if type(found) is not Compiled:
                found = compiled(source, html)
            template = found.template if self.envs is None else found.bound(self.envs[html])
            ctx = template.new_context(self.scope, shared=True)
            ctx.meter = meter = self.meter  # type: ignore[attr-defined]
            ctx.layouts = self.layouts  # type: ignore[attr-defined]
            parts: list[str] = []
            meter.watch(parts, cap, field)
            parts.extend(template.root_render_func(ctx))
            if sum(map(len, parts)) > cap:
                raise RenderLimit(f"{field} is longer than {cap:,} characters")
            return "".join(parts)
        except HeraldError as exc:
            exc.field = exc.field or field
            raise
        except UndefinedError as exc:
            raise MissingVariable(f"missing variable in {field}: {exc.message}", field=field) from exc
        except SecurityError as exc:
            raise RenderFailed(f"template tried an unsafe operation in {field}", field=field) from exc
        except (RecursionError, MemoryError) as exc:
            raise RenderLimit(f"{field} nests too deeply or needs too much memory", field=field) from exc
        except TemplateError as exc:
            raise RenderFailed(f"could not render {field}: {exc}", field=field) from exc
        except (TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as exc:
            raise RenderFailed(f"could not render {field}: {exc}", field=field) from exc
        finally:
            if noted is not None:
                self._note(field, noted)

    def _note(self, field: str, token: Token[list[str] | None]) -> None:
        names = MISSING.get()
        MISSING.reset(token)
        if names and self.missing is not None:
            self.missing[field] = list(dict.fromkeys(names))

    def optional(self, source: str | None, *, field: str, cap: int, html: bool = False) -> str | None:
        return None if source is None else self.render(source, field=field, cap=cap, html=html)

    def mjml(self, source: str, *, field: str) -> str:
        """MJML rendered, then compiled to HTML (`responsive`); `responsive.Pending` when that
        compile is still to be done: render through `responsive.settled`."""
        text = self.render(source, field=field, cap=MJML_MAX_CHARS, html=True)
        try:
            return responsive.to_html(text)
        except HeraldError as exc:
            exc.field = exc.field or field
            raise


class Renders(Protocol):
    """Anything that renders one channel's content through `Fields` (a channel's definition)."""

    @property
    def name(self) -> str: ...

    def render(self, content: dict[str, Any], fields: Fields) -> Any: ...


def render(channel: Renders, content: dict[str, Any], ctx: dict[str, Any], *, trial: bool = False) -> Any:
    """Render one channel's content; raises a domain error naming the failing field.

    `trial` renders with missing variables absorbed instead of refused, as a save does.
    """
    return channel.render(content, Fields(ctx, trial, content.get(LAYOUTS)))


def sources(content: dict[str, Any]) -> Iterable[tuple[str, str, bool]]:
    """(field name, source, is HTML) of each template in one channel's content."""
    for name, value in content.items():
        if isinstance(value, str):
            yield name, value, name in HTML_FIELDS
        elif isinstance(value, dict):
            for key, source in value.items():
                if isinstance(source, str):
                    yield f"{name}.{key}", source, name == LAYOUTS


def uncompiled(contents: Iterable[dict[str, Any]]) -> list[tuple[str, bool]]:
    """(source, is HTML) of the templates in these channels' contents not compiled yet."""
    return [
        (source, html) for content in contents for _, source, html in sources(content) if (source, html) not in CACHE
    ]


async def prepare(todo: Iterable[tuple[str, bool]]) -> None:
    """Compile these templates ahead of a render: a large one in the compiler process rather
    than on the event loop. One that does not compile is remembered as such, for the render
    to report in its place."""
    for source, html in todo:
        try:
            await compiled_async(source, html)
        except InvalidTemplate:
            pass


async def validate(channel: Renders, content: dict[str, Any], sample: dict[str, Any], prefix: str) -> None:
    """At save time: every template of one channel's content compiles, and a trial render
    with the sample data (any variable it lacks absorbed) stays within every limit, and makes
    MJML that compiles.

    What fails only for want of data (a missing variable, a type that does not fit) is left
    to send time, where the real data decides.
    """
    for name, source, html in sources(content):
        try:
            await compiled_async(source, html)
        except InvalidTemplate as exc:
            exc.field = f"{prefix}.{channel.name}.{name}"
            raise
    try:
        await settled(lambda: render(channel, content, {**sample, "data": sample}, trial=True))
    except RenderLimit as exc:
        raise InvalidTemplate(exc.message, field=f"{prefix}.{exc.field}") from exc
    except RenderFailed as exc:
        if isinstance(exc.__cause__, SecurityError):
            raise InvalidTemplate(exc.message, field=f"{prefix}.{exc.field}") from exc
    except InvalidTemplate as exc:  # MJML that does not compile, even with the data missing
        raise type(exc)(exc.message, field=f"{prefix}.{exc.field}") from exc
    except HeraldError:
        pass


def pick(
    channels: dict[str, Any], locales: dict[str, dict[str, Any]], locale: str | None, channel: str
) -> dict[str, Any] | None:
    """The content for a channel in the best locale: exact, then language, then default."""
    if locale:
        for candidate in (locale, locale.split("-")[0]):
            variant = locales.get(candidate)
            if variant and channel in variant:
                return dict(variant[channel])
    found = channels.get(channel)
    return dict(found) if found else None
