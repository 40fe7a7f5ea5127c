"""The API models of the Ray Data view (GET /datasets, /datasets/{id}); re-exported by models.py.

Figures from Rayscope's Data progress callback (rows, blocks, queued, tasks and actors as the
executor counts them, resources), or, for a dataset run without it, from Ray's own `ray_data_*`
gauges read from the metrics endpoint (~10 s apart; no budgets or cluster limits): `progress_source`
says which, never both for one dataset. They are None when no sample came (`has_progress`). The
`ray_*` counts come from the tasks and actors Rayscope stores, by Ray's label `__data_operator_id`,
and need no callback.
"""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from rayscope.common.api_model import ApiModel
from rayscope.runtime.ray_enums import DatasetIssueType, DatasetState
from rayscope.runtime.ray_settings import DATA_PROGRESS_ENV

PROGRESS_HINT = ("live progress (rows, blocks, queues, throughput, resources): set "
                 + " ".join(f"{k}={v}" for k, v in DATA_PROGRESS_ENV.items()) + " in the driver's environment")
# where a dataset's progress samples come from (dashboard/store/schema_data.py, column `source`)
ProgressSource = Literal["callback", "metrics"]
PROGRESS_SOURCE_TEXT: dict[str, str] = {
    "callback": "live progress (Rayscope's callback), ~1 s",
    "metrics": "progress from Ray's metrics (ray_data_* gauges), every ~10 s",
}


class DatasetBase(ApiModel):
    """One dataset execution (Ray's dataset id ends with its run index)."""

    dataset_id: str
    job_id: str
    state: DatasetState
    start_time: Optional[float] = None  # registration
    execution_start_time: Optional[float] = None
    execution_end_time: Optional[float] = None
    operator_count: int = 0
    rows_output: Optional[int] = Field(None, description="rows output by the last operator (progress samples)")
    progress_time: Optional[float] = Field(None, description="the newest progress sample's time")
    progress_source: Optional[ProgressSource] = Field(
        None, description="where the progress figures come from: 'callback' (Rayscope's opt-in Data callback, "
        "~1 s) or 'metrics' (Ray's ray_data_* gauges, ~10 s, for a dataset run without the callback); None: none")
    issue_count: int = 0
    context_summary: Optional[str] = Field(None, description="the DataContext's keys (Ray sends it once)")


class DatasetOperatorBrief(ApiModel):
    """An operator in the listing: enough for `rayscope list datasets --json` and the Datasets page."""

    operator_id: str
    name: str
    state: DatasetState
    rows_output: Optional[int] = None
    estimated_rows: Optional[int] = None


class Dataset(DatasetBase):
    operators: list[DatasetOperatorBrief] = Field(default_factory=list, description="in topology order")


class DatasetOperator(ApiModel):
    operator_id: str = Field(description="Ray's '<name>_<topology index>'")
    uuid: str = Field(description="= the label __data_operator_id of its tasks and actors")
    name: str
    state: DatasetState
    position: int
    input_dependencies: list[str] = Field(default_factory=list, description="operator ids: the DAG's edges")
    sub_stages: list[str] = Field(default_factory=list)
    execution_start_time: Optional[float] = None
    execution_end_time: Optional[float] = None
    args_summary: Optional[str] = None
    output_schema: Optional[dict[str, str]] = Field(None, description="column -> Arrow type")
    # from the progress callback
    sample_time: Optional[float] = None
    rows_output: Optional[int] = None
    estimated_rows: Optional[int] = None
    blocks_output: Optional[int] = None
    estimated_blocks: Optional[int] = None
    bytes_output: Optional[int] = None
    queued_blocks: Optional[int] = None
    tasks_running: Optional[int] = None
    tasks_finished: Optional[int] = None
    tasks_failed: Optional[int] = None
    actors_alive: Optional[int] = None
    actors_pending: Optional[int] = None
    cpu: Optional[float] = None
    gpu: Optional[float] = None
    object_store_bytes: Optional[int] = None
    cpu_budget: Optional[float] = Field(None, description="the executor's remaining budget for this operator "
                                        "(Ray's ResourceManager.get_budget): it may take this much more; "
                                        "allocated = use + budget. None: unlimited or not known")
    gpu_budget: Optional[float] = None
    object_store_budget: Optional[int] = None
    throughput_current: Optional[float] = Field(None, description="rows/s over the last samples (running only)")
    throughput_avg: Optional[float] = Field(None, description="rows output / seconds since it started")
    # from the tasks and actors Rayscope stores (label __data_operator_id)
    ray_tasks: int = 0
    ray_tasks_active: int = 0
    ray_tasks_failed: int = 0
    ray_actors: int = 0
    ray_actors_alive: int = 0


class DatasetIssue(ApiModel):
    operator_id: str
    operator_name: str
    issue_type: DatasetIssueType
    message: str
    event_time: float


class DatasetDetail(DatasetBase):
    operators: list[DatasetOperator] = Field(default_factory=list)
    issues: list[DatasetIssue] = Field(default_factory=list)
    bottleneck: Optional[str] = Field(None, description="which operator limits throughput, in words")
    has_progress: bool = False
    progress_error: Optional[str] = Field(None, description="the progress callback's failure, if it failed")
    progress_hint: Optional[str] = Field(None, description="how to turn live progress (the callback) on, when "
                                         "its samples did not come (none, or only Ray's metrics)")
    progress_source_text: Optional[str] = Field(None, description="progress_source in words, with its cadence")
