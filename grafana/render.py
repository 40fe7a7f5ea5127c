"""Dashboard definitions -> Grafana's dashboard JSON model, plus provisioning files.

Layout written by `write_provisioning(out)` (point Grafana's `paths.provisioning` at
OUT/provisioning):

    OUT/provisioning/datasources/rayscope.yaml   the Prometheus datasource (uid `rayscope-prometheus`)
    OUT/provisioning/dashboards/rayscope.yaml    a file provider reading OUT/dashboards
    OUT/provisioning/alerting/rayscope.yaml      the alert rules (alerts/rules.py) on that datasource (alerting.py)
    OUT/dashboards/<uid>.json                    one file per dashboard
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rayscope.common.atomic_file import write_atomic
from rayscope.grafana.alerting import FOLDER, alerting_provisioning
from rayscope.grafana.dashboards import ALL
from rayscope.grafana.panels import SESSION, Dashboard, Panel

DATASOURCE_UID = "rayscope-prometheus"
DS = {"type": "prometheus", "uid": "${datasource}"}
SCHEMA_VERSION = 39


def _variables(d: Dashboard) -> list[dict[str, Any]]:
    def query_var(name: str, label: str, query: str) -> dict[str, Any]:
        return {"name": name, "label": label, "type": "query", "datasource": DS, "refresh": 2,
                "query": {"query": query, "refId": f"{name}-var"}, "definition": query,
                "includeAll": True, "multi": True, "allValue": ".*", "current": {"text": "All", "value": "$__all"},
                "sort": 1}

    out = [{"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus",
            "current": {"text": DATASOURCE_UID, "value": DATASOURCE_UID}},
           query_var("session", "Ray session", "label_values(rayscope_head_info, ray_session)")]
    if d.node_variable:
        out.append(query_var("node", "Node", "label_values(rayscope_node_cpus{" + SESSION + "}, node_id)"))
    return out


def _panel(p: Panel, pid: int, x: int, y: int) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": p.unit}
    if p.max is not None:
        defaults.update(min=0, max=p.max)
    custom = {"stacking": {"mode": "normal" if p.stack else "none"}, "fillOpacity": 10 if p.stack else 0}
    if p.kind == "timeseries":
        defaults["custom"] = custom
    return {
        "id": pid, "type": p.kind, "title": p.title, "description": p.description, "datasource": DS,
        "gridPos": {"x": x, "y": y, "w": p.width, "h": p.height},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}} if p.kind == "timeseries" else {},
        "targets": [{"refId": chr(ord("A") + i), "datasource": DS, "expr": t.expr, "legendFormat": t.legend,
                     "range": True} for i, t in enumerate(p.targets)],
    }


def dashboard_json(d: Dashboard) -> dict[str, Any]:
    """Grafana's dashboard model; panels flow left to right in 24 columns, a row header per Row."""
    panels: list[dict[str, Any]] = []
    pid, y = 1, 0
    for row in d.rows:
        panels.append({"id": pid, "type": "row", "title": row.title, "collapsed": False,
                       "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}, "panels": []})
        pid, y = pid + 1, y + 1
        x, line_h = 0, 0
        for p in row.panels:
            if x + p.width > 24:
                x, y, line_h = 0, y + line_h, 0
            panels.append(_panel(p, pid, x, y))
            pid, x, line_h = pid + 1, x + p.width, max(line_h, p.height)
        y += line_h
    return {
        "uid": d.uid, "title": d.title, "description": d.description, "tags": list(d.tags), "editable": True,
        "schemaVersion": SCHEMA_VERSION, "version": 1, "time": {"from": "now-1h", "to": "now"}, "refresh": "10s",
        "timezone": "browser", "graphTooltip": 1, "templating": {"list": _variables(d)}, "panels": panels,
        "annotations": {"list": []}, "links": [{"type": "dashboards", "tags": ["rayscope"], "asDropdown": True,
                                                "title": "Rayscope"}],
    }


def datasource_provisioning(prometheus_url: str) -> dict[str, Any]:
    return {"apiVersion": 1, "datasources": [{
        "name": "Rayscope Prometheus", "uid": DATASOURCE_UID, "type": "prometheus", "access": "proxy",
        "url": prometheus_url, "isDefault": False, "editable": True, "jsonData": {"timeInterval": "5s"}}]}


def dashboard_provider(dashboards_dir: Path) -> dict[str, Any]:
    return {"apiVersion": 1, "providers": [{
        "name": "rayscope", "orgId": 1, "folder": FOLDER, "type": "file", "disableDeletion": False,
        "allowUiUpdates": False, "updateIntervalSeconds": 30,
        "options": {"path": str(dashboards_dir), "foldersFromFilesStructure": False}}]}


@dataclass(frozen=True)
class Written:
    datasource: Path
    provider: Path
    alerting: Path
    dashboards: list[Path]


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text)
    return path


def write_provisioning(out: Path, prometheus_url: str) -> Written:
    out = out.resolve()
    dash_dir = out / "dashboards"
    return Written(
        datasource=_write(out / "provisioning" / "datasources" / "rayscope.yaml",
                          yaml.safe_dump(datasource_provisioning(prometheus_url), sort_keys=False)),
        provider=_write(out / "provisioning" / "dashboards" / "rayscope.yaml",
                        yaml.safe_dump(dashboard_provider(dash_dir), sort_keys=False)),
        alerting=_write(out / "provisioning" / "alerting" / "rayscope.yaml",
                        yaml.safe_dump(alerting_provisioning(DATASOURCE_UID), sort_keys=False, width=120)),
        dashboards=[_write(dash_dir / f"{d.uid}.json", json.dumps(dashboard_json(d), indent=1) + "\n") for d in ALL],
    )
