"""The one masking function hides every password form a user may write."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supamigrate.connect.masking import mask, register_secret


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("postgresql://postgres:s3cretpw@db.example.com:5432/postgres", "s3cretpw"),
        ("postgresql://postgres:p@ss@word@host:6543/postgres", "p@ss@word"),
        ("postgresql://postgres:pa:ss:wd@host/postgres", "pa:ss:wd"),
        ("postgresql://postgres:p%40ss%3Aw@host/postgres", "p%40ss%3Aw"),
        ("postgres://u:hunter22@127.0.0.1/db?sslmode=require", "hunter22"),
        ("postgresql://u@host/db?sslmode=require&password=qs-secret", "qs-secret"),
        ("postgresql://u@host/db?password=qs-secret&sslmode=require", "qs-secret"),
        ("host=db user=postgres password=kw-secret dbname=postgres", "kw-secret"),
        ("host=db password='quoted secret' dbname=postgres", "quoted secret"),
        ("PGPASSWORD=env-secret psql", "env-secret"),
        ("error: could not connect to postgresql://a:zz-top-99@h:1/d (refused)", "zz-top-99"),
    ],
)
def test_mask_hides_password(text: str, secret: str) -> None:
    """No form of password survives masking, and the rest of the text does."""
    masked = mask(text)
    assert secret not in masked
    assert "***" in masked


def test_mask_keeps_the_useful_parts() -> None:
    """Host, port, user and database stay readable after masking."""
    masked = mask(
        "postgresql://postgres.abcdefghijklmnopqrst:pw-1@aws-0.pooler.supabase.com:6543/postgres"
    )
    assert (
        masked
        == "postgresql://postgres.abcdefghijklmnopqrst:***@aws-0.pooler.supabase.com:6543/postgres"
    )


def test_mask_leaves_passwordless_text_alone() -> None:
    """Text without a password is returned unchanged."""
    text = "postgresql://postgres@localhost:5432/postgres and user@example.com"
    assert mask(text) == text


def test_registered_secret_is_masked_anywhere() -> None:
    """A known secret is hidden even where no URL syntax points at it, raw or encoded."""
    register_secret("Tr1cky@Pass/word")
    assert "Tr1cky" not in mask("psql failed: bad token Tr1cky@Pass/word in input")
    assert "Tr1cky" not in mask("url had Tr1cky%40Pass%2Fword in it")


def _mask_without_shortcuts(text: str) -> str:
    from supamigrate.connect import masking

    out = masking._URL_USERINFO.sub(masking._mask_userinfo, text)
    out = masking._KEYWORD.sub(lambda m: m.group("head") + masking.MASK, out)
    return out


_PIECES = [
    "password",
    "PassWd",
    "pa\u017fsword",  # a long s: re.IGNORECASE matches it to s
    "api_\u212aey",  # a Kelvin sign: matched to k
    "secret",
    "x_token",
    "key",
    "=",
    " = ",
    "'q s'",
    "://",
    "postgresql://u:",
    "@h/db",
    "pw",
    " ",
    "\n",
    "foreign key",
    "\u0131",  # a dotless i
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_PIECES) | st.text(max_size=6), max_size=12))
def test_the_quick_checks_never_skip_a_password(pieces: list[str]) -> None:
    """Property: masking with the quick checks first gives what the patterns alone give, on
    one line and on many."""
    from supamigrate.connect.masking import mask_lines

    text = "".join(pieces)
    assert mask(text) == _mask_without_shortcuts(text)
    lines = text.split("\n")
    assert mask_lines(lines) == [_mask_without_shortcuts(line) for line in lines]


def test_casefold_covers_every_letter_the_pattern_ignores_the_case_of() -> None:
    """The quick check folds case with str.casefold; re.IGNORECASE must match no character to
    a letter of the checked words that casefold does not turn into it."""
    import re
    import sys

    from supamigrate.connect.masking import _KEYWORD_WORDS

    every = "".join(map(chr, range(sys.maxunicode + 1)))
    missed = [
        (letter, hex(ord(found)))
        for letter in sorted(set("".join(_KEYWORD_WORDS)))
        for found in re.findall(letter, every, re.IGNORECASE)
        if letter not in found.casefold()
    ]
    assert missed == []
