"""'Did you mean ...?' for misspelled keys and names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(word: str, candidates: Iterable[str]) -> str | None:
    pool = sorted(set(candidates))
    lowered = {c.lower(): c for c in pool}
    if word.lower() in lowered and lowered[word.lower()] != word:
        return lowered[word.lower()]
    normalised = {c.replace("-", "_").lower(): c for c in pool}
    key = word.replace("-", "_").lower()
    if key in normalised and normalised[key] != word:
        return normalised[key]
    match = difflib.get_close_matches(word, pool, n=1, cutoff=0.7)
    return match[0] if match else None


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    match = closest(word, candidates)
    return f"did you mean '{match}'?" if match else None
