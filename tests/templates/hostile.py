"""Templates written to exhaust the process, one per way of trying; shared by the render and
API tests. Each needs no data: it breaks a limit on its constant parts alone."""

from __future__ import annotations

LOOP = "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"
REPEAT = "{% set ns = namespace(a=A) %}{% for i in range(64) %}{% set ns.a = B %}{% endfor %}"

HOSTILE: dict[str, str] = {
    # Operators that build huge values (and that Jinja's optimiser would fold when compiling).
    "str_repeat": "{{ 'a' * 10**9 }}",
    "list_repeat": "{{ [0] * 10**8 }}",
    "int_power": "{{ 9 ** (9 ** 9) }}",
    "int_power_chain": "{{ (2 ** 4000) ** 2 }}",
    "int_product": REPEAT.replace("A", "3").replace("B", "ns.a * ns.a"),
    "str_plus_doubling": REPEAT.replace("A", "'ab'").replace("B", "ns.a + ns.a"),
    "printf_width": "{{ '%999999999d' % 1 }}",
    "printf_many_widths": "{{ '%999999d' * 1000 % ((1,) * 1000) }}",
    # `~` doubling in a loop.
    "concat_doubling": LOOP,
    # Containers nested so that printing, comparing or hashing them unfolds exponentially.
    "shared_nesting": REPEAT.replace("A", "['xx']").replace("B", "[ns.a, ns.a]"),
    # Filters and methods with a size argument.
    "center_filter": "{{ 'x'|center(10**9) }}",
    "ljust_method": "{{ 'x'.ljust(10**9) }}",
    "zfill_method": "{{ 'x'.zfill(10**9) }}",
    "format_method": "{{ '{:>999999999}'.format(1) }}",
    "format_map_precision": "{{ '{x:.999999999f}'.format_map({'x': 1.5}) }}",
    "format_many_fields": "{{ ('{:>999999}' * 1000).format(*range(1000)) }}",
    "macro_varargs": "{% set y = 'y' * 999999 %}{% macro m() %}{{ varargs|length }}{{ varargs }}{% endmacro %}"
    "{{ m(" + "y, " * 2000 + ") }}",
    "format_filter": "{{ '%999999999s'|format('x') }}",
    "indent_filter": "{{ ('a\\n' * 1000)|indent(10**7) }}",
    "wordwrap_filter": "{{ ('a ' * 1000)|wordwrap(1, wrapstring='x' * 999999) }}",
    "replace_filter": "{{ ('a' * 1000)|replace('a', 'b' * 999999) }}",
    "replace_method": "{{ ('a' * 1000).replace('', 'b' * 999999) }}",
    "join_filter": "{{ range(10000)|join('x' * 999999) }}",
    "join_method": "{{ ('x' * 999999).join(range(2000)|map('string')) }}",
    "batch_filter": "{% for row in range(3)|batch(10**9, 0) %}{{ row }}{% endfor %}",
    "slice_filter": "{{ range(3)|slice(10**9)|list }}",
    "to_bytes": "{{ (1).to_bytes(10**9, 'big') }}",
    "translate": "{{ ('a' * 1000).translate({97: 'x' * 99999}) }}",
    "range": "{{ range(10**9)|list }}",
    "lipsum": "{{ lipsum(10**6) }}",
    "sum_of_lists": "{{ [[0] * 1000] * 1000|sum(start=[]) }}",
    "tojson_indent": "{{ {'a': [1]}|tojson(indent=10**6) }}",
    # Unbounded work and output.
    "nested_loops": "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
    "output": "{% for i in range(10000) %}" + "x" * 1000 + "{% endfor %}",
    "set_block": "{% set y = 'y' * 999999 %}{% set s %}{% for i in range(5000) %}{{ y }}{% endfor %}{% endset %}",
    "recursive_macro": "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
    "recursive_block": "{% block b %}{{ self.b() }}{% endblock %}",
    "recursive_loop": "{% set ns = namespace() %}{% for x in [ns] recursive %}{{ loop([x]) }}{% endfor %}",
    "caller_nesting": "{% macro m() %}{% call m() %}{% endcall %}{{ caller() }}{% endmacro %}"
    "{% call m() %}{% endcall %}",
    # Too deep or too large for the parser and compiler.
    "nested_parens": "{{ " + "(" * 500 + "1" + ")" * 500 + " }}",
    "nested_not": "{{ " + "not " * 400 + "1 }}",
    "long_attribute_chain": "{{ " + "a." * 1000 + "b }}",
    "long_sum": "{{ " + "1 + " * 900 + "1 }}",
    "nested_ifs": "{% if a %}" * 100 + "{% endif %}" * 100,
    "huge_literal": "{{ 1" + "0" * 5000 + " }}",
    "include": "{% include 'other' %}",
}
