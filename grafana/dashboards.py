"""The six Rayscope dashboards, as data. Edit here, never the generated JSON.

Every metric used here must exist in a scrape of a running Rayscope cluster; the test
tests/test_metrics_prometheus.py::test_grafana_queries_parse_and_use_scraped_metrics checks it.
"""
from __future__ import annotations

from rayscope.grafana.panels import BY_NODE, BY_SESSION, RATE, Dashboard, Row, panel

S = BY_SESSION
N = BY_NODE


def _sel(extra: str, base: str = S) -> str:
    """`{ray_session=~"$session"}` plus more matchers."""
    return base[:-1] + ", " + extra + "}"


ALIVE = _sel('state="ALIVE"')
RUNNING = _sel('state="RUNNING"')
RUNNING_ANY = _sel('state=~"RUNNING.*"')
FINISHED = _sel('state="FINISHED"')
FAILED = _sel('state="FAILED"')
TERMINAL = _sel('state=~"FINISHED|FAILED"')


CLUSTER = Dashboard(
    uid="rayscope-cluster", title="Rayscope / Cluster overview", node_variable=False,
    description="The whole Ray cluster at a glance: nodes, tasks, actors, jobs, usage.",
    rows=(
        Row("Now", (
            panel("Nodes alive", f'sum(rayscope_nodes_in_state{ALIVE})',
                  kind="stat", width=4, height=4),
            panel("Running tasks", f'sum(rayscope_tasks_in_state{RUNNING_ANY})',
                  kind="stat", width=4, height=4),
            panel("Alive actors", f'sum(rayscope_actors_in_state{ALIVE})',
                  kind="stat", width=4, height=4),
            panel("Running jobs", f'sum(rayscope_jobs_in_state{RUNNING})',
                  kind="stat", width=4, height=4),
            panel("Cluster CPU", f"avg(rayscope_node_cpu_utilization_ratio{S})", kind="stat", unit="percentunit",
                  width=4, height=4, max=1),
            panel("Object store used", f"sum(rayscope_object_store_used_bytes{S}) / "
                  f"sum(rayscope_object_store_capacity_bytes{S})", kind="stat", unit="percentunit", width=4,
                  height=4, max=1),
        )),
        Row("Throughput", (
            panel("Tasks finished / failed per second",
                  (f'sum(rate(rayscope_tasks_entered_total{FINISHED}[{RATE}]))',
                   "finished"),
                  (f'sum(rate(rayscope_tasks_entered_total{FAILED}[{RATE}]))',
                   "failed"), unit="ops"),
            panel("Tasks by current state", (f"sum by (state) (rayscope_tasks_in_state{S})", "{{state}}"),
                  stack=True),
            panel("Memory used", (f"sum(rayscope_node_memory_used_bytes{S})", "used"),
                  (f"sum(rayscope_node_memory_total_bytes{S})", "total"), unit="bytes"),
            panel("CPU by node", (f"rayscope_node_cpu_utilization_ratio{S}", "{{node_id}}"), unit="percentunit",
                  max=1),
        )),
    ),
)

NODES = Dashboard(
    uid="rayscope-nodes", title="Rayscope / Nodes",
    description="Per-node CPU, memory, session disk, and Ray's processes by role (no per-worker series).",
    rows=(
        Row("Node", (
            panel("CPU", (f"rayscope_node_cpu_utilization_ratio{N}", "{{node_id}}"), unit="percentunit", max=1),
            panel("Memory used", (f"rayscope_node_memory_used_bytes{N} / rayscope_node_memory_total_bytes{N}",
                                  "{{node_id}}"), unit="percentunit", max=1),
            panel("Session disk used", (f"rayscope_node_session_disk_used_bytes{N} / "
                                        f"rayscope_node_session_disk_total_bytes{N}", "{{node_id}}"),
                  unit="percentunit", max=1),
            panel("Logical CPUs", (f"rayscope_node_cpus{N}", "{{node_id}}"), kind="stat"),
        )),
        Row("Ray processes by role", (
            panel("Processes", (f"sum by (role) (rayscope_ray_processes{N})", "{{role}}"), stack=True),
            panel("RSS", (f"sum by (role) (rayscope_ray_process_rss_bytes{N})", "{{role}}"), unit="bytes",
                  stack=True),
            panel("CPU share of the node", (f"rayscope_ray_process_cpu_utilization_ratio{N}", "{{node_id}} {{role}}"),
                  unit="percentunit"),
            panel("GPU memory", (f"sum by (role) (rayscope_ray_process_gpu_fb_used_bytes{N})", "{{role}}"),
                  unit="bytes"),
        )),
    ),
)

GPUS = Dashboard(
    uid="rayscope-gpus", title="Rayscope / GPUs",
    description="Per GPU, named after NVIDIA DCGM fields (GPU_UTIL, FB_USED, FB_FREE, GPU_TEMP, POWER_USAGE).",
    rows=(
        Row("GPUs", (
            panel("Utilization", (f"rayscope_gpu_util_ratio{N}", "{{node_id}} gpu{{gpu}}"), unit="percentunit",
                  max=1),
            panel("Frame buffer used", (f"rayscope_gpu_fb_used_bytes{N} / rayscope_gpu_fb_total_bytes{N}",
                                        "{{node_id}} gpu{{gpu}}"), unit="percentunit", max=1),
            panel("Frame buffer free", (f"rayscope_gpu_fb_free_bytes{N}", "{{node_id}} gpu{{gpu}}"), unit="bytes"),
            panel("Temperature", (f"rayscope_gpu_temp_celsius{N}", "{{node_id}} gpu{{gpu}}"), unit="celsius"),
            panel("Power", (f"rayscope_gpu_power_usage_watts{N}", "{{node_id}} gpu{{gpu}}"), unit="watt"),
            panel("Energy (from power)", (f"sum by (node_id) (avg_over_time(rayscope_gpu_power_usage_watts{N}[1h]))"
                                          " * 3600", "{{node_id}}"), unit="joule",
                  description="Integrated power over the last hour"),
        )),
    ),
)

TASKS = Dashboard(
    uid="rayscope-tasks", title="Rayscope / Tasks & actors", node_variable=False,
    description="Task and actor state transitions as counters (no completion lost between scrapes), and current states.",
    rows=(
        Row("Tasks", (
            panel("Tasks entering each state / s", (f"sum by (state) (rate(rayscope_tasks_entered_total{S}[{RATE}]))",
                                                    "{{state}}"), unit="ops"),
            panel("Tasks in each state", (f"sum by (state) (rayscope_tasks_in_state{S})", "{{state}}"), stack=True),
            panel("Failures by task type / s", (f'sum by (type) (rate(rayscope_tasks_entered_total'
                                                f'{FAILED}[{RATE}]))',
                                                "{{type}}"), unit="ops"),
            panel("Failed share of finished attempts",
                  f'sum(increase(rayscope_tasks_entered_total{FAILED}[1h])) / '
                  f'clamp_min(sum(increase(rayscope_tasks_entered_total{TERMINAL}[1h])), 1)',
                  unit="percentunit", kind="stat", max=1),
        )),
        Row("Actors and jobs", (
            panel("Actors in each state", (f"sum by (state) (rayscope_actors_in_state{S})", "{{state}}"), stack=True),
            panel("Actor state changes / s", (f"sum by (state) (rate(rayscope_actors_entered_total{S}[{RATE}]))",
                                              "{{state}}"), unit="ops"),
            panel("Jobs by state", (f"sum by (state) (rayscope_jobs_in_state{S})", "{{state}}")),
            panel("Jobs started", (f"increase(rayscope_jobs_started_total{S}[1h])", "last hour"), kind="stat"),
        )),
    ),
)

OBJECT_STORE = Dashboard(
    uid="rayscope-object-store", title="Rayscope / Object store",
    description="Plasma usage, objects, spilling and restoring per node.",
    rows=(
        Row("Object store", (
            panel("Used", (f"rayscope_object_store_used_bytes{N}", "{{node_id}}"), unit="bytes"),
            panel("Used share of capacity", (f"rayscope_object_store_used_bytes{N} / "
                                             f"rayscope_object_store_capacity_bytes{N}", "{{node_id}}"),
                  unit="percentunit", max=1),
            panel("Objects", (f"rayscope_object_store_objects{N}", "{{node_id}}")),
            panel("Spilled / restored per second",
                  (f"sum(rate(rayscope_object_store_spilled_bytes_total{N}[{RATE}]))", "spilled"),
                  (f"sum(rate(rayscope_object_store_restored_bytes_total{N}[{RATE}]))", "restored"), unit="Bps"),
            panel("Filesystem fallback", (f"rayscope_object_store_fallback_bytes{N}", "{{node_id}}"), unit="bytes"),
        )),
    ),
)

HEAD = Dashboard(
    uid="rayscope-head", title="Rayscope / Head health", node_variable=False,
    description="Is Rayscope itself keeping up: ingest, drops, agents, head process.",
    rows=(
        Row("Ingest", (
            panel("Agents connected", f"sum(rayscope_head_agents_connected{S})", kind="stat", width=6, height=4),
            panel("Batches committed / s", f"sum(rate(rayscope_head_ingest_batches_total{S}[{RATE}]))", unit="ops",
                  width=6, height=4, kind="stat"),
            panel("Store size", f"sum(rayscope_head_db_size_bytes{S})", unit="bytes", kind="stat", width=6, height=4),
            panel("WebSocket clients", f"sum(rayscope_head_websocket_clients{S})", kind="stat", width=6, height=4),
            panel("Dropped items / s", (f"sum by (source, stage) (rate(rayscope_dropped_items_total{S}[{RATE}]))",
                                        "{{stage}} {{source}}"), unit="ops"),
            panel("Dropped bytes / s", (f"sum by (source, stage) (rate(rayscope_dropped_bytes_total{S}[{RATE}]))",
                                        "{{stage}} {{source}}"), unit="Bps"),
        )),
        Row("Processes", (
            panel("Head CPU", (f"rate(rayscope_head_process_cpu_seconds_total{S}[{RATE}])", "head"),
                  unit="percentunit"),
            panel("Head memory", (f"rayscope_head_process_resident_memory_bytes{S}", "head"), unit="bytes"),
            panel("Agent CPU", (f"rayscope_agent_cpu_utilization_ratio{S}", "{{node_id}}"), unit="percentunit"),
            panel("Agent memory", (f"rayscope_agent_resident_memory_bytes{S}", "{{node_id}}"), unit="bytes"),
            panel("Agent spool backlog", (f"rayscope_agent_spool_pending_batches{S}", "{{node_id}}")),
            panel("Agents without a head stream", f"count(rayscope_agent_head_connected{S} == 0) or vector(0)",
                  kind="stat"),
        )),
    ),
)

ALL: tuple[Dashboard, ...] = (CLUSTER, NODES, GPUS, TASKS, OBJECT_STORE, HEAD)
