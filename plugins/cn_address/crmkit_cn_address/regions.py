"""China's administrative divisions (GB/T 2260): codes, names, and reading a typed address.

    >>> divisions().path("440305")
    ('广东省', '深圳市', '南山区')
    >>> divisions().resolve("广东 深圳 南山")
    '440305'

A 6-digit code names a province (`44` + `0000`), a prefecture-level city (`4403` + `00`) or a
county-level district (`440305`). The four municipalities, and counties governed directly
by a province, sit under placeholder cities (市辖区, 县, 省直辖县级行政区划): kept as
codes, skipped in names. The data is regions.tsv (scripts/regions_from_cpca.py).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from itertools import product
from typing import Mapping

LEVELS = ("province", "city", "district")
PLACEHOLDERS = frozenset({"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"})
#: Endings a name may be typed without, longest first: 广西壮族自治区 -> 广西, 深圳市 -> 深圳, 南山区 -> 南山.
SUFFIXES = ("维吾尔自治区", "壮族自治区", "回族自治区", "特别行政区", "自治区", "自治州", "自治县", "地区", "林区",
            "省", "市", "区", "县", "盟", "旗")
SEPARATORS = re.compile(r"[\s,，、/|·\-]+")
CODE = re.compile(r"[1-9][0-9]{5}")


class Ambiguous(ValueError):
    """A name that several divisions have: `candidates` are their codes."""

    def __init__(self, text: str, candidates: tuple[str, ...]) -> None:
        super().__init__(text)
        self.candidates = candidates


def level_of(code: str) -> int:
    """1 for a province, 2 for a city, 3 for a district."""
    return 1 if code.endswith("0000") else 2 if code.endswith("00") else 3


def short(name: str) -> str:
    """The name without its administrative ending, when something is left: 深圳市 -> 深圳 (but 市中区 stays)."""
    for suffix in SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name


@dataclass(frozen=True)
class Divisions:
    names: Mapping[str, str]
    #: Every way a division may be typed (its names and those of its parents, full or short) -> codes.
    keys: Mapping[str, frozenset[str]]
    #: How many divisions share each 2- and 4-digit prefix (the division itself included).
    counts: Mapping[str, int]
    #: The longest key, in characters.
    longest: int = 0

    def __contains__(self, code: str) -> bool:
        return code in self.names

    def parents(self, code: str) -> tuple[str, ...]:
        """The codes from the province down to `code` that exist, placeholders included."""
        chain = [code[:2] + "0000", code[:4] + "00", code]
        return tuple(dict.fromkeys(c for c in chain[: level_of(code)] if c in self.names))

    def path(self, code: str) -> tuple[str, ...]:
        """The names from the province down, placeholders skipped: ('北京市', '朝阳区')."""
        return tuple(self.names[c] for c in self.parents(code) if self.names[c] not in PLACEHOLDERS)

    def has_children(self, code: str) -> bool:
        """Whether a province has cities or a city districts (东莞市 has none)."""
        level = level_of(code)
        return level < 3 and self.counts.get(code[: 2 * level], 0) > 1

    def resolve(self, text: str) -> str | None:
        """The code of what `text` names (a code, or names from any level down, full or short), None when
        nothing does; raises Ambiguous when several divisions do (朝阳区: Beijing's or Changchun's)."""
        compact = SEPARATORS.sub("", text)
        if CODE.fullmatch(compact):
            return compact if compact in self.names else None
        return self._one(text, self.keys.get(compact, frozenset()))

    def split(self, text: str) -> tuple[str | None, str]:
        """(code, the rest) of an address written from its division down: the longest start of `text`
        that names a division, and what follows it (the street), stripped. Raises Ambiguous like resolve."""
        characters = [(index, char) for index, char in enumerate(text) if not SEPARATORS.fullmatch(char)]
        compact = "".join(char for _, char in characters)
        if CODE.match(compact[:6]) and compact[:6] in self.names:
            return compact[:6], text[characters[5][0] + 1:].strip() if len(characters) > 6 else ""
        for length in range(min(len(compact), self.longest), 1, -1):
            found = self.keys.get(compact[:length])
            if found:
                rest = text[characters[length - 1][0] + 1:].strip()
                return self._one(text, found), SEPARATORS.sub(" ", rest).strip()
        return None, text.strip()

    @staticmethod
    def _one(text: str, found: frozenset[str]) -> str | None:
        if len(found) > 1:
            raise Ambiguous(text, tuple(sorted(found)))
        return next(iter(found), None)


@lru_cache(maxsize=1)
def divisions() -> Divisions:
    """Every division of regions.tsv, read once."""
    text = resources.files(__package__).joinpath("regions.tsv").read_text(encoding="utf-8")
    names: dict[str, str] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        code, name = line.split("\t")
        if level_of(code) == 3 and name in PLACEHOLDERS:
            continue  # a prefecture's former "urban districts" entry: no place of its own
        names[code] = name
    counts: dict[str, int] = {}
    for code in names:
        for prefix in (code[:2], code[:4]):
            counts[prefix] = counts.get(prefix, 0) + 1
    partial = Divisions(names, {}, counts)
    keys: dict[str, set[str]] = {}
    for code, name in names.items():
        if name in PLACEHOLDERS:
            continue
        chain = [names[c] for c in partial.parents(code) if names[c] not in PLACEHOLDERS]
        spellings = [(full, short(full)) for full in chain]
        for start in range(len(spellings)):  # from the province, the city or the division itself
            for words in product(*spellings[start:]):
                keys.setdefault("".join(words), set()).add(code)
    return Divisions(names, {key: frozenset(codes) for key, codes in keys.items()}, counts,
                     max(map(len, keys), default=0))
