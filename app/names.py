"""What users name things with: one spelling per name, and no invisible characters.

Names are NFKC-normalised, so "café" typed composed or decomposed is one name and fullwidth
"ｎｏｎｅ" is the reserved "none"; control and format characters (Unicode category C) would
make two names look alike, or hide text in a prompt, so they are refused. Descriptions are
free text, kept as typed: line breaks (CRLF made LF), tabs and the format characters some
scripts need are fine, any other control character is refused.
"""

from __future__ import annotations

import unicodedata

from pydantic import AfterValidator

TEXT_CONTROLS = frozenset("\n\t")


def clean_name(value: str) -> str:
    value = unicodedata.normalize("NFKC", value).strip()
    for ch in value:
        if unicodedata.category(ch).startswith("C"):
            raise ValueError(
                f"a name has no control or invisible characters (found U+{ord(ch):04X})"
            )
    return value


def clean_text(value: str) -> str:
    value = value.replace("\r\n", "\n").strip()
    for ch in value:
        if unicodedata.category(ch) == "Cc" and ch not in TEXT_CONTROLS:
            raise ValueError(
                f"a description has no control characters but line breaks and tabs"
                f" (found U+{ord(ch):04X})"
            )
    return value


# For Annotated[str, ...], before the length and pattern constraints, which then apply to
# the cleaned value.
CleanName = AfterValidator(clean_name)
CleanText = AfterValidator(clean_text)
