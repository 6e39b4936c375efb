"""Whether a document is in the language its classification is written in.

A category's keywords are words of the language its definitions are written in, so their
absence says nothing of a German invoice filed under English keywords; and on the dev set the
1.5B model read documents in other languages poorly (of the 9 not in English, it named the
right category for 1: German and French invoices were receipts to it, one-hot sure). The
verdict weighs both by the document's familiarity: 1 less the probability that it is in
another language than the definitions' (app.verdict.evidence); the categories'
descriptions and labelled examples, embedded by a multilingual model, still count in full.

Languages are told apart by langid.py's naive Bayes over byte n-grams (the py3langid wheel,
97 languages, its model file inside the wheel, checked against a pinned sha256): a
millisecond for a page, nothing downloaded.
"""

from __future__ import annotations

import hashlib
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

MODEL_SHA256 = "f4f4a2c3465ca1f081541037f9cac23021d68151c2f709c55ae5eedfca522963"
SAMPLE = 3000  # characters looked at: a page tells its language
SURE = 0.9  # definitions whose likeliest language is less likely than this tell none
FOREIGN = 0.5  # a document less familiar than this is said to be in another language
# What a person reads instead of langid's ISO 639-1 code, for the languages documents mostly
# come in; any other is shown by its code.
NAMES = {
    "ar": "Arabic", "bg": "Bulgarian", "ca": "Catalan", "cs": "Czech", "da": "Danish",
    "de": "German", "el": "Greek", "en": "English", "es": "Spanish", "et": "Estonian",
    "fi": "Finnish", "fr": "French", "he": "Hebrew", "hi": "Hindi", "hr": "Croatian",
    "hu": "Hungarian", "id": "Indonesian", "it": "Italian", "ja": "Japanese", "ko": "Korean",
    "lt": "Lithuanian", "lv": "Latvian", "nb": "Norwegian", "nl": "Dutch", "no": "Norwegian",
    "pl": "Polish", "pt": "Portuguese", "ro": "Romanian", "ru": "Russian", "sk": "Slovak",
    "sl": "Slovenian", "sr": "Serbian", "sv": "Swedish", "th": "Thai", "tr": "Turkish",
    "uk": "Ukrainian", "vi": "Vietnamese", "zh": "Chinese",
}  # fmt: skip


@cache
def _identifier() -> LanguageIdentifier:
    path = Path(MODEL_DIR) / MODEL_FILE
    if hashlib.sha256(path.read_bytes()).hexdigest() != MODEL_SHA256:
        raise RuntimeError(f"{path} does not match the sha256 pinned for py3langid")
    return LanguageIdentifier.from_model_file(path, norm_probs=True)


def ranked(text: str) -> list[tuple[str, float]]:
    """Languages by probability, the likeliest first."""
    return _identifier().rank(text[:SAMPLE])


@lru_cache(maxsize=256)  # one per classification's definitions, as edited
def _written_in(definitions: str) -> str:
    """The definitions' language; empty when they are too short to tell (below SURE)."""
    language, probability = ranked(definitions)[0]
    return language if probability >= SURE else ""


def definitions_text(categories: list[dict[str, Any]]) -> str:
    return "\n".join(
        " ".join([c["name"], c.get("description") or "", *(c.get("keywords") or [])])
        for c in categories
    )


def familiarity(text: str, categories: list[dict[str, Any]]) -> tuple[str, float]:
    """The document's likeliest language, and how far it is from being in another language
    than the definitions': 1 less the probability of that other language, so a text too short
    to tell by (a few words, a list of figures) counts as familiar."""
    written_in = _written_in(definitions_text(categories))
    if not written_in or not any(ch.isalpha() for ch in text):
        return "", 1.0
    language, probability = ranked(text)[0]
    return language, 1.0 if language == written_in else 1.0 - probability


def name(code: str) -> str:
    """The language's English name, its code when it has none here, "another language" when
    it could not be told."""
    return NAMES.get(code, code) or "another language"


def foreign(familiar: float) -> bool:
    """Whether a verdict should say the document is in another language than its
    categories'."""
    return familiar < FOREIGN
