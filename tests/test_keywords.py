from app.verdict.keywords import Match, find, matches

CATEGORIES = [
    {"name": "Invoice", "keywords": ["invoice", "amount due", "VAT"]},
    {"name": "Receipt", "keywords": ["receipt", "cash", "change", "thank you"]},
    {"name": "Email", "keywords": ["From:", "Subject:"]},
    {"name": "Paper", "keywords": ["et al."]},
    {"name": "Memo", "keywords": []},
]


def test_keywords_are_whole_words_in_any_case() -> None:
    assert find("CASH TENDERED 50.00\nChange 41.50", ["cash", "change"]) == ("cash", "change")
    assert find("Cashew nuts, unchanged", ["cash", "change"]) == ()


def test_a_phrase_matches_across_spaces_and_line_breaks() -> None:
    assert find("Thank\n  you and come again", ["thank you"]) == ("thank you",)
    assert find("Amount   due: 12", ["amount due"]) == ("amount due",)


def test_keywords_with_punctuation_match_as_written() -> None:
    assert find("From: ann@example.com", ["From:"]) == ("From:",)
    assert find("Fromage", ["From:"]) == ()
    assert find("as Smith et al. showed", ["et al."]) == ("et al.",)
    assert find("as Smith et alii showed", ["et al."]) == ()


def test_matches_lists_categories_by_the_share_of_their_keywords_found() -> None:
    text = "TAX INVOICE\nTotal 8.50\nCASH 50.00\nCHANGE 41.50\nThank you"

    assert matches(text, CATEGORIES) == [
        Match("Receipt", ("cash", "change", "thank you"), 4),
        Match("Invoice", ("invoice",), 3),
    ]


def test_no_keyword_found_and_no_keywords_give_no_match() -> None:
    assert matches("A recipe for banana bread", CATEGORIES) == []
