"""Statements are split exactly as the pinned Supabase CLI splits them (cases run on the binary)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supamigrate.sql.sqlsplit import (
    has_sql,
    is_no_transaction,
    split_raw,
    split_statements,
    statements_text,
    strip_bom,
)

# Each case is the list of pieces the old Go parser's Split returned for their concatenation
# (supabase/cli pkg/parser state tests): comments, quotes, dollar tags, parentheses, ATOMIC.
# The 3.1.0 binary stores the same rows for all of them, so they stay.
CLI_CASES = [
    ["END;", "-- comment"],
    ["SELECT --; 1"],
    ["- ;", "END"],
    ["-- /* \n;", " */ END"],
    ["SELECT /* ; */ 1;"],
    ["SELECT /*; /*;*/ ;*/ 1"],
    ["/ * ;", " */ END"],
    [";", "END;", ";"],
    ["BEGIN   ;", "  END"],
    ["\\;;", "\\;"],
    ["$tag$ any ; string$tag$"],
    ['$$"Dane\'s horse"$$'],
    ['SELECT "$";', " $$"],
    ["SELECT ';' 1"],
    ["SELECT ';'';' 1"],
    ["SELECT '\\';", " 1'"],
    ['CREATE POLICY "cats;dogs" on cats_dogs;', " END"],
    ["CREATE POLICY \"cat's and dog's\" on cats_dogs;", " END"],
    ['CREATE POLICY "pet""name" on pets;', " END"],
    ['CREATE RULE notify_me AS ON UPDATE TO mytable DO (NOTIFY mytable; SELECT "1");', "SELECT 1"],
    ["CREATE RULE notify_me AS ON UPDATE TO mytable DO (-- )\nSELECT ')';\n-- )\n)\n"],
    [
        "CREATE FUNCTION add(a integer, b integer) RETURNS integer\nLANGUAGE SQL\n"
        "BEGIN ATOMIC\n\tSELECT 'add';\n\tSELECT a + b;\nEND;"
    ],
    ["begin atomic; select 'end'; end"],
    ["CREATE FUNCTION test() BEGIN\nATOMIC-- END;\n-- END;\nEND\n;"],
    ["create table public.atomic_test (id int);", "\nselect 1;"],
    ["select is_atomic from flags;", "\nselect 1;"],
    ["select col1atomic from t;", "\nselect 1;"],
]


@pytest.mark.parametrize("pieces", CLI_CASES)
def test_raw_split_matches_the_cli(pieces: list[str]) -> None:
    """Our tokenizer cuts where the CLI's does, piece for piece."""
    assert split_raw("".join(pieces)) == pieces


def test_trimmed_statements_as_stored_in_history() -> None:
    """SplitAndTrim: trailing semicolons and whitespace go, empties drop, comments stay."""
    sql = "-- header\ncreate table t (id int);;\n\n  insert into t values (1) ;\n-- trailing\n"
    assert statements_text(sql) == [
        "-- header\ncreate table t (id int)",
        "insert into t values (1)",
        "-- trailing",
    ]


# Where the 3.1.0 binary and the old Go parser disagree, the binary's rows (docs/decisions.md).
CLI_3_CASES = [
    ("select E'x\\'y;z'; select 2;", ["select E'x\\'y;z'", "select 2"]),
    ("select xE'x\\'; select 2;'", ["select xE'x\\'", "select 2", "'"]),
    ("select 1 /*/ ; */ as i", ["select 1 /*/ ; */ as i"]),
    ("select atomic_x; select 2;", ["select atomic_x", "select 2"]),
    ("select 1 as atomic_number; select 2", ["select 1 as atomic_number", "select 2"]),
    ("select 1 begin\xa0atomic select 2; end", ["select 1 begin\xa0atomic select 2", "end"]),
    (
        "begin atomic select case when true then 1 end; select 2; end; select 3",
        ["begin atomic select case when true then 1 end; select 2; end", "select 3"],
    ),
    (
        "begin atomic select 1 as xend; end; select 2",
        ["begin atomic select 1 as xend; end", "select 2"],
    ),
    (
        "begin atomic begin atomic select 1; end; select 2; end; select 3",
        ["begin atomic begin atomic select 1; end; select 2; end", "select 3"],
    ),
    ("select a$b$; select 2;$b$", ["select a$b$", "select 2", "$b$"]),
    ("select $\xa0$ ; $\xa0$; select 2", ["select $\xa0$ ; $\xa0$", "select 2"]),
    ("select 1 -- c\r; select 2", ["select 1 -- c", "select 2"]),
    ("select 1;\x85", ["select 1", "\x85"]),
    ("select 1;\x1c select 2", ["select 1", "\x1c select 2"]),
    ("select 1;\u2028\ufeff select 2;\u3000", ["select 1", "select 2"]),
    ("\ufeffselect 1; select 2", ["select 1", "select 2"]),
    ("select 1; -- tail", ["select 1", "-- tail"]),
    # Go behaviour the binary kept, which a rewrite easily loses:
    ("select $$$1; select 2", ["select $$$1", "select 2"]),
    (
        "select 1 -- begin\natomic; select 2; end; select 3",
        ["select 1 -- begin\natomic; select 2; end", "select 3"],
    ),
    ("select (\\); select 2", ["select (\\)", "select 2"]),
]


@pytest.mark.parametrize(("sql", "rows"), CLI_3_CASES)
def test_rows_as_the_3x_cli_stores_them(sql: str, rows: list[str]) -> None:
    """The statements array is the one the 3.1.0 binary wrote for this file."""
    assert statements_text(sql) == rows


def test_a_leading_bom_is_dropped_like_the_cli_does() -> None:
    """One leading U+FEFF goes; offsets and lines count from the text after it."""
    assert strip_bom("\ufeff\ufeffselect 1") == "\ufeffselect 1"
    assert strip_bom("select 1\ufeff") == "select 1\ufeff"
    first, second = split_statements("\ufeffselect 1;\nselect 2")
    assert (first.start, first.line, second.start, second.line) == (0, 1, 10, 2)


def test_statement_lines_point_at_the_first_character() -> None:
    """Each statement knows the line it starts on, for error messages."""
    lines = [s.line for s in split_statements("select 1;\n\n\nselect\n2;\n  select 3")]
    assert lines == [1, 4, 6]


def test_no_transaction_marker_only_on_the_first_line() -> None:
    """The escape hatch is the exact first-line comment, nothing else."""
    assert is_no_transaction("-- supamigrate:no-transaction\ncreate index concurrently i on t (a);")
    assert not is_no_transaction("select 1;\n-- supamigrate:no-transaction\n")


# --- properties on text built from the pieces that drive the splitter's states ------------
_PIECES = [
    "select 1",
    ";",
    " ",
    "\n",
    "'",
    "''",
    '"',
    "$$",
    "$tag$",
    "$1",
    "--",
    "-- c\n",
    "/*",
    "*/",
    "/* /* */ */",
    "(",
    ")",
    "begin atomic",
    "BEGIN ATOMIC",
    "end",
    "END",
    "atomic",
    "E'\\\\'",
    "\\",
    "é",
    "ß",
    "c",
    "C",
    "x",
    "do $$ begin null; end $$",
    "commit",
    "start",
]


@given(st.lists(st.sampled_from(_PIECES), max_size=40))
@settings(max_examples=400, deadline=None)
def test_pieces_cover_the_file_and_statements_point_into_it(pieces: list[str]) -> None:
    """Raw pieces add up to the file; each statement's start locates its text, its line is
    its first token's (past leading comments), as lint, the trace and --dry count it."""
    from supamigrate.sql.sqlsplit import code_of

    sql = "".join(pieces)
    assert "".join(split_raw(sql)) == sql
    for statement in split_statements(sql):
        assert sql.startswith(statement.text, statement.start)
        token = statement.start + len(statement.text) - len(code_of(statement.text))
        assert statement.line == sql.count("\n", 0, token) + 1


@given(st.lists(st.sampled_from(_PIECES), max_size=20))
@settings(max_examples=300, deadline=None)
def test_prefilters_agree_with_pglast(pieces: list[str]) -> None:
    """has_sql skips pglast only where pglast would agree."""
    from pglast.parser import ParseError, scan

    sql = "".join(pieces)
    try:
        tokens = [t for t in scan(sql) if t.name not in {"SQL_COMMENT", "C_COMMENT"}]
        assert has_sql(sql) == bool(tokens)
    except ParseError:
        assert has_sql(sql)


@given(st.characters(codec="utf-8"))
@settings(max_examples=500, deadline=None)
def test_word_and_tag_characters_are_the_clis(char: str) -> None:
    """The splitter's classes, spelled as negated ASCII sets (fast to compile), hold exactly
    ASCII letters, digits, `_` (and `$` in a word) and every non-ASCII character."""
    from supamigrate.sql.clisplit import _IS_WORD, _TAG

    tag = not char.isascii() or char.isalnum() or char == "_"
    assert bool(_IS_WORD.fullmatch(char)) == (tag or char == "$")
    assert bool(re.fullmatch(_TAG, char)) == tag


def test_keywords_fold_ascii_case_only() -> None:
    """`BEGIN ATOMIC` opens a body in any ASCII case; a dotless or dotted i makes no keyword."""
    body = "create function f() returns int language sql {} return 1; end; select 2"
    mixed = body.format("BeGiN aToMiC")
    assert statements_text(mixed) == [mixed.removesuffix("; select 2"), "select 2"]
    assert len(statements_text(body.format("beg\u0131n atomic"))) == 3


_LEADS = ["--", "-- c\n", "/*", "*/", "/* x */", "-", "/", " ", "\n", "\x85", "\xa0", "\u2028"]


@given(st.lists(st.sampled_from(_LEADS + _PIECES), max_size=12))
@settings(max_examples=400, deadline=None)
def test_the_first_token_is_found_past_every_kind_of_lead(pieces: list[str]) -> None:
    """lead_length's shortcut (no regex when the text starts with neither a blank nor a
    comment) skips exactly what the comment-and-blank pattern skips, Unicode blanks too."""
    from supamigrate.sql.sqlsplit import code_of, lead_length

    text = "".join(pieces)
    lead = re.match(r"(?:\s+|--[^\n]*(?:\n|$)|/\*(?:[^*]|\*(?!/))*\*/)*", text)
    skipped = lead.end() if lead else 0
    expected = skipped if skipped < len(text) else 0
    assert lead_length(text) == expected
    assert code_of(text) == (text[expected:] or text)


_STRETCH_PIECES = [p for p in _PIECES if "atomic" not in p.lower()] + [
    "E'",
    "e'",
    "xE'",
    "-",
    "/",
    "*",
    "\r",
    "a\\",
    "\\)",
    "((",
    "'it''s'",
    '"a""b"',
    "E'\\''",
    "\\'",
    "(;)",
    "$a$",
    "E",
    "\\",
    "x",
    "-- c\r",
]


@given(st.lists(st.sampled_from(_STRETCH_PIECES), max_size=40))
@settings(max_examples=1500, deadline=None)
def test_stretches_cut_where_the_token_loop_cuts(pieces: list[str]) -> None:
    """The splitter's one-match stretches (quotes, comments, parentheses) cut exactly where
    the token-by-token loop does; test_cli_split_diff holds that loop to the CLI binary."""
    from supamigrate.sql.clisplit import spans

    sql = "".join(pieces)
    assert spans(sql) == spans(sql, stretches=False)


_JS_ONLY = ["\xa0", "\u2028", "\u3000", "\x0b", "\ufeff", "\u1680"]


@given(st.lists(st.sampled_from(_STRETCH_PIECES + _JS_ONLY), max_size=30))
@settings(max_examples=600, deadline=None)
def test_as_sent_only_blanks_what_the_cli_trims(pieces: list[str]) -> None:
    """as_sent turns into spaces only characters the CLI trims off a piece, never moves a cut
    or changes a history row, and keeps every offset; what it leaves, the CLI sends."""
    from supamigrate.sql.sqlsplit import as_sent

    sql = "".join(pieces)
    sent = as_sent(sql)
    assert len(sent) == len(sql)
    assert statements_text(sent) == statements_text(sql)
    for ours, theirs in zip(sent, sql, strict=True):
        assert ours == theirs or (ours == " " and theirs in _JS_ONLY)
    left = [
        at
        for statement in split_statements(sent)
        for at in (statement.start - 1, statement.start + len(statement.text))
        if sent[at : at + 1] in _JS_ONLY and at >= 0
    ]
    if left:  # only where blanking them would move a cut (a `$$` after one): then none is
        assert sent == sql
        blanked = "".join(" " if i in left else c for i, c in enumerate(sql))
        assert split_raw(blanked) != split_raw(sql)
