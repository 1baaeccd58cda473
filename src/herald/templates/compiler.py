"""Compiling template source, within bounds, and off the event loop when it is large.

Compiling costs CPU in proportion to the template's tags and expressions (measured here:
about 60 µs per expression, 3 s for 512 KB of them), and its last step, Python's own
`compile()`, holds the GIL throughout, so a thread would not spare the event loop. A source
past `INLINE_CHARS` is therefore compiled in the compiler process (`offload`), which sends
back the code object, marshalled; the loop only loads it. A template that the sync path
meets uncompiled (a miss outside `render.prepare`) is still compiled in place, bounded by the
node limit.
"""

from __future__ import annotations

import asyncio
import marshal
from dataclasses import dataclass
from types import CodeType

from jinja2 import TemplateSyntaxError, nodes
from jinja2.environment import Template

from herald.kit.errors import InvalidTemplate
from herald.templates.cache import ByteBudgetCache, estimate
from herald.templates.limits import MAX_TEMPLATE_DEPTH, MAX_TEMPLATE_NODES
from herald.templates.offload import CompilerFailed, build_remote
from herald.templates.sandbox import LENIENT, STRICT, BoundedEnvironment

# Sources up to this long compile in place: at most a few milliseconds even when every
# character is template code.
INLINE_CHARS = 256
CACHE_BYTES = 64 * 1024 * 1024
# Statements whose templates Herald has no loader for: refused at compile time rather than
# failing every send. `{% extends "name" %}` is the one exception: an email's html extends one
# of the app's layouts, which its render carries.
_UNSUPPORTED = (nodes.Include, nodes.Import, nodes.FromImport)


@dataclass(frozen=True, slots=True)
class Compiled:
    template: Template
    code: CodeType
    html: bool

    def lenient(self) -> Template:
        """The same code, run with missing variables absorbed: for trial renders."""
        return self.bound(LENIENT[self.html])

    def bound(self, env: BoundedEnvironment) -> Template:
        """The same code in another of the sandbox's environments (lenient, recording)."""
        if env is self.template.environment:
            return self.template
        return env.template_class.from_code(env, self.code, env.make_globals(None), None)


# A source that does not compile is remembered too, so that asking again costs nothing.
CACHE: ByteBudgetCache[Compiled | InvalidTemplate] = ByteBudgetCache(CACHE_BYTES)


def check_tree(tree: nodes.Template, html: bool = False) -> None:
    """Refuse a parsed template too large or too deeply nested to compile quickly and safely."""
    stack: list[tuple[nodes.Node, int]] = [(tree, 0)]
    count = 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_TEMPLATE_NODES:
            raise InvalidTemplate(f"the template has more than {MAX_TEMPLATE_NODES:,} parts; split it")
        if depth > MAX_TEMPLATE_DEPTH:
            raise InvalidTemplate(f"the template nests more than {MAX_TEMPLATE_DEPTH} levels deep")
        if isinstance(node, _UNSUPPORTED):
            raise InvalidTemplate(f"{{% {type(node).__name__.lower()} %}} is not supported: templates stand alone")
        if isinstance(node, nodes.Extends):
            _check_extends(node, html)
        stack.extend((child, depth + 1) for child in node.iter_child_nodes())


def _check_extends(node: nodes.Extends, html: bool) -> None:
    if not html:
        raise InvalidTemplate("{% extends %} is only for an email's html, which extends a layout")
    if not (isinstance(node.template, nodes.Const) and isinstance(node.template.value, str)):
        raise InvalidTemplate("{% extends %} takes a layout's name in quotes")


def extended(source: str) -> set[str]:
    """The layouts an html source extends (for saving and publishing, never on the send path)."""
    if "extends" not in source:
        return set()
    try:
        tree = STRICT[True].parse(source)
    except TemplateSyntaxError:
        return set()  # refused by `build`, with the reason
    return {
        n.template.value
        for n in tree.find_all(nodes.Extends)
        if isinstance(n.template, nodes.Const) and isinstance(n.template.value, str)
    }


def build(source: str, html: bool) -> CodeType:
    """Source to code object, or InvalidTemplate saying why not. Safe to run in any process."""
    env = STRICT[html]
    # Every tag is at least two nodes: past this many, refuse before parsing them all.
    if source.count("{{") + source.count("{%") > MAX_TEMPLATE_NODES // 2:
        raise InvalidTemplate(f"the template has more than {MAX_TEMPLATE_NODES:,} parts; split it")
    try:
        tree = env.parse(source)
        check_tree(tree, html)
        code = env.compile(tree)
    except InvalidTemplate:
        raise
    except TemplateSyntaxError as exc:
        raise InvalidTemplate(f"template syntax error: {exc.message} (line {exc.lineno})") from exc
    except RecursionError as exc:
        raise InvalidTemplate("the template nests too deeply to compile") from exc
    except MemoryError as exc:
        raise InvalidTemplate("the template is too large to compile") from exc
    except Exception as exc:  # any failure of a user's template is that template's fault
        raise InvalidTemplate(f"the template does not compile: {type(exc).__name__}: {exc}") from exc
    assert isinstance(code, CodeType)
    return code


def _load(source: str, html: bool, code: CodeType, code_bytes: int) -> Compiled:
    env = STRICT[html]
    compiled = Compiled(env.template_class.from_code(env, code, env.make_globals(None), None), code, html)
    CACHE.put((source, html), compiled, estimate(source, code_bytes))
    return compiled


def _refused(source: str, html: bool, error: InvalidTemplate) -> InvalidTemplate:
    CACHE.put((source, html), error, estimate(source, 0))
    return error


def _cached(source: str, html: bool) -> Compiled | None:
    found = CACHE.get((source, html))
    if isinstance(found, InvalidTemplate):
        raise InvalidTemplate(found.message)
    return found


def compiled(source: str, html: bool) -> Compiled:
    """The compiled template, from the cache or compiled here and now."""
    found = _cached(source, html)
    if found is not None:
        return found
    try:
        code = build(source, html)
    except InvalidTemplate as exc:
        raise _refused(source, html, exc) from None
    return _load(source, html, code, len(marshal.dumps(code)))


async def compiled_async(source: str, html: bool) -> Compiled:
    """As `compiled`, but a large source is compiled in a child process."""
    found = _cached(source, html)
    if found is not None:
        return found
    if len(source) <= INLINE_CHARS:
        return compiled(source, html)
    try:
        payload, error = await asyncio.get_running_loop().run_in_executor(None, build_remote, source, html)
    except CompilerFailed as exc:
        # Out of memory, or a crash in CPython's compiler: this template is refused (not
        # remembered: the next attempt gets a new process).
        raise InvalidTemplate("the template could not be compiled: the compiler process failed") from exc
    if payload is None:
        raise _refused(source, html, InvalidTemplate(error))
    return _load(source, html, marshal.loads(payload), len(payload))  # noqa: S302 - our own child's output
