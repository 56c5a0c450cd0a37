"""The world's languages: which ones caption images, which ones only pair texts, and their scripts.

jina-clip-v2 trains on English plus 29 other languages. The lab's world has three circles of languages:

- ``CAPTION_LANGUAGES`` (14): CLDR's emoji names (via the ``emoji`` package) exist in these, so images of shapes
  and emoji get captions in all of them.
- ``TEXT_LANGUAGES`` (33): jina-clip-v2's 30 languages plus Persian and Norwegian; CLDR (via ``babel``) names
  countries, languages and currencies in all of them, which gives translation pairs in 12 scripts.
- ``TRANSFER_LANGUAGES``: caption languages held back from image-text training. They meet images only through
  text pairs, and the test asks image retrieval in them (the language-transfer experiment).

Example:
    >>> check_language("ko", CAPTION_LANGUAGES)
    'ko'
    >>> SCRIPTS["ko"]
    'Hangul'
"""

from __future__ import annotations

from collections.abc import Iterable

CAPTION_LANGUAGES: tuple[str, ...] = (
    "en", "es", "pt", "it", "fr", "de", "ru", "tr", "id", "ja", "ko", "zh", "ar", "fa",
)  # fmt: skip

# jina-clip-v2's languages (paper, section 4), plus fa (an emoji-name language) and no.
TEXT_LANGUAGES: tuple[str, ...] = (
    "en", "ar", "bn", "da", "de", "el", "es", "fa", "fi", "fr", "hi", "hu", "id", "it", "ja", "ko", "lv",
    "nl", "no", "pl", "pt", "ro", "ru", "sk", "sv", "ta", "te", "th", "tr", "uk", "ur", "vi", "zh",
)  # fmt: skip

TRANSFER_LANGUAGES: tuple[str, ...] = ("ko", "tr", "fa")

SCRIPTS: dict[str, str] = {
    **dict.fromkeys(
        ["en", "es", "pt", "it", "fr", "de", "tr", "id", "da", "fi", "hu", "lv", "nl", "no", "pl", "ro", "sk",
         "sv", "vi"],
        "Latin",
    ),  # fmt: skip
    **dict.fromkeys(["ru", "uk"], "Cyrillic"),
    **dict.fromkeys(["ar", "fa", "ur"], "Arabic"),
    "ja": "Japanese", "ko": "Hangul", "zh": "Han", "bn": "Bengali", "el": "Greek", "hi": "Devanagari",
    "ta": "Tamil", "te": "Telugu", "th": "Thai",
}  # fmt: skip

# Hand-translated words CLDR does not provide: object sizes and horizontal positions, for long captions.
SIZE_WORDS: dict[str, tuple[str, str]] = {
    "en": ("small", "large"), "es": ("pequeño", "grande"), "pt": ("pequeno", "grande"),
    "it": ("piccolo", "grande"), "fr": ("petit", "grand"), "de": ("klein", "groß"),
    "ru": ("маленький", "большой"), "tr": ("küçük", "büyük"), "id": ("kecil", "besar"),
    "ja": ("小さい", "大きい"), "ko": ("작은", "큰"), "zh": ("小", "大"), "ar": ("صغير", "كبير"),
    "fa": ("کوچک", "بزرگ"),
}  # fmt: skip
POSITION_WORDS: dict[str, tuple[str, str, str]] = {
    "en": ("left", "middle", "right"), "es": ("izquierda", "centro", "derecha"),
    "pt": ("esquerda", "centro", "direita"), "it": ("sinistra", "centro", "destra"),
    "fr": ("gauche", "centre", "droite"), "de": ("links", "Mitte", "rechts"),
    "ru": ("слева", "в центре", "справа"), "tr": ("sol", "orta", "sağ"), "id": ("kiri", "tengah", "kanan"),
    "ja": ("左", "中央", "右"), "ko": ("왼쪽", "가운데", "오른쪽"), "zh": ("左边", "中间", "右边"),
    "ar": ("يسار", "وسط", "يمين"), "fa": ("چپ", "وسط", "راست"),
}  # fmt: skip


def check_language(language: str, valid: Iterable[str] = TEXT_LANGUAGES) -> str:
    """Return ``language`` if it is one of ``valid``, else raise a ValueError that lists the valid ones.

    Example:
        >>> check_language("xx", ["en", "de"])
        Traceback (most recent call last):
        ...
        ValueError: Unknown language 'xx'; valid languages: de, en
    """
    valid = tuple(valid)
    if language not in valid:
        raise ValueError(f"Unknown language {language!r}; valid languages: {', '.join(sorted(valid))}")
    return language
