"""The one masking function hides every password form a user may write."""

from __future__ import annotations

import pytest

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
