"""The README's configuration table lists every setting that exists, by its full variable name."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from types import UnionType
from typing import Union, get_origin

from pydantic import BaseModel

from herald.config import Settings
from herald.kit.errors import HeraldError

README = Path(__file__).resolve().parents[2] / "README.md"


def _section(annotation: object) -> type[BaseModel] | None:
    """The settings section a field holds (nested with `__`), or None for a plain value."""
    if get_origin(annotation) in (Union, UnionType):
        return None
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def variables(model: type[BaseModel], prefix: str) -> Iterator[str]:
    for name, field in model.model_fields.items():
        section = _section(field.annotation)
        if section is not None:
            yield from variables(section, f"{prefix}{name.upper()}__")
        else:
            yield f"{prefix}{name.upper()}"


def configuration_table() -> str:
    text = README.read_text()
    start = text.index("## Configuration")
    return text[start : text.index("\n## ", start + 1)]


def test_every_setting_is_in_the_readme_configuration_table() -> None:
    table = configuration_table()
    listed = set(re.findall(r"`(HERALD_[A-Z0-9_]+)`", table))
    missing = sorted(set(variables(Settings, "HERALD_")) - listed)
    assert not missing, f"settings missing from the README's configuration table: {missing}"


def test_the_table_names_no_setting_that_does_not_exist() -> None:
    listed = set(re.findall(r"`(HERALD_[A-Z0-9_]+)`", configuration_table()))
    unknown = sorted(listed - set(variables(Settings, "HERALD_")))
    assert not unknown, f"the README lists settings Herald does not have: {unknown}"


def _subclasses(cls: type[HeraldError]) -> Iterator[type[HeraldError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_every_error_code_the_api_answers_is_in_the_readme() -> None:
    import herald.api.app  # noqa: F401 - every router, so every domain's errors are defined
    from herald.api.errors import _HTTP_CODES

    # Raised by `herald apps` only, never answered by the API.
    cli_only = {"app_busy", "app_not_found"}
    codes = {c.code for c in _subclasses(HeraldError)} | set(_HTTP_CODES.values()) | {"overloaded"}
    text = README.read_text()
    errors = text[text.index("**Errors.**") : text.index("## Delivery states")]
    missing = sorted(c for c in codes - cli_only if f"`{c}`" not in errors)
    assert not missing, f"error codes missing from the README's list: {missing}"
