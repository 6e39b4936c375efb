import pytest

from app.verdict import language
from app.verdict.language import familiarity

from .conftest import INBOX

GERMAN = (
    "Müller & Söhne GmbH, Hauptstraße 5, 80331 München. Rechnung Nr. 2026-0117 vom"
    " 03.02.2026. Wir berechnen Ihnen für die Lieferung und Montage 503,37 EUR. Zahlbar"
    " innerhalb von 14 Tagen ohne Abzug."
)
ENGLISH = "Dear Ann, thank you for your order. The invoice for the chairs is attached below."
GERMAN_CATEGORIES = [
    {"name": "Rechnung", "description": "Rechnungen von Lieferanten", "keywords": ["Rechnung"]},
    {"name": "Vertrag", "description": "Verträge und Vereinbarungen mit Kunden"},
]


def test_a_document_in_the_definitions_language_is_familiar() -> None:
    assert familiarity(ENGLISH, INBOX["categories"]) == ("en", 1.0)
    assert familiarity(GERMAN, GERMAN_CATEGORIES) == ("de", 1.0)


def test_a_document_in_another_language_is_not() -> None:
    found, familiar = familiarity(GERMAN, INBOX["categories"])
    assert found == "de" and familiar < 0.05
    found, familiar = familiarity(ENGLISH, GERMAN_CATEGORIES)
    assert found == "en" and familiar < 0.05


def test_too_little_text_to_tell_by_counts_as_familiar() -> None:
    assert familiarity("12.50 EUR", INBOX["categories"])[1] > 0.8
    assert familiarity("Hello", INBOX["categories"])[1] > 0.8
    assert familiarity("", INBOX["categories"]) == ("", 1.0)
    assert familiarity("4711 / 0815", INBOX["categories"]) == ("", 1.0)


def test_definitions_too_short_to_tell_their_language_make_everything_familiar() -> None:
    terse = [{"name": "A"}, {"name": "B"}]
    assert language.ranked(language.definitions_text(terse))[0][1] < language.SURE
    assert familiarity(GERMAN, terse) == ("", 1.0)


def test_a_language_is_shown_by_its_name_where_it_has_one() -> None:
    assert language.name("de") == "German"
    assert language.name("eo") == "eo"  # no name here: its code
    assert language.name("") == "another language"


def test_a_model_file_other_than_the_pinned_one_is_refused(monkeypatch, tmp_path) -> None:
    (tmp_path / language.MODEL_FILE).parent.mkdir(parents=True)
    (tmp_path / language.MODEL_FILE).write_bytes(b"not the model")
    language._identifier.cache_clear()
    monkeypatch.setattr(language, "MODEL_DIR", tmp_path)
    try:
        with pytest.raises(RuntimeError, match="sha256"):
            language._identifier()
    finally:
        monkeypatch.undo()
        language._identifier.cache_clear()
