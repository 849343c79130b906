"""The one masking function: every printed or logged URL, DSN, command line and error uses it.

Passwords become `***` whether they sit in a URL's userinfo (even unencoded `@` and `:`), in a
query string (`?password=...`), in a libpq keyword DSN (`password=...`), or anywhere else as a
literal value we know is secret (registered by the config when it resolves a password).
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

MASK = "***"

# scheme://user:PASSWORD@host... The password runs to the last '@' before whitespace, so
# unencoded '@' and ':' inside it are covered; a URL without a password is left alone.
_URL_USERINFO = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)(?P<pw>[^\s]*)@")
# password=... (and every other parameter that can carry a secret: sslpassword, tokens, keys)
# in query strings and keyword DSNs, quoted or not.
SECRET_PARAM = re.compile(
    r"(?:\w*pass(?:word|wd)?|\w*secret\w*|\w*token\w*|\w*api_?key\w*)$", re.IGNORECASE
)
_KEYWORD = re.compile(
    r"(?P<head>\b(?:\w*pass(?:word|wd)|\w*secret\w*|\w*token\w*|\w*api_?key\w*)\s*=\s*)"
    r"(?P<pw>'(?:[^'\\]|\\.)*'|\"[^\"]*\"|[^\s&'\"]+)",
    re.IGNORECASE,
)

_secrets: set[str] = set()
# Published defaults (the local database's password is `postgres`, as with `supabase start`):
# masked inside URLs and DSNs like any password, but not as a bare word, or every role and
# database name called postgres would turn into ***.
_WELL_KNOWN = {"postgres"}


def register_secret(value: str | None) -> None:
    """Remember a secret so `mask` hides it wherever it shows up, raw or URL-encoded."""
    if value and len(value) >= 3 and value not in _WELL_KNOWN:
        _secrets.update({value, quote(value, safe=""), unquote(value)})


# Words each _KEYWORD match contains: checked first, as the pattern's leading \w* makes it
# slow on long text (20 ms on lint's 1,200-line report). casefold covers every character
# re.IGNORECASE matches to these letters (tests/connect/test_masking.py checks all of them).
_KEYWORD_WORDS = ("pass", "secret", "token", "key")


def _may_hold_keyword(text: str) -> bool:
    if "=" not in text:
        return False
    folded = text.casefold()
    return any(word in folded for word in _KEYWORD_WORDS)


def _may_hold_url(text: str) -> bool:
    return "://" in text


def mask(text: object) -> str:
    """Return `text` as a string with every password replaced by `***`."""
    out = str(text)
    if _may_hold_url(out):
        out = _URL_USERINFO.sub(_mask_userinfo, out)
    if _may_hold_keyword(out):
        out = _KEYWORD.sub(lambda m: m.group("head") + MASK, out)
    for secret in sorted(_secrets, key=len, reverse=True):
        out = out.replace(secret, MASK)
    return out


def mask_lines(lines: list[str]) -> list[str]:
    """`mask` of each line. Checked on all of them at once first: what may hold a pattern or
    a secret in one line is in the joined text too, so when the joined text has none, no line
    has any. Otherwise each line is masked (and checked alone first: most lines are not)."""
    joined = "\n".join(lines)
    if (
        not _may_hold_url(joined)
        and not _may_hold_keyword(joined)
        and not any(secret in joined for secret in _secrets)
    ):
        return lines
    return [mask(line) for line in lines]


def _mask_userinfo(match: re.Match[str]) -> str:
    if match.group("pw") == MASK:
        return match.group(0)
    return f"{match.group('head')}{MASK}@"
