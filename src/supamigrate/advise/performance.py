"""splinter's performance advisors: indexes, keys, policies evaluated per row, bloat."""

from __future__ import annotations

from supamigrate.advise.model import Category, Level, Lint
from supamigrate.advise.sql import NAMED, POLICY, POLICY_TEXT, REL

_P = Category.PERFORMANCE
# A call Postgres evaluates per row inside a policy unless wrapped in a scalar subquery.
_PER_ROW = r"(auth\.(uid|jwt|role|email)\(\)|current_setting\()"
_WRAPPED = r"\(\s*select\s+(auth\.(uid|jwt|role|email)\(\)|current_setting\([^)]*\))"

LINTS = (
    Lint(
        "unindexed_foreign_keys",
        Level.INFO,
        _P,
        "foreign key without an index on its columns",
        "select format('%%I.%%I (%%s)', n.nspname, c.relname, "
        "              string_agg(quote_ident(a.attname), ', ' order by a.attnum)) "
        "from pg_constraint k join pg_namespace n on n.oid = k.connamespace "
        "join pg_class c on c.oid = k.conrelid "
        "join pg_attribute a on a.attrelid = k.conrelid and a.attnum = any(k.conkey) "
        "where k.contype = 'f' and n.nspname = any(%(mine)s) "
        "and not exists (select 1 from pg_index i where i.indrelid = k.conrelid "
        "                and (i.indkey::int2[])[0:cardinality(k.conkey) - 1] @> k.conkey) "
        "group by n.nspname, c.relname, k.oid order by 1",
        "create index concurrently on {obj} (joins and cascading deletes scan without one)",
    ),
    Lint(
        "auth_rls_initplan",
        Level.WARNING,
        _P,
        "policy re-evaluates auth.<function>() or current_setting() for every row",
        f"select {POLICY} from pg_policies where schemaname = any(%(app)s) "
        f"and regexp_replace({POLICY_TEXT}, '{_WRAPPED}', '', 'gi') ~* '{_PER_ROW}' order by 1",
        "in policy {obj} write (select auth.uid()) (and likewise each such call) so it is "
        "evaluated once per query",
    ),
    Lint(
        "no_primary_key",
        Level.INFO,
        _P,
        "table without a primary key",
        f"select {NAMED} {REL} where n.nspname = any(%(mine)s) and c.relkind in ('r', 'p') "
        "and not c.relispartition "
        "and not exists (select 1 from pg_index i where i.indrelid = c.oid and i.indisprimary) "
        "order by 1",
        "add a primary key to {obj} (replication, and tools that edit rows, need one)",
    ),
    Lint(
        "unused_index",
        Level.INFO,
        _P,
        "index never scanned since statistics were reset",
        "select format('%%I.%%I on %%I.%%I', s.schemaname, s.indexrelname, s.schemaname, "
        "              s.relname) "
        "from pg_stat_user_indexes s join pg_index i on i.indexrelid = s.indexrelid "
        "where s.schemaname = any(%(mine)s) and s.idx_scan = 0 "
        "and not i.indisunique and not i.indisprimary "
        "and not exists (select 1 from pg_constraint k where k.conindid = i.indexrelid) "
        "order by 1",
        "if {obj} is still unused after real traffic, drop it (every write pays for it)",
    ),
    Lint(
        "multiple_permissive_policies",
        Level.WARNING,
        _P,
        "several permissive policies for one role and action (each runs for every row)",
        "select format('%%I.%%I: %%s for %%s %%s', schemaname, tablename, "
        "              string_agg(format('%%I', policyname), ', ' order by policyname), r, a) "
        "from pg_policies, unnest(roles) r, "
        "     unnest(case when cmd = 'ALL' then array['SELECT', 'INSERT', 'UPDATE', 'DELETE'] "
        "                 else array[cmd] end) a "
        "where schemaname = any(%(app)s) and permissive = 'PERMISSIVE' "
        "group by schemaname, tablename, r, a having count(*) > 1 order by 1",
        "merge your own of them into one policy ({obj}): each permissive policy is evaluated "
        "for every row. Leave 004's tenant policies as they are: rollback-rls finds them by "
        "name",
    ),
    Lint(
        "duplicate_index",
        Level.WARNING,
        _P,
        "identical indexes",
        f"select format('%%s: %%s', {NAMED}, "
        "              string_agg(i.indexrelid::regclass::text, ', ' order by 1)) "
        "from pg_index i join pg_class c on c.oid = i.indrelid "
        "join pg_namespace n on n.oid = c.relnamespace where n.nspname = any(%(mine)s) "
        "group by n.nspname, c.relname, i.indrelid, i.indkey::text, i.indclass::text, "
        "         i.indcollation::text, i.indexprs::text, i.indpred::text having count(*) > 1 "
        "order by 1",
        "drop all but one of the identical indexes ({obj})",
    ),
    Lint(
        "table_bloat",
        Level.WARNING,
        _P,
        "table holds much more space than its rows need",
        # Measurable once the table is analysed: the rows' size from the planner's row count
        # and pg_stats' column widths (plus tuple header and line pointer), against the main
        # fork's size. At least 1 MB and more than half of it unused.
        "select format('%%I.%%I (%%s of %%s unused)', nspname, relname, "
        "              pg_size_pretty((actual - needed)::bigint), pg_size_pretty(actual)) "
        "from (select n.nspname, c.relname, pg_relation_size(c.oid) as actual, "
        "             c.reltuples * (28 + w.width) * 100 / coalesce(("
        "               select substr(o, 12)::numeric from unnest(c.reloptions) o "
        "               where o like 'fillfactor=%%'), 100) as needed "
        f"      {REL} join lateral (select sum(s.avg_width) as width from pg_stats s "
        "        where s.schemaname = n.nspname and s.tablename = c.relname) w on true "
        "      where n.nspname = any(%(mine)s) and c.relkind = 'r' and c.reltuples >= 0 "
        "        and w.width is not null) t "
        "where actual >= 1048576 and actual - needed > actual / 2 order by 1",
        "vacuum full {obj} where a short exclusive lock is acceptable, else pg_repack it",
    ),
)
