import math

import pytest

from app.evaluation.metrics import calibration, temper
from app.model import Reply
from app.prompts import Prompts
from app.verdict.classifier import Classifier
from app.verdict.confidence import (
    Token,
    category_distribution,
    category_probability,
    first_token_probability,
    reasoning_probability,
)

from .conftest import ROOT

NAMES = ["Invoice", "Receipt", "Scientific paper", "Sales letter", "none"]


def lp(p: float) -> float:
    return math.log(p)


def answer_tokens(value_tokens: list[Token]) -> list[Token]:
    head = [
        '{"',
        "reason",
        "ing",
        '":',
        ' "',
        "A",
        " shop",
        ".",
        '",',
        ' "',
        "category",
        '":',
        ' "',
    ]
    return [Token(t, 0.0, [(t, 0.0)]) for t in head] + value_tokens + [Token("}", 0.0, [])]


def test_single_token_name_renormalised_over_the_allowed_names():
    tokens = answer_tokens(
        [Token("Receipt", lp(0.6), [("Receipt", lp(0.6)), ("Invoice", lp(0.2)), ("The", lp(0.2))])]
        + [Token('"', 0.0, [('"', 0.0)])]
    )
    assert category_probability(tokens, "Receipt", NAMES) == pytest.approx(0.6 / 0.8)


def test_multi_token_name_multiplies_along_the_path_and_splits_at_the_divergence():
    tokens = answer_tokens(
        [
            Token("S", lp(0.5), [("S", lp(0.5)), ("Invoice", lp(0.25)), ("X", lp(0.25))]),
            Token(
                "cientific", lp(0.6), [("cientific", lp(0.6)), ("ales", lp(0.3)), ("ky", lp(0.1))]
            ),
            Token(" paper", lp(0.9), [(" paper", lp(0.9)), (" papers", lp(0.1))]),
            Token('"', lp(1.0), [('"', lp(1.0))]),
        ]
    )
    expected = (0.5 / 0.75) * (0.6 / 0.9) * (0.9 / 0.9)
    assert category_probability(tokens, "Scientific paper", NAMES) == pytest.approx(expected)


def test_a_token_that_carries_the_opening_quote_is_read_too():
    head = ['{"', "category", '":']
    tokens = [Token(t, 0.0, [(t, 0.0)]) for t in head] + [
        Token(' "none', lp(0.3), [(' "none', lp(0.3)), (' "Invoice', lp(0.1)), (" 42", lp(0.6))]),
        Token('"}', 0.0, [('"}', 0.0)]),
    ]
    assert category_probability(tokens, "none", NAMES) == pytest.approx(0.75)


def test_chosen_token_missing_from_top_list_still_counts():
    tokens = answer_tokens(
        [Token("Invoice", lp(0.01), [("Receipt", lp(0.5))]), Token('"', 0.0, [('"', 0.0)])]
    )
    assert category_probability(tokens, "Invoice", NAMES) == pytest.approx(0.01 / 0.51)


def test_no_tokens_or_no_category_gives_none():
    assert category_probability([], "Invoice", NAMES) is None
    tokens = [Token('{"reasoning": "x"}', 0.0, [])]
    assert category_probability(tokens, "Invoice", NAMES) is None


async def test_classifier_weighs_the_names_probabilities_not_a_number_the_model_writes(inbox):
    content = '{"reasoning": "A shop.", "category": "Receipt", "confidence": 0.95}'
    value = Token("Receipt", lp(0.6), [("Receipt", lp(0.6)), ("Invoice", lp(0.3)), ("Z", lp(0.1))])
    tokens = [Token(content[: content.index("Receipt")], 0.0, [])] + [
        value,
        Token(content[content.index("Receipt") + 7 :], 0.0, []),
    ]

    class Model:
        model = "m"

        async def chat_json(self, *args):
            return Reply(content, tokens)

    classifier = Classifier(Model(), Prompts(ROOT / "prompts"))
    verdict = await classifier.classify(inbox, "Thank you for shopping with us today.")
    assert verdict.confidence_sources == {"logprob": pytest.approx(2 / 3)}
    assert verdict.category_id == inbox["categories"][2]["id"]
    # At 0.2 a nat per nat of the model's: Receipt 2/3, Invoice 1/3, Contract and none the
    # floor; the three keywords each of Invoice and Contract have, all absent, count
    # log(0.95 / 0.5) each against them.
    absent = 3 * math.log(0.95 / 0.5)
    scores = [0.2 * math.log(2 / 3), 0.2 * math.log(1 / 3) - absent,
              0.2 * math.log(1e-4) - absent, 0.2 * math.log(1e-4)]  # fmt: skip
    assert verdict.confidence == pytest.approx(math.exp(scores[0]) / sum(map(math.exp, scores)))


def test_temper_keeps_order_and_one_half():
    assert temper(0.5, 3.0) == pytest.approx(0.5)
    assert temper(0.99, 1.0) == pytest.approx(0.99)
    assert 0.5 < temper(0.99, 4.0) < 0.99
    assert temper(0.9, 4.0) < temper(0.99, 4.0)


def test_fitted_temperature_cools_an_overconfident_source():
    confidences = [0.99] * 10 + [0.6] * 10
    right = [True] * 7 + [False] * 3 + [True] * 5 + [False] * 5
    cal = calibration(confidences, right)
    assert cal.temperature > 1
    assert cal.ece_tempered < cal.ece


def test_first_token_probability_reads_the_names_the_model_would_have_said():
    first = Token(
        "{",
        lp(0.01),
        [
            ("Receipt", lp(0.5)),
            ("Invoice", lp(0.2)),
            ("None", lp(0.1)),
            ("S", lp(0.1)),
            ("{", lp(0.01)),
        ],
    )
    tokens = [first, Token('"', 0.0, [])]
    total = 0.5 + 0.2 + 0.1 + 0.1
    assert first_token_probability(tokens, "Receipt", NAMES) == pytest.approx(0.5 / total)
    assert first_token_probability(tokens, "none", NAMES) == pytest.approx(0.1 / total)
    assert first_token_probability(tokens, "Sales letter", NAMES) == pytest.approx(0.05 / total)


def test_first_token_probability_is_none_without_names_there():
    tokens = [Token("{", 0.0, [("{", 0.0)])]
    assert first_token_probability(tokens, "Receipt", NAMES) is None
    assert first_token_probability([], "Receipt", NAMES) is None


def test_reasoning_probability_reads_where_the_reasoning_names_the_type():
    tokens = [
        Token('{"reasoning": "The document is a', 0.0, []),
        Token(
            " receipt", lp(0.6), [(" receipt", lp(0.6)), (" sales", lp(0.2)), (" bill", lp(0.2))]
        ),
        Token(' from a shop.", "category": "Receipt"}', 0.0, []),
    ]
    names = ["Invoice", "Receipt", "Sales letter", "none"]
    assert reasoning_probability(tokens, "Receipt", names) == pytest.approx(0.75)
    assert reasoning_probability(tokens, "Invoice", names) is None


def test_reasoning_probability_needs_a_rival_name_at_that_point():
    tokens = [
        Token('{"reasoning": "A', 0.0, []),
        Token(" receipt", lp(0.9), [(" receipt", lp(0.9)), (" short", lp(0.1))]),
        Token('.", "category": "Receipt"}', 0.0, []),
    ]
    assert reasoning_probability(tokens, "Receipt", ["Invoice", "Receipt", "none"]) is None


def test_category_distribution_reads_the_names_at_the_category_field():
    opened = Token('{"reasoning": "A shop.", "category": "', 0.0, [])
    value = Token(
        "Invoice",
        lp(0.5),
        [("Invoice", lp(0.5)), ("receipt", lp(0.2)), (" Receipt", lp(0.1)), ("Z", lp(0.2))],
    )
    dist = category_distribution([opened, value, Token('"}', 0.0, [])], NAMES)
    assert dist == {
        "Invoice": pytest.approx(0.5 / 0.8),
        "Receipt": pytest.approx(0.3 / 0.8),
        "Scientific paper": 0.0,
        "Sales letter": 0.0,
        "none": 0.0,
    }


def test_category_distribution_counts_the_chosen_token_and_shares_a_common_start():
    opened = Token('{"reasoning": "x", "category": "', 0.0, [])
    # The grammar chose "none", which was not among the model's raw top tokens; "N" starts
    # both "News" and "none".
    value = Token("none", lp(0.1), [("N", lp(0.4)), ("Notice", lp(0.5))])
    dist = category_distribution([opened, value], ["News", "Invoice", "none"])
    assert dist == {
        "News": pytest.approx(0.2 / 0.5),
        "Invoice": 0.0,
        "none": pytest.approx(0.3 / 0.5),
    }
    assert category_distribution([Token('{"reasoning": "x"}', 0.0, [])], NAMES) == {}
