"""COCO's compressed RLE strings, read in Python exactly as pycocotools' `rleFrString` does.

Each run length is stored as the difference to the run two back (from the third run on), in
5-bit groups offset by 48 (characters '0' to 'o'), bit 0x20 meaning "more groups follow" and
bit 0x10 of the last group the sign. pycocotools reads such a string without checking it: a
string cut inside a number makes it read past the string's end, a character outside the
alphabet or a negative run turns into a huge unsigned run, and runs that do not add up to
height x width describe another image. The validator and the official mode's guards need to
know which of these a string is, without decoding the mask.
"""

from __future__ import annotations

FIRST, LAST = 48, 48 + 63  # the alphabet: '0' .. 'o'


def decode_counts(counts: str) -> tuple[list[int], str | None]:
    """The run lengths of a compressed RLE string, and why it is malformed (None: well formed)."""
    runs: list[int] = []
    position = 0
    data = counts.encode("utf-8")
    while position < len(data):
        value, shift, more = 0, 0, True
        while more:
            if position >= len(data):
                return runs, "compressed RLE counts end inside a number (pycocotools would read past the string)"
            code = data[position]
            if not FIRST <= code <= LAST:
                return runs, f"compressed RLE counts hold the character {chr(code)!r} at {position}, outside '0'..'o'"
            group = code - FIRST
            value |= (group & 0x1F) << shift
            more = bool(group & 0x20)
            position += 1
            shift += 5
            if not more and group & 0x10:
                value |= -1 << shift
        if len(runs) > 2:
            value += runs[-2]
        if value < 0:
            return runs, f"compressed RLE counts decode to a negative run ({value}) at run {len(runs)}"
        runs.append(value)
    return runs, None


def counts_problem(counts: str, pixels: int) -> str | None:
    """Why `counts` is not a well-formed compressed RLE of an image of `pixels` pixels, or None."""
    runs, problem = decode_counts(counts)
    if problem:
        return problem
    if sum(runs) != pixels:
        return f"compressed RLE counts cover {sum(runs)} pixels, not the image's {pixels}"
    return None


def truncated(counts: str) -> bool:
    """True when pycocotools would read past the end of `counts` (a string cut inside a number,
    or one holding a NUL, where the C string ends early). The official mode refuses it: what
    pycocotools computes from it depends on the memory behind the string."""
    data = counts.encode("utf-8")
    if 0 in data:
        data = data[: data.index(0)]
        if not data:
            return False
    more = False
    for code in data:
        more = bool((code - FIRST) & 0x20)
    return more
