"""Name normalisation for duplicate detection and text search."""

import unicodedata


def normalize_name(name: str) -> str:
    """NFKC, case-folded, without spaces, punctuation or symbols.

    'Starbucks Coffee 渋谷店', 'ＳＴＡＲＢＵＣＫＳ　ＣＯＦＦＥＥ　渋谷店'
    and 'starbucks-coffee 渋谷店'
    all normalise to the same key.
    """
    folded = unicodedata.normalize("NFKC", name).casefold()
    return "".join(ch for ch in folded if unicodedata.category(ch)[0] not in "PZSC")


def like_pattern(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, with LIKE's wildcards escaped."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
