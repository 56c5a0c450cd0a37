"""Build the world's records from its sources: images with captions, text pairs, triplets and STS pairs.

A record is a plain dict (JSON on disk). Images are not stored in it: ``spec`` says what to draw, and
``render_image`` draws it at any resolution, since the training stages raise the resolution.

Every random choice comes from ``random.Random(f"{seed}:{what}")``, so the same seed and version give the same
world, and one source can change without reshuffling the others.

Example:
    >>> from jclip_lab.profiles import get_profile
    >>> records = build_records(get_profile("tiny"), seed=0, sources=("digits",))
    >>> sorted(records)
    ['images', 'sts', 'text_pairs', 'triplets']
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable

import numpy as np
from babel import Locale

from jclip_lab.profiles import Profile
from jclip_lab.world import charts, digits, emoji_art, scenes
from jclip_lab.world.cldr import (
    captionable_emoji,
    country_name,
    currency_name,
    emoji_name,
    flag,
    has_number_words,
    language_name,
    number_words,
)
from jclip_lab.world.languages import CAPTION_LANGUAGES, TEXT_LANGUAGES

SOURCES: tuple[str, ...] = ("scenes", "emoji", "flags", "digits", "charts")
SPLITS: tuple[str, ...] = ("train", "val", "test", "compositional")
VARIANTS = 4  # emoji and flags are drawn 4 times: variants 0-1 train, 2 val, 3 test
_VARIANT_SPLIT = ("train", "train", "val", "test")


def check_sources(sources: Iterable[str]) -> tuple[str, ...]:
    """Return ``sources`` as a tuple, or raise a ValueError that names the unknown ones and lists the valid ones.

    Example:
        >>> check_sources(["scenes", "charts"])
        ('scenes', 'charts')
    """
    sources = tuple(sources)
    unknown = [s for s in sources if s not in SOURCES]
    if unknown:
        raise ValueError(f"Unknown source(s) {unknown}; valid sources: {', '.join(SOURCES)}")
    return sources


def _split(rng: random.Random, fractions: tuple[float, float] = (0.7, 0.1)) -> str:
    u = rng.random()
    return "train" if u < fractions[0] else "val" if u < sum(fractions) else "test"


def _image(source: str, split: str, group: str, spec: dict, short: dict, long: dict | None = None) -> dict:
    return {
        "source": source,
        "split": split,
        "group": group,
        "spec": spec,
        "short": short,
        "long": long or short,
    }


def _scene_images(count: int, rng: random.Random, compositional_fraction: float = 0.15) -> list[dict]:
    """Random scenes; those holding a held-out object form the ``compositional`` split (capped at a fraction)."""
    records: list[dict] = []
    compositional_left = round(count * compositional_fraction)
    while len(records) < count:
        scene = scenes.random_scene(rng)
        if scenes.has_held_out_object(scene):
            if compositional_left == 0:
                continue
            compositional_left -= 1
            split = "compositional"
        else:
            split = _split(rng)
        record = _image(
            "scenes",
            split,
            scenes.short_caption(scene, "en"),
            scene,
            {lang: scenes.short_caption(scene, lang) for lang in CAPTION_LANGUAGES},
            {lang: scenes.long_caption(scene, lang) for lang in CAPTION_LANGUAGES},
        )
        negative = scenes.hard_negative(scene, rng)
        record["negative"] = {lang: scenes.short_caption(negative, lang) for lang in CAPTION_LANGUAGES}
        records.append(record)
    return records


def _emoji_images(count: int, rng: random.Random) -> list[dict]:
    shapes = {e for colours in scenes.EMOJI.values() for e in colours.values()}
    symbols = [e for e in captionable_emoji() if e not in shapes and emoji_art.svg_path(e) is not None]
    records = []
    for symbol in rng.sample(symbols, min(count, len(symbols))):
        names = {lang: emoji_name(symbol, lang) for lang in CAPTION_LANGUAGES}
        for variant in range(VARIANTS):
            spec = {"symbol": symbol, "variant": variant}
            records.append(_image("emoji", _VARIANT_SPLIT[variant], symbol, spec, names))
    return records


def flag_countries() -> list[str]:
    """Two-letter country codes that OpenMoji draws a flag for and CLDR names in every text language.

    Territories that fly another's flag (Svalbard and Norway, St. Martin and France) and countries with identical
    flags (Indonesia and Monaco) would be images no model can tell apart: one code per drawing is kept, the
    one with the shortest English name.
    """
    english = Locale("en").territories
    codes = [c for c in english if len(c) == 2 and c.isalpha() and emoji_art.has_flag(c)]
    codes = [c for c in codes if all(c in Locale.parse(lang).territories for lang in TEXT_LANGUAGES)]
    by_drawing: dict[bytes, str] = {}
    for code in sorted(codes, key=lambda c: (len(english[c]), c)):
        by_drawing.setdefault(emoji_art.svg_path(flag(code)).read_bytes(), code)
    return sorted(by_drawing.values())


def _flag_images(count: int, rng: random.Random) -> list[dict]:
    countries = flag_countries()
    records = []
    for code in sorted(rng.sample(countries, min(count, len(countries)))):
        names = {lang: country_name(code, lang) for lang in TEXT_LANGUAGES}
        for variant in range(VARIANTS):
            spec = {"code": code, "variant": variant}
            records.append(_image("flags", _VARIANT_SPLIT[variant], code, spec, names))
    return records


def _digit_images(count: int, rng: random.Random) -> list[dict]:
    _, labels = digits.load_digits_data()
    records = []
    for index in sorted(rng.sample(range(len(labels)), count)):
        label = int(labels[index])
        words = {lang: number_words(label, lang) for lang in CAPTION_LANGUAGES}
        long = {lang: f"{label} ({word})" for lang, word in words.items()}
        records.append(_image("digits", _split(rng), str(label), {"index": index}, words, long))
    return records


def _chart_images(count: int, rng: random.Random) -> list[dict]:
    records = []
    for _ in range(count):
        spec = charts.random_chart(rng)
        short, long = charts.chart_caption(spec, long=False), charts.chart_caption(spec)
        records.append(_image("charts", _split(rng), long, spec, {"en": short}, {"en": long}))
    return records


def render_image(record: dict, sizes: tuple[int, ...]) -> list[np.ndarray]:
    """Draw one image record as RGB ``uint8`` arrays, one ``size`` x ``size`` image per entry of ``sizes``."""
    spec = record["spec"]
    match record["source"]:
        case "scenes":
            return [scenes.render_scene(spec, size) for size in sizes]
        case "emoji":
            return [emoji_art.render_emoji(spec["symbol"], size, spec["variant"]) for size in sizes]
        case "flags":
            return [emoji_art.render_emoji(flag(spec["code"]), size, spec["variant"]) for size in sizes]
        case "digits":
            return [digits.render_digit(digits.load_digits_data()[0][spec["index"]], size) for size in sizes]
        case "charts":
            return charts.render_chart(spec, sizes)
    raise ValueError(f"Unknown source {record['source']!r}; valid sources: {', '.join(SOURCES)}")


def _translation_pairs(kind: str, names: dict[str, dict[str, str]], rng: random.Random) -> list[dict]:
    """English to every other language, and one random other pair, for each concept (split by concept)."""
    pairs = []
    for concept, by_language in names.items():
        split = _split(rng, (0.8, 0.1))
        languages = [lang for lang in by_language if lang != "en"]
        a, b = rng.sample(languages, 2)
        for lang_a, lang_b in [("en", lang) for lang in languages] + [(a, b)]:
            pairs.append(
                {
                    "a": by_language[lang_a], "b": by_language[lang_b], "lang_a": lang_a, "lang_b": lang_b,
                    "kind": kind, "split": split, "group": concept,
                }
            )  # fmt: skip
    return pairs


def _cldr_concepts(rng: random.Random) -> dict[str, dict[str, dict[str, str]]]:
    """Country, language and currency names in every text language, and emoji names in every caption language."""
    locales = {lang: Locale.parse(lang) for lang in TEXT_LANGUAGES}

    def named_everywhere(table: str) -> list[str]:
        codes = set(getattr(locales["en"], table))
        for locale in locales.values():
            codes &= set(getattr(locale, table))
        return sorted(codes)

    countries = [c for c in named_everywhere("territories") if c.isalpha()]
    languages = [c for c in named_everywhere("languages") if len(c) == 2]
    currencies = rng.sample(named_everywhere("currencies"), 150)
    symbols = captionable_emoji()
    return {
        "country": {c: {lang: country_name(c, lang) for lang in TEXT_LANGUAGES} for c in countries},
        "language": {c: {lang: language_name(c, lang) for lang in TEXT_LANGUAGES} for c in languages},
        "currency": {c: {lang: currency_name(c, lang) for lang in TEXT_LANGUAGES} for c in currencies},
        "emoji": {e: {lang: emoji_name(e, lang) for lang in CAPTION_LANGUAGES} for e in symbols},
        "number": {
            str(n): {lang: number_words(n, lang) for lang in TEXT_LANGUAGES if has_number_words(lang)}
            for n in range(101)
        },
    }


def _caption_pairs(images: list[dict], rng: random.Random) -> list[dict]:
    """Scene captions across languages (translations) and with the objects reordered (paraphrases)."""
    pairs = []
    for record in images:
        if record["source"] != "scenes":
            continue
        scene, split, group = record["spec"], record["split"], record["group"]
        for lang in CAPTION_LANGUAGES[1:]:
            pairs.append(
                {"a": record["short"]["en"], "b": record["short"][lang], "lang_a": "en", "lang_b": lang,
                 "kind": "caption", "split": split, "group": group}
            )  # fmt: skip
        if len(scene["objects"]) > 1:
            lang = rng.choice(CAPTION_LANGUAGES)
            order = list(range(len(scene["objects"])))
            while order == sorted(order):
                rng.shuffle(order)
            pairs.append(
                {"a": record["short"][lang], "b": scenes.short_caption(scene, lang, order), "lang_a": lang,
                 "lang_b": lang, "kind": "paraphrase", "split": split, "group": group}
            )  # fmt: skip
    return pairs


def _triplets(images: list[dict], rng: random.Random) -> list[dict]:
    """(anchor, positive, hard negative): a caption, its translation, and the translation of a one-change scene."""
    triplets = []
    for record in images:
        if record["source"] != "scenes":
            continue
        for _ in range(2):
            lang_a, lang_b = rng.sample(CAPTION_LANGUAGES, 2)
            triplets.append(
                {"anchor": record["short"][lang_a], "positive": record["short"][lang_b],
                 "negative": record["negative"][lang_b], "lang_a": lang_a, "lang_b": lang_b,
                 "split": record["split"]}
            )  # fmt: skip
    return triplets


def _sts_pairs(images: list[dict], rng: random.Random, per_split: int = 300) -> list[dict]:
    """Caption pairs in one language scored 0-5 by the overlap of their scenes' meaning (graded, not binary)."""
    pairs = []
    for split in ("val", "test"):
        pool = [r for r in images if r["source"] == "scenes" and r["split"] == split]
        for _ in range(per_split):
            first = rng.choice(pool)
            # Half the partners share at least one object, so the scores cover the whole 0-5 range.
            sharing = [r for r in pool if scenes.atoms(r["spec"]) & scenes.atoms(first["spec"])]
            second = rng.choice(sharing if rng.random() < 0.5 else pool)
            score = round(scenes.similarity(first["spec"], second["spec"]), 3)
            for lang in CAPTION_LANGUAGES:
                pairs.append(
                    {"a": first["short"][lang], "b": second["short"][lang], "score": score, "lang": lang,
                     "split": split}
                )  # fmt: skip
    return pairs


def build_records(profile: Profile, seed: int = 0, sources: Iterable[str] = SOURCES) -> dict[str, list[dict]]:
    """Generate every record of the world for ``profile`` (no pixels): images, text pairs, triplets, STS pairs."""
    sources = check_sources(sources)

    def rng(what: str) -> random.Random:
        return random.Random(f"{seed}:{what}")

    makers = {
        "scenes": lambda: _scene_images(profile.scenes, rng("scenes")),
        "emoji": lambda: _emoji_images(profile.emoji, rng("emoji")),
        "flags": lambda: _flag_images(profile.flags, rng("flags")),
        "digits": lambda: _digit_images(profile.digits, rng("digits")),
        "charts": lambda: _chart_images(profile.charts, rng("charts")),
    }
    images = list(itertools.chain.from_iterable(makers[source]() for source in sources))
    concept_rng = rng("concepts")
    text_pairs = [
        pair
        for kind, names in _cldr_concepts(concept_rng).items()
        for pair in _translation_pairs(kind, names, concept_rng)
    ]
    text_pairs += _caption_pairs(images, rng("captions"))
    return {
        "images": images,
        "text_pairs": text_pairs,
        "triplets": _triplets(images, rng("triplets")),
        "sts": _sts_pairs(images, rng("sts")) if "scenes" in sources else [],
    }
