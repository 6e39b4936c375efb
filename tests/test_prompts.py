import pytest
from jinja2 import UndefinedError

from app.prompts import Prompts
from app.verdict.classifier import Classifier, answer_schema

from .conftest import ROOT


@pytest.fixture
def classification(inbox):
    return inbox


def render(classification, text, prompts_dir=ROOT / "prompts"):
    rendered = Classifier(None, Prompts(prompts_dir))._render(classification, text)  # type: ignore[arg-type]
    return rendered.system, rendered.user


async def test_system_prompt_lists_every_category_and_none(classification):
    system, user = render(classification, "Hello")
    for category in classification["categories"]:
        assert f"- {category['name']}: {category['description']}" in system
    assert "invoice, bill to, total due" in system
    assert "- none:" in system
    assert "Inbox triage" in system
    assert user == "<document>\nHello\n</document>"


async def test_what_is_shared_by_every_file_comes_first(classification):
    first = render(classification, "ZEBRA-1 text")
    second = render(classification, "ZEBRA-2 text")
    assert first[0] == second[0]
    assert "ZEBRA" not in first[0] and "ZEBRA-1" in first[1]


async def test_editing_a_template_changes_the_prompt_without_code(classification, tmp_path):
    for name in ("classify_system", "classify_user"):
        (tmp_path / f"{name}.j2").write_text((ROOT / "prompts" / f"{name}.j2").read_text())
    prompts = Prompts(tmp_path)
    (tmp_path / "classify_user.j2").write_text("DOC: {{ text }}")
    assert prompts.render("classify_user", text="abc") == "DOC: abc"
    (tmp_path / "classify_user.j2").write_text("Document follows: {{ text }}")
    assert prompts.render("classify_user", text="abc") == "Document follows: abc"


async def test_unknown_variable_is_an_error(tmp_path):
    (tmp_path / "t.j2").write_text("{{ classification.nmae }}")
    with pytest.raises(UndefinedError):
        Prompts(tmp_path).render("t", classification={"name": "x"})


def test_schema_offers_the_names_and_none_after_the_reasoning():
    schema = answer_schema(["Invoice", "Receipt"])
    assert list(schema["properties"]) == ["reasoning", "category"]
    assert schema["required"] == ["reasoning", "category"]
    assert schema["properties"]["category"]["enum"] == ["Invoice", "Receipt", "none"]
