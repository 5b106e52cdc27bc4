"""Base classes for API schemas: inputs reject unknown fields and NUL, outputs read ORM objects.

PostgreSQL cannot store NUL (U+0000) in text or JSONB, so a NUL that reached a query would fail
it (a 500). Every input refuses it at the edge instead, with a 422 naming the field:
- every field of every `Input` model, whatever its type (a list, a dict key, a nested model's
  field): one check on the base class, so a new field cannot forget it;
- every other text input (query, path and form parameters) is typed `Text`.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, field_validator
from pydantic_core import PydanticCustomError

NUL_ERROR = "nul_character"
"""The validation error's type for a value that carries NUL."""


def has_nul(value: object) -> bool:
    """Whether NUL is in a string anywhere inside `value` (strings, lists, dict keys and
    values, however deep; walked without recursion, so nesting depth cannot exhaust the stack)."""
    waiting = [value]
    while waiting:
        item = waiting.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            waiting.extend(item.keys())
            waiting.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            waiting.extend(item)
    return False


def refuse_nul(value: Any) -> Any:
    """The value unchanged, or a validation error if it carries NUL."""
    if has_nul(value):
        raise PydanticCustomError(NUL_ERROR, "must not contain the NUL character (U+0000)")
    return value


Text = Annotated[str, BeforeValidator(refuse_nul)]
"""A text parameter outside an `Input` model (query, path, form): NUL refused with a 422."""


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_nul(cls, value: Any) -> Any:
        # Before the field's own checks, so none of them (nor any query) ever sees a NUL.
        return refuse_nul(value)


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)
