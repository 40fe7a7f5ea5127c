"""`rayscope metrics list | prometheus-config | grafana-config`.

list prints the application metrics (ray.util.metrics) the agents shipped: each tag set's latest
value summed over nodes (a histogram's count and sum), or the API's JSON with --json.

prometheus-config writes a prometheus.yml that finds every agent and the head through the
head's http_sd endpoint (or its file_sd file with `--sd file`) and scrapes them with the
cluster's token read from a file (`authorization.credentials_file`), so the token is never
copied into the config. grafana-config writes Grafana provisioning for a datasource and the
generated dashboards and alert rules (grafana/). alert-rules writes the alert rules (alerts/rules.py)
as a Prometheus rule file.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Optional

import yaml

from rayscope.cli.client import HeadClient, HeadError, NoHeadConfigured, resolve_target
from rayscope.cli.format import Column, render_table, terminal_width
from rayscope.cli.state_cli import _common_options, _guard
from rayscope.common.atomic_file import write_atomic
from rayscope.dashboard.config import default_file_sd
from rayscope.dashboard.models import API_PREFIX, AppMetric, AppMetricValue, ClusterInfo
from rayscope.runtime.state import StateError, local_head

JOB = "rayscope"


def _token_file(explicit: Optional[str]) -> Path:
    """--token-file, else the token file of the head this host's `rayscope start` started."""
    if explicit:
        path = Path(explicit).expanduser().resolve()
    else:
        try:
            head = local_head()
        except StateError as exc:
            raise NoHeadConfigured(str(exc)) from None
        if head is None:
            raise NoHeadConfigured("no local head: pass --token-file (the file holding the cluster's token)")
        path = head.token_file.resolve()
    if not path.is_file():
        raise NoHeadConfigured(f"token file {path} does not exist")
    return path


def prometheus_config(head_url: str, token_file: Path, sd: str, file_sd: Optional[Path],
                      scrape_interval: str, tls_ca: Optional[str] = None) -> dict[str, Any]:
    """The prometheus.yml content: the head and every agent, discovered, all labelled job="rayscope".

    Two scrape configs, because only the head's /metrics wants the token: agents serve open,
    plain-HTTP /metrics on their node IPs, and a config-wide `authorization` would send the
    cluster's token in clear text to every host. Discovery itself (http_sd) calls the head, so
    it carries the token (and the CA of a TLS head).
    """
    auth = {"type": "Bearer", "credentials_file": str(token_file)}
    tls = {"ca_file": str(Path(tls_ca).resolve())} if tls_ca else None
    if sd == "http":
        sd_config: dict[str, Any] = {"http_sd_configs": [{
            "url": head_url + API_PREFIX + "/metrics/targets", "refresh_interval": "10s", "authorization": dict(auth),
            **({"tls_config": dict(tls)} if tls else {})}]}
    else:
        sd_config = {"file_sd_configs": [{"files": [str(file_sd)], "refresh_interval": "10s"}]}

    def job(component: str, **extra: Any) -> dict[str, Any]:
        return {"job_name": f"{JOB}-{component}", "scrape_interval": scrape_interval, **extra, **sd_config,
                "relabel_configs": [
                    {"source_labels": ["component"], "regex": component, "action": "keep"},
                    {"target_label": "job", "replacement": JOB},  # one job label for dashboards and queries
                ]}

    head = job("head", authorization=auth, **({"tls_config": dict(tls)} if tls else {}))
    return {"global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
            "scrape_configs": [head, job("agent")]}


def _cannot_write(where: object, exc: OSError) -> SystemExit:
    """A file the user named that cannot be written: one line on stderr, exit status 1."""
    return SystemExit(f"error: cannot write {where}: {exc.strerror or exc}")


def _write_or_print(text: str, out: Optional[str]) -> None:
    if not out:
        sys.stdout.write(text)
        return
    path = Path(out)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    print(f"wrote {path}", file=sys.stderr)


@_guard
def cmd_prometheus_config(args: argparse.Namespace) -> int:
    target = resolve_target(args.address, args.token, args.tls_ca)
    token_file = _token_file(args.token_file)
    file_sd: Optional[Path] = None
    if args.sd == "file":
        if args.file_sd:
            file_sd = Path(args.file_sd).resolve()
        else:
            with HeadClient(target, timeout=args.timeout) as client:
                info = client.get("/cluster", ClusterInfo)
            file_sd = default_file_sd(Path(info.db_path))
    tls_ca = target.tls_ca if target.url.startswith("https://") else None
    cfg = prometheus_config(target.url, token_file, args.sd, file_sd, args.scrape_interval, tls_ca)
    _write_or_print(yaml.safe_dump(cfg, sort_keys=False), args.out)
    return 0


def _number(x: Optional[float]) -> str:
    return "" if x is None else f"{x:g}"


def _reading(metric: AppMetric, v: AppMetricValue) -> str:
    if metric.type == "histogram":
        return f"count={_number(v.count)} sum={_number(v.sum)}"
    return _number(v.value)


def list_rows(metrics: list[AppMetric]) -> list[dict[str, str]]:
    """One row per metric and tag set (a metric without series yet gets one row with no value)."""
    rows: list[dict[str, str]] = []
    for metric in metrics:
        values: list[Optional[AppMetricValue]] = list(metric.series) or [None]
        for v in values:
            rows.append({"name": metric.name, "type": metric.type,
                         "tags": ",".join(f"{k}={t}" for k, t in sorted(v.tags.items())) if v else "",
                         "value": _reading(metric, v) if v else "", "nodes": str(v.nodes) if v else "0"})
    return rows


_LIST_COLUMNS = [
    Column("NAME", lambda r: r["name"], priority=0, shrink=True, min_width=12),
    Column("TYPE", lambda r: r["type"], priority=10),
    Column("TAGS", lambda r: r["tags"], priority=20, shrink=True),
    Column("VALUE", lambda r: r["value"], priority=5, align_right=True),
    Column("NODES", lambda r: r["nodes"], priority=30, align_right=True),
]


@_guard
def cmd_list(args: argparse.Namespace) -> int:
    target = resolve_target(args.address, args.token, args.tls_ca)
    with HeadClient(target, timeout=args.timeout) as client:
        metrics = client.get("/metrics/app", list[AppMetric])
    if args.name:
        metrics = [x for x in metrics if x.name in (args.name, "ray_" + args.name)]
    if args.format == "json":
        sys.stdout.write(json.dumps([x.model_dump(mode="json") for x in metrics]) + "\n")
    elif not metrics:
        print("No application metrics found." + (f" (none named {args.name})" if args.name else ""))
    else:
        print(render_table(_LIST_COLUMNS, list_rows(metrics), terminal_width()))
    return 0


def rules_yaml() -> str:
    """The Prometheus rule file as YAML; multi-line exprs as literal blocks, so the file reads like the table."""
    from rayscope.alerts.prometheus import rule_file
    from rayscope.alerts.rules import RUNBOOK

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, s: str) -> yaml.Node:
        return dumper.represent_scalar("tag:yaml.org,2002:str", s, style="|" if "\n" in s else None)

    Dumper.add_representer(str, text)
    header = ("# Rayscope's alert rules (alerts/rules.py), written by `rayscope metrics alert-rules`.\n"
              f"# Load with `rule_files:` in prometheus.yml; see {RUNBOOK} in Rayscope's repository.\n")
    return header + yaml.dump(rule_file(), Dumper=Dumper, sort_keys=False, width=120, allow_unicode=True)


def cmd_alert_rules(args: argparse.Namespace) -> int:
    _write_or_print(rules_yaml(), args.out)
    return 0


def cmd_grafana_config(args: argparse.Namespace) -> int:
    from rayscope.grafana.render import write_provisioning

    try:
        written = write_provisioning(Path(args.out), args.prometheus_url)
    except OSError as exc:
        raise _cannot_write(args.out, exc) from None
    for path in (written.datasource, written.provider, written.alerting, *written.dashboards):
        print(path)
    return 0


def register(subparsers: Any) -> None:
    """Add `metrics` with its subcommands (called by cli/main.py)."""
    p = subparsers.add_parser("metrics", help="application metrics; Prometheus and Grafana configuration")
    sub = p.add_subparsers(dest="metrics_command", required=True, metavar="SUBCOMMAND")
    lst = sub.add_parser("list", parents=[_common_options()],
                         help="application metrics (ray.util.metrics) with their tags and latest values")
    lst.add_argument("--name", help="only this metric (as exported, ray_NAME, or as defined, NAME)")
    lst.add_argument("--format", choices=["default", "json"], default="default")
    lst.add_argument("--json", dest="format", action="store_const", const="json", help="print the API's JSON")
    lst.set_defaults(func=cmd_list)
    prom = sub.add_parser("prometheus-config", parents=[_common_options()],
                          help="write a prometheus.yml that discovers and scrapes every agent and the head")
    prom.add_argument("--out", help="file to write (default: stdout)")
    prom.add_argument("--sd", choices=["http", "file"], default="http",
                      help="service discovery: the head's http_sd endpoint (default) or its file_sd file")
    prom.add_argument("--file-sd", help="the head's file_sd file (default: prometheus_file_sd.json beside its DB)")
    prom.add_argument("--token-file", help="file with the cluster's token (default: the local head's)")
    prom.add_argument("--scrape-interval", default="5s", help="default 5s")
    prom.set_defaults(func=cmd_prometheus_config)
    rules = sub.add_parser("alert-rules", help="write the alert rules as a Prometheus rule file (rule_files:)")
    rules.add_argument("--out", help="file to write (default: stdout)")
    rules.set_defaults(func=cmd_alert_rules)
    graf = sub.add_parser("grafana-config",
                          help="write Grafana provisioning: datasource, Rayscope dashboards and alert rules")
    graf.add_argument("--out", required=True, help="directory to write into")
    graf.add_argument("--prometheus-url", default="http://127.0.0.1:9090",
                      help="the Prometheus Grafana should query (default http://127.0.0.1:9090)")
    graf.set_defaults(func=cmd_grafana_config)


__all__ = ["register", "prometheus_config", "rules_yaml", "HeadError"]
