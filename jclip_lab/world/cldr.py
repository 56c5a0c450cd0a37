"""Names from Unicode CLDR, as the ``emoji``, ``babel`` and ``unicode-rbnf`` packages ship them.

CLDR is what translators of operating systems use, so its names are real translations, offline. This module only
looks names up; the sources (scenes, emoji, flags, digits) decide what to caption with them.

Example:
    >>> emoji_name("🔴", "fr"), country_name("JP", "hi"), number_words(7, "de")
    ('disque rouge', 'जापान', 'sieben')
"""

from __future__ import annotations

from functools import cache

import emoji
from babel import Locale
from unicode_rbnf import RbnfEngine

from jclip_lab.world.languages import CAPTION_LANGUAGES, TEXT_LANGUAGES, check_language


@cache
def _load_emoji_languages() -> None:
    for language in emoji.LANGUAGES:
        emoji.config.load_language(language)


def emoji_name(symbol: str, language: str) -> str:
    """CLDR's name of an emoji in one of the 14 emoji languages, as plain words ("red circle").

    Raises:
        ValueError: for a language the ``emoji`` package has no names in, or a symbol that is not an emoji.
    """
    check_language(language, CAPTION_LANGUAGES)
    _load_emoji_languages()
    if symbol not in emoji.EMOJI_DATA:
        raise ValueError(f"{symbol!r} is not an emoji known to the emoji package.")
    return emoji.EMOJI_DATA[symbol][language].strip(":").replace("_", " ")


def captionable_emoji() -> list[str]:
    """Single-character, fully qualified emoji named in every caption language (no flags, keycaps, skin tones).

    Example:
        >>> "🐶" in captionable_emoji()
        True
    """
    _load_emoji_languages()
    symbols = []
    for symbol, data in emoji.EMOJI_DATA.items():
        core = symbol.replace("\ufe0f", "")
        if len(core) == 1 and data["status"] == emoji.STATUS["fully_qualified"]:
            if all(language in data for language in CAPTION_LANGUAGES):
                symbols.append(symbol)
    return symbols


@cache
def _locale(language: str) -> Locale:
    return Locale.parse(check_language(language, TEXT_LANGUAGES))


def country_name(code: str, language: str) -> str:
    """CLDR's name of a country or territory (ISO 3166 ``code``) in ``language``."""
    return _locale(language).territories[code]


def language_name(code: str, language: str) -> str:
    """CLDR's name of the language ``code`` written in ``language`` ("French" is "français" in French)."""
    return _locale(language).languages[code]


def currency_name(code: str, language: str) -> str:
    """CLDR's name of the currency ``code`` in ``language``."""
    return _locale(language).currencies[code]


def flag(code: str) -> str:
    """The flag emoji of a two-letter country code: ``flag("JP") == "🇯🇵"``."""
    return "".join(chr(0x1F1E6 + ord(letter) - ord("A")) for letter in code.upper())


@cache
def _rbnf(language: str) -> RbnfEngine:
    return RbnfEngine.for_language(language)


def number_words(number: int, language: str) -> str:
    """The number spelled out in ``language`` by CLDR's rule-based number format ("sieben" for 7 in German)."""
    return _rbnf(check_language(language, TEXT_LANGUAGES)).format_number(number).text


def has_number_words(language: str) -> bool:
    """Whether CLDR's number-spelling rules cover ``language`` (30 of the 33 text languages)."""
    try:
        _rbnf(language)
    except ValueError:  # "xx is not supported"
        return False
    return True
