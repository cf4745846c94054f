"""ComfyUI's prompt syntax: emphasis weights, and the 77-token windows CLIP reads a long prompt in.

`(text)` multiplies the weight by 1.1 (nesting multiplies again), `(text:1.3)` sets it to 1.3, `\\(` and `\\)`
are literal parentheses; square brackets have no meaning (as in ComfyUI). Words stay whole within a window
unless they are 8 tokens or longer; each window is start token, up to 75 tokens, end token, padded with end
tokens to 77.
"""

from __future__ import annotations

from dataclasses import dataclass

from impasto.models.tokenizer import END_TOKEN, START_TOKEN, tokenize

WINDOW = 77
EMPHASIS = 1.1
LONG_WORD = 8  # tokens; shorter words move whole to the next window
_OPEN, _CLOSE = "\0\2", "\0\1"  # stand-ins for escaped parentheses while parsing


@dataclass(frozen=True, slots=True)
class Weighted:
    text: str
    weight: float


@dataclass(frozen=True, slots=True)
class Token:
    id: int
    weight: float = 1.0


def _groups(text: str) -> list[str]:
    """Top-level pieces: plain text, and balanced `( ... )` groups with their parentheses."""
    parts: list[str] = []
    current = ""
    depth = 0
    for char in text:
        if char == "(":
            if depth == 0 and current:
                parts.append(current)
                current = ""
            depth += 1
            current += char
        elif char == ")" and depth > 0:
            depth -= 1
            current += char
            if depth == 0:
                parts.append(current)
                current = ""
        else:
            current += char
    if current:
        parts.append(current)
    return parts


def _parse(text: str, weight: float) -> list[Weighted]:
    out: list[Weighted] = []
    for part in _groups(text):
        if len(part) >= 2 and part[0] == "(" and part[-1] == ")":
            inner, inner_weight = part[1:-1], weight * EMPHASIS
            colon = inner.rfind(":")
            if colon > 0:
                try:
                    inner_weight = float(inner[colon + 1 :])
                    inner = inner[:colon]
                except ValueError:
                    pass  # "(a:b)" is emphasised text that contains a colon
            out += _parse(inner, inner_weight)
        else:
            out.append(Weighted(part, weight))
    return out


def parse_weights(text: str) -> list[Weighted]:
    """The prompt as pieces of text with their weights, escapes resolved."""
    escaped = text.replace("\\(", _OPEN).replace("\\)", _CLOSE)
    return [Weighted(p.text.replace(_OPEN, "(").replace(_CLOSE, ")"), p.weight) for p in _parse(escaped, 1.0)]


def _words(text: str) -> list[list[Token]]:
    """Each weighted word's tokens, in order."""
    words: list[list[Token]] = []
    for piece in parse_weights(text):
        for word in piece.text.replace("\n", " ").split(" "):
            if word:
                words.append([Token(t, piece.weight) for t in tokenize(word)])
    return [w for w in words if w]


def windows(text: str) -> list[list[Token]]:
    """The prompt as 77-token windows (at least one, for the empty prompt)."""
    room = WINDOW - 2
    result: list[list[Token]] = []
    current: list[Token] = []
    for word in _words(text):
        while word:
            if len(current) + len(word) <= room:
                current += word
                break
            if len(word) >= LONG_WORD:  # split a long word at the window's edge
                free = room - len(current)
                current += word[:free]
                word = word[free:]
            result.append(current)
            current = []
    result.append(current)
    return [[Token(START_TOKEN), *w, Token(END_TOKEN)] + [Token(END_TOKEN)] * (room - len(w)) for w in result]


def empty_window() -> list[Token]:
    """The empty prompt's window: what weights scale the encoding towards or away from."""
    return [Token(START_TOKEN)] + [Token(END_TOKEN)] * (WINDOW - 1)
