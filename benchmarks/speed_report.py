"""Turn migrate_speed.py's measurements into a Markdown section and a PNG plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

TOOLS = ("floor", "supamigrate/psycopg2", "supamigrate/psql", "supamigrate/supabase", "supabase")
LABELS = {
    "floor": "floor: one psql session, hand-written",
    "supamigrate/psycopg2": "supamigrate, psycopg2",
    "supamigrate/psql": "supamigrate, psql",
    "supamigrate/supabase": "supamigrate, Supabase CLI path",
    "supabase": "Supabase CLI alone (db push)",
}
NOOP_MARGIN_MS = 60.0


def _table(results: dict[str, Any]) -> list[str]:
    sizes = sorted(results, key=int)
    head = "| tool | " + " | ".join(f"N={n} cold | ratio | N={n} no-op" for n in sizes) + " |"
    lines = [head, "| --- |" + " ---: | ---: | ---: |" * len(sizes)]
    for tool in TOOLS:
        cells = []
        for n in sizes:
            row = results[n][tool]
            cells.append(f"{row['cold']:.0f} | {row['cold_ratio']:.2f} | {row['noop']:.0f}")
        lines.append(f"| {LABELS[tool]} | " + " | ".join(cells) + " |")
    return lines


def _verdicts(data: dict[str, Any]) -> list[str]:
    local, remote = data["local"], data["remote_10ms"]
    lines = []
    big = local.get("200") or local.get(200)
    if big:
        ratio = big["supamigrate/psycopg2"]["cold_ratio"]
        met = "met" if ratio <= 1.0 else "missed"
        lines.append(
            f"- Cold, N=200, local: supamigrate (psycopg2) / floor = {ratio:.2f} "
            f"(target <= 1.0: {met})."
        )
    for n, row in sorted(local.items(), key=lambda kv: int(kv[0])):
        reference = row["reference"]["noop"]
        noop = row["supamigrate/psycopg2"]["noop"]
        met = "met" if noop <= reference + NOOP_MARGIN_MS else "missed"
        lines.append(
            f'- No-op, N={n}, local: supamigrate {noop:.0f} ms vs `python -c "import invoke"` '
            f"plus one connection {reference:.0f} ms: +{noop - reference:.0f} ms "
            f"(target <= +{NOOP_MARGIN_MS:.0f} ms: {met})."
        )
    small = remote.get("20") or remote.get(20)
    if small:
        ours = small["supamigrate/psycopg2"]["cold"]
        cli = small["supabase"]["cold"]
        met = "met" if ours < cli / 2 else "missed"
        lines.append(
            f"- Through the 10 ms proxy, N=20 cold: supamigrate {ours:.0f} ms vs Supabase CLI "
            f"{cli:.0f} ms = {ours / cli:.2f}x (target < 0.5x: {met})."
        )
    return lines


def write_report(data: dict[str, Any], markdown: Path, plot: Path) -> None:
    lines = [
        "## Migration speed (`benchmarks/migrate_speed.py`)",
        "",
        "Generated migrations (table, index, plpgsql function, trigger, DO block, RLS policy, "
        "300 seed rows each; every fourth alters an earlier table), applied to fresh databases. "
        f"Milliseconds, median of {data['repeats']} interleaved rounds; `ratio` is the median "
        "of per-round ratios to the floor. Cold: all pending; no-op: nothing pending. Every "
        "supamigrate and CLI time includes starting the process.",
        "",
        "Targets:",
        "",
        *_verdicts(data),
        "",
        "### Local server (loopback)",
        "",
        *_table(data["local"]),
        "",
        "### Through a 10 ms-each-way proxy (`benchmarks/delay_proxy.py`)",
        "",
        *_table(data["remote_10ms"]),
        "",
        "Reference for the no-op target (`python -c 'import invoke, psycopg2'` plus one "
        "connection): "
        + ", ".join(
            f"N={n}: {row['reference']['noop']:.0f} ms local"
            for n, row in sorted(data["local"].items(), key=lambda kv: int(kv[0]))
        )
        + ".",
        "",
        "![time against N](migrate_speed.png)",
        "",
    ]
    markdown.write_text("\n".join(lines))
    _plot(data, plot)


def _plot(data: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    local = data["local"]
    sizes = sorted(local, key=int)
    for tool in TOOLS:
        left.plot(
            [int(n) for n in sizes],
            [local[n][tool]["cold"] / 1000 for n in sizes],
            marker="o",
            label=LABELS[tool],
        )
    left.set_title("Cold apply, local server: time against N")
    left.set_xlabel("migrations (N)")
    left.set_ylabel("seconds (median)")
    left.grid(alpha=0.3)
    left.legend(fontsize=8)
    # Through the proxy only N=20 was run (the floor alone needs ~1 min per run at N=200).
    remote = data["remote_10ms"]
    n = sorted(remote, key=int)[0]
    cold = [remote[n][tool]["cold"] / 1000 for tool in TOOLS]
    noop = [remote[n][tool]["noop"] / 1000 for tool in TOOLS]
    rows = range(len(TOOLS))
    right.barh([r + 0.2 for r in rows], cold, height=0.4, label="cold (all pending)")
    right.barh([r - 0.2 for r in rows], noop, height=0.4, label="no-op (nothing pending)")
    right.set_yticks(list(rows), [LABELS[t] for t in TOOLS], fontsize=8)
    right.invert_yaxis()
    right.set_title(f"N={n} through a 10 ms-each-way proxy")
    right.set_xlabel("seconds (median)")
    right.grid(alpha=0.3, axis="x")
    right.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


if __name__ == "__main__":  # re-render from the last measurements, without measuring
    import json

    here = Path(__file__).resolve().parent
    saved = json.loads((here / "results" / "migrate_speed.json").read_text())
    write_report(saved, here / "results" / "migrate_speed.md", here / "migrate_speed.png")
