import json
import math

import pytest

from app.cli import main
from app.prompts import Prompts
from app.verdict.classifier import NONE, Answer, Classifier, Rendered, explain
from app.verdict.evidence import Weighing
from app.verdict.keywords import matches

from .conftest import ROOT, FakeModel

CATEGORIES = [
    {"name": "Invoice", "keywords": ["invoice", "bill to", "amount due", "due date", "VAT"]},
    {"name": "Receipt", "keywords": ["receipt", "total", "cash", "change", "thank you"]},
    {"name": "Letter", "keywords": ["dear", "sincerely", "yours"]},
    {"name": "Memo", "keywords": []},
]
SHOP = "TAX INVOICE\n1 M COKE 3.50\nTOTAL 3.50\nCASH 10.00\nCHANGE 6.50\nTHANK YOU"


def posterior(model: dict[str, float], text: str, weighing: Weighing | None = None) -> dict:
    weighing = weighing or Weighing()
    return weighing.posterior(model, matches(text, CATEGORIES), CATEGORIES, NONE)


def test_the_posterior_covers_every_category_and_none_and_sums_to_one() -> None:
    p = posterior({"Invoice": 0.7, "Receipt": 0.3}, SHOP)
    assert set(p) == {"Invoice", "Receipt", "Letter", "Memo", NONE}
    assert sum(p.values()) == pytest.approx(1.0)


def test_keywords_outweigh_a_model_sure_of_the_heading() -> None:
    p = posterior({"Invoice": 0.999, "Receipt": 0.001}, SHOP)
    assert max(p, key=p.get) == "Receipt"
    assert p["Receipt"] > 0.9


def test_without_keywords_on_either_side_the_model_decides() -> None:
    p = posterior({"Memo": 0.8, "Letter": 0.2}, "To all staff: the office closes at noon.")
    assert max(p, key=p.get) == "Memo"


def test_a_category_with_every_keyword_absent_loses_to_none_unless_the_model_is_trusted() -> None:
    german = "Rechnung Nr. 42, Betrag 960,00 EUR"
    by_default = posterior({"Invoice": 0.999, NONE: 0.001}, german)
    assert max(by_default, key=by_default.get) == NONE
    trusted = posterior({"Invoice": 0.999, NONE: 0.001}, german, Weighing(model_weight=1.0))
    assert max(trusted, key=trusted.get) == "Invoice"


def test_in_another_language_neither_the_model_nor_missing_keywords_count() -> None:
    german = "Rechnung Nr. 42, Betrag 960,00 EUR"
    model = {"Receipt": 0.999, NONE: 0.001}
    described = {"Invoice": 0.5, "Receipt": 0.2, "Letter": 0.1, "Memo": 0.1, NONE: 0.1}
    weighing = Weighing()
    found = matches(german, CATEGORIES)
    familiar = weighing.posterior(model, found, CATEGORIES, NONE, described)
    assert max(familiar, key=familiar.get) == NONE
    foreign = weighing.posterior(model, found, CATEGORIES, NONE, described, familiar=0.0)
    assert max(foreign, key=foreign.get) == "Invoice"
    assert foreign["Invoice"] / foreign[NONE] == pytest.approx((0.5 / 0.1) ** 0.75)
    assert foreign["Letter"] == pytest.approx(foreign["Memo"])  # 3 keywords missing and 0


def test_scores_follow_the_rates() -> None:
    weighing = Weighing(model_weight=0.0, hit_rate=0.6, stray_rate=0.2)
    p = posterior({}, "Dear Ann, yours, Bob", weighing)
    letter = 2 * math.log(0.6 / 0.2) - math.log(0.8 / 0.4)
    invoice = -5 * math.log(0.8 / 0.4)
    assert math.log(p["Letter"] / p[NONE]) == pytest.approx(letter)
    assert math.log(p["Invoice"] / p[NONE]) == pytest.approx(invoice)
    assert p["Memo"] == pytest.approx(p[NONE])


@pytest.mark.parametrize(
    "rates",
    [(0.5, 0.5), (0.1, 0.5), (1.0, 0.1), (0.5, 0.0)],
    ids=["equal", "inverted", "one", "zero"],
)
def test_rates_that_say_nothing_or_divide_by_zero_are_refused(rates) -> None:
    with pytest.raises(ValueError, match="DOCSORT_KEYWORD_STRAY_RATE"):
        Weighing(hit_rate=rates[0], stray_rate=rates[1])


def test_a_negative_model_weight_is_refused() -> None:
    with pytest.raises(ValueError, match="DOCSORT_MODEL_WEIGHT"):
        Weighing(model_weight=-1)


def answering(category: str) -> FakeModel:
    """The tests' fake model, answering one category without token probabilities."""
    model = FakeModel()
    reply = {"reasoning": "It says so.", "category": category, "confidence": 1}
    model.replies = [json.dumps(reply)]
    return model


async def test_the_classifier_says_when_the_keywords_outweigh_the_model(inbox) -> None:
    text = "Invoice 42. Bill to: Ann. Total due: 12 EUR"
    verdict = await Classifier(answering("Receipt"), Prompts(ROOT / "prompts")).classify(
        inbox, text
    )
    assert verdict.category_id == inbox["categories"][0]["id"]  # Invoice: all 3 keywords
    assert verdict.reasoning == (
        "Invoice, not the model's Receipt, once the keywords found (Invoice: invoice, bill to,"
        " total due) are weighed. The model: It says so."
    )


def test_a_verdict_without_keywords_says_none_were_found_and_names_the_language() -> None:
    rendered = Rendered("", "", found=[], language="de", familiar=0.03)
    reasoning = explain(Answer(reasoning="A shop receipt.", category="Receipt"), "none", rendered)
    assert reasoning == (
        "none, not the model's Receipt, once the model's probabilities are weighed; no keywords"
        " were found. The document reads as German, not the categories' language: the model's"
        " answer and missing keywords count for less. The model: A shop receipt."
    )


async def test_the_classifier_lists_the_keywords_that_agree_with_the_model(inbox) -> None:
    text = "This agreement between the party of the first part"
    verdict = await Classifier(answering("Contract"), Prompts(ROOT / "prompts")).classify(
        inbox, text
    )
    assert verdict.category_id == inbox["categories"][1]["id"]
    assert verdict.reasoning == "It says so. Keywords found: Contract: agreement, party."
    assert 0.5 < verdict.confidence < 1


async def test_keywords_are_found_beyond_the_part_of_the_text_the_model_sees(inbox) -> None:
    filler = "A long part. " * 20
    text = f"Dear Ann,\n{filler}Whereas the party agrees. {filler}\nBye."
    model = answering("Contract")
    classifier = Classifier(model, Prompts(ROOT / "prompts"), text_tokens=20)
    verdict = await classifier.classify(inbox, text)
    shown = model.calls[0]["user"]
    assert "Dear Ann" in shown and "Bye." in shown and "Whereas" not in shown
    assert verdict.evidence["keywords_found"] == {"Contract": ["party", "whereas"]}


def test_the_examples_learn_from_a_budget_of_their_own() -> None:
    text = "Dear Ann,\n" + " ".join(f"word{i}" for i in range(200)) + "\nBye."
    prompts = Prompts(ROOT / "prompts")
    both = Classifier(None, prompts, text_tokens=20, embed_tokens=80)  # type: ignore[arg-type]
    assert len(both.shown(text)) < len(both.embedded(text)) < len(text)
    assert both.embedded(text).startswith("Dear Ann") and both.embedded(text).endswith("Bye.")
    alone = Classifier(None, prompts, text_tokens=20)  # type: ignore[arg-type]
    assert alone.embedded(text) == alone.shown(text)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DOCSORT_KEYWORD_HIT_RATE", "0.05", "a setting is wrong: keyword rates need"),
        ("DOCSORT_TEXT_TOKENS", "0", "DOCSORT_TEXT_TOKENS, DOCSORT_KEYWORD_TEXT_TOKENS and"),
        ("DOCSORT_EMBED_TOKENS", "0", "DOCSORT_KEYWORD_TEXT_TOKENS and DOCSORT_EMBED_TOKENS"),
    ],
)
def test_a_wrong_setting_stops_the_cli_before_anything_starts(
    monkeypatch, capsys, name, value, message
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as stopped:
        main(["run"])
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err
