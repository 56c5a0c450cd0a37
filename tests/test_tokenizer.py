"""Behaviour of the multilingual tokenizer: coverage of every script, special tokens, save and reload."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from jclip_lab.tokenizer import tokens_per_sentence, train_tokenizer, unknown_token_rate
from jclip_lab.world.cldr import country_name, emoji_name
from jclip_lab.world.languages import CAPTION_LANGUAGES, TEXT_LANGUAGES

CODES = ["JP", "FR", "BR", "IN", "EG", "TH", "GR", "KR", "RU", "US", "NG", "MX"]


@pytest.fixture(scope="module")
def texts_by_language():
    texts = {lang: [country_name(c, lang) for c in CODES] for lang in TEXT_LANGUAGES}
    for lang in CAPTION_LANGUAGES:
        texts[lang] += [emoji_name(e, lang) for e in "🔴🟦💚🐶🍎🚗🌙⭐"]
    return texts


@pytest.fixture(scope="module")
def tokenizer(texts_by_language):
    return train_tokenizer([t for texts in texts_by_language.values() for t in texts], vocab_size=1500)


def test_no_unknown_tokens_in_any_script(tokenizer, texts_by_language):
    for language, texts in texts_by_language.items():
        assert unknown_token_rate(tokenizer, texts) == 0.0, language


def test_texts_are_wrapped_in_special_tokens_and_padded(tokenizer):
    batch = tokenizer(["赤い丸", "a red circle and a blue square"], padding=True)
    first = batch["input_ids"][0]
    assert first[0] == tokenizer.cls_token_id
    assert tokenizer.eos_token_id in first
    assert first[-1] == tokenizer.pad_token_id and batch["attention_mask"][0][-1] == 0
    assert tokenizer.mask_token == "<mask>"


def test_save_and_reload_tokenize_identically(tokenizer, tmp_path):
    tokenizer.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    for text in ["Japón", "ญี่ปุ่น", "जापान", "Ιαπωνία"]:
        assert reloaded(text)["input_ids"] == tokenizer(text)["input_ids"]


def test_tokens_per_sentence_by_language(tokenizer, texts_by_language):
    counts = tokens_per_sentence(tokenizer, texts_by_language)
    assert set(counts) == set(TEXT_LANGUAGES)
    assert all(count >= 1 for count in counts.values())


def test_an_unseen_script_maps_to_unknown(tokenizer):
    assert unknown_token_rate(tokenizer, ["ᚠᚢᚦᚨᚱᚲ"]) > 0  # runes were never in the training text


def test_empty_text_or_too_small_vocabulary_is_an_error():
    with pytest.raises(ValueError, match="non-empty text"):
        train_tokenizer(["", "  "])
    with pytest.raises(ValueError, match="cannot hold the 6 distinct characters"):
        train_tokenizer(["abc", "xyz"], vocab_size=8)


def test_training_twice_gives_the_same_ids(texts_by_language):
    texts = [t for texts in texts_by_language.values() for t in texts]
    first, second = train_tokenizer(texts, vocab_size=1500), train_tokenizer(texts, vocab_size=1500)
    assert first.get_vocab() == second.get_vocab()
    assert first.backend_tokenizer.to_str() == second.backend_tokenizer.to_str()
