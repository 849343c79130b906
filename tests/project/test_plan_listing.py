"""What `migrate` lists: everything that needs attention, and only the latest applied ones."""

from __future__ import annotations

from supamigrate.output import BRIEF_APPLIED, plan_lines
from supamigrate.project.plan import Entry, Plan, State


def _plan(states: list[State]) -> Plan:
    entries = tuple(
        Entry(f"2025010100{i:04d}", f"{i:03d}_m", state, None, None)
        for i, state in enumerate(states, 1)
    )
    return Plan(entries, ())


def test_migrate_lists_what_needs_attention_and_the_latest_applied() -> None:
    states = [State.APPLIED] * 8 + [State.DRIFTED, State.APPLIED, State.PENDING]
    lines = plan_lines(_plan(states), brief=True)
    assert BRIEF_APPLIED == 5  # 9 applied: the first 4 are left out
    assert lines[0] == (
        "  (4 earlier applied migration(s) not listed: `invoke status` lists every one)"
    )
    assert [line.split()[1] for line in lines[1:]] == [f"{i:03d}_m" for i in range(5, 12)]
    assert [line.split()[-1] for line in lines[1:]] == [
        *["applied"] * 4,
        "drifted",
        "applied",
        "pending",
    ]


def test_status_and_short_plans_list_every_migration() -> None:
    many = _plan([State.APPLIED] * 12)
    assert len(plan_lines(many)) == 12  # status: all
    few = _plan([State.APPLIED] * BRIEF_APPLIED + [State.PENDING])
    assert len(plan_lines(few, brief=True)) == BRIEF_APPLIED + 1  # nothing to leave out
