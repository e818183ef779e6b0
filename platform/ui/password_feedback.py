"""The engine's refusal of a new password as sentences in the user's language.

    refusal_sentence(error)   # "This password is too easy to guess. This is a very common password. Add another word ..."

The engine (PasswordRefused) gives problem codes and zxcvbn's warning and suggestions in
English; zxcvbn's texts are a fixed set (zxcvbn/feedback.py), each translated here. A
text this table lacks (a newer zxcvbn) is shown as zxcvbn wrote it.
"""
from __future__ import annotations

from flask_babel import gettext as _, lazy_gettext as _l

from crmkit.engine.security.passwords import MIN_LENGTH
from crmkit.engine.security.users import PasswordRefused

#: zxcvbn 4.5's feedback texts.
ZXCVBN_TEXTS = {
    "Use a few words, avoid common phrases.": _l("Use a few words, avoid common phrases."),
    "No need for symbols, digits, or uppercase letters.": _l("No need for symbols, digits, or uppercase letters."),
    "Add another word or two. Uncommon words are better.": _l("Add another word or two. Uncommon words are better."),
    "Straight rows of keys are easy to guess.": _l("Straight rows of keys are easy to guess."),
    "Short keyboard patterns are easy to guess.": _l("Short keyboard patterns are easy to guess."),
    "Use a longer keyboard pattern with more turns.": _l("Use a longer keyboard pattern with more turns."),
    'Repeats like "aaa" are easy to guess.': _l('Repeats like "aaa" are easy to guess.'),
    'Repeats like "abcabcabc" are only slightly harder to guess than "abc".':
        _l('Repeats like "abcabcabc" are only slightly harder to guess than "abc".'),
    "Avoid repeated words and characters.": _l("Avoid repeated words and characters."),
    'Sequences like "abc" or "6543" are easy to guess.': _l('Sequences like "abc" or "6543" are easy to guess.'),
    "Avoid sequences.": _l("Avoid sequences."),
    "Recent years are easy to guess.": _l("Recent years are easy to guess."),
    "Avoid recent years.": _l("Avoid recent years."),
    "Avoid years that are associated with you.": _l("Avoid years that are associated with you."),
    "Dates are often easy to guess.": _l("Dates are often easy to guess."),
    "Avoid dates and years that are associated with you.": _l("Avoid dates and years that are associated with you."),
    "This is a top-10 common password.": _l("This is a top-10 common password."),
    "This is a top-100 common password.": _l("This is a top-100 common password."),
    "This is a very common password.": _l("This is a very common password."),
    "This is similar to a commonly used password.": _l("This is similar to a commonly used password."),
    "A word by itself is easy to guess.": _l("A word by itself is easy to guess."),
    "Names and surnames by themselves are easy to guess.": _l("Names and surnames by themselves are easy to guess."),
    "Common names and surnames are easy to guess.": _l("Common names and surnames are easy to guess."),
    "Capitalization doesn't help very much.": _l("Capitalization doesn't help very much."),
    "All-uppercase is almost as easy to guess as all-lowercase.":
        _l("All-uppercase is almost as easy to guess as all-lowercase."),
    "Reversed words aren't much harder to guess.": _l("Reversed words aren't much harder to guess."),
    "Predictable substitutions like '@' instead of 'a' don't help very much.":
        _l("Predictable substitutions like '@' instead of 'a' don't help very much."),
    # crmkit's own advice (engine/security/passwords.py)
    "Use a few unrelated words that have nothing to do with you or this service.":
        _l("Use a few unrelated words that have nothing to do with you or this service."),
    "Remove that character.": _l("Remove that character."),
}


def problem_sentence(code: str) -> str:
    """One problem of the password as a sentence in the user's language."""
    if code == "too_short":
        return _("The password needs at least %(count)d characters.", count=MIN_LENGTH)
    if code == "too_long":
        return _("The password is too long.")
    if code == "unstorable":
        return _("The password contains a character that cannot be stored.")
    if code == "username":
        return _("The password is the same as your username.")
    if code == "context":
        return _("The password contains your username, your name, a part of your email address or the word crmkit.")
    return _("The password is too easy to guess.")


def refusal_sentence(error: PasswordRefused) -> str:
    """Why the password was refused and how to choose a better one, in the user's language."""
    assessment = error.assessment
    parts = [problem_sentence(problem.code) for problem in assessment.problems]
    for text in (assessment.warning, *assessment.suggestions):
        if text:
            parts.append(str(ZXCVBN_TEXTS.get(text, text)))
    return " ".join(parts)
