"""Rich tables of the registry for the terminal."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from mlgate.registry.document import Registry


def _metric(value: dict[str, Any] | None) -> str:
    if not value or value.get("value") is None:
        return "-"
    text = f"{value['value']:.4g}"
    if value.get("ci_low") is not None and value.get("ci_high") is not None:
        text += f" [{value['ci_low']:.4g}, {value['ci_high']:.4g}]"
    return text


def _primary_metric(entry: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    """The metric the entry's params name as primary, else its first metric."""
    names: list[str] = [name for name in entry["metrics"] if name != "n_test"]
    primary = str((entry["params"].get("evaluate") or {}).get("primary") or "")
    name = primary if primary in names else (names[0] if names else "")
    return name, entry["metrics"].get(name)


def versions_table(registry: Registry) -> Table:
    """One row per version: when, who, commit, primary metric, gate, aliases, status."""
    table = Table(title=escape(f"registry of {registry.model}"), title_justify="left")
    for column in ("version", "created", "by", "commit", "metric", "gate", "aliases", "status"):
        table.add_column(column, justify="right" if column == "version" else "left")
    for entry in registry.versions:
        name, value = _primary_metric(entry)
        commit = entry["source"]["commit"]
        table.add_row(  # as text, not rich markup: names and users come from outside
            *map(
                Text,
                (
                    str(entry["version"]),
                    entry["created_at"],
                    entry["created_by"],
                    commit[:8] if commit else "-",
                    f"{name} {_metric(value)}" if name else "-",
                    entry["gate"]["verdict"],
                    ", ".join(registry.aliases_of(entry["version"])) or "-",
                    entry["status"],
                ),
            )
        )
    return table


def _fields(entry: dict[str, Any], registry: Registry) -> list[tuple[str, str]]:
    source, lineage, model, image = entry["source"], entry["lineage"], entry["model"], entry["image"]
    return [
        ("version", str(entry["version"])),
        ("status", entry["status"]),
        ("aliases", ", ".join(registry.aliases_of(entry["version"])) or "-"),
        ("created", f"{entry['created_at']} by {entry['created_by']}"),
        ("commit", source["commit"] or "-"),
        ("pull request", str(source["pr"] or "-")),
        ("run", source["run_url"] or "-"),
        ("model", f"{model['path']} ({model['size']} bytes, {model['estimator'] or '?'})"),
        ("model sha256", model["sha256"]),
        ("dvc.lock sha256", lineage["dvc_lock_sha256"] or "-"),
        ("data hash", lineage["data_hash"] or "-"),
        ("params sha256", lineage["params_sha256"]),
        ("gate", entry["gate"]["verdict"]),
        ("bento", entry["bento"]["tag"] or "-"),
        ("image", image["name"] or "-"),
        ("image digest", image["digest"] or "-"),
        ("image tags", ", ".join(image["tags"]) or "-"),
    ]


def version_tables(registry: Registry, entry: dict[str, Any]) -> list[Table]:
    """A field table and a metrics table for one version."""
    fields = Table(
        title=escape(f"{registry.model} version {entry['version']}"), title_justify="left", show_header=False
    )
    fields.add_column("field", style="bold")
    fields.add_column("value", overflow="fold")
    for name, value in _fields(entry, registry):
        fields.add_row(name, Text(value))
    metrics = Table(title=f"metrics (n_test={entry['metrics'].get('n_test')})", title_justify="left")
    for column in ("metric", "value", "ci low", "ci high"):
        metrics.add_column(column)
    for name, value in entry["metrics"].items():
        if name != "n_test":
            metrics.add_row(Text(name), *(_number(value.get(key)) for key in ("value", "ci_low", "ci_high")))
    return [fields, metrics]


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def print_tables(tables: list[Table]) -> None:
    """Print tables to stdout, wide enough not to wrap hashes."""
    console = Console(highlight=False, width=max(Console().width, 140))
    for table in tables:
        console.print(table)
