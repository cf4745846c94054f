"""CLIP's byte-level BPE tokenizer (Radford et al. 2021), offline, on Hugging Face's `tokenizers` library.

The vocabulary ships with impasto (`clip_vocab/`, MIT, see its LICENSE): 256 byte symbols, the same with
the end-of-word marker `</w>`, 48,894 merges, then `<|startoftext|>` and `<|endoftext|>`, 49,408 ids in all.
Text is NFC-normalised, whitespace-collapsed and lowercased, split into words, letters and digits by
CLIP's pattern, then byte-level encoded and merged.
"""

from __future__ import annotations

import gzip
from functools import cache
from importlib import resources

from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers
from tokenizers.models import BPE

START_TOKEN = 49406
END_TOKEN = 49407
VOCAB_SIZE = 49408
_MERGES = VOCAB_SIZE - 2 * 256 - 2  # 48,894
# CLIP's word pattern: contractions, runs of letters, single digits, runs of other non-space characters.
_PATTERN = r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""


def byte_symbols() -> list[str]:
    """GPT-2's reversible byte -> printable character table, in CLIP's vocabulary order: the printable
    Latin-1 bytes stand for themselves, the other bytes for characters from U+0100 on."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    symbols = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in symbols:
            symbols[b] = chr(256 + extra)
            extra += 1
    return [symbols[b] for b in printable] + [symbols[b] for b in range(256) if b not in printable]


def read_merges() -> list[tuple[str, str]]:
    data = resources.files("impasto.models").joinpath("clip_vocab/bpe_simple_vocab_16e6.txt.gz").read_bytes()
    lines = gzip.decompress(data).decode("utf-8").split("\n")
    pairs = [line.split() for line in lines[1 : 1 + _MERGES]]  # line 0 is a version header
    return [(a, b) for a, b in pairs]


@cache
def clip_tokenizer() -> Tokenizer:
    """The tokenizer, built once per process from the shipped vocabulary (about 0.3 s)."""
    merges = read_merges()
    symbols = byte_symbols()
    tokens = [*symbols, *(s + "</w>" for s in symbols), *("".join(m) for m in merges)]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {token: index for index, token in enumerate(tokens)}
    tokenizer = Tokenizer(
        BPE(vocab=vocab, merges=merges, continuing_subword_prefix="", end_of_word_suffix="</w>", fuse_unk=False)
    )
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_PATTERN), behavior="removed", invert=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    return tokenizer


def tokenize(text: str) -> list[int]:
    """Token ids of `text`, without start/end tokens."""
    return list(clip_tokenizer().encode(text, add_special_tokens=False).ids)
