"""The compiler process: compiles large templates so that the event loop does not.

A child Python (`python -m herald.templates.offload`) reads requests on stdin and answers
on stdout, one at a time: a 5-byte header (length, flag) and a body. The request's flag says
what to compile (a text or an HTML template, or MJML: `responsive`), its body is the UTF-8
source; the answer's flag is "compiled", its body the marshalled code object (for MJML, the
HTML) or the reason it does not compile. It imports only the template modules: not
the parent's main module, as multiprocessing's spawn would.

The parent talks to it from a thread of the default executor, which waits on the pipe (the
GIL released) whatever event loop asked: tests run one loop per test. The child exits when
its stdin closes, so it never outlives the parent.
"""

from __future__ import annotations

import atexit
import marshal
import os
import struct
import subprocess
import sys
import threading
from typing import IO

_HEADER = struct.Struct(">IB")
# A request's flag: compile a Jinja template (0: text, 1: HTML), or compile MJML.
MJML = 2
# The worst a 512 KB source allowed by the size limits takes to be refused is about 2.5 s here
# (a quarter of a million terms in one expression); past this, the process is killed.
TIMEOUT_SECONDS = 10.0
_lock = threading.Lock()
_child: subprocess.Popen[bytes] | None = None


class CompilerFailed(Exception):
    """The compiler process died, broke the protocol or took too long (out of memory, a
    crash in CPython's own compiler on a pathological template)."""


def _start() -> subprocess.Popen[bytes]:
    # The child imports Herald from exactly where the parent does.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    return subprocess.Popen(
        [sys.executable, "-m", "herald.templates.offload"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )


def _read(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    if data is None or len(data) != size:
        raise CompilerFailed("the compiler process closed its output")
    return data


def build_remote(source: str, html: bool) -> tuple[bytes | None, str | None]:
    """Blocking: marshalled code, or the reason the template does not compile."""
    ok, body = _ask(int(html), source)
    return (body, None) if ok else (None, body.decode("utf-8", "replace"))


def mjml_remote(source: str) -> tuple[str | None, str | None]:
    """Blocking: MJML compiled to email HTML (`responsive`), or the reason it does not compile."""
    ok, body = _ask(MJML, source)
    text = body.decode("utf-8", "replace")
    return (text, None) if ok else (None, text)


def _ask(flag: int, source: str) -> tuple[bool, bytes]:
    global _child
    data = source.encode("utf-8", "surrogatepass")
    with _lock:
        if _child is None or _child.poll() is not None:
            _child = _start()
        child = _child
        assert child.stdin is not None and child.stdout is not None
        watchdog = threading.Timer(TIMEOUT_SECONDS, child.kill)
        watchdog.start()
        try:
            child.stdin.write(_HEADER.pack(len(data), flag) + data)
            child.stdin.flush()
            size, ok = _HEADER.unpack(_read(child.stdout, _HEADER.size))
            body = _read(child.stdout, size)
        except (OSError, CompilerFailed) as exc:
            child.kill()
            _child = None
            raise CompilerFailed(str(exc)) from exc
        finally:
            watchdog.cancel()
    return bool(ok), body


def shutdown() -> None:
    """Stop the compiler process, if one was started."""
    global _child
    with _lock:
        if _child is not None:
            if _child.stdin is not None:
                _child.stdin.close()
            try:
                _child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                _child.kill()
            _child = None


atexit.register(shutdown)


def main() -> None:  # pragma: no cover - runs in the child
    from herald.kit.errors import InvalidTemplate
    from herald.templates.compiler import build
    from herald.templates.responsive import compile_mjml

    read, write = sys.stdin.buffer, sys.stdout.buffer
    while header := read.read(_HEADER.size):
        size, flag = _HEADER.unpack(header)
        source = read.read(size).decode("utf-8", "surrogatepass")
        try:
            if flag == MJML:
                body, ok = compile_mjml(source).encode("utf-8", "replace"), 1
            else:
                body, ok = marshal.dumps(build(source, bool(flag))), 1
        except InvalidTemplate as exc:
            body, ok = exc.message.encode(), 0
        write.write(_HEADER.pack(len(body), ok) + body)
        write.flush()


if __name__ == "__main__":  # pragma: no cover
    main()
