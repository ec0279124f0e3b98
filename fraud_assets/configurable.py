"""Dagster resources whose config fields are those of a plain frozen dataclass.

The dataclass stays the one declaration of the fields (types and defaults) and the code outside
Dagster keeps using it; the resource adds what Dagster needs: config shown in the UI, validated
when a run starts.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, ClassVar

from dagster import ConfigurableResource
from pydantic import create_model


class PlainConfig(ConfigurableResource):
    """Base of the resources `with_fields_of` makes."""

    plain_class: ClassVar[type]

    def plain(self) -> Any:
        """The config as the plain dataclass (its own checks run here)."""
        return self.plain_class(**{f.name: getattr(self, f.name) for f in dataclasses.fields(self.plain_class)})


def with_fields_of(plain_class: type, base: type[PlainConfig], name: str, doc: str) -> type:
    """`base` plus one config field per field of `plain_class`, with the same type and default."""
    hints = typing.get_type_hints(plain_class)
    fields = {f.name: (hints[f.name], f.default) for f in dataclasses.fields(plain_class)}
    resource = create_model(name, __base__=base, __module__=base.__module__, __doc__=doc, **fields)
    resource.plain_class = plain_class
    return resource
