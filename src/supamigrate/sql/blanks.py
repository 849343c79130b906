"""Blanks: what the Supabase CLI trims off each piece, and what Postgres reads as one."""

from __future__ import annotations

# JavaScript's String.prototype.trim, which the CLI applies to each piece: not Python's
# str.strip(), which also strips U+0085 and U+001C-U+001F, pieces the CLI keeps.
JS_SPACE = (
    "\t\n\v\f\r \xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
# What Postgres's scanner reads as a blank (\v only since Postgres 16: not counted here).
PG_BLANK = " \t\n\r\f"
