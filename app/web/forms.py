"""Create and edit a classification in a form, validated and stored exactly as the API does
(the same Pydantic models and the same controller functions), with each error shown next to
the field at fault."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from litestar import Controller, MediaType, Request, get, post
from litestar.datastructures import FormMultiDict
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template
from pydantic import ValidationError

from ..api.classifications import (
    create_classification,
    load_classification,
    update_classification,
)
from ..errors import InvalidInput
from ..schemas import ClassificationIn, ClassificationPatch
from ..store import AsyncStore

BLANK_ROWS = 3  # empty rows offered below the categories, and added by "more"
ROW_FIELDS = ("id", "name", "description", "keywords", "linked_extraction_id")
_ROW_KEY = re.compile(r"categories-(\d{1,4})-(" + "|".join(ROW_FIELDS) + "|remove)")


@dataclass
class CategoryRow:
    """One category as typed: keywords stay the comma-separated text until submitted."""

    id: str = ""
    name: str = ""
    description: str = ""
    keywords: str = ""
    linked_extraction_id: str = ""
    remove: bool = False
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, category: dict[str, Any]) -> CategoryRow:
        return cls(
            id=category["id"],
            name=category["name"],
            description=category["description"],
            keywords=", ".join(category["keywords"]),
            linked_extraction_id=category["linked_extraction_id"] or "",
        )

    def keyword_list(self) -> list[str]:
        return [k.strip() for k in self.keywords.split(",") if k.strip()]

    def ignored(self) -> bool:
        """Ticked for removal, or left empty (an emptied existing category is removed too)."""
        typed = (self.name, self.description, self.keywords, self.linked_extraction_id)
        return self.remove or not any(v.strip() for v in typed)

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "keywords": self.keyword_list(),
            "linked_extraction_id": self.linked_extraction_id or None,
        }
        if self.id:
            body["id"] = self.id
        return body


@dataclass
class ClassificationForm:
    name: str = ""
    description: str = ""
    rows: list[CategoryRow] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # "name", "description", "categories"
    top_errors: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, classification: dict[str, Any] | None) -> ClassificationForm:
        if classification is None:
            return cls(rows=blank_rows())
        return cls(
            name=classification["name"],
            description=classification["description"],
            rows=[CategoryRow.of(c) for c in classification["categories"]] + blank_rows(),
        )

    @classmethod
    def parse(cls, form: FormMultiDict) -> ClassificationForm:
        rows: dict[int, CategoryRow] = {}
        for key, value in form.multi_items():
            match = _ROW_KEY.fullmatch(key)
            if match is None or not isinstance(value, str):
                continue
            row = rows.setdefault(int(match.group(1)), CategoryRow())
            if match.group(2) == "remove":
                row.remove = True
            else:
                setattr(row, match.group(2), value)
        return cls(
            name=_text(form.get("name")),
            description=_text(form.get("description")),
            rows=[rows[i] for i in sorted(rows)],
        )

    def payload(self) -> tuple[dict[str, Any], list[CategoryRow]]:
        """The API's request body, and the rows its categories came from (in order)."""
        kept = [row for row in self.rows if not row.ignored()]
        body = {
            "name": self.name,
            "description": self.description,
            "categories": [row.payload() for row in kept],
        }
        return body, kept

    def show(self, exc: ValidationError, kept: list[CategoryRow]) -> None:
        """Put each of Pydantic's errors next to the input it is about."""
        for error in exc.errors():
            loc, message = error["loc"], error["msg"]
            if loc and loc[0] in ("name", "description") and len(loc) == 1:
                self.errors.setdefault(str(loc[0]), message)
            elif loc == ("categories",):
                self.errors.setdefault("categories", message)
            elif len(loc) >= 3 and loc[0] == "categories" and isinstance(loc[1], int):
                row, name = kept[loc[1]], str(loc[2])
                if name == "keywords" and len(loc) > 3 and isinstance(loc[3], int):
                    message = f"“{row.keyword_list()[loc[3]]}”: {message}"
                if name in ROW_FIELDS and name != "id":
                    row.errors.setdefault(name, message)
                else:
                    self.top_errors.append(f"category {row.name!r}: {message}")
            else:
                self.top_errors.append(message)


def blank_rows() -> list[CategoryRow]:
    return [CategoryRow() for _ in range(BLANK_ROWS)]


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


class ClassificationForms(Controller):
    path = "/classifications"
    include_in_schema = False

    @get("/new")
    async def new(self, store: NamedDependency[AsyncStore]) -> Template:
        return await _page(store, ClassificationForm.of(None), None)

    @post("/new")
    async def create(self, request: Request, store: NamedDependency[AsyncStore]) -> Any:
        return await _submit(request, store, None)

    @get("/{cls_id:str}/edit")
    async def edit(self, store: NamedDependency[AsyncStore], cls_id: FromPath[str]) -> Template:
        classification = await load_classification(store, cls_id)
        return await _page(store, ClassificationForm.of(classification), classification)

    @post("/{cls_id:str}/edit")
    async def update(
        self, request: Request, store: NamedDependency[AsyncStore], cls_id: FromPath[str]
    ) -> Any:
        return await _submit(request, store, await load_classification(store, cls_id))


async def _submit(
    request: Request, store: AsyncStore, classification: dict[str, Any] | None
) -> Template | Redirect:
    raw = await request.form()
    form = ClassificationForm.parse(raw)
    if "more" in raw:
        form.rows += blank_rows()
        return await _page(store, form, classification)
    body, kept = form.payload()
    try:
        if classification is None:
            cls_id = await create_classification(store, ClassificationIn.model_validate(body))
        else:
            cls_id = classification["id"]
            await update_classification(store, cls_id, ClassificationPatch.model_validate(body))
    except ValidationError as exc:
        form.show(exc, kept)
        return await _page(store, form, classification, status=422)
    except InvalidInput as exc:
        form.top_errors.append(exc.message)
        return await _page(store, form, classification, status=422)
    return Redirect(f"/classifications/{cls_id}/review", status_code=303)


async def _page(
    store: AsyncStore,
    form: ClassificationForm,
    classification: dict[str, Any] | None,
    status: int = 200,
) -> Template:
    extractions = await store.list_extractions()
    return Template(
        "classification_form.html",
        context={
            "form": form,
            "classification": classification,
            "extractions": [{"id": e["id"], "name": e["name"]} for e in extractions],
            "known_extractions": {e["id"] for e in extractions},
            "blank": CategoryRow(),
        },
        status_code=status,
        media_type=MediaType.HTML,
    )
