"""What users name things with: one spelling per name, and no invisible characters.

Names are NFKC-normalised, so "café" typed composed or decomposed is one name and fullwidth
"ｎｏｎｅ" is the reserved "none"; control and format characters (Unicode category C) would
make two names look alike, or hide text in a prompt, so they are refused. Descriptions are
free text, kept as typed: line breaks (CRLF made LF), tabs and the format characters some
scripts need are fine, any other control character is refused.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from pydantic import AfterValidator, GetJsonSchemaHandler
from pydantic_core import CoreSchema

TEXT_CONTROLS = frozenset("\n\t")
# A character strip() keeps, spelt out: a JSON Schema pattern is ECMA-262, whose \S would
# also take "\x1c"-"\x1f" and "\x85".
NOT_BLANK = r"[^\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"


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


class _NotBlank:
    """A name's JSON Schema, which sees the name as sent, not cleaned: a name that must not
    be empty has a character strip() keeps. Checks nothing: the length limit does."""

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        return {**handler(schema), "pattern": NOT_BLANK}


# For Annotated[str, ...], before the length and pattern constraints, which then apply to
# the cleaned value.
CleanName = AfterValidator(clean_name)
CleanText = AfterValidator(clean_text)
NotBlank = _NotBlank()
