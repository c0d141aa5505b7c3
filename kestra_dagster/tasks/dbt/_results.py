"""dbt's artifacts → outputs a Kestra user and a Dagster user can read.

``run_results.json`` (one result per node run) joined with ``manifest.json`` (what each node is:
model, seed, test…, its relation) gives per-node results: Kestra's state for the node (dbt
``success``/``pass`` → SUCCESS, ``warn`` → WARNING, ``error``/``fail`` → FAILED, ``skipped`` →
SKIPPED), execution time, message, failures and the adapter's ``rows_affected`` (Kestra's
``rows.affected`` metric). From them: a Markdown table (``resultsMarkdown``), one log line per node
(as Kestra's per-model task runs show) and, like dagster-dbt, an asset materialization per model,
seed or snapshot that was built (asset key ``dbt/<schema>/<name>``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kestra_dagster.engine.context import ASSET_EVENTS_KEY

_STATES = {"success": "SUCCESS", "pass": "SUCCESS", "warn": "WARNING", "error": "FAILED", "fail": "FAILED",
           "runtime error": "FAILED", "skipped": "SKIPPED", "no-op": "SUCCESS"}
_BUILT = {"model", "seed", "snapshot"}


def load_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def node_results(run_results: dict[str, Any], manifest: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """``unique_id → result`` in dbt's run order."""
    nodes = {**((manifest or {}).get("nodes") or {}), **((manifest or {}).get("sources") or {})}
    out: dict[str, dict[str, Any]] = {}
    for raw in run_results.get("results") or []:
        unique_id = raw.get("unique_id") or "?"
        node = nodes.get(unique_id) or {}
        status = str(raw.get("status") or "").lower()
        adapter = raw.get("adapter_response") or {}
        timing = raw.get("timing") or []
        out[unique_id] = {
            "name": node.get("alias") or node.get("name") or unique_id.rsplit(".", 1)[-1],
            "resourceType": node.get("resource_type") or unique_id.split(".", 1)[0],
            "status": status,
            "state": _STATES.get(status, "SUCCESS" if status else "FAILED"),
            "executionTime": round(float(raw.get("execution_time") or 0.0), 3),
            "message": raw.get("message"),
            "failures": raw.get("failures"),
            "rowsAffected": adapter.get("rows_affected"),
            "relation": raw.get("relation_name") or node.get("relation_name"),
            "database": node.get("database"),
            "schema": node.get("schema"),
            "startedAt": min((t.get("started_at") for t in timing if t.get("started_at")), default=None),
            "completedAt": max((t.get("completed_at") for t in timing if t.get("completed_at")), default=None),
        }
    return out


def markdown_table(results: dict[str, dict[str, Any]]) -> str:
    """One row per node: what a Dagster user sees on the task's step."""
    lines = ["| node | type | status | time (s) | rows | message |", "|---|---|---|---|---|---|"]
    for unique_id, r in results.items():
        message = str(r.get("message") or "").replace("|", "\\|").replace("\n", " ")
        if len(message) > 120:
            message = message[:117] + "..."
        rows = "" if r.get("rowsAffected") is None else str(r["rowsAffected"])
        lines.append(f"| `{unique_id}` | {r['resourceType']} | {r['state']} | {r['executionTime']:.2f} | {rows} | {message} |")
    return "\n".join(lines)


def log_results(ctx, results: dict[str, dict[str, Any]]) -> None:
    """One line per node, at the level of its state (Kestra logs each under the node's task run)."""
    for unique_id, r in results.items():
        text = f"{unique_id} => {r['status']} in {r['executionTime']:.2f}s"
        if r.get("failures"):
            text += f" ({r['failures']} failure{'s' if r['failures'] != 1 else ''})"
        if r.get("rowsAffected") is not None:
            text += f", rows.affected={r['rowsAffected']}"
        if r.get("message"):
            text += f": {r['message']}"
        write = {"FAILED": ctx.logger.error, "WARNING": ctx.logger.warning}.get(r["state"], ctx.logger.info)
        write(ctx.mask(text))


def asset_events(ctx, results: dict[str, dict[str, Any]], adapter: str | None) -> list[dict[str, Any]]:
    events = []
    for unique_id, r in results.items():
        if r["resourceType"] not in _BUILT or r["state"] not in ("SUCCESS", "WARNING"):
            continue
        metadata = {"unique_id": unique_id, "status": r["status"], "execution_time": r["executionTime"],
                    "kestra/execution": ctx.execution_id, "kestra/flow": f"{ctx.namespace}.{ctx.flow_id}",
                    "kestra/task": ctx.task_id}
        for key, value in (("relation", r.get("relation")), ("rows_affected", r.get("rowsAffected")),
                           ("adapter", adapter)):
            if value is not None:
                metadata[key] = value
        key = ["dbt", *(p for p in (r.get("schema"), r["name"]) if p)]
        events.append({"assetKey": key, "metadata": metadata, "description": f"dbt {r['resourceType']} {unique_id}"})
    return events


def parse_artifacts(ctx, project_dir: Path, parse_run_results: bool, outputs: dict[str, Any]) -> dict[str, dict]:
    """Store manifest.json/run_results.json, add per-node outputs; the per-node results."""
    files = outputs.setdefault("outputFiles", {})
    manifest_path = project_dir / "target" / "manifest.json"
    manifest = load_json(manifest_path) if manifest_path.is_file() else None
    if manifest is None:
        ctx.logger.warning(f"dbt manifest not found at {manifest_path}")
    else:
        files["manifest.json"] = ctx.storage.put_file(manifest_path, "manifest.json")
    results_path = project_dir / "target" / "run_results.json"
    if not parse_run_results or not results_path.is_file():
        return {}
    run_results = load_json(results_path)
    if run_results is None:
        ctx.logger.warning(f"{results_path} is not valid JSON: results not parsed")
        return {}
    files["run_results.json"] = ctx.storage.put_file(results_path, "run_results.json")
    results = node_results(run_results, manifest)
    log_results(ctx, results)
    outputs["results"] = results
    outputs["resultsMarkdown"] = markdown_table(results)
    adapter = ((manifest or {}).get("metadata") or {}).get("adapter_type")
    events = asset_events(ctx, results, adapter)
    if events:
        outputs[ASSET_EVENTS_KEY] = events
    return results
