"""Text in the text8 alphabet: the mapping of any text to it, letters ↔ tokens, and
reading text files with clear errors.

text8 (Mahoney's ``wikifil.pl`` applied to Wikipedia) keeps the 26 lowercase letters and
the space. Other text is mapped the way text8 was made, restricted to what plain text
needs (:func:`text8_normalize`):

1. ASCII capitals A–Z become lowercase;
2. every other character that is not a–z — punctuation, digits, the apostrophe U+2019,
   newlines, accented or non-Latin letters — becomes a space (wikifil spells digits out,
   "1" → " one "; here a digit becomes a space: the paper's GPT file has none);
3. runs of spaces collapse to one space. Nothing is stripped: text8 is one long stream.

Tokens are 0..25 for a..z and 26 for the space (:data:`TEXT8_ALPHABET`).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

__all__ = ["TEXT8_ALPHABET", "text8_normalize", "encode_text", "decode_text", "read_text"]

#: The 27 letters of text8, in token order (the space is token 26).
TEXT8_ALPHABET = "abcdefghijklmnopqrstuvwxyz "

_NOT_LETTER = re.compile(r"[^a-z]")
_SPACES = re.compile(r" +")


def text8_normalize(text: str) -> str:
    """Map ``text`` to the text8 alphabet (module docstring).

    Examples
    --------
    >>> text8_normalize("Mara’s dew-kissed cot; She rose.")
    'mara s dew kissed cot she rose '
    >>> text8_normalize("A  B,,C 3")
    'a b c '
    """
    lowered = "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)
    return _SPACES.sub(" ", _NOT_LETTER.sub(" ", lowered))


def encode_text(text: str, alphabet: str = TEXT8_ALPHABET) -> np.ndarray:
    """Tokens (int64) of a text over ``alphabet``; a ``ValueError`` names the first
    characters outside it."""
    lookup = {c: i for i, c in enumerate(alphabet)}
    bad = sorted(set(text) - set(lookup))
    if bad:
        raise ValueError(f"`text` must hold only characters of {alphabet!r} (got {bad[:5]}); map it first, "
                         f"e.g. with text8_normalize.")
    return np.fromiter((lookup[c] for c in text), dtype=np.int64, count=len(text))


def decode_text(tokens, alphabet: str = TEXT8_ALPHABET) -> str:
    """The text of tokens over ``alphabet``."""
    return "".join(alphabet[int(v)] for v in np.ravel(tokens))


def read_text(path, *, name: str = "path", min_length: int = 1) -> str:
    """The text of a UTF-8 file mapped to the text8 alphabet (:func:`text8_normalize`; the
    identity on text8 itself).

    Raises a ``ValueError`` naming ``name`` (the option or argument the path came from)
    when the file is missing, a folder, not UTF-8 text, empty, or shorter than
    ``min_length`` characters after the mapping.
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{name} {str(path)!r} does not exist.")
    if path.is_dir():
        raise ValueError(f"{name} {str(path)!r} is a folder; give a text file.")
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{name} {str(path)!r} is not UTF-8 text.") from None
    if not raw.strip():
        raise ValueError(f"{name} {str(path)!r} is empty.")
    text = text8_normalize(raw)
    if len(text) < min_length:
        raise ValueError(f"{name} {str(path)!r} has {len(text):,} characters (in the text8 alphabet); at least "
                         f"{min_length:,} are needed.")
    return text
