"""Base classes for API schemas: inputs reject unknown fields, outputs read ORM objects."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)
