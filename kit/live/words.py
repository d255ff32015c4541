"""Words of a word cloud: the banned-words list (``kit/data/banned_words.yaml``, bokmål and
English, both always apply) and the cloud itself, counted over normalised answers."""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache

import pandas as pd
import yaml

from kit.errors import KitError
from kit.settings import DATA_DIR, LANGUAGES

BANNED_PATH = DATA_DIR / "banned_words.yaml"
MAX_CLOUD = 60  # words a cloud shows (the most frequent)
_TOKEN = re.compile(r"[\wæøåÆØÅ-]+", re.UNICODE)


@lru_cache(maxsize=1)
def banned_words() -> frozenset[str]:
    data = yaml.safe_load(BANNED_PATH.read_text(encoding="utf-8")) or {}
    missing = [lang for lang in LANGUAGES if not isinstance(data.get(lang), list)]
    if missing:
        raise KitError(f"{BANNED_PATH.name}: no list for {', '.join(missing)}.")  # dev-text
    return frozenset(str(w).lower().strip() for lang in LANGUAGES for w in data[lang])


def is_banned(text: str) -> bool:
    """True when any whole word of ``text`` is on the banned list."""
    return any(tok in banned_words() for tok in _TOKEN.findall(text.lower()))


def word_counts(answers: pd.DataFrame, hidden: list[str] | None = None) -> pd.DataFrame:
    """The cloud: word (lower case, single spaces, the form the facilitator hides by; also
    ``key``), count (participants who gave it, each once); banned and hidden words left out, most
    frequent first, at most ``MAX_CLOUD``."""
    from kit.live.rounds import normal_word

    cols = ["key", "word", "count"]
    if not len(answers):
        return pd.DataFrame(columns=cols)
    words = answers[answers["question"].str.startswith("word:")]
    hide = {normal_word(h) for h in hidden or []}
    given: set[tuple[str, int]] = set()  # (word, participant): a word counts once per person
    for person, text in zip(words["participant"], words["text"], strict=True):
        if not isinstance(text, str):
            continue
        key = normal_word(text)
        if not key or key in hide or is_banned(text):
            continue
        given.add((key, int(person)))
    per_word = Counter(k for k, _ in given)
    rows = [{"key": k, "word": k, "count": n} for k, n in per_word.items()]
    rows.sort(key=lambda r: (-r["count"], r["key"]))
    return pd.DataFrame(rows[:MAX_CLOUD], columns=cols)
