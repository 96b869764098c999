"""``mnemos eval``: retrieval recall@k / MRR, latency, memory tokens per question and
(with a model) answer accuracy and a hallucination proxy, for one or two configurations."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from mnemos._cli._common import print_json, progress, reported, stderr, stdout
from mnemos.exceptions import UsageError

__all__ = ["register"]


def _ints(text: str) -> list[int]:
    try:
        values = sorted({int(p) for p in text.split(",") if p.strip()})
    except ValueError:
        raise UsageError(f"bad --k {text!r}: give comma-separated integers, e.g. 5,10") from None
    if not values or values[0] < 1:
        raise UsageError(f"bad --k {text!r}: cut-offs are positive")
    return values


def eval_command(
    paths: Annotated[list[Path], typer.Argument(help="LoCoMo .json files or .jsonl question sets.")],
    fmt: Annotated[str, typer.Option("--format", help="auto (by suffix), locomo or jsonl.")] = "auto",
    k: Annotated[str, typer.Option("--k", metavar="K,...", help="Cut-offs for recall/hit.")] = "5,10,20",
    config: Annotated[
        list[str] | None,
        typer.Option(
            "--config",
            metavar="KEY=VALUE,...",
            help="A configuration: name=, embedder=, and ranking settings (rrf_k=, mode=...). "
            "Give it twice to compare two side by side.",
        ),
    ] = None,
    budget: Annotated[
        int, typer.Option("--budget", min=32, help="Context budget in tokens for one question.")
    ] = 2000,
    store: Annotated[
        str | None,
        typer.Option("--store", metavar="URL_OR_PATH",
                     help="Store that question-only JSONL sets run against."),
    ] = None,
    ns: Annotated[str, typer.Option("--ns", metavar="NAMESPACE", help="Namespace to search in --store.")] = "",
    evidence_key: Annotated[
        str, typer.Option("--evidence-key", help="Metadata key of evidence ids in --store (or id).")
    ] = "id",
    model: Annotated[
        str | None,
        typer.Option("--model", metavar="SPEC",
                     help="Also answer each question with this model: accuracy and hallucination proxy."),
    ] = None,
    max_answers: Annotated[
        int | None, typer.Option("--max-answers", min=1, help="Answer at most this many questions.")
    ] = None,
    include_adversarial: Annotated[
        bool, typer.Option("--include-adversarial", help="Count LoCoMo category 5 in the overall numbers.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Evaluate memory retrieval on your own data (LoCoMo format or simple JSONL)."""
    from mnemos.evaluation import load_eval_set, parse_config, run_eval
    from mnemos.memory_adapters._namespace import parse_namespace

    ks = _ints(k)
    configs = [parse_config(text, f"config {i}") for i, text in enumerate(config or [""], start=1)]
    if not config:
        configs = [parse_config("", "default")]
    if len(configs) > 2:
        raise UsageError("compare at most two configurations (--config twice)")
    sets = [load_eval_set(p, fmt) for p in paths]
    chat_model = None
    if model is not None:
        from mnemos.agents.models import resolve_model

        chat_model = resolve_model(model)
    opened = None
    if store is not None:
        from mnemos.memory_adapters.registry import open_memory

        opened = open_memory(store)
    reports = []
    try:
        total = sum(len(s.questions) for s in sets)
        with progress("evaluating") as bar:
            for cfg in configs:
                task = bar.add_task(cfg.name, total=total)

                def advance(task: Any = task) -> None:
                    bar.advance(task)

                reports.append(
                    run_eval(
                        sets, cfg, ks=ks, budget=budget, include_adversarial=include_adversarial,
                        store=opened, namespace=parse_namespace(ns, allow_empty=True),
                        evidence_key=evidence_key, model=chat_model, max_answers=max_answers,
                        on_question=advance,
                    )
                )
    finally:
        if opened is not None:
            opened.close()
    if as_json:
        print_json(reports[0] if len(reports) == 1 else {"configs": reports})
        return
    stdout().print(_table(reports))
    if len(reports) == 1 and len(reports[0]["by_category"]) > 1:
        stdout().print(_categories(reports[0]))
    stderr().print(f"{reports[0]['overall'].get('n', 0)} questions, {reports[0]['memories']} memories "
                   f"stored for the evaluation")


def _rows(report: dict[str, Any]) -> list[tuple[str, float | None, str]]:
    o, lat, ctx, ans = report["overall"], report["search_latency"], report["context"], report["answers"]
    rows: list[tuple[str, float | None, str]] = []
    for key in report["ks"]:
        rows.append((f"recall@{key}", o.get(f"recall@{key}"), "{:.3f}"))
    for key in report["ks"]:
        rows.append((f"hit@{key}", o.get(f"hit@{key}"), "{:.3f}"))
    rows += [
        ("MRR", o.get("mrr"), "{:.3f}"),
        ("search p50 ms", lat["p50_ms"], "{:.2f}"),
        ("search p95 ms", lat["p95_ms"], "{:.2f}"),
        (f"memory tokens / question (budget {ctx['budget']})", ctx["memory_tokens_mean"], "{:.0f}"),
        ("memories in context", ctx["memories_mean"], "{:.1f}"),
        ("evidence in context", ctx["evidence_in_context"], "{:.3f}"),
    ]
    if ans is not None:
        rows += [
            (f"answer accuracy ({ans['questions']} answered)", ans["accuracy"], "{:.3f}"),
            ("hallucination proxy (unsupported answers)", ans["hallucination_rate"], "{:.3f}"),
            ("answer p50 ms", ans["latency"]["p50_ms"], "{:.0f}"),
        ]
    return rows


def _table(reports: list[dict[str, Any]]) -> Table:
    n = reports[0]["overall"].get("n", 0)
    table = Table(title=f"mnemos eval: {', '.join(reports[0]['sets'])} ({n} questions)")
    table.add_column("metric")
    for report in reports:
        cfg = report["config"]
        extra = ", ".join(f"{k}={v}" for k, v in cfg["ranking"].items())
        table.add_column(f"{cfg['name']}\n{cfg['embedder']}" + (f"\n{extra}" if extra else ""),
                         justify="right")
    if len(reports) == 2:
        table.add_column("Δ (2 − 1)", justify="right")
    all_rows = [_rows(r) for r in reports]
    for i, (label, value, fmt) in enumerate(all_rows[0]):
        cells = ["-" if v is None else fmt.format(v) for _, v, _ in (rows[i] for rows in all_rows)]
        if len(reports) == 2:
            other = all_rows[1][i][1]
            cells.append("-" if value is None or other is None else f"{other - value:+.3f}")
        table.add_row(label, *cells)
    return table


def _categories(report: dict[str, Any]) -> Table:
    key = f"recall@{report['ks'][len(report['ks']) // 2]}"
    table = Table(title=f"{key} by category")
    table.add_column("category")
    table.add_column("n", justify="right")
    table.add_column(key, justify="right")
    table.add_column("MRR", justify="right")
    for name, row in report["by_category"].items():
        table.add_row(name, str(row["n"]), f"{row[key]:.3f}", f"{row['mrr']:.3f}")
    return table


def register(app: typer.Typer) -> None:
    """Add ``eval`` to the root command."""
    app.command("eval")(reported(eval_command))
