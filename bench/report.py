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
        found.append({"target": name, "measured": measured, "holds": holds})

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
                add(*target)
    return found


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
        ["admit ms p50 / p99"] + [_ms(r.get("admit_ms"), "p50", "p99") for _, r in columns],
        ["answer ms p50 / p99 / max"] + [_ms(r.get("answer_ms"), "p50", "p99", "max") for _, r in columns],  # noqa: E501
        ["applied ms p50 / p99 (server)"] + [_ms(r.get("decision_ms"), "p50", "p99") for _, r in columns],
        ["answered / shoppers"] + [f"{r['answered']:,} / {r['shoppers']:,}" for _, r in columns],
        ["polls per shopper"] + [_n(r.get("polls_per_shopper"), 1) for _, r in columns],
        ["5xx / 429 / conn errors"] + [_errors(r["http"]) for _, r in columns],
        ["units held (of 100)"] + [_n(r.get("held_units")) for _, r in columns],
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
    if found:
        out.append("\ntargets (issue 5; catalog_100k: issue 15)\n")
        verdict = {True: "yes", False: "NO", None: "n/a"}
        out.append(
            _table(
                ["target", "measured", "holds"],
                [[t["target"], t["measured"], verdict[t["holds"]]] for t in found],
            )
        )
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
