"""The head's command line (docs/architecture.md: Processes and their command lines)."""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from rayscope.dashboard.alerting.alertmanager import BadAlertmanagerUrl, check_url
from rayscope.dashboard.ingest_pace import DEFAULT_AGENTS_PER_SHIP_SECOND


@dataclass(frozen=True)
class HeadConfig:
    db: Path
    host: str
    port: int
    grpc_host: str  # the ingest's interface: other hosts' agents dial it
    grpc_port: int
    token_file: Path
    session_name: Optional[str]
    history: bool
    ready_file: Optional[Path]
    retention_hours: Optional[float]
    log_level: str
    file_sd: Optional[Path] = None  # Prometheus file_sd file kept current (live heads)
    prometheus_url: Optional[str] = None  # longer chart ranges are read from it
    otlp_endpoint: Optional[str] = None  # OTLP/gRPC endpoint for task traces; None = off
    tls_cert: Optional[Path] = None  # with tls_key: HTTPS + TLS gRPC (dashboard/tls.py); None = plain
    tls_key: Optional[Path] = None
    alertmanager_url: Optional[str] = None  # the evaluator's alerts are also posted there (alerting/alertmanager.py)
    alert_eval_s: float = 10.0  # the alert evaluator's round (dashboard/alerting/evaluator.py)
    agents_per_ship_second: int = DEFAULT_AGENTS_PER_SHIP_SECOND  # past this, agents ship less often (ingest_pace.py)


def parse_args(argv: Sequence[str] | None = None) -> HeadConfig:
    p = argparse.ArgumentParser(prog="python -m rayscope.dashboard",
                                description="Rayscope head: gRPC ingest + REST/WebSocket API over one SQLite store")
    p.add_argument("--db", required=True, type=Path, help="SQLite database file (created if missing)")
    p.add_argument("--host", default="127.0.0.1", help="interface of the HTTP API and web UI (default 127.0.0.1)")
    p.add_argument("--grpc-host", default=None,
                   help="interface of the gRPC ingest (default: --host); `rayscope start` passes the node's Ray IP")
    p.add_argument("--port", type=int, default=0, help="HTTP port; 0 picks a free one")
    p.add_argument("--grpc-port", type=int, default=0, help="gRPC ingest port; 0 picks a free one")
    p.add_argument("--token-file", required=True, type=Path, help="bearer token file (created 0600 if missing)")
    p.add_argument("--session-name", default=None, help="Ray session name shown by /cluster")
    p.add_argument("--history", action="store_true", help="serve an existing DB without ingest (live=false)")
    p.add_argument("--ready-file", type=Path, default=None, help="written atomically once both servers listen")
    p.add_argument("--retention-hours", type=float, default=None,
                   help="keep metric samples and log lines this long (default: samples 24 h, logs forever)")
    p.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    p.add_argument("--file-sd", type=Path, default=None,
                   help="Prometheus file_sd JSON kept current (default: prometheus_file_sd.json beside --db)")
    p.add_argument("--prometheus-url", default=os.environ.get("RAYSCOPE_PROMETHEUS_URL") or None,
                   help="Prometheus to read longer chart ranges from (env RAYSCOPE_PROMETHEUS_URL)")
    p.add_argument("--otlp-endpoint", default=os.environ.get("RAYSCOPE_OTLP_ENDPOINT") or None,
                   help="export task executions as OTLP/gRPC traces to HOST:PORT (env RAYSCOPE_OTLP_ENDPOINT; "
                        "default off)")
    p.add_argument("--tls-cert", type=Path, default=None,
                   help="PEM certificate (chain): serve HTTPS and TLS gRPC ingest; needs --tls-key "
                        "(docs/architecture.md: TLS)")
    p.add_argument("--tls-key", type=Path, default=None, help="PEM private key of --tls-cert (unencrypted)")
    p.add_argument("--alertmanager-url", default=os.environ.get("RAYSCOPE_ALERTMANAGER_URL") or None,
                   help="also post the head's alerts to this Alertmanager (its base URL, http(s)://HOST:9093; "
                        "env RAYSCOPE_ALERTMANAGER_URL; docs/alerts.md)")
    p.add_argument("--alert-eval-s", type=float, default=10.0, metavar="SECONDS",
                   help="how often the head evaluates its alert rules (default 10)")
    p.add_argument("--agents-per-ship-second", type=int, default=DEFAULT_AGENTS_PER_SHIP_SECOND, metavar="N",
                   help="with more agents than this connected, ask each to ship a batch every "
                        f"ceil(agents / N) s instead of every tick of its --interval (samples stay at the agents' interval; "
                        f"default {DEFAULT_AGENTS_PER_SHIP_SECOND}; 0: never; docs/scale.md)")
    a = p.parse_args(argv)
    if (a.tls_cert is None) != (a.tls_key is None):
        p.error("--tls-cert and --tls-key go together: give both (TLS) or neither (plain HTTP/gRPC)")
    if a.history and not a.db.exists():
        p.error(f"--history needs an existing database; {a.db} does not exist")
    if a.retention_hours is not None and a.retention_hours <= 0:
        p.error("--retention-hours must be positive")
    if a.agents_per_ship_second < 0:
        p.error("--agents-per-ship-second must be 0 (never pace) or more")
    if not 0 < a.alert_eval_s <= 3600:
        p.error("--alert-eval-s must be between 0 and 3600 seconds")
    if a.alertmanager_url is not None and a.history:
        p.error("--alertmanager-url is for a live head: in --history mode nothing is evaluated")
    if a.alertmanager_url is not None:
        try:
            a.alertmanager_url = check_url(a.alertmanager_url)
        except BadAlertmanagerUrl as err:
            p.error(str(err))
    from rayscope.dashboard.store.connection import writer_cache_mib  # here: the CLI imports this module

    try:
        writer_cache_mib()  # read again by the writer process, which inherits the environment
    except ValueError as err:
        p.error(str(err))
    return HeadConfig(db=a.db, host=a.host, port=a.port, grpc_host=a.grpc_host or a.host, grpc_port=a.grpc_port, token_file=a.token_file,
                      session_name=a.session_name, history=a.history, ready_file=a.ready_file,
                      retention_hours=a.retention_hours, log_level=a.log_level,
                      file_sd=None if a.history else (a.file_sd or default_file_sd(a.db)),
                      prometheus_url=a.prometheus_url, otlp_endpoint=a.otlp_endpoint,
                      tls_cert=a.tls_cert, tls_key=a.tls_key, alertmanager_url=a.alertmanager_url,
                      alert_eval_s=a.alert_eval_s, agents_per_ship_second=a.agents_per_ship_second)


def default_file_sd(db: Path) -> Path:
    """Where a head keeps its file_sd file unless told: beside its database."""
    return db.parent / "prometheus_file_sd.json"
