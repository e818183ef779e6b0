"""Duplicate rules: when two records are the same person or company, and the keys that say so.

    rule = DuplicateRule.of(obj, "email")
    rule.key("  Li.Wei@Example.COM ")            # 'li.wei@example.com'
    DuplicateRule.of(obj, "phone", region="CN").key("138 0013 8000")   # '+8613800138000'

- email: the address trimmed and lower-cased (the part before @ is case-insensitive in practice).
- phone: the number (NFKC: full-width digits are digits) in E.164 (phonenumberslite), read with `region` for numbers written
  without a country code. A number that starts with "+" or "00" is read as international
  whatever the region. phonenumbers with region CN takes "(415) 555-2671" for a valid
  Chinese number (STACK.md trap 6): in region CN only a number with its trunk 0 or an
  11-digit mobile number is read as Chinese; others, and numbers not valid in their
  region, are kept as their digits. Text without digits gives no key.
- name: the object's title field, NFKC, case folded, spaces collapsed ("ACME  Ltd" = "acme ltd").

`candidates` narrows the stored records to compare with a few keys in SQL (the case-insensitive
index of the email or title column, the last 8 digits of a phone), and the keys are then
compared in Python.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Iterable

from sqlalchemy import ColumnElement, func

from crmkit.engine import messages
from crmkit.engine.query.lists import batch_keys
from crmkit.engine.tables import PrefixKey
from crmkit.engine.transfer.files import ImportFileError
from crmkit.metadata.model import ObjectDef

#: The rule names, as the CLI, the API and the UI give them.
RULES = ("email", "phone", "name")
#: What an import does with a row that matches a stored record: refuse the row, leave it out, or update the record.
ACTIONS = ("block", "skip", "merge")
#: The region numbers without a country code are read in, unless an import or a call says otherwise.
DEFAULT_REGION = "CN"

_SPACES = re.compile(r"\s+")
_NOT_DIGITS = re.compile(r"\D+")


@dataclass(frozen=True)
class DuplicateRule:
    """One rule: its kind (RULES), the field it compares and the default phone region."""

    kind: str
    field: str
    region: str = DEFAULT_REGION

    @classmethod
    def of(cls, obj: ObjectDef, kind: str, *, region: str = DEFAULT_REGION) -> "DuplicateRule":
        """The rule `kind` on `obj`: its first field of type email or phone, or its title field for "name".

        ImportFileError for an unknown kind or an object without such a field.
        """
        if kind not in RULES:
            raise ImportFileError(messages.DUPLICATE_RULE_UNKNOWN(rule=kind, rules=", ".join(RULES)))
        if kind == "name":
            field = obj.title_field
        else:
            field = next((name for name, fdef in obj.fields.items() if fdef.type == kind), None)
        if field is None:
            raise ImportFileError(messages.DUPLICATE_RULE_NO_FIELD(rule=kind, object=obj.name))
        return cls(kind, field, region.upper())

    def key(self, value: Any) -> str | None:
        """The value as compared (see the module docstring); None for an empty value or text without digits."""
        if value is None:
            return None
        text = str(value)
        if self.kind == "email":
            return text.strip().lower() or None
        if self.kind == "phone":
            return phone_key(text, self.region)
        return name_key(text)

    def candidates(self, column: ColumnElement, keys: Iterable[str], dialect: str) -> ColumnElement[bool]:
        """A condition on the stored column that every record with one of `keys` meets (a few others too)."""
        keys = sorted(set(keys))
        # Email and name: the column folded as its case-insensitive index folds it (PrefixKey: PostgreSQL
        # lower(value) COLLATE "C", SQLite COLLATE NOCASE), so a batch's keys are found through that index
        # instead of by reading every stored record. Stored addresses need no trim: a save strips text.
        if self.kind == "email":
            return batch_keys(PrefixKey(column), keys, dialect)
        if self.kind == "name":
            return batch_keys(PrefixKey(column), sorted({key.lower() for key in keys}), dialect)
        tails = sorted({_NOT_DIGITS.sub("", key)[-8:] for key in keys})
        digits = column
        for mark in (" ", "-", "(", ")", ".", "+", "/"):
            digits = func.replace(digits, mark, "")
        tail = func.right(digits, 8) if dialect == "postgresql" else func.substr(digits, -8)
        return tail.in_(tails)


def name_key(text: str) -> str | None:
    """A name as compared: NFKC, case folded, inner spaces collapsed; None when empty."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip() or None


def phone_key(text: str, region: str = DEFAULT_REGION) -> str | None:
    """A phone number in E.164 when it is a valid number (read in `region` unless it names its country),
    else its digits (with "+" when written international); None without digits.

    The text is NFKC-normalised first: a Chinese IME's full-width digits and plus (１３８, ＋８６) are the
    ASCII ones, which phonenumbers and the trunk/mobile test below read.
    """
    import phonenumbers

    text = unicodedata.normalize("NFKC", text)
    digits = _NOT_DIGITS.sub("", text)
    if not digits:
        return None
    written = text.strip()
    international = written.startswith("+") or (written.startswith("00") and not written.startswith("000"))
    if written.startswith("00") and not written.startswith("+"):
        written = "+" + written.lstrip("0")
    if not international and region == "CN" and not (digits.startswith("0") or
                                                     (len(digits) == 11 and digits.startswith("1"))):
        # Written in China, a number has its trunk 0 (010 8888 8888) or is a mobile (138 0013 8000);
        # phonenumbers alone takes "(415) 555-2671" for a Chinese number.
        return digits
    try:
        number = phonenumbers.parse(written, None if international else region)
    except phonenumbers.NumberParseException:
        return ("+" if international else "") + digits
    if not phonenumbers.is_valid_number(number):
        return ("+" if international else "") + digits
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
