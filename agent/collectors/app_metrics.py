"""Application metrics (ray.util.metrics) read from this node's Ray metrics endpoint.

Why here and so: Ray exports what users record only through each node's Prometheus endpoint
(the raylet's `--metrics_export_port`, served by Ray's dashboard agent), so without a Prometheus
server nobody sees it. The agent reads its own node's endpoint every SCRAPE_EVERY_S (Ray's
workers push to that endpoint every 10 s, so reading it more often finds nothing new), keeps the
user's families only (runtime/ray_metric_names.py), sums the series that differ only in Ray's own
labels (several workers recording the same tags), and bounds what it ships:
- at most MAX_SERIES_PER_METRIC tag sets per family: the first ones seen keep their place; new
  ones past the bound are not shipped and each scrape says how many as a DropReport;
- at most MAX_METRICS families per node, likewise.
Cost: a 2.60 node's endpoint is ~400 KB of mostly Ray's own families; the text is cut into
families with str.split (C speed) and only the user's are handed to prometheus_client's parser.
The same read keeps Ray Serve's six request families (runtime/ray_metric_names.py
SERVE_REQUEST_FAMILIES) for the Serve page, taken with `take_serve()` and shipped apart from the
users' metrics; on a node without Serve that costs one substring search and ships nothing.
Likewise Ray Data's per-operator gauges (runtime/ray_metric_names.py DATA_OPERATOR_FAMILIES, set by
Ray's _StatsActor on the node where it runs), taken with `take_data()`: the head turns them into
progress samples for datasets run without Rayscope's callback. Ray's gauges keep their last value
after a dataset ends (and its _StatsActor keeps up to 1000 datasets), so an operator whose Ray
state is FINISHED or FAILED is shipped only when its figures changed since it was last shipped.
"""
from __future__ import annotations

import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Callable, Optional

from prometheus_client.parser import text_string_to_metric_families

from rayscope.runtime.ray_metric_names import (
    APP_METRIC_TYPES,
    DATA_DATASET_LABEL,
    DATA_OPERATOR_LABEL,
    DATA_PREFIX,
    RAY_LABELS,
    SERVE_PREFIX,
    is_application_metric,
    is_data_operator_metric,
    is_serve_request_metric,
)
from rayscope.wire.rayscope_ingest_pb2 import AppMetricFamily, AppMetricScrape, AppMetricSeries, DropReport

log = logging.getLogger(__name__)

SCRAPE_EVERY_S = 10.0
TIMEOUT_S = 2.0
MAX_SERIES_PER_METRIC = 100
MAX_METRICS = 200
MAX_RESPONSE_BYTES = 16 << 20
SOURCE = "app_metrics"
SERIES_REASON = f"application metric series over the per-metric bound ({MAX_SERIES_PER_METRIC}) not shipped"
METRICS_REASON = f"application metrics over the per-node bound ({MAX_METRICS}) not shipped"

TagKey = tuple[tuple[str, str], ...]


def _chunks(text: str) -> list[str]:
    """The families of a Prometheus text exposition, each without its leading `# HELP `."""
    chunks = text.split("\n# HELP ")
    if chunks[0].startswith("# HELP "):
        chunks[0] = chunks[0][len("# HELP "):]
    else:
        chunks.pop(0)  # what comes before the first HELP line belongs to no family we keep
    return chunks


def _family_name(chunk: str) -> str:
    """The name on a chunk's HELP line (a counter's with `_total`)."""
    end = len(chunk)
    for sep in (" ", "\n"):
        i = chunk.find(sep, 0, end)
        if i >= 0:
            end = i
    return chunk[:end]


def application_text(text: str) -> str:
    """Only the application metrics' families of `text` (see is_application_metric); Ray's own
    families are skipped before anything is copied or parsed."""
    return _kept_text(_chunks(text), is_application_metric)


def _kept_text(chunks: list[str], keep: Callable[[str], bool]) -> str:
    return "".join("# HELP " + c + "\n" for c in chunks if keep(_family_name(c)))


@dataclass
class _Hist:
    buckets: dict[float, float] = field(default_factory=dict)
    sum: float = 0.0
    count: float = 0.0


def _tag_key(labels: dict[str, str]) -> TagKey:
    return tuple(sorted((k, v) for k, v in labels.items() if k not in RAY_LABELS and k != "le"))


def parse_application_metrics(text: str) -> list[AppMetricFamily]:
    """The application families of a node's exposition, each series summed over Ray's labels.
    Types other than counter, gauge and histogram (none from ray.util.metrics) are skipped."""
    return parse_kept_text(application_text(text))


def serve_request_text(text: str, chunks: Optional[list[str]] = None) -> str:
    """Only Ray Serve's request families (runtime/ray_metric_names.py SERVE_REQUEST_FAMILIES); ""
    at once, without cutting the text, on a node that serves no Serve family (Ray Core only)."""
    if SERVE_PREFIX not in text:
        return ""
    return _kept_text(chunks if chunks is not None else _chunks(text), is_serve_request_metric)


def data_operator_text(text: str, chunks: Optional[list[str]] = None) -> str:
    """Only Ray Data's per-operator gauges (runtime/ray_metric_names.py DATA_OPERATOR_FAMILIES); ""
    at once on a node whose exposition has no `ray_data_` family (no _StatsActor there)."""
    if DATA_PREFIX not in text:
        return ""
    return _kept_text(chunks if chunks is not None else _chunks(text), is_data_operator_metric)


OperatorKey = tuple[str, str]  # (dataset, operator)
_TERMINAL_STATES = (2.0, 3.0)  # Ray's DatasetState FINISHED, FAILED


def changed_operators(families: list[AppMetricFamily],
                      shipped: dict[OperatorKey, dict[str, float]]) -> list[AppMetricFamily]:
    """`families` cut to the operators worth shipping: every operator not (yet) FINISHED or FAILED,
    and a finished one only when its figures differ from what was shipped last (`shipped`, updated).
    Series without the `dataset` and `operator` labels are dropped."""
    groups: dict[OperatorKey, dict[str, float]] = {}
    for fam in families:
        for s in fam.series:
            ds, op = s.tags.get(DATA_DATASET_LABEL), s.tags.get(DATA_OPERATOR_LABEL)
            if ds and op:
                groups.setdefault((ds, op), {})[fam.name] = s.value
    for gone in [k for k in shipped if k not in groups]:  # no longer served (Ray evicted it)
        del shipped[gone]
    keep: set[OperatorKey] = set()
    for key, values in groups.items():
        if values.get("ray_data_operator_state") not in _TERMINAL_STATES or shipped.get(key) != values:
            keep.add(key)
            shipped[key] = values
    out: list[AppMetricFamily] = []
    for fam in families:
        series = [s for s in fam.series
                  if (s.tags.get(DATA_DATASET_LABEL), s.tags.get(DATA_OPERATOR_LABEL)) in keep]
        if series:
            f = AppMetricFamily(name=fam.name, type=fam.type, description="")
            f.series.extend(series)
            out.append(f)
    return out


def parse_kept_text(kept: str) -> list[AppMetricFamily]:
    """Families of an exposition already cut to the kept ones, each series summed over Ray's labels."""
    families: list[AppMetricFamily] = []
    for fam in text_string_to_metric_families(kept):
        if fam.type not in APP_METRIC_TYPES:
            continue
        values: dict[TagKey, float] = {}
        hists: dict[TagKey, _Hist] = {}
        for s in fam.samples:
            key = _tag_key(s.labels)
            if fam.type != "histogram":
                if s.name.endswith("_created"):
                    continue
                values[key] = values.get(key, 0.0) + s.value
                continue
            h = hists.setdefault(key, _Hist())
            if s.name.endswith("_bucket"):
                le = float(s.labels["le"])
                h.buckets[le] = h.buckets.get(le, 0.0) + s.value
            elif s.name.endswith("_sum"):
                h.sum += s.value
            elif s.name.endswith("_count"):
                h.count += s.value
        out = AppMetricFamily(name=fam.name, type=fam.type, description=fam.documentation)
        for key, value in values.items():
            out.series.append(AppMetricSeries(tags=dict(key), value=value))
        for key, h in hists.items():
            bounds = sorted(h.buckets)
            out.series.append(AppMetricSeries(tags=dict(key), bucket_bounds=bounds,
                                              bucket_counts=[h.buckets[b] for b in bounds], sum=h.sum, count=h.count))
        families.append(out)
    return families


@dataclass
class CardinalityBound:
    """Remembers the series (and families) accepted so far; past the bounds, new ones are cut."""

    max_series: int = MAX_SERIES_PER_METRIC
    max_metrics: int = MAX_METRICS
    accepted: dict[str, set[TagKey]] = field(default_factory=dict)

    def apply(self, families: list[AppMetricFamily], ts: float) -> list[DropReport]:
        """Cut `families` in place to the bounds; the reports say what was not shipped."""
        cut_series: dict[str, int] = {}
        cut_metrics: list[str] = []
        kept: list[AppMetricFamily] = []
        for fam in families:
            seen = self.accepted.get(fam.name)
            if seen is None:
                if len(self.accepted) >= self.max_metrics:
                    cut_metrics.append(fam.name)
                    continue
                seen = self.accepted[fam.name] = set()
            keep: list[AppMetricSeries] = []
            for s in fam.series:
                key = tuple(sorted(s.tags.items()))
                if key not in seen and len(seen) >= self.max_series:
                    cut_series[fam.name] = cut_series.get(fam.name, 0) + 1
                    continue
                seen.add(key)
                keep.append(s)
            del fam.series[:]
            fam.series.extend(keep)
            kept.append(fam)
        del families[:]
        families.extend(kept)
        reports: list[DropReport] = []
        if cut_series:
            reports.append(DropReport(
                source=SOURCE, reason=SERIES_REASON, count=sum(cut_series.values()), ts=ts,
                detail="; ".join(f"{n}: {c} series" for n, c in sorted(cut_series.items()))[:500]))
        if cut_metrics:
            reports.append(DropReport(source=SOURCE, reason=METRICS_REASON, count=len(cut_metrics), ts=ts,
                                      detail=", ".join(sorted(cut_metrics))[:500]))
        return reports


class AppMetricsCollector:
    """Scrapes `url` at most every SCRAPE_EVERY_S; `sample()` returns None between scrapes, when
    Ray's endpoint is not known (no port) or does not answer (logged once per outage)."""

    def __init__(self, url: Optional[str], every_s: float = SCRAPE_EVERY_S,
                 bound: Optional[CardinalityBound] = None) -> None:
        self.url = url
        self.every_s = every_s
        self.bound = bound or CardinalityBound()
        self._next = 0.0
        self._failing = False
        self._reports: list[DropReport] = []
        self._serve: Optional[AppMetricScrape] = None  # Serve's request families of the last scrape
        self._data: Optional[AppMetricScrape] = None  # Ray Data's operator gauges of the last scrape
        self._data_shipped: dict[OperatorKey, dict[str, float]] = {}

    def take_serve(self) -> Optional[AppMetricScrape]:
        """Ray Serve's request families read by the last scrape (None: none since the last call,
        always on a node without Serve): shipped apart from the users' metrics (Batch field 28)."""
        out, self._serve = self._serve, None
        return out

    def take_data(self) -> Optional[AppMetricScrape]:
        """Ray Data's operator gauges read by the last scrape (None: none since the last call, always
        on a node without Ray Data's _StatsActor): shipped apart (Batch field 29)."""
        out, self._data = self._data, None
        return out

    def sample(self, now: Optional[float] = None) -> Optional[AppMetricScrape]:
        mono = time.monotonic()
        if self.url is None or mono < self._next:
            return None
        self._next = mono + self.every_s
        text = self._fetch()
        if text is None:
            return None
        ts = now if now is not None else time.time()
        chunks = _chunks(text)
        try:
            families = parse_kept_text(_kept_text(chunks, is_application_metric))
            serve = parse_kept_text(serve_request_text(text, chunks))
            data = parse_kept_text(data_operator_text(text, chunks))
        except ValueError as e:  # a malformed exposition: nothing of it is trusted
            self._reports.append(DropReport(source=SOURCE, reason="Ray metrics endpoint unparseable", count=1,
                                            ts=ts, detail=str(e)[:500]))
            return None
        if serve:
            self._serve = AppMetricScrape(ts=ts)
            self._serve.families.extend(serve)
        data = changed_operators(data, self._data_shipped) if data else []
        if data:
            self._data = AppMetricScrape(ts=ts)
            self._data.families.extend(data)
        self._reports.extend(self.bound.apply(families, ts))
        if not families:
            return None
        scrape = AppMetricScrape(ts=ts)
        scrape.families.extend(families)
        return scrape

    def take_drop_reports(self) -> list[DropReport]:
        out, self._reports = self._reports, []
        return out

    def _fetch(self) -> Optional[str]:
        assert self.url is not None
        try:
            with urllib.request.urlopen(self.url, timeout=TIMEOUT_S) as resp:  # noqa: S310 - our node's Ray
                body: bytes = resp.read(MAX_RESPONSE_BYTES)
        except (OSError, urllib.error.URLError) as e:
            if not self._failing:
                log.info("Ray metrics endpoint %s not readable (%s): application metrics wait", self.url, e)
            self._failing = True
            return None
        if self._failing:
            log.info("Ray metrics endpoint %s readable again", self.url)
        self._failing = False
        return body.decode("utf-8", "replace")
