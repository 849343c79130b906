"""squawk's and eugene's rule ids, mapped to ours: their ignore comments work here too.

A team coming from squawk keeps `-- squawk-ignore <rule>` and `-- squawk-ignore-file`;
one coming from eugene keeps `-- eugene: ignore E2, E4`. Their rules without a counterpart
here (type and naming style: prefer-text-field, ban-char-field, ...) map to nothing, so
ignoring them is a no-op rather than an unknown rule.
"""

from __future__ import annotations

SQUAWK: dict[str, tuple[str, ...]] = {
    "adding-field-with-default": ("adding-field-with-default",),
    "adding-foreign-key-constraint": ("adding-foreign-key-constraint",),
    "adding-not-nullable-field": ("adding-not-nullable-field",),
    "adding-primary-key-constraint": ("disallowed-unique-constraint",),
    "adding-required-field": ("adding-not-nullable-field",),
    "adding-serial-primary-key-field": (
        "adding-field-with-default",
        "disallowed-unique-constraint",
    ),
    "ban-alter-domain-with-add-constraint": ("ban-alter-domain-with-add-constraint",),
    "ban-concurrent-index-creation-in-transaction": ("requires-no-transaction",),
    "ban-create-domain-with-constraint": ("ban-create-domain-with-constraint",),
    "ban-drop-column": ("ban-drop-column",),
    "ban-drop-database": ("ban-drop-database",),
    "ban-drop-not-null": ("ban-drop-not-null",),
    "ban-drop-table": ("ban-drop-table",),
    "ban-duplicate-column-assignments": ("ban-duplicate-column-assignments",),
    "ban-truncate-cascade": ("ban-truncate-cascade",),
    "ban-uncommitted-transaction": ("transaction-control",),
    "changing-column-type": ("changing-column-type",),
    "constraint-missing-not-valid": (
        "constraint-missing-not-valid",
        "constraint-validated-in-same-transaction",
    ),
    "disallowed-unique-constraint": ("disallowed-unique-constraint",),
    "prefer-repack": ("ban-vacuum-full", "ban-cluster"),
    "prefer-robust-stmts": ("prefer-robust-stmts",),
    "renaming-column": ("renaming-column",),
    "renaming-table": ("renaming-table",),
    "require-concurrent-index-creation": ("require-concurrent-index-creation",),
    "require-concurrent-index-deletion": ("require-concurrent-index-deletion",),
    "require-concurrent-partition-detach": ("require-concurrent-partition-detach",),
    "require-concurrent-reindex": ("require-concurrent-reindex",),
    "require-enum-value-ordering": ("require-enum-value-ordering",),
    "require-timeout-settings": ("require-timeout-settings",),
    "transaction-nesting": ("transaction-control",),
    # type and naming style: no counterpart here
    "ban-char-field": (),
    "identifier-too-long": (),
    "prefer-big-int": (),
    "prefer-bigint-over-int": (),
    "prefer-bigint-over-smallint": (),
    "prefer-identity": (),
    "prefer-text-field": (),
    "prefer-timestamptz": (),
    "require-table-schema": (),
}

EUGENE: dict[str, tuple[str, ...]] = {
    "E1": ("constraint-missing-not-valid", "adding-foreign-key-constraint"),
    "E2": ("adding-not-nullable-field", "adding-primary-key-on-nullable-column"),
    "E3": ("adding-json-column",),
    "E4": ("more-statements-after-access-exclusive",),
    "E5": ("changing-column-type",),
    "E6": ("require-concurrent-index-creation", "require-concurrent-reindex"),
    "E7": ("disallowed-unique-constraint",),
    "E8": ("adding-exclusion-constraint",),
    "E9": ("require-timeout-settings",),
    "E10": ("more-statements-after-access-exclusive", "table-rewrite"),
    "E11": ("adding-field-with-default",),
    "W12": ("more-statements-after-access-exclusive",),
    "W13": ("creating-enum",),
    "W14": ("adding-primary-key-on-nullable-column",),
    "E15": ("unindexed_foreign_keys",),
}
