"""What the API accepts: request bodies, validated before anything is stored."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from .extraction import FieldSpec, check_template
from .names import CleanName, CleanText, NotBlank
from .verdict.classifier import NONE

Name = Annotated[str, CleanName, StringConstraints(min_length=1, max_length=100), NotBlank]
LongName = Annotated[str, CleanName, StringConstraints(min_length=1, max_length=200), NotBlank]
Keyword = Annotated[str, CleanName, StringConstraints(min_length=1, max_length=100), NotBlank]
Text = Annotated[str, CleanText, StringConstraints(max_length=2000)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CategoryIn(_Strict):
    id: str | None = None
    name: Name
    description: Text = ""
    keywords: list[Keyword] = Field(default_factory=list, max_length=50)
    linked_extraction_id: str | None = None


def _check_categories(categories: list[CategoryIn] | None) -> None:
    if categories is None:
        return
    seen: set[str] = set()
    for category in categories:
        key = category.name.casefold()
        if key == NONE:
            raise ValueError(f"'{category.name}' is reserved for documents that fit no category")
        if key in seen:
            raise ValueError(f"two categories are named '{category.name}' (names ignore case)")
        seen.add(key)
    ids = [c.id for c in categories if c.id]
    if len(ids) != len(set(ids)):
        raise ValueError("a category id appears twice")


class ClassificationIn(_Strict):
    name: LongName
    description: Text = ""
    categories: list[CategoryIn] = Field(min_length=1, max_length=100)

    @model_validator(mode="after")
    def _valid_categories(self) -> ClassificationIn:
        if any(c.id for c in self.categories):
            raise ValueError("new categories get their ids from the server: leave 'id' out")
        _check_categories(self.categories)
        return self


class ClassificationPatch(_Strict):
    name: LongName | None = None
    description: Text | None = None
    categories: list[CategoryIn] | None = Field(default=None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _valid_categories(self) -> ClassificationPatch:
        _check_categories(self.categories)
        return self


class OverrideIn(_Strict):
    classified_category_id: str | None


class ExtractionIn(_Strict):
    name: LongName
    description: Text = ""
    fields: list[FieldSpec] = Field(min_length=1, max_length=100)

    @model_validator(mode="after")
    def _valid_fields(self) -> ExtractionIn:
        check_template(self.fields)
        return self


class ExtractionPatch(_Strict):
    name: LongName | None = None
    description: Text | None = None
    fields: list[FieldSpec] | None = Field(default=None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _valid_fields(self) -> ExtractionPatch:
        if self.fields is not None:
            check_template(self.fields)
        return self


class WebhookIn(_Strict):
    url: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), NotBlank
    ]
    events: list[Literal["file.classified", "file.processed"]] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_events(self) -> WebhookIn:
        self.events = list(dict.fromkeys(self.events))
        return self
