"""The lab's multilingual subword tokenizer: a SentencePiece-style Unigram model, like XLM-RoBERTa's, in miniature.

jina-clip-v2's text tower reads XLM-R's 250k-piece SentencePiece vocabulary. The lab trains its own, a few
thousand pieces, on the world's text in seconds, and wraps it as a ``transformers.PreTrainedTokenizerFast`` so the
model, ``save_pretrained`` and ``from_pretrained`` treat it like any Hugging Face tokenizer.

Example:
    >>> tok = train_tokenizer(["a red circle", "un círculo rojo", "赤い丸"] * 10, vocab_size=60)
    >>> tok("un círculo rojo")["input_ids"][0] == tok.cls_token_id
    True
"""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from statistics import mean

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from jclip_lab.cache import write_directory_atomically
from jclip_lab.world import World

TOKENIZER_VERSION = 2  # bump when a change to this module changes the tokenizer trained on the same text
# XLM-RoBERTa's special tokens: <s> starts a text (the "CLS"), </s> ends it.
SPECIAL_TOKENS = {
    "cls_token": "<s>",
    "pad_token": "<pad>",
    "eos_token": "</s>",
    "unk_token": "<unk>",
    "mask_token": "<mask>",
}


def train_tokenizer(texts: Iterable[str], vocab_size: int = 4000) -> PreTrainedTokenizerFast:
    """Train a Unigram subword tokenizer on ``texts`` and wrap it for ``transformers``.

    Every character of the training text enters the alphabet, so the world's text never maps to ``<unk>`` in any
    script. Texts are NFKC-normalised and spaces become ``▁`` as in SentencePiece.

    Args:
        texts: training sentences (any languages and scripts).
        vocab_size: number of pieces, special tokens included.

    Returns:
        A ``PreTrainedTokenizerFast`` that adds ``<s> ... </s>`` around each text and pads with ``<pad>``.

    Raises:
        ValueError: if ``texts`` holds no non-empty text, or ``vocab_size`` is smaller than its alphabet.

    Example:
        >>> tok = train_tokenizer(["hello world", "hallo Welt"] * 5, vocab_size=40)
        >>> tok.convert_ids_to_tokens(tok("hello")["input_ids"])[0]
        '<s>'
    """
    texts = [t for t in texts if t.strip()]
    if not texts:
        raise ValueError("train_tokenizer needs at least one non-empty text.")
    alphabet = sorted({ch for text in texts for ch in text if not ch.isspace()})
    if vocab_size < len(alphabet) + len(SPECIAL_TOKENS):
        raise ValueError(
            f"vocab_size={vocab_size} cannot hold the {len(alphabet)} distinct characters of the text plus "
            f"{len(SPECIAL_TOKENS)} special tokens; use vocab_size >= {len(alphabet) + len(SPECIAL_TOKENS)}."
        )
    tokenizer = Tokenizer(models.Unigram())
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS.values()),
        unk_token=SPECIAL_TOKENS["unk_token"],
        initial_alphabet=alphabet,
        max_piece_length=12,
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    tokenizer = _canonical(tokenizer)
    cls, eos = SPECIAL_TOKENS["cls_token"], SPECIAL_TOKENS["eos_token"]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{cls} $A {eos}",
        pair=f"{cls} $A {eos} {eos} $B {eos}",
        special_tokens=[(cls, tokenizer.token_to_id(cls)), (eos, tokenizer.token_to_id(eos))],
    )
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, **SPECIAL_TOKENS)


def _canonical(tokenizer: Tokenizer) -> Tokenizer:
    """The same tokenizer with its pieces in a reproducible order, so the same text always gets the same ids.

    The Unigram trainer walks hash maps and sums floats in a varying order. Characters it must keep but did not
    score come out in a random order, each with a made-up score just below the lowest real one (0.0001 apart),
    and the ids of all pieces follow the scores. Here the scores are rounded to 6 decimals, that bottom block of
    single characters shares one score, and pieces are numbered by (score, piece) after the special tokens, so
    training twice on the same text gives the same tokenizer.
    """
    state = json.loads(tokenizer.to_str())
    specials = list(SPECIAL_TOKENS.values())
    ordered = sorted(
        ((piece, score) for piece, score in state["model"]["vocab"] if piece not in specials), key=lambda item: -item[1]
    )
    start = len(ordered) - 1
    while start > 0 and len(ordered[start - 1][0]) == 1 and ordered[start - 1][1] - ordered[start][1] < 1.0001e-4:
        start -= 1
    fallback = round(ordered[-1][1], 6) - 1.0
    pieces = [(piece, round(score, 6)) for piece, score in ordered[:start]]
    pieces += [(piece, fallback) for piece, _ in ordered[start:]]
    pieces.sort(key=lambda item: (-item[1], item[0]))
    state["model"]["vocab"] = [[piece, 0.0] for piece in specials] + [[piece, score] for piece, score in pieces]
    state["model"]["unk_id"] = specials.index(SPECIAL_TOKENS["unk_token"])
    return Tokenizer.from_str(json.dumps(state))


def unknown_token_rate(tokenizer: PreTrainedTokenizerFast, texts: Iterable[str]) -> float:
    """Fraction of produced tokens that are ``<unk>``: 0.0 means every character was covered.

    Example:
        >>> tok = train_tokenizer(["abc"] * 5, vocab_size=20)
        >>> unknown_token_rate(tok, ["abc"]), unknown_token_rate(tok, ["xyz"]) > 0
        (0.0, True)
    """
    ids = [i for text in texts for i in tokenizer(text, add_special_tokens=False)["input_ids"]]
    return sum(i == tokenizer.unk_token_id for i in ids) / max(len(ids), 1)


def tokens_per_sentence(
    tokenizer: PreTrainedTokenizerFast, texts_by_language: Mapping[str, Iterable[str]]
) -> dict[str, float]:
    """Mean number of subword tokens per sentence (special tokens excluded), for each language.

    Scripts the vocabulary covers poorly need more tokens for the same meaning: the same sentence costs more of
    the context window and more compute. The notebook plots this per language.

    Example:
        >>> tok = train_tokenizer(["red circle", "círculo rojo"] * 5, vocab_size=40)
        >>> sorted(tokens_per_sentence(tok, {"en": ["red circle"], "es": ["círculo rojo"]}))
        ['en', 'es']
    """
    return {
        language: mean(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)
        for language, texts in texts_by_language.items()
    }


def world_texts(world: World) -> list[str]:
    """Every distinct text of the world: captions (short, long, hard negatives), text pairs, triplets, STS pairs.

    Example:
        >>> texts = world_texts(world)
        >>> "red circle" in texts, len(texts) > 1000
        (True, True)
    """
    texts = {t for r in world.images for key in ("short", "long", "negative") for t in r.get(key, {}).values()}
    texts |= {p[k] for p in world.text_pairs for k in ("a", "b")}
    texts |= {t[k] for t in world.triplets for k in ("anchor", "positive", "negative")}
    texts |= {p[k] for p in world.sts for k in ("a", "b")}
    return sorted(texts)


def load_world_tokenizer(world: World, vocab_size: int | None = None) -> PreTrainedTokenizerFast:
    """The tokenizer of ``world`` (``vocab_size`` defaults to the profile's), trained once and cached beside it.

    Example:
        >>> from jclip_lab.world import World
        >>> few = World(world.images[:20], [], [], [], world.profile, seed=0)  # 20 images' captions, no cache folder
        >>> tokenizer = load_world_tokenizer(few, vocab_size=2000)  # a world with a folder caches it there
        >>> len(tokenizer) <= 2000, tokenizer("red circle")["input_ids"][0] == tokenizer.cls_token_id
        (True, True)
    """
    vocab_size = vocab_size or world.profile.vocab_size
    directory = Path(world.directory) / f"tokenizer-v{TOKENIZER_VERSION}-{vocab_size}" if world.directory else None
    if directory is not None and directory.exists():
        try:
            return AutoTokenizer.from_pretrained(directory)
        except Exception as error:  # a damaged or half-deleted cache entry: train it again
            warnings.warn(f"The cached tokenizer in {directory} is damaged ({error}): training it again.", stacklevel=2)
            shutil.rmtree(directory)
    tokenizer = train_tokenizer(world_texts(world), vocab_size)
    if directory is not None:
        write_directory_atomically(directory, tokenizer.save_pretrained)
    return tokenizer
