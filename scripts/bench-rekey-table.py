#!/usr/bin/env python3
"""The rekey table of scripts/bench.sh (issue 21 §1), from its raw JSON lines.

Usage: bench-rekey-table.py RAW.jsonl OUT.md MARKER "when and where" "lifetimes"

Reads the "rekey" lines (one per responder and run), writes a Markdown table between
`<!-- MARKER begin -->` and `<!-- MARKER end -->` in OUT (appended if absent) and prints it.
CPU per rekey comes from the generator's time line of the responder's CPU (one point a second,
with the CHILD and IKE rekeys seen so far): the seconds in which only CHILD_SAs rekeyed price a
CHILD rekey, those with only IKE rekeys an IKE rekey, each less the responder's CPU rate in the
seconds with no rekey at all (timers, keepalives: what it spends holding the SAs).
"""
import json
import re
import statistics
import sys


def costs(timeline):
    """(ms per CHILD rekey, ms per IKE rekey, idle ms per s) from one run's time line."""
    idle = [0.0, 0.0]  # cpu ns, seconds
    child = [0.0, 0.0, 0]  # cpu ns, seconds, rekeys
    ike = [0.0, 0.0, 0]
    for a, b in zip(timeline, timeline[1:]):
        dt = b["t_s"] - a["t_s"]
        cpu = b["cpu_ns"] - a["cpu_ns"]
        dc = b["child_rekeys"] - a["child_rekeys"]
        di = b["ike_rekeys"] - a["ike_rekeys"]
        if dc == 0 and di == 0:
            idle[0] += cpu
            idle[1] += dt
        elif di == 0:
            child[0] += cpu
            child[1] += dt
            child[2] += dc
        elif dc == 0:
            ike[0] += cpu
            ike[1] += dt
            ike[2] += di
    rate = idle[0] / idle[1] if idle[1] > 0 else 0.0

    def per(acc):
        if acc[2] == 0:
            return None
        return max(acc[0] - rate * acc[1], 0.0) / acc[2] / 1e6

    return per(child), per(ike), rate / 1e6, child[2], ike[2]


def main():
    raw, out, marker, when, lifetimes = sys.argv[1:6]
    rows = [json.loads(l) for l in open(raw) if l.strip()]
    rows = [r for r in rows if r.get("section") == "rekey"]
    lines = [
        f"Measured {when}. Responder lifetimes: {lifetimes}; the generator keeps strongSwan's "
        "default lifetimes, so the responder starts every rekey and the generator answers. "
        "iked with `--kernel record`, charon on kernel-libipsec. One fresh responder per run.",
        "",
        "| responder | N | up | CHILD rekeys | IKE rekeys | failed exchanges | SAs lost | CHILD_SAs refused | held at end "
        "(gen IKE/CHILD, responder IKE) | CPU per CHILD rekey (ms) | CPU per IKE rekey (ms) | "
        "RSS after set-up → after rekeys (MB) | RSS per held SA (KB) | timer lag max / mean (ms) | retransmits |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    per = {}
    for r in sorted(rows, key=lambda r: (r["n"], r["responder"] != "iked", r["run"])):
        c, i, idle, nc, ni = costs(r["timeline"])
        per.setdefault((r["n"], r["responder"]), []).append((c, i))
        lag = (
            "%.1f / %.2f" % (r["timer_lag_max_us"] / 1e3, r["timer_lag_mean_us"] / 1e3)
            if r.get("timer_lag_max_us") is not None
            else "—"
        )
        rss = "%.1f → %.1f (%+.1f %%)" % (
            r["rss_setup_kb"] / 1024,
            r["rss_end_kb"] / 1024,
            (r["rss_end_kb"] / r["rss_setup_kb"] - 1) * 100,
        )
        fmt = lambda v: "—" if v is None else "%.3f" % v
        # Growth from the idle responder to the N SAs held (after set-up and after the rekeys).
        per_sa = (
            "%.2f → %.2f" % ((r["rss_setup_kb"] - r["rss_start_kb"]) / r["n"],
                             (r["rss_end_kb"] - r["rss_start_kb"]) / r["n"])
            if r.get("rss_start_kb") else "—"
        )
        lines.append(
            "| %s | %d | %d | %d | %d | %s | %d | %d | %d / %d, %s | %s (%d in pure seconds) | %s (%d) | %s | %s | %s | %d |"
            % (
                r["responder"], r["n"], r["established"], r["child_rekeys"], r["ike_rekeys"],
                r.get("failed_exchanges", "?"), r["ike_down"] + r["child_down"], r["child_failed"] + r["setup_failed"],
                r["ike_sas_held"], r["child_sas_held"], r.get("responder_ike_sas") or "?",
                fmt(c), nc, fmt(i), ni, rss, per_sa, lag, r["retransmits"],
            )
        )
    lines.append("")
    for n in sorted({k[0] for k in per}):
        a, b = per.get((n, "iked")), per.get((n, "charon"))
        if not a or not b:
            continue
        def med(v, k):
            xs = [x[k] for x in v if x[k] is not None]
            return statistics.median(xs) if xs else None
        for k, name in ((0, "CHILD"), (1, "IKE")):
            x, y = med(a, k), med(b, k)
            if x and y:
                lines.append(f"- N = {n:,}: CPU per {name} rekey iked ÷ charon = {x / y:.3f} (1/{y / x:.1f}).")
    lines.append("")
    table = "\n".join(lines)
    begin, end = f"<!-- {marker} begin -->", f"<!-- {marker} end -->"
    try:
        doc = open(out).read()
    except FileNotFoundError:
        doc = "# Benchmark results\n"
    if begin not in doc:
        doc += f"\n{begin}\n{end}\n"
    doc = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: f"{begin}\n{table}\n{end}", doc, flags=re.S)
    open(out, "w").write(doc)
    print(table)


if __name__ == "__main__":
    main()
