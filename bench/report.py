"""The bench's table and its verdict on the issue's targets."""

from __future__ import annotations

from typing import Any


def _n(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, int | float):
        return f"{value:,.{digits}f}"
    return str(value)


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        pairs = enumerate(zip(cells, widths, strict=True))
        return "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in pairs)

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)]) + "\n"


def _arrow(pair: list[int]) -> str:
    return f"{pair[0]:,} -> {pair[1]:,}"


def _errors(http: dict[str, Any]) -> str:
    return f"{http['5xx']} / {http['429']} / {http['errors']}"


def _ms(figures: dict[str, Any] | None, *keys: str) -> str:
    if not figures:
        return "-"
    return " / ".join(_n(figures.get(k)) for k in keys)


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of issue 5 with the figure measured in this run and whether it holds."""
    found: list[dict[str, Any]] = []

    def add(name: str, measured: str, holds: bool | None) -> None:
        found.append({"issue": 5, "target": name, "measured": measured, "holds": holds})

    for db in results.get("hot_sku", []):
        kind = db["database"]
        sw, raw = db["consumer_vs_simple_worker"], db["consumer_vs_raw_db"]
        add(f"hot_sku {kind}: consumer >= 10x SimpleWorker", _x(sw), sw is not None and sw >= 10)
        add(f"hot_sku {kind}: consumer >= 0.5x raw DB loop", _x(raw), raw is not None and raw >= 0.5)
        add(f"hot_sku {kind}: invariants after every run", _n(db["invariants_ok"]), db["invariants_ok"])
    spike = results.get("spike")
    if spike:
        runs = spike["runs"] + [spike["catalog"]["spike"]]
        oversell = sum(r["oversell"] for r in runs)
        add(
            "spike: zero oversell (units held == 100, audit clean)",
            f"oversell {oversell}",
            oversell == 0 and all(r["audit_ok"] and r["held_units"] == 100 for r in runs),
        )
        fives = sum(r["http"]["5xx"] for r in runs)
        add("spike: zero 5xx", str(fives), fives == 0)
        answered = [f"{r['answered']}/{r['shoppers']}" for r in spike["runs"]]
        add(
            "spike: every shopper answered",
            ", ".join(answered),
            all(r["answered"] == r["shoppers"] for r in spike["runs"]),
        )
        p99 = max(r["admit_ms"]["p99"] or 0 for r in spike["runs"])
        add("spike: admit p99 < 100 ms", f"{p99:,.0f} ms", p99 < 100)
        sync = (results.get("baseline_sync") or {}).get("locked")
        if sync and sync["answer_ms"]["p99"]:
            ours = max(r["answer_ms"]["p99"] or 0 for r in spike["runs"])
            theirs = sync["answer_ms"]["p99"]
            add(
                "spike: answer p99 <= 0.5x sync baseline p99",
                f"{ours:,.0f} vs {theirs:,.0f} ms ({ours / theirs:.2f}x)",
                ours <= 0.5 * theirs,
            )
        calm = spike.get("steady")
        calm_sync = (results.get("baseline_sync") or {}).get("steady")
        if calm:
            p99 = calm["admit_ms"]["p99"] or 0
            add("steady load: admit p99 < 100 ms", f"{p99:,.0f} ms", p99 < 100)
            add(
                "steady load: zero oversell, every shopper answered",
                f"oversell {calm['oversell']}, {calm['answered']}/{calm['shoppers']}",
                calm["oversell"] == 0 and calm["audit_ok"] and calm["answered"] == calm["shoppers"],
            )
        if calm and calm_sync and calm_sync["answer_ms"]["p99"]:
            ours, theirs = calm["answer_ms"]["p99"], calm_sync["answer_ms"]["p99"]
            add(
                "steady load: answer p99 <= 0.5x sync p99",
                f"{ours:,.0f} vs {theirs:,.0f} ms ({ours / theirs:.2f}x)",
                ours <= 0.5 * theirs,
            )
        fast = spike.get("steady_long_poll")
        if fast:
            p50, p99 = fast["answer_ms"]["p50"] or 0, fast["answer_ms"]["p99"] or 0
            add(
                "steady load, long-polling: answer p50 <= 50 ms and p99 <= 150 ms",
                f"p50 {p50:,.0f} ms, p99 {p99:,.0f} ms",
                p50 <= 50 and p99 <= 150,
            )
            add(
                "steady load, long-polling: zero oversell, every shopper answered",
                f"oversell {fast['oversell']}, {fast['answered']}/{fast['shoppers']}",
                fast["oversell"] == 0 and fast["audit_ok"] and fast["answered"] == fast["shoppers"],
            )
        add(
            "memory: no growth across two spikes",
            "growth" if spike["memory"]["growth"] else "none",
            not spike["memory"]["growth"],
        )
    admit = results.get("admit")
    if admit:
        add(
            "POST /chart >= 0.7x bare enqueue route",
            _x(admit["chart_vs_bare"]),
            admit["chart_vs_bare"] is not None and admit["chart_vs_bare"] >= 0.7,
        )
    catalog = results.get("catalog_100k")
    if catalog:
        for db in catalog["databases"]:
            for target in catalog_targets(db, catalog["generated"]):
                found.append(dict(zip(("target", "measured", "holds"), target, strict=True), issue=15))
    found.extend({"issue": 12, **t} for t in issue12_targets(results))
    return found


def _worst(values: list[float | None], pick: Any = max) -> float | None:
    present = [v for v in values if v is not None]
    return pick(present) if present else None


def _versus(ours: float | None, theirs: float | None, unit: str) -> tuple[str, float | None]:
    """ "a vs b unit (r x)" and r, for a ratio target."""
    r = ours / theirs if ours is not None and theirs else None
    return f"{_n(ours)} vs {_n(theirs)} {unit} ({_x(r)})", r


def _clean(runs: list[dict[str, Any]], units: int = 100) -> tuple[str, bool]:
    """Oversell, 5xx, answered and audit over spike runs: the measured text and whether all hold."""
    oversell = sum(r["oversell"] for r in runs)
    fives = sum(r["http"]["5xx"] for r in runs)
    answered = sum(r["answered"] for r in runs)
    shoppers = sum(r["shoppers"] for r in runs)
    audits = [r["audit_ok"] for r in runs if "audit_ok" in r]
    holds = oversell == 0 and fives == 0 and answered == shoppers and all(audits)
    audit = "audit clean" if all(audits) else "audit VIOLATED"
    if not audits:
        audit = "no audit"
    return f"oversell {oversell}, 5xx {fives}, answered {answered:,}/{shoppers:,}, {audit}", holds


def issue12_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 12's targets, each with its figure from this run, the ratio and whether it holds."""
    found: list[dict[str, Any]] = []

    def add(name: str, measured: str, holds: bool | None) -> None:
        found.append({"target": name, "measured": measured, "holds": holds})

    spike = results.get("spike")
    sync = (results.get("baseline_sync") or {}).get("locked")
    if spike:
        runs = spike["runs"]
        if sync:
            text, r = _versus(_worst([x["answer_ms"]["p99"] for x in runs]), sync["answer_ms"]["p99"], "ms")
            add("1 spike: answer p99 <= 0.5x sync (worst shop run)", text, r is not None and r <= 0.5)
            text, r = _versus(
                _worst([x["admitted_per_s"] for x in runs], min), sync["admitted_per_s"], "req/s"
            )
            add("1 spike: admits >= 2x sync req/s (worst shop run)", text, r is not None and r >= 2)
        text, ok = _clean(runs + [spike["catalog"]["spike"]])
        add("1 spike: 0 oversell, 0 5xx, every shopper answered, audit clean", text, ok)
    latency = results.get("spike_db_latency")
    if latency:
        shop, theirs = latency["figures"]["shop"], latency["figures"]["sync"]
        rtt = latency["rtt"]["added_rtt_ms"]
        add(
            "2 spike_db_latency: the proxy adds ~1 ms per round trip (SELECT 1, median)",
            f"+{rtt:.2f} ms (after the runs +{latency['rtt_after']['added_rtt_ms']:.2f} ms)",
            0.8 <= rtt <= 1.3,
        )
        text, r = _versus(shop["decided_per_s"], theirs["decided_per_s"], "decided/s")
        add("2 spike_db_latency: decided req/s >= 3x sync", text, r is not None and r >= 3)
        text, r = _versus(shop["answer_p99_ms"], theirs["answer_p99_ms"], "ms")
        add("2 spike_db_latency: answer p99 <= 0.33x sync", text, r is not None and r <= 0.33)
        text, ok = _clean(latency["runs"]["shop"])
        add("2 spike_db_latency: shop 0 oversell, 0 5xx, all answered, audit clean", text, ok)
    if spike:
        during = spike["catalog"]["during_spike"]["ms"]["p99"]
        add(
            "3 GET /catalogs p99 <= 250 ms during the spike",
            f"{_n(during)} ms",
            during is not None and during <= 250,
        )
        fast = spike.get("steady_long_poll")
        if fast:
            p50, p99 = fast["answer_ms"]["p50"], fast["answer_ms"]["p99"]
            add(
                "4 steady_long_poll: answer p50 <= 50 ms and p99 <= 150 ms",
                f"p50 {_n(p50)} ms, p99 {_n(p99)} ms",
                p50 is not None and p99 is not None and p50 <= 50 and p99 <= 150,
            )
    limits = {db["database"]: db for db in results.get("limit") or []}
    for db in results.get("hot_sku") or []:
        kind = db["database"]
        share = {"postgres": 0.25, "sqlite": 0.1}[kind]
        name = f"5 hot_sku {kind}: consumer >= {share}x the drain-into-one-transaction limit"
        if kind in limits:
            text, r = _versus(db["consumer_holds_per_s"], limits[kind]["per_s"], "/s")
            add(name, text, r is not None and r >= share)
        else:
            add(name, "limit not run (--only ... limit)", None)
        ok = db["invariants_ok"] and (limits[kind]["invariants_ok"] if kind in limits else True)
        add(f"5 hot_sku {kind}: invariants after every run (consumer and limit)", _n(ok), ok)
    admit = results.get("admit")
    if admit:
        text, r = _versus(admit["per_s"]["chart"], admit["per_s"]["bare_enqueue"], "req/s")
        add("6 admit: POST /chart >= 1.0x bare enqueue route (limiter on)", text, r is not None and r >= 1.0)
    grow = results.get("growth")
    if grow:
        load = grow["load"]
        add(
            f"7 growth: all {grow['shoppers']:,} answered",
            f"{load['answered']:,}/{grow['shoppers']:,} (5xx {load['http']['5xx']}, conn errors "
            f"{load['http']['errors']}, results expired unread {load.get('lost', 0)})",
            load["answered"] == grow["shoppers"],
        )
        add(
            f"7 growth: no oversell (active holds <= {grow['units']:,}, audit clean)",
            f"oversell {grow['oversell']}, held answers {grow['held_answers']:,}, "
            f"audit {'clean' if grow['audit_ok'] else 'VIOLATED'}",
            grow["oversell"] == 0 and grow["audit_ok"],
        )
        base, after = grow["baseline"]["redis"], grow["after"]["redis"]
        back = grow["returned"]
        add(
            f"7 growth: Redis back to baseline {grow['returned_after_s']:.0f} s after the drain (TTLs"
            f" {grow['hold_ttl_s']} + {grow['ttl_s']} s)",
            f"{base['used_memory'] / 2**20:.1f} -> {after['used_memory'] / 2**20:.1f} MiB, keys"
            f" {base['keys']:,} -> {after['keys']:,}",
            back["redis_memory"] and back["redis_keys"],
        )
        kinds = load["http"].get("error_kinds") or {}
        if kinds:
            add(
                "7 growth: why requests got no answer (load side)",
                ", ".join(f"{kind} {n:,}" for kind, n in sorted(kinds.items(), key=lambda i: -i[1])),
                None,
            )
        left = grow.get("largest_keys_after") or []
        if left:
            add(
                "7 growth: largest Redis keys after the TTLs",
                ", ".join(f"{key} {size / 1024:,.0f} KiB" for key, size in left[:3]),
                None,
            )
        grown = [name for name, ok in back["processes"].items() if not ok]
        add(
            "7 growth: every process's RSS back to baseline (within 10% or 5 MiB)",
            "all" if not grown else "not: " + ", ".join(grown),
            not grown,
        )
        add(
            "7 growth: time to drain (first admission to last answer; lane idle, hold expiries included)",
            f"{_n(grow['drain_s'], 1)} s (server {_n(grow['served_s'], 1)} s)",
            None,
        )
        peak = max(grow["peak_kib"].items(), key=lambda item: item[1], default=("-", 0))
        add(
            "7 growth: peak memory per process (VmHWM; the largest shown)",
            f"{peak[0]} {peak[1] / 1024:,.0f} MiB; "
            f"Redis {grow['redis_peak']['used_memory'] / 2**20:,.0f} MiB",
            None,
        )
    for scenario, worst in _load_lags(results).items():
        where, p99 = worst
        add(
            f"8 load generator: event-loop lag p99 <= 20 ms ({scenario})",
            f"worst {_n(p99)} ms ({where})",
            p99 <= 20,
        )
    return found


def _load_lags(results: dict[str, Any]) -> dict[str, tuple[str, float]]:
    """The worst load-process lag p99 of each scenario, and which load it was, from every result."""
    worst: dict[str, tuple[str, float]] = {}

    def walk(node: Any, scenario: str, path: str) -> None:
        if isinstance(node, dict):
            lag = node.get("load_loop_lag_ms")
            if isinstance(lag, dict) and lag.get("p99") is not None:
                if scenario not in worst or lag["p99"] > worst[scenario][1]:
                    worst[scenario] = (path or scenario, lag["p99"])
            for key, value in node.items():
                if key not in ("load_loop_lag_ms", "samples"):
                    walk(value, scenario, f"{path}.{key}" if path else key)
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, scenario, f"{path}[{index}]")

    for scenario, value in results.items():
        if scenario not in ("machine", "sizes", "targets"):
            walk(value, scenario, "")
    return worst


def catalog_targets(db: dict[str, Any], generated: int) -> list[tuple[str, str, bool | None]]:
    """Issue 15's targets for one database, judged on the large shop's figures."""
    kind = db["database"]
    size = f"{generated:,}"
    found: list[tuple[str, str, bool | None]] = []
    worst = db["worst"]["large"]
    refused = worst["not_answered"]
    measured = f"worst {_n(worst['worst_p99'])} ms, {worst['over_50ms']} of {worst['answered']} over"
    if refused:
        measured += f", {len(refused)} not 200"
    found.append(
        (
            f"catalog_100k {kind}: every GET /catalogs combination p99 <= 50 ms at {size} (one client)",
            measured,
            not refused and worst["worst_p99"] is not None and worst["worst_p99"] <= 50,
        )
    )
    load = db["throughput"]
    share = load["large_vs_demo"]
    found.append(
        (
            f"catalog_100k {kind}: 8 clients at {size} >= 0.5x the 36-product req/s",
            f"{_n(load['large']['per_s'])} vs {_n(load['demo']['per_s'])} req/s ({_x(share)})",
            share is not None and share >= 0.5 and not load["large"]["not_200"],
        )
    )
    front = db["storefront"]["large"]
    found.append(
        (
            f"catalog_100k {kind}: storefront /?search=mouse <= 100 ms at {size} (median)",
            _answered_ms(front),
            front["status"] == 200 and front["p50"] <= 100,
        )
    )
    admin = db["admin_skus"]["large"]
    measured = _answered_ms(admin) + (f", {_n(admin['kb'])} KB" if admin["status"] == 200 else "")
    found.append(
        (
            f"catalog_100k {kind}: /admin/skus first page <= 100 ms and <= 100 KB at {size} (median)",
            measured,
            admin["status"] == 200 and admin["p50"] <= 100 and admin["kb"] <= 100,
        )
    )
    seeded = db["seed"]["large"]["seed_s"]
    if kind == "sqlite":
        found.append(
            (
                f"catalog_100k sqlite: seeding {size} products <= 60 s",
                f"{seeded:.1f} s",
                seeded <= 60 if generated == 100_000 else None,
            )
        )
    return found


def _answered_ms(figure: dict[str, Any]) -> str:
    """A request's median, or why there is none (a timeout, a refusal)."""
    if figure["error"] == "timeout":
        return f"timeout after {figure['timeout_ms'] / 1000:,.0f} s"
    if figure["status"] != 200:
        return f"{figure['status'] or ''} {figure['error'] or ''}".strip()
    return f"{_n(figure['p50'])} ms"


def _spike_table(columns: list[tuple[str, dict[str, Any]]]) -> str:
    rows = [
        ["admitted req/s"] + [_n(r.get("admitted_per_s")) for _, r in columns],
        ["decided req/s (server)"] + [_n(r.get("decided_per_s")) for _, r in columns],
        ["admit ms p50 / p99"] + [_ms(r.get("admit_ms"), "p50", "p99") for _, r in columns],
        ["answer ms p50 / p99 / max"] + [_ms(r.get("answer_ms"), "p50", "p99", "max") for _, r in columns],  # noqa: E501
        ["applied ms p50 / p99 (server)"] + [_ms(r.get("decision_ms"), "p50", "p99") for _, r in columns],
        ["answered / shoppers"] + [f"{r['answered']:,} / {r['shoppers']:,}" for _, r in columns],
        ["polls per shopper"] + [_n(r.get("polls_per_shopper"), 1) for _, r in columns],
        ["5xx / 429 / conn errors"] + [_errors(r["http"]) for _, r in columns],
        ["units held (active holds)"] + [_n(r.get("held_units")) for _, r in columns],
        ["oversell"] + [_n(r.get("oversell")) for _, r in columns],
        ["audit clean"] + [_n(r.get("audit_ok")) if "audit_ok" in r else "n/a" for _, r in columns],
        ["load loop lag ms p99"] + [_ms(r.get("load_loop_lag_ms"), "p99") for _, r in columns],
    ]  # fmt: skip
    return _table(["figure"] + [name for name, _ in columns], rows)


def render(results: dict[str, Any]) -> str:
    out: list[str] = []
    m = results["machine"]
    out.append(
        f"\nMachine: {m['cpus']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB, Python {m['python']}, "
        f"load average at start {', '.join(f'{x:.2f}' for x in m['load_avg_at_start'])}. "
        f"Bench took {results['seconds']}s.\n"
        "Figures are medians of the rounds; ratios compare runs made side by side in this one run.\n"
    )
    hot = results.get("hot_sku")
    if hot:
        sizes = results["sizes"]
        out.append(
            f"\nhot_sku: one SKU, distinct carts, every request a hold that succeeds; per round "
            f"{sizes['n']:,} through the consumer (batch {hot[0]['batch_size']}), {sizes['sw_n']:,} through "
            f"RQ SimpleWorker, {sizes['raw_n']:,} raw; {sizes['rounds']} rounds interleaved\n"
        )
        rows = []
        for db in hot:
            rates = ("admit_per_s", "consumer_holds_per_s", "simple_worker_holds_per_s", "raw_db_holds_per_s")
            rows.append(
                [db["database"], *(_n(db[k]) for k in rates)]
                + [_x(db["consumer_vs_simple_worker"]), _x(db["consumer_vs_raw_db"])]
                + ["ok" if db["invariants_ok"] else "VIOLATED"]
            )
        out.append(
            _table(
                [
                    "database",
                    "admit/s",
                    "consumer holds/s",
                    "SimpleWorker/s",
                    "raw DB/s",
                    "vs SW",
                    "vs raw",
                    "audit",
                ],
                rows,
            )
        )
    spike = results.get("spike")
    sync = results.get("baseline_sync") or {}
    if spike or sync:
        sizes = results["sizes"]
        out.append(
            f"\nspike: {sizes['shoppers']:,} shoppers arriving within {sizes['arrival_s']} s for 100 units, "
            "PostgreSQL, gunicorn 2 workers x 8 threads (gthread); shop: 2 consumers + scheduler; "
            "rate limits on but generous\n"
        )
        columns: list[tuple[str, dict[str, Any]]] = []
        if spike:
            columns += [(f"shop run {i + 1}", r) for i, r in enumerate(spike["runs"])]
        if sync.get("locked"):
            columns.append(("sync FOR UPDATE", sync["locked"]))
        if sync.get("naive"):
            columns.append(("sync naive", sync["naive"]))
        out.append(_spike_table(columns))
    if (spike and spike.get("steady")) or sync.get("steady"):
        sizes = results["sizes"]
        out.append(
            f"\nsteady: {sizes['steady_shoppers']:,} shoppers arriving within {sizes['steady_arrival_s']} s "
            "(a rate the web tier keeps up with), same stacks\n"
        )
        columns = []
        if spike and spike.get("steady"):
            columns.append(("shop", spike["steady"]))
        if spike and spike.get("steady_long_poll"):
            columns.append(("shop, long-polling", spike["steady_long_poll"]))
        if sync.get("steady"):
            columns.append(("sync FOR UPDATE", sync["steady"]))
        out.append(_spike_table(columns))
    if spike:
        cat = spike["catalog"]
        during, idle = cat["during_spike"], cat["idle"]
        out.append("\ncatalog: GET /catalogs (20 items, sorted by sales), 8 keep-alive browsers\n")
        rows = [
            [label, _n(f["per_s"]), _n(f["ms"]["p50"], 1), _n(f["ms"]["p99"], 1), _n(f["http"]["5xx"])]
            for label, f in (("during a spike", during), ("idle", idle))
        ]
        out.append(_table(["when", "req/s", "p50 ms", "p99 ms", "5xx"], rows))
        out.append("\nmemory (KiB): peak RSS (VmHWM) after spike 1 -> after spike 2; current RSS likewise\n")
        rows = [
            [name, _arrow(p["peak_kib"]), _arrow(p["rss_kib"]), f"{p['peak_growth_kib']:+,}"]
            for name, p in spike["memory"]["processes"].items()
        ]
        out.append(_table(["process", "peak RSS", "RSS", "peak growth"], rows))
    admit = results.get("admit")
    if admit:
        out.append("\nadmit: web tier alone (no consumers), 32 keep-alive clients, POST back to back\n")
        bare = admit["per_s"]["bare_enqueue"]
        rows = [
            [name, _n(rate), _n(admit["p99_ms"][name], 1), _x(rate / bare if bare else None)]
            for name, rate in admit["per_s"].items()
        ]
        out.append(_table(["route", "req/s", "p99 ms", "vs bare"], rows))
    out.append(_issue12_sections(results))
    if results.get("capacity"):
        out.append(_capacity_section(results["capacity"]))
    prof = results.get("profile")
    if prof:
        out.append("\nprofile (py-spy, share of samples; see bench/README.md)\n")
        for name, section in prof.items():
            out.append(f"  {name}:\n")
            for row in section["top"][:12]:
                out.append(f"    {row['share']:5.1f}%  {row['frame']}\n")
    catalog = results.get("catalog_100k")
    if catalog:
        out.append(_catalog_section(catalog))
    found = results.get("targets") or []
    verdict = {True: "yes", False: "NO", None: "-"}
    for issue, title in ((5, "issue 5"), (15, "issue 15: catalog_100k"), (12, "issue 12")):
        rows = [[t["target"], t["measured"], verdict[t["holds"]]] for t in found if t.get("issue") == issue]
        if rows:
            out.append(f"\ntargets ({title})\n")
            out.append(_table(["target", "measured", "holds"], rows))
    return "".join(out)


def _issue12_sections(results: dict[str, Any]) -> str:
    """The tables of limit, spike_db_latency and growth."""
    out: list[str] = []
    limits = results.get("limit")
    if limits:
        out.append(
            f"\nlimit: a Redis list drained {limits[0]['batch']} at a time, one transaction per batch"
            " (one guarded UPDATE + executemany of the holds), no shop code\n"
        )
        rows = [
            [db["database"], _n(db["requests_per_round"]), _n(db["rounds"]), _n(db["per_s"])]
            + [" / ".join(_n(r["per_s"]) for r in db["runs"]), "ok" if db["invariants_ok"] else "VIOLATED"]
            for db in limits
        ]
        out.append(_table(["database", "requests", "rounds", "holds/s", "rounds' holds/s", "checks"], rows))
    latency = results.get("spike_db_latency")
    if latency:
        rtt = latency["rtt"]
        sizes = results["sizes"]
        out.append(
            f"\nspike_db_latency: the spike ({sizes['shoppers']:,} shoppers within {sizes['arrival_s']} s,"
            f" 100 units), both stacks reaching PostgreSQL through bench/latency_proxy.py;\n  SELECT 1 median"
            f" {rtt['direct_ms_p50']:.2f} ms direct, {rtt['proxied_ms_p50']:.2f} ms through the proxy (+"
            f"{rtt['added_rtt_ms']:.2f} ms; delay {rtt['one_way_delay_ms']:.3f} ms each way after correction;"
            f" +{latency['rtt_after']['added_rtt_ms']:.2f} ms after the runs); {latency['rounds']} round(s),"
            " stacks alternating\n"
        )
        columns = [(f"shop {i + 1}", r) for i, r in enumerate(latency["runs"]["shop"])]
        columns += [(f"sync FOR UPDATE {i + 1}", r) for i, r in enumerate(latency["runs"]["sync"])]
        out.append(_spike_table(columns))
        out.append(
            "  decided req/s: decisions / (first admission -> last decision), server clocks (the shop: RQ"
            " enqueued_at -> ended_at; sync: X-Bench-Started -> X-Bench-Decided)\n"
        )
    grow = results.get("growth")
    if grow:
        load = grow["load"]
        out.append(
            f"\ngrowth: {grow['shoppers']:,} shoppers within {grow['arrival_s']} s for"
            f" {grow['units']:,} units, RESULT_TTL_SECONDS {grow['ttl_s']},"
            f" HOLD_TTL_SECONDS {grow['hold_ttl_s']}, {load['load_processes']} load processes\n"
        )
        column = {**load, "oversell": grow["oversell"], "audit_ok": grow["audit_ok"]}
        column["held_units"] = grow["stock_drained"]["held_units"]
        out.append(_spike_table([("shop", column)]))
        out.append(
            f"  drain (first admission -> last answer) {_n(grow['drain_s'], 1)} s; last ticket served after"
            f" {_n(grow['served_s'], 1)} s; held answers {grow['held_answers']:,}; active holds at the"
            f" drain {grow['stock_drained']['held_units']:,}, after the TTL"
            f" {grow['stock_after']['held_units']:,}\n"
        )
        base, peak = grow["baseline"], grow["redis_peak"]
        drained, after = grow["drained"]["redis"], grow["after"]["redis"]
        rows = [
            [
                "redis used_memory MiB",
                f"{base['redis']['used_memory'] / 2**20:,.1f}",
                f"{peak['used_memory'] / 2**20:,.1f}",
                f"{drained['used_memory'] / 2**20:,.1f}",
                f"{after['used_memory'] / 2**20:,.1f}",
                _n(grow["returned"]["redis_memory"]),
            ],
            [
                "redis keys",
                _n(base["redis"]["keys"]),
                _n(peak["keys"]),
                _n(drained["keys"]),
                _n(after["keys"]),
                _n(grow["returned"]["redis_keys"]),
            ],
        ]
        for name, figures in base["memory"].items():
            rows.append(
                [
                    f"{name} RSS MiB",
                    f"{figures['rss_kib'] / 1024:,.1f}",
                    f"{grow['peak_kib'].get(name, 0) / 1024:,.1f} (VmHWM)",
                    f"{grow['drained']['memory'].get(name, {}).get('rss_kib', 0) / 1024:,.1f}",
                    f"{grow['after']['memory'].get(name, {}).get('rss_kib', 0) / 1024:,.1f}",
                    _n(grow["returned"]["processes"].get(name)),
                ]
            )
        out.append(
            "  memory: baseline (after a warm-up and the TTL), peak, at the drain,"
            f" {grow['returned_after_s']:.0f} s after the drain\n"
        )
        out.append(_table(["figure", "baseline", "peak", "drained", "after TTL", "back"], rows))
    return "".join(out)


# --- catalog_100k -------------------------------------------------------------------------------


def _cell(figure: dict[str, Any] | None, reps: int, deep_page: int = 0) -> str:
    """p50 / p99 ms of one combination on one shop, or what it answered instead."""
    if figure is None:
        return "-"
    if figure["error"] == "timeout":
        return f"timeout ({figure['timeout_ms'] / 1000:,.0f} s)"
    if figure["status"] != 200:
        return f"{figure['status'] or ''} {figure['error'] or ''}".strip()
    text = f"{figure['p50']:,.1f} / {figure['p99']:,.1f}"
    if figure["n"] < reps:
        text += f" n={figure['n']}"
    if figure.get("cursor_page") not in (None, deep_page):
        text += f" @p{figure['cursor_page']}"
    return text


def _combination(row: dict[str, Any]) -> tuple[str, str | None, str | None, str]:
    return row["sortBy"], row["category"], row["search"], row["page"]


def _total(figure: dict[str, Any] | None) -> str:
    if not figure or figure.get("total") is None:
        return "-"
    return f"{figure['total']:,}" + ("+" if figure.get("total_is_lower_bound") else "")


def _catalog_section(catalog: dict[str, Any]) -> str:
    out: list[str] = []
    dbs = catalog["databases"]
    plan = catalog["plan"]
    big = f"{catalog['generated'] // 1000:,}k"
    columns = [(db, shop) for db in dbs for shop in ("demo", "large")]
    sizes = {"demo": str(dbs[0]["seed"]["demo"]["products"]), "large": big}
    names = [f"{db['database']} {sizes[shop]}" for db, shop in columns]
    out.append(
        f"\ncatalog_100k: GET /catalogs, one client, sequential, keep-alive, over HTTP (gunicorn 2 x 8);\n"
        f"  the demo catalog (36 products) next to demo + {catalog['generated']:,} generated, request by"
        " request; 20 per page, the API's default sortDir;\n"
        f"  ms p50 / p99 (nearest rank: with up to {plan['catalog_reps']} samples the p99 is the slowest);"
        f" n=k: a slow cell stops at {plan['catalog_min_reps']} samples once it has taken"
        f" {plan['catalog_budget_s']} s;\n"
        f"  first = page 1, deep = page {catalog['deep_page']}, cursor = next_cursor followed to page"
        f" {catalog['deep_page']} (@pN: the chain ended at page N)\n"
    )
    # Cursor rows exist only where a first page had next_cursor, so the databases' rows may differ.
    by_db = [{_combination(r): r for r in db["sequential"]} for db in dbs]
    keys = list(dict.fromkeys(key for index in by_db for key in index))
    rows = []
    reps, deep = plan["catalog_reps"], catalog["deep_page"]
    for key in keys:
        found = [index.get(key) for index in by_db]
        cells = [
            _cell(found[i // 2]["shops"].get(shop) if found[i // 2] else None, reps, deep)
            for i, (_db, shop) in enumerate(columns)
        ]
        totals = " / ".join(_total(f["shops"].get("large")) if f else "-" for f in found)
        sort, category, search, page = key
        rows.append([sort, category or "-", search or "-", page, *cells, totals])
    dbs_names = " / ".join(db["database"] for db in dbs)
    out.append(_table(["sortBy", "category", "search", "page", *names, f"total ({dbs_names})"], rows))

    out.append(f"\ncatalog_100k: summary (36 products vs demo + {catalog['generated']:,})\n")
    figures = [_catalog_column(db, shop) for db, shop in columns]
    labels = list(figures[0])
    labels[labels.index("8 clients req/s")] = (
        f"8 clients req/s (median of {plan['catalog_rounds']} x {plan['catalog_load_s']} s)"
    )
    rows = [
        [label, *(column[key] for column in figures)] for label, key in zip(labels, figures[0], strict=True)
    ]
    out.append(_table(["figure", *names], rows))
    for (db, shop), name in zip(columns, names, strict=True):
        combination = db["worst"][shop]["worst_combination"]
        if combination:
            out.append(f"  worst p99, {name}: {combination}\n")
    return "".join(out)


def _catalog_column(db: dict[str, Any], shop: str) -> dict[str, str]:
    """One shop's summary figures, by row label."""
    worst, load, large = db["worst"][shop], db["throughput"][shop], shop == "large"

    def page_ms(figure: dict[str, Any]) -> str:
        if figure["status"] != 200:
            return _cell(figure, 0)
        return f"{_n(figure['p50'])} / {_n(figure['p99'])}"

    return {
        "GET /catalogs worst p99 ms": _n(worst["worst_p99"], 1),
        "combinations p99 over 50 ms": f"{worst['over_50ms']} of {worst['answered']}",
        "combinations p50 over 50 ms": f"{worst['p50_over_50ms']} of {worst['answered']}",
        "combinations not 200": _refusals(worst["not_answered"]),
        "one-client sweep s (both shops)": "" if large else _n(db["sweep_s"]),
        "8 clients req/s": _n(load["per_s"]),
        "8 clients ms p50 / p99": f"{_n(load['p50'], 1)} / {_n(load['p99'], 1)}",
        "8 clients non-200 / errors": f"{load['not_200']} / {load['errors']}",
        "8 clients req/s vs 36": _x(db["throughput"]["large_vs_demo"]) if large else "",
        "storefront /?search=mouse ms p50 / p99": page_ms(db["storefront"][shop]),
        "/admin/skus ms p50 / p99": page_ms(db["admin_skus"][shop]),
        "/admin/skus KB": _n(db["admin_skus"][shop]["kb"]),
        "products": _n(db["seed"][shop]["products"]),
        "seeding s": _n(db["seed"][shop]["seed_s"], 1) if large else "",
        "scenario s (this database)": "" if large else _n(db["seconds"]),
        "load average, start -> end": "" if large else " -> ".join(f"{x:.2f}" for x in db["load_avg"]),
    }


def _refusals(refused: list[dict[str, Any]]) -> str:
    if not refused:
        return "0"
    kinds: dict[str, int] = {}
    for item in refused:
        key = f"{item['status'] or ''} {item['error'] or ''}".strip()
        kinds[key] = kinds.get(key, 0) + 1
    return ", ".join(f"{n} ({key})" for key, n in kinds.items())


def _capacity_section(loads: dict[str, Any]) -> str:
    """One shopper's cost per component, and the cores each kept busy (bench/capacity.py)."""
    names = list(loads)
    parts = list(loads[names[0]]["cpu_s"])
    head = "\ncapacity: what one shopper (one POST /chart and its polls) costs each part, PostgreSQL\n"
    rows = [
        [part, *(_n(loads[n]["per_shopper_cpu_ms"][part], 2) for n in names),
         *(_n(loads[n]["cores_busy"][part], 2) for n in names)]
        for part in parts
    ]  # fmt: skip
    headers = ["part", *(f"CPU ms/shopper, {n}" for n in names), *(f"cores busy, {n}" for n in names)]
    lines = [head, _table(headers, rows)]
    for name in names:
        load = loads[name]
        top = ", ".join(f"{cmd} {per:.2f}" for cmd, per in load["redis_top_commands"].items())
        lines.append(
            f"{name}: {load['shoppers']:,} shoppers, {load['http_requests']:,} HTTP requests in "
            f"{load['load_s']:.1f} s, machine {load['machine_cores_busy']:.2f} cores busy; web "
            f"{load['web_cpu_ms_per_request']:.2f} CPU ms per HTTP request; Redis "
            f"{load['redis_commands_per_shopper']:.1f} commands and {load['redis_cpu_us_per_shopper']:.0f} "
            f"CPU us per shopper ({top}); PostgreSQL {load['db_commits_per_shopper']:.2f} commits per "
            f"shopper\n"
        )
    return "".join(lines)
