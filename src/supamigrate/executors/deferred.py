"""Deferred constraints in a rehearsal, checked at each file's end as its COMMIT would.

The real run commits each file: its deferred constraints are checked then, and the next file
starts with every constraint in its declared mode. A rehearsal is one transaction, so at each
file's end we name every deferrable constraint IMMEDIATE (which checks what is pending, as a
commit does), then name the INITIALLY DEFERRED ones DEFERRED again. Naming them, never `ALL`:
`SET CONSTRAINTS ALL` cannot be undone short of a rollback, and would decide the mode of
constraints later files make. When a file itself says `SET CONSTRAINTS ALL ...`, that does
stay in force in the rehearsal's transaction, so from then on each constraint a later file
makes is named into its declared mode right after the statement that made it.

The rehearsal's own never-commit guard is a deferred constraint trigger too: it is left out
here, and a file's own `SET CONSTRAINTS` runs with the guard told to let it pass, then re-armed.
"""

from __future__ import annotations

GUARD_NAME = "supamigrate_never_commit"
GUARD = f"""
CREATE FUNCTION pg_temp.{GUARD_NAME}() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN
  IF current_setting('supamigrate.guard', true) = 'pass' THEN RETURN NULL; END IF;
  RAISE EXCEPTION 'supamigrate: a rehearsal never commits';
END$$;
CREATE TEMP TABLE supamigrate_rehearsal_guard (x int) ON COMMIT DROP;
GRANT INSERT ON supamigrate_rehearsal_guard TO PUBLIC;
CREATE CONSTRAINT TRIGGER {GUARD_NAME} AFTER INSERT ON supamigrate_rehearsal_guard
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION pg_temp.{GUARD_NAME}();
INSERT INTO supamigrate_rehearsal_guard VALUES (1);
"""
# Around a file's own SET CONSTRAINTS: let the guard pass, then arm it again (its event was
# used up if the file's statement made it fire). A file may have said `SET LOCAL ROLE anon`
# before its SET CONSTRAINTS: the table is this session's alone, so every role may re-arm it.
LET_PASS = "SELECT set_config('supamigrate.guard', 'pass', true);\n"  # noqa: S105
REARM = (
    f"SET CONSTRAINTS pg_temp.{GUARD_NAME} DEFERRED;\n"
    "INSERT INTO pg_temp.supamigrate_rehearsal_guard VALUES (1);\n"
    "SELECT set_config('supamigrate.guard', '', true);\n"
)
# Every deferrable constraint (constraint triggers included) by schema-qualified name, with
# whether it is INITIALLY DEFERRED; a name shared with a non-deferrable constraint of the same
# schema cannot be named in SET CONSTRAINTS and is left out. So are those in another session's
# temp schema (no file of ours can have left work pending there) and in a schema the current
# role may not use: SET CONSTRAINTS refuses to name them (42501), which failed every file of
# the rehearsal "at COMMIT" while the real run applied it (a known gap: work a file left
# pending there as another role is not checked).
DEFERRABLE = f"""
select format('%I.%I', n.nspname, c.conname), bool_and(c.condeferred), array_agg(c.oid::bigint)
  from pg_constraint c join pg_namespace n on n.oid = c.connamespace
 where c.conname <> '{GUARD_NAME}'
   and (n.oid = pg_my_temp_schema() or n.nspname !~ '^pg_(toast_)?temp_')
   and has_schema_privilege(n.oid, 'USAGE')
 group by n.nspname, c.conname
having bool_and(c.condeferrable)
"""


def check_sql(rows: list[tuple[str, bool]]) -> str:
    """What checks the pending deferred work, as COMMIT would ('' when nothing is deferrable)."""
    names = [name for name, _ in rows]
    return f"SET CONSTRAINTS {', '.join(names)} IMMEDIATE;\n" if names else ""


def restore_sql(rows: list[tuple[str, bool]]) -> str:
    """Back to each constraint's declared mode for the next file (the IMMEDIATE ones are)."""
    deferred = [name for name, initially_deferred in rows if initially_deferred]
    return f"SET CONSTRAINTS {', '.join(deferred)} DEFERRED;\n" if deferred else ""
