"""Turn migrate_speed.py's measurements into a Markdown section and a PNG plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

TOOLS = (
    "floor",
    "supamigrate/psycopg2",
    "supamigrate/psql",
    "supamigrate/supabase",
    "supabase",
    "dbmate",
)
LABELS = {
    "dbmate": "dbmate (npm package; its own history table)",
    "floor": "floor: one psql session, hand-written",
    "supamigrate/psycopg2": "supamigrate, psycopg2",
    "supamigrate/psql": "supamigrate, psql",
    "supamigrate/supabase": "supamigrate, Supabase CLI path",
    "supabase": "Supabase CLI alone (db push)",
}


def _cell(row: dict[str, Any] | None, key: str, digits: int = 0) -> str:
    return "" if row is None or key not in row else f"{row[key]:.{digits}f}"


def _table(results: dict[str, Any]) -> list[str]:
    sizes = sorted(results, key=int)
    head = "| tool | " + " | ".join(f"N={n} cold | ratio | N={n} no-op" for n in sizes) + " |"
    lines = [head, "| --- |" + " ---: | ---: | ---: |" * len(sizes)]
    for tool in TOOLS:
        rows = [results[n].get(tool) for n in sizes]
        if not any(rows):
            continue
        cells = [
            f"{_cell(r, 'cold')} | {_cell(r, 'cold_ratio', 2)} | {_cell(r, 'noop')}" for r in rows
        ]
        lines.append(f"| {LABELS[tool]} | " + " | ".join(cells) + " |")
    return lines


def _get(results: dict[str, Any], n: int) -> dict[str, Any]:
    return dict(results.get(str(n)) or results.get(n) or {})


def remote_limit(data: dict[str, Any], n: int, key: str = "remote_10ms") -> float | None:
    """Process start + connect + the server's own time + one round trip: the local floor's
    cold run, plus what the proxy adds to connecting and one query (the floor's no-op there)."""
    local, far = _get(data.get("local", {}), n), _get(data.get(key, {}), n)
    if "limit" in far:  # measured in each round, beside the tools (migrate_speed.Bench.limit)
        return float(far["limit"]["cold"])
    if not local or not far:
        return None
    return float(local["floor"]["cold"] + far["floor"]["noop"] - local["floor"]["noop"])


def _verdict(text: str, met: bool) -> str:
    return f"- {text}: {'met' if met else 'missed'}."


def _far_verdict(data: dict[str, Any], key: str, rtt: int, target: float) -> list[str]:
    far200, limit = _get(data.get(key, {}), 200), remote_limit(data, 200, key)
    if not (limit and far200):
        return []
    ours, cli = far200["supamigrate/psycopg2"], far200["supabase"]
    ratio = ours.get("limit_ratio", ours["cold"] / limit)  # per round when measured so
    cli_ratio = cli.get("limit_ratio", cli["cold"] / limit)
    trips = ours.get("cold_round_trips")
    paid = f", {trips:.0f} round trips" if trips is not None else ""
    return [
        _verdict(
            f"Remote {rtt} ms, N=200 cold: supamigrate {ours['cold']:.0f} ms{paid}, limit "
            f"{limit:.0f} ms: {ratio:.2f}x the limit (median of per-round ratios; target "
            f"<= {target}x); Supabase CLI {cli['cold']:.0f} ms = {cli_ratio:.2f}x",
            ratio <= target,
        )
    ]


def _dry_verdict(data: dict[str, Any]) -> list[str]:
    big = data.get("big_file") or {}
    if "dry_seconds" not in big:
        return []
    seconds = big["dry_seconds"]
    return [
        _verdict(
            f"`invoke migrate --dry` on one {big['mb']} MB file ({big['statements']:,} "
            f"statements): {seconds:.1f} s, {big['dry_lines']} lines of output (target <= 5 s)",
            0 <= seconds <= 5,
        )
    ]


def _verdicts(data: dict[str, Any]) -> list[str]:
    lines = _far_verdict(data, "remote_50ms", 100, 1.2)
    lines += _far_verdict(data, "remote_10ms", 20, 1.3)
    lines += _dry_verdict(data)
    far20 = _get(data.get("remote_10ms", {}), 20)
    if far20:
        ours, cli = far20["supamigrate/psycopg2"]["cold"], far20["supabase"]["cold"]
        lines.append(
            _verdict(
                f"Remote 20 ms, N=20 cold: supamigrate {ours:.0f} ms vs `supabase db push` "
                f"{cli:.0f} ms = {ours / cli:.2f}x (target <= 0.3x)",
                ours <= 0.3 * cli,
            )
        )
    local200 = _get(data.get("local", {}), 200)
    if local200:
        ratio = local200["supamigrate/psycopg2"]["cold_ratio"]
        lines.append(
            _verdict(
                f"Local N=200 cold: {ratio:.2f}x one psql session (target <= 1.0x)", ratio <= 1.0
            )
        )
        noop = local200["supamigrate/psycopg2"]["noop"]
        lines.append(
            _verdict(f"Nothing pending, N=200: {noop:.0f} ms (target <= 250 ms)", noop <= 250)
        )
    big = _get(data.get("scale", {}), 10_000).get("supamigrate/psycopg2")
    if big:
        mib = big["noop_kib"] / 1024
        lines.append(
            _verdict(
                f"Nothing pending, N=10,000: {big['noop']:.0f} ms (median of 5), peak {mib:.0f} "
                "MiB (targets <= 500 ms, <= 100 MiB)",
                big["noop"] <= 500 and mib <= 100,
            )
        )
    return lines


def _extra(data: dict[str, Any]) -> list[str]:
    lines = []
    for key, rtt in (("remote_10ms", 20), ("remote_50ms", 100)):
        limit = remote_limit(data, 200, key)
        if limit:
            lines.append(
                f"Limit, remote {rtt} ms N=200 (local floor cold + proxy's extra on connect and "
                f"one query, measured in each round): {limit:.0f} ms (median)."
            )
    lines += _round_trips(data)
    scale = _get(data.get("scale", {}), 10_000)
    if scale:
        lines += ["", "### 10,000 migrations, local (one cold run; no-op: median of 5)", ""]
        lines += ["| tool | cold ms | ratio | no-op ms | peak MiB cold | peak MiB no-op |"]
        lines += ["| --- | ---: | ---: | ---: | ---: | ---: |"]
        for tool in ("floor", "supamigrate/psycopg2"):
            row = scale[tool]
            lines.append(
                f"| {LABELS[tool]} | {row['cold']:.0f} | {_cell(row, 'cold_ratio', 2)} | "
                f"{row['noop']:.0f} | {row['cold_kib'] / 1024:.0f} | {row['noop_kib'] / 1024:.0f} |"
            )
    big = data.get("big_file")
    if big and big.get("seconds", -1) >= 0:
        dry = (
            f"`invoke migrate --dry` {big['dry_seconds']:.1f} s (median of "
            f"{len(big['dry_runs'])}, peak {big['dry_peak_mib']:.0f} MiB); what sets it, each "
            f"alone: split + pre-flight check {big['seconds']:.1f} s, the preview "
            f"{big['preview_seconds']:.1f} s, the rest is start, history and listing"
            if "dry_seconds" in big
            else f"split + pre-flight check {big['seconds']:.1f} s"
        )
        lines += [
            "",
            f"Big file, one {big['mb']} MB migration ({big['statements']:,} statements): {dry}.",
        ]
    return lines


def _round_trips(data: dict[str, Any]) -> list[str]:
    """What each far-away cold run paid, counted by the proxy (benchmarks/delay_proxy.py)."""
    rows = []
    for key, rtt in (("remote_10ms", 20), ("remote_50ms", 100)):
        for n, row in sorted(data.get(key, {}).items(), key=lambda kv: int(kv[0])):
            for tool in TOOLS:
                if "cold_round_trips" in row.get(tool, {}):
                    trips, conns = row[tool]["cold_round_trips"], row[tool]["cold_connections"]
                    rows.append(f"| {rtt} ms | {n} | {LABELS[tool]} | {trips:.0f} | {conns:.0f} |")
    if not rows:
        return []
    head = ["", "Round trips of a cold run (counted by the proxy: each time the client speaks "]
    head[-1] += "after the server did, on every connection; median over rounds):"
    return [
        *head,
        "",
        "| RTT | N | tool | round trips | connections |",
        "| --- | ---: | --- | ---: | ---: |",
        *rows,
    ]


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
        *_table(data.get("local", {})),
        "",
        "### Through a 10 ms-each-way proxy (`benchmarks/delay_proxy.py`)",
        "",
        *_table(data.get("remote_10ms", {})),
        "",
        "### Through a 50 ms-each-way proxy (100 ms round trips)",
        "",
        *_table(data.get("remote_50ms", {})),
        "",
        *_extra(data),
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

    far = [(k, rtt) for k, rtt in (("remote_10ms", 20), ("remote_50ms", 100)) if data.get(k)]
    figure, axes = plt.subplots(1, 1 + len(far), figsize=(6 * (1 + len(far)), 4.8))
    left = axes[0] if far else axes
    local = data.get("local", {})
    sizes = sorted(local, key=int)
    for tool in [t for t in TOOLS if sizes and t in local[sizes[0]]]:
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
    for right, (key, rtt) in zip(axes[1:] if far else [], far, strict=True):
        _far_panel(right, data, key, rtt)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def _far_panel(right: Any, data: dict[str, Any], key: str, rtt: int) -> None:
    """Far away, N=200 cold: the floor's own cold run there would pay a round trip per
    statement (minutes), so the limit stands in for it, as a line."""
    remote = _get(data[key], 200) or _get(data[key], 20)
    tools = [t for t in TOOLS if "cold" in remote.get(t, {})]
    rows = range(len(tools))
    right.barh(list(rows), [remote[t]["cold"] / 1000 for t in tools], height=0.6)
    limit = remote_limit(data, 200, key)
    if limit:
        right.axvline(limit / 1000, color="black", linestyle="--", label="limit")
        right.legend(fontsize=8)
    right.set_yticks(list(rows), [LABELS[t] for t in tools], fontsize=8)
    right.invert_yaxis()
    right.set_title(f"N=200, cold, {rtt} ms round trips (proxy)")
    right.set_xlabel("seconds (median)")
    right.grid(alpha=0.3, axis="x")


if __name__ == "__main__":  # re-render from the last measurements, without measuring
    import json

    here = Path(__file__).resolve().parent
    saved = json.loads((here / "results" / "migrate_speed.json").read_text())
    write_report(saved, here / "results" / "migrate_speed.md", here / "migrate_speed.png")
