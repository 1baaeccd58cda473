"""The budget of one render: CPU time, loop iterations, call depth, and the size of values.

The compiled template calls the meter on every loop iteration, call, filter and size-making
operator. Reading a clock costs more than most of those steps, so the meter reads one only
every `CHECK_EVERY` steps, and the cheap wall clock first: CPU time used by this thread can
never exceed the wall time elapsed, so only once a wall deadline has passed is the thread's
CPU clock read (a system call) to tell work from preemption; a render preempted on a busy
host is never stopped for time it did not run.
"""

from __future__ import annotations

import time
from typing import Any

from herald.kit.errors import RenderLimit
from herald.templates.limits import (
    CHECK_EVERY,
    MAX_CALL_DEPTH,
    MAX_INT_BITS,
    MAX_ITEMS,
    MAX_LOOP_ITERATIONS,
    MAX_VALUE_CHARS,
    MAX_VALUE_DEPTH,
    RENDER_CPU_SECONDS,
)

_CONTAINERS = (list, tuple, set, frozenset, dict)
_HALF = RENDER_CPU_SECONDS / 2


def too_big(what: str, size: int | float, limit: int = MAX_VALUE_CHARS) -> RenderLimit:
    return RenderLimit(f"{what} would be {size:,.0f} long; values are limited to {limit:,}")


def check_len(size: int | float, what: str = "a value") -> None:
    if size > MAX_VALUE_CHARS:
        raise too_big(what, size)


def check_items(count: int | float, what: str = "a list") -> None:
    if count > MAX_ITEMS:
        raise RenderLimit(f"{what} would hold {count:,.0f} items; at most {MAX_ITEMS:,}")


def check_bits(bits: int | float) -> None:
    if bits > MAX_INT_BITS:
        raise RenderLimit(f"a number would have {bits:,.0f} bits; numbers are limited to {MAX_INT_BITS:,}")


class Meter:
    __slots__ = (
        "_sizes",
        "cpu_deadline",
        "depth",
        "loops",
        "out",
        "out_cap",
        "out_field",
        "out_seen",
        "out_size",
        "steps",
        "wall_deadline",
    )

    def __init__(self) -> None:
        # Half the budget is first measured on the wall clock (reading the thread's CPU clock
        # costs as much as a short render): the thread cannot have used more CPU than the
        # time that passed. The other half is then measured on the CPU clock itself.
        self.wall_deadline = time.perf_counter() + _HALF
        self.cpu_deadline = 0.0
        self.steps = CHECK_EVERY
        self.loops = MAX_LOOP_ITERATIONS
        self.depth = 0
        # id -> (container, size): the container is held so that its id is not reused.
        self._sizes: dict[int, tuple[object, int]] | None = None
        self.out: list[str] | None = None

    def watch(self, out: list[str], cap: int, field: str) -> None:
        """Count the output gathered into `out` at each checkpoint, and stop it past `cap`.

        The output is gathered by C code (list.extend over the render's generator), so it
        costs nothing per piece; it is measured here, every few steps, and once at the end.
        """
        self.out, self.out_cap, self.out_field, self.out_seen, self.out_size = out, cap, field, 0, 0

    def counted(self) -> int:
        """The output's length so far; RenderLimit past the cap."""
        out = self.out
        if out is not None and len(out) > self.out_seen:
            self.out_size += sum(map(len, out[self.out_seen :]))
            self.out_seen = len(out)
            if self.out_size > self.out_cap:
                raise RenderLimit(f"{self.out_field} is longer than {self.out_cap:,} characters")
        return self.out_size

    def step(self) -> None:
        self.steps -= 1
        if self.steps <= 0:
            self._checkpoint()

    def loop(self) -> None:
        self.loops -= 1
        if self.loops < 0:
            raise RenderLimit(f"the template ran more than {MAX_LOOP_ITERATIONS:,} loop iterations")
        self.steps -= 1
        if self.steps <= 0:
            self._checkpoint()

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_CALL_DEPTH:
            raise RenderLimit(f"calls (macros, recursive loops) nest more than {MAX_CALL_DEPTH} deep")
        self.step()

    def _checkpoint(self) -> None:
        self.steps = CHECK_EVERY
        if self.out is not None:
            self.counted()
        now = time.perf_counter()
        if now < self.wall_deadline:
            return
        cpu = time.thread_time()
        if not self.cpu_deadline:
            self.cpu_deadline = cpu + _HALF
        elif cpu > self.cpu_deadline:
            raise RenderLimit(f"the render used more than {RENDER_CPU_SECONDS * 1000:g} ms of CPU and was stopped")
        self.wall_deadline = now + (self.cpu_deadline - cpu)

    def size(self, value: object) -> int:
        """How long `value` would print: characters, plus items and brackets of containers.

        Shared parts count each time they would print, so that a list of lists of the same
        list, nested a few times, is as big as it would be on the page (and to compare, hash
        or serialise). Containers are measured once per render, so building one costs time
        in proportion to its own length.
        """
        if isinstance(value, str):
            return len(value)
        if isinstance(value, _CONTAINERS):
            return self._container(value, 0)
        return self._scalar(value)

    def check(self, value: Any, what: str = "a value") -> Any:
        """The value itself, if it is within the size limits."""
        if isinstance(value, str):
            if len(value) > MAX_VALUE_CHARS:
                raise too_big(what, len(value))
        elif isinstance(value, _CONTAINERS):
            check_items(len(value), what)
            size = self._container(value, 0)
            if size > MAX_VALUE_CHARS:
                raise too_big(what, size)
        return value

    def remember(self, value: Any, size: int) -> Any:
        """A container just built whose size is known already: spares measuring it again."""
        if isinstance(value, _CONTAINERS):
            if self._sizes is None:
                self._sizes = {}
            self._sizes[id(value)] = (value, size)
        return value

    @staticmethod
    def _scalar(value: object) -> int:
        if isinstance(value, int):
            return value.bit_length() // 3 + 1
        if isinstance(value, bytes | bytearray):
            return len(value)
        return 8

    def _container(self, value: Any, depth: int) -> int:
        sizes = self._sizes
        if sizes is None:
            sizes = self._sizes = {}
        else:
            known = sizes.get(id(value))
            if known is not None:
                return known[1]
        if depth > MAX_VALUE_DEPTH:
            raise RenderLimit(f"a value nests containers more than {MAX_VALUE_DEPTH} deep")
        total = 2
        # Past the limit the walk stops: the caller refuses the value whatever the rest holds.
        if isinstance(value, dict):
            for k, v in value.items():
                total += 4 + self._part(k, depth) + self._part(v, depth)
                if total > MAX_VALUE_CHARS:
                    break
        else:
            for item in value:
                total += 2 + self._part(item, depth)
                if total > MAX_VALUE_CHARS:
                    break
        sizes[id(value)] = (value, total)
        return total

    def _part(self, value: object, depth: int) -> int:
        if isinstance(value, str):
            return len(value)
        if isinstance(value, _CONTAINERS):
            return self._container(value, depth + 1)
        return self._scalar(value)
