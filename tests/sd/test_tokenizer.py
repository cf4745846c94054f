"""The shipped CLIP tokenizer matches transformers' CLIPTokenizer built from the same vocabulary; ComfyUI's
emphasis syntax and 77-token windows; weighted encoding."""

from __future__ import annotations

import json

import pytest
import torch
from torch.testing import assert_close

from impasto.models.checkpoint import load_sd1
from impasto.models.conditioning import encode_prompt
from impasto.models.prompt import empty_window, parse_weights, windows
from impasto.models.tokenizer import END_TOKEN, START_TOKEN, VOCAB_SIZE, byte_symbols, read_merges, tokenize

PROMPTS = [
    "a photo of a cat, highly detailed!!  Ünïcode café 123",
    "masterpiece, (best quality:1.2), 1girl, looking at viewer",
    "emoji 🐱🚀 and 中文字符 and ß",
    "it's they'll we'd I'M",
    "tab\there\nnewline   spaces",
    "a_b-c.d/e\\f 3.14159 #hashtag @user",
    "",
]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    from transformers import CLIPTokenizer

    directory = tmp_path_factory.mktemp("clip_vocab")
    merges = read_merges()
    symbols = byte_symbols()
    tokens = [*symbols, *(s + "</w>" for s in symbols), *("".join(m) for m in merges), "<|startoftext|>"]
    tokens.append("<|endoftext|>")
    (directory / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}))
    (directory / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n")
    return CLIPTokenizer(str(directory / "vocab.json"), str(directory / "merges.txt"))


def test_the_vocabulary_has_clips_49408_ids():
    assert len(read_merges()) == VOCAB_SIZE - 514
    assert len(set(byte_symbols())) == 256
    assert tokenize("a photo of a cat") == [320, 1125, 539, 320, 2368]  # CLIP's well-known ids


@pytest.mark.parametrize("text", PROMPTS)
def test_tokens_match_transformers(reference, text):
    assert tokenize(text) == reference(text, add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a cat", [("a cat", 1.0)]),
        ("a (red) cat", [("a ", 1.0), ("red", 1.1), (" cat", 1.0)]),
        ("((red))", [("red", pytest.approx(1.21))]),
        ("(red:1.5) cat", [("red", 1.5), (" cat", 1.0)]),
        ("((red:0.5))", [("red", 0.5)]),
        ("(a (b) c:2)", [("a ", 2.0), ("b", pytest.approx(2.2)), (" c", 2.0)]),
        ("(time: noon)", [("time: noon", pytest.approx(1.1))]),  # not a number after the colon: plain text
        ("\\(literal\\) [square]", [("(literal) [square]", 1.0)]),
        ("(unclosed", [("(unclosed", 1.0)]),
        ("stray) (x)", [("stray) ", 1.0), ("x", 1.1)]),
    ],
    ids=["plain", "emphasis", "nested", "explicit", "explicit-wins", "inner", "colon-text", "escaped", "open", "stray"],
)
def test_emphasis_syntax(text, expected):
    assert [(p.text, p.weight) for p in parse_weights(text)] == expected


def test_windows_hold_75_tokens_and_keep_short_words_whole():
    assert [t.id for t in windows("")[0]] == [START_TOKEN] + [END_TOKEN] * 76
    assert windows("") == [empty_window()]
    cat = tokenize("cat")
    chunks = windows(" ".join(["cat"] * 100))
    assert len(chunks) == 2 and all(len(c) == 77 for c in chunks)
    assert [t.id for t in chunks[0][1:76]] == cat * 75
    assert [t.id for t in chunks[1][1:26]] == cat * 25 and chunks[1][26].id == END_TOKEN
    # A 3-token word that would cross the edge starts the next window.
    word = "abcdefghijk"
    assert 2 <= len(tokenize(word)) < 8
    chunks = windows(" ".join(["cat"] * 74 + [word]))
    assert [t.id for t in chunks[0][1:76]] == cat * 74 + [END_TOKEN]
    assert [t.id for t in chunks[1][1 : 1 + len(tokenize(word))]] == tokenize(word)


def test_a_long_word_is_split_at_the_window_edge():
    long_word = "-".join(["x"] * 20)  # 39 tokens
    tokens = tokenize(long_word)
    chunks = windows(" ".join(["cat"] * 60 + [long_word]))
    assert [t.id for t in chunks[0][61:76]] == tokens[:15]
    assert [t.id for t in chunks[1][1 : 1 + len(tokens) - 15]] == tokens[15:]


def test_weights_follow_their_tokens():
    chunk = windows("a (cat:1.5) b")[0]
    assert [(t.id, t.weight) for t in chunk[1:4]] == [
        (tokenize("a")[0], 1.0),
        (tokenize("cat")[0], 1.5),
        (tokenize("b")[0], 1.0),
    ]


@pytest.fixture(scope="module")
def clip(tiny_sd):
    return load_sd1(tiny_sd.path).clip


def test_weighted_encoding_interpolates_from_the_empty_prompt(clip):
    plain = encode_prompt(clip, "a cat on a mat")
    ids = torch.tensor([[t.id for t in windows("a cat on a mat")[0]]])
    with torch.no_grad():
        direct = clip(ids)
        empty = clip(torch.tensor([[t.id for t in empty_window()]])).hidden
    assert_close(plain.hidden, direct.hidden)
    assert_close(plain.pooled, direct.pooled)
    weighted = encode_prompt(clip, "a (cat:1.5) on a mat")
    expected = direct.hidden.clone()
    expected[0, 2] = empty[0, 2] + 1.5 * (direct.hidden[0, 2] - empty[0, 2])
    assert_close(weighted.hidden, expected)
    skipped = encode_prompt(clip, "a cat on a mat", last_layer=-2)
    with torch.no_grad():
        assert_close(skipped.hidden, clip(ids, last_layer=-2).hidden)


def test_a_10000_character_prompt_encodes_in_windows(clip):
    text = ("a very long prompt about cats " * 400)[:10_000]
    encoded = encode_prompt(clip, text)
    count = len(windows(text))
    assert count > 20
    assert encoded.hidden.shape == (1, 77 * count, 128)
    assert encoded.pooled.shape == (1, 128)
