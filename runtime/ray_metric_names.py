"""Which of a Ray node's Prometheus metrics are the user's own (ray.util.metrics), and which
labels Ray adds to them: the one owner of that rule.

Ray 2.60 exports every metric, its own and the user's, on the node's metrics export port with
the namespace `ray_` in front (`Counter("failed_withdrawals")` is `ray_failed_withdrawals`), and
nothing in a family marks who defined it. So the rule is by name: a family is an application
metric when its name starts with `ray_` and the rest does not start with one of the prefixes of
Ray's own families below. The list is what a live 2.60 node's endpoint served (all of Core's
families on a head node with tasks run), plus Core's that appear only in some states, and
includes the libraries' families (`data_`, `serve_`, `train_`, `tune_`, `rllib_`), which
Rayscope shows on their own pages, not as application metrics.
Consequence, documented for users: an application metric whose own name starts with one of these
prefixes (e.g. `Counter("tasks_done")`, `Gauge("node_temp")`) is taken for Ray's and not shown.
tests/test_app_metrics_e2e.py checks on a real node that Ray's own families all match the rule.
"""
from __future__ import annotations

RAY_NAMESPACE = "ray_"

# The Prometheus types ray.util.metrics produces (Counter, Gauge, Histogram); the API's
# AppMetricType (dashboard/models.py) is the same list as a Literal.
APP_METRIC_TYPES: tuple[str, ...] = ("counter", "gauge", "histogram")

RAY_OWN_PREFIXES: tuple[str, ...] = (
    # Core, as a 2.60 node served them (GCS, raylet, core workers, the dashboard agent)
    "cluster_", "component_", "finished_jobs", "gcs_", "grpc_", "health_check_", "internal_", "io_context_",
    "job_", "local_resource_view_", "node_", "object_", "operation_", "owned_objects", "pull_manager_",
    "push_manager_", "resources", "running_jobs", "scheduler_", "spill_manager_", "tasks", "total_lineage_bytes",
    "worker_register_time",
    # Core, served only in some states (actors, placement groups, memory pressure, autoscaler, exports)
    "actors", "placement_groups", "memory_manager_", "unintentional_worker_failures", "autoscaler_",
    "dashboard_", "event_aggregator_", "export_", "core_worker_", "raylet_", "process_startup_time",
    "runtime_env_",
    # the libraries
    "data_", "serve_", "train_", "tune_", "rllib_", "llm_",
)

# Labels Ray adds to every series of a node's endpoint (not the user's tags). WorkerId is removed
# too: series of several workers with the same user tags are summed, as the per-node figure.
RAY_LABELS: frozenset[str] = frozenset({
    "SessionName", "NodeAddress", "WorkerId", "Component", "Version", "JobId",
    "otel_scope_name", "otel_scope_version", "otel_scope_schema_url",
})


def is_application_metric(family_name: str) -> bool:
    """True for `ray_<name>` where <name> is not one of Ray's own families (see the module doc)."""
    if not family_name.startswith(RAY_NAMESPACE):
        return False
    return not family_name[len(RAY_NAMESPACE):].startswith(RAY_OWN_PREFIXES)


# Ray Serve's request families that Rayscope reads for its Serve page (per deployment and per
# application: requests, errors, latency). Names as prometheus_client's parser gives them (a
# counter without `_total`, which its HELP line on a 2.60 endpoint carries); the agent ships only
# these, and only when a node serves one of them.
SERVE_PREFIX = RAY_NAMESPACE + "serve_"
SERVE_HTTP_REQUESTS = "ray_serve_num_http_requests"
SERVE_HTTP_ERRORS = "ray_serve_num_http_error_requests"
SERVE_HTTP_LATENCY = "ray_serve_http_request_latency_ms"
SERVE_DEPLOYMENT_REQUESTS = "ray_serve_deployment_request_counter"
SERVE_DEPLOYMENT_ERRORS = "ray_serve_deployment_error_counter"
SERVE_DEPLOYMENT_LATENCY = "ray_serve_deployment_processing_latency_ms"
SERVE_COUNTERS: tuple[str, ...] = (SERVE_HTTP_REQUESTS, SERVE_HTTP_ERRORS, SERVE_DEPLOYMENT_REQUESTS,
                                   SERVE_DEPLOYMENT_ERRORS)
SERVE_HISTOGRAMS: tuple[str, ...] = (SERVE_HTTP_LATENCY, SERVE_DEPLOYMENT_LATENCY)
# the same families by the name on their HELP line (what the agent's cheap check sees)
SERVE_REQUEST_FAMILIES: frozenset[str] = frozenset({c + "_total" for c in SERVE_COUNTERS} | set(SERVE_HISTOGRAMS))


def is_serve_request_metric(family_name: str) -> bool:
    """True for the Serve families above, by the name on a family's HELP line."""
    return family_name.startswith(SERVE_PREFIX) and family_name in SERVE_REQUEST_FAMILIES


# Ray Data's per-operator gauges, set by Ray's `_StatsActor` every 5 s with the labels `dataset`
# (the dataset id) and `operator` (`<name>_<topology index>`), exported on the node where the
# _StatsActor runs (the first driver's node). Rayscope turns them into progress samples for
# datasets without its opt-in callback (dashboard/store/apply_data_metrics.py). Each family -> the
# progress column it fills (dashboard/store/schema_data.py PROGRESS_COLUMNS); `state` is Ray's
# DatasetState number (UNKNOWN 0, RUNNING 1, FINISHED 2, FAILED 3, PENDING 4).
DATA_PREFIX = RAY_NAMESPACE + "data_"
DATA_OPERATOR_LABEL = "operator"
DATA_DATASET_LABEL = "dataset"
DATA_OPERATOR_FAMILIES: dict[str, str] = {
    "ray_data_output_rows": "rows_output",
    "ray_data_num_outputs_taken": "blocks_output",
    "ray_data_bytes_outputs_taken": "bytes_output",
    "ray_data_operator_estimated_total_rows": "estimated_rows",
    "ray_data_operator_estimated_total_blocks": "estimated_blocks",
    "ray_data_operator_queued_blocks": "queued_blocks",
    "ray_data_num_tasks_running": "tasks_running",
    "ray_data_num_tasks_finished": "tasks_finished",
    "ray_data_num_tasks_failed": "tasks_failed",
    "ray_data_num_alive_actors": "actors_alive",
    "ray_data_num_pending_actors": "actors_pending",
    "ray_data_cpu_usage_cores": "cpu",
    "ray_data_gpu_usage_cores": "gpu",
    "ray_data_obj_store_mem_used": "object_store_bytes",
    "ray_data_operator_state": "state",
}
DATA_STATE_NAMES: dict[int, str] = {0: "UNKNOWN", 1: "RUNNING", 2: "FINISHED", 3: "FAILED", 4: "PENDING"}


def is_data_operator_metric(family_name: str) -> bool:
    """True for Ray Data's per-operator gauges above (gauges: the HELP line's name is the family's)."""
    return family_name.startswith(DATA_PREFIX) and family_name in DATA_OPERATOR_FAMILIES
