from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LogKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOG_OTHER: _ClassVar[LogKind]
    LOG_WORKER_STDOUT: _ClassVar[LogKind]
    LOG_WORKER_STDERR: _ClassVar[LogKind]
    LOG_CORE_WORKER: _ClassVar[LogKind]
    LOG_CORE_DRIVER: _ClassVar[LogKind]
    LOG_JOB_DRIVER: _ClassVar[LogKind]
    LOG_RAYLET: _ClassVar[LogKind]
    LOG_GCS: _ClassVar[LogKind]
    LOG_DASHBOARD: _ClassVar[LogKind]
    LOG_RUNTIME_ENV: _ClassVar[LogKind]
    LOG_MONITOR: _ClassVar[LogKind]
LOG_OTHER: LogKind
LOG_WORKER_STDOUT: LogKind
LOG_WORKER_STDERR: LogKind
LOG_CORE_WORKER: LogKind
LOG_CORE_DRIVER: LogKind
LOG_JOB_DRIVER: LogKind
LOG_RAYLET: LogKind
LOG_GCS: LogKind
LOG_DASHBOARD: LogKind
LOG_RUNTIME_ENV: LogKind
LOG_MONITOR: LogKind

class AgentMessage(_message.Message):
    __slots__ = ("hello", "batch")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    hello: AgentHello
    batch: Batch
    def __init__(self, hello: _Optional[_Union[AgentHello, _Mapping]] = ..., batch: _Optional[_Union[Batch, _Mapping]] = ...) -> None: ...

class HeadMessage(_message.Message):
    __slots__ = ("hello_ack", "ack")
    HELLO_ACK_FIELD_NUMBER: _ClassVar[int]
    ACK_FIELD_NUMBER: _ClassVar[int]
    hello_ack: HelloAck
    ack: Ack
    def __init__(self, hello_ack: _Optional[_Union[HelloAck, _Mapping]] = ..., ack: _Optional[_Union[Ack, _Mapping]] = ...) -> None: ...

class AgentHello(_message.Message):
    __slots__ = ("agent_id", "node_id", "node_ip", "hostname", "session_name", "session_dir", "metrics_url", "started_at", "version", "is_head_node")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_IP_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    SESSION_NAME_FIELD_NUMBER: _ClassVar[int]
    SESSION_DIR_FIELD_NUMBER: _ClassVar[int]
    METRICS_URL_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    IS_HEAD_NODE_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    node_id: str
    node_ip: str
    hostname: str
    session_name: str
    session_dir: str
    metrics_url: str
    started_at: float
    version: str
    is_head_node: bool
    def __init__(self, agent_id: _Optional[str] = ..., node_id: _Optional[str] = ..., node_ip: _Optional[str] = ..., hostname: _Optional[str] = ..., session_name: _Optional[str] = ..., session_dir: _Optional[str] = ..., metrics_url: _Optional[str] = ..., started_at: _Optional[float] = ..., version: _Optional[str] = ..., is_head_node: _Optional[bool] = ...) -> None: ...

class HelloAck(_message.Message):
    __slots__ = ("last_committed_seq", "ship_every_s")
    LAST_COMMITTED_SEQ_FIELD_NUMBER: _ClassVar[int]
    SHIP_EVERY_S_FIELD_NUMBER: _ClassVar[int]
    last_committed_seq: int
    ship_every_s: float
    def __init__(self, last_committed_seq: _Optional[int] = ..., ship_every_s: _Optional[float] = ...) -> None: ...

class Ack(_message.Message):
    __slots__ = ("seq", "ship_every_s")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    SHIP_EVERY_S_FIELD_NUMBER: _ClassVar[int]
    seq: int
    ship_every_s: float
    def __init__(self, seq: _Optional[int] = ..., ship_every_s: _Optional[float] = ...) -> None: ...

class Batch(_message.Message):
    __slots__ = ("seq", "created_at", "tasks", "actors", "nodes", "jobs", "log_files", "log_lines", "node_samples", "processes", "object_store", "objects", "drops", "workers", "submission_jobs", "app_metrics", "datasets", "dataset_schemas", "dataset_issues", "dataset_progress", "serve_status", "serve_metrics", "data_metrics", "train_runs", "train_run_attempts")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    ACTORS_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    JOBS_FIELD_NUMBER: _ClassVar[int]
    LOG_FILES_FIELD_NUMBER: _ClassVar[int]
    LOG_LINES_FIELD_NUMBER: _ClassVar[int]
    NODE_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    PROCESSES_FIELD_NUMBER: _ClassVar[int]
    OBJECT_STORE_FIELD_NUMBER: _ClassVar[int]
    OBJECTS_FIELD_NUMBER: _ClassVar[int]
    DROPS_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    SUBMISSION_JOBS_FIELD_NUMBER: _ClassVar[int]
    APP_METRICS_FIELD_NUMBER: _ClassVar[int]
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    DATASET_SCHEMAS_FIELD_NUMBER: _ClassVar[int]
    DATASET_ISSUES_FIELD_NUMBER: _ClassVar[int]
    DATASET_PROGRESS_FIELD_NUMBER: _ClassVar[int]
    SERVE_STATUS_FIELD_NUMBER: _ClassVar[int]
    SERVE_METRICS_FIELD_NUMBER: _ClassVar[int]
    DATA_METRICS_FIELD_NUMBER: _ClassVar[int]
    TRAIN_RUNS_FIELD_NUMBER: _ClassVar[int]
    TRAIN_RUN_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    seq: int
    created_at: float
    tasks: _containers.RepeatedCompositeFieldContainer[TaskEvent]
    actors: _containers.RepeatedCompositeFieldContainer[ActorEvent]
    nodes: _containers.RepeatedCompositeFieldContainer[NodeEvent]
    jobs: _containers.RepeatedCompositeFieldContainer[JobEvent]
    log_files: _containers.RepeatedCompositeFieldContainer[LogFile]
    log_lines: _containers.RepeatedCompositeFieldContainer[LogLine]
    node_samples: _containers.RepeatedCompositeFieldContainer[NodeSample]
    processes: ProcessSnapshot
    object_store: _containers.RepeatedCompositeFieldContainer[ObjectStoreSample]
    objects: ObjectSnapshot
    drops: _containers.RepeatedCompositeFieldContainer[DropReport]
    workers: _containers.RepeatedCompositeFieldContainer[WorkerEvent]
    submission_jobs: _containers.RepeatedCompositeFieldContainer[SubmissionJobEvent]
    app_metrics: _containers.RepeatedCompositeFieldContainer[AppMetricScrape]
    datasets: _containers.RepeatedCompositeFieldContainer[DatasetEvent]
    dataset_schemas: _containers.RepeatedCompositeFieldContainer[DatasetOperatorSchema]
    dataset_issues: _containers.RepeatedCompositeFieldContainer[DatasetIssue]
    dataset_progress: _containers.RepeatedCompositeFieldContainer[DatasetProgress]
    serve_status: _containers.RepeatedCompositeFieldContainer[ServeStatusDoc]
    serve_metrics: _containers.RepeatedCompositeFieldContainer[AppMetricScrape]
    data_metrics: _containers.RepeatedCompositeFieldContainer[AppMetricScrape]
    train_runs: _containers.RepeatedCompositeFieldContainer[TrainRunEvent]
    train_run_attempts: _containers.RepeatedCompositeFieldContainer[TrainRunAttemptEvent]
    def __init__(self, seq: _Optional[int] = ..., created_at: _Optional[float] = ..., tasks: _Optional[_Iterable[_Union[TaskEvent, _Mapping]]] = ..., actors: _Optional[_Iterable[_Union[ActorEvent, _Mapping]]] = ..., nodes: _Optional[_Iterable[_Union[NodeEvent, _Mapping]]] = ..., jobs: _Optional[_Iterable[_Union[JobEvent, _Mapping]]] = ..., log_files: _Optional[_Iterable[_Union[LogFile, _Mapping]]] = ..., log_lines: _Optional[_Iterable[_Union[LogLine, _Mapping]]] = ..., node_samples: _Optional[_Iterable[_Union[NodeSample, _Mapping]]] = ..., processes: _Optional[_Union[ProcessSnapshot, _Mapping]] = ..., object_store: _Optional[_Iterable[_Union[ObjectStoreSample, _Mapping]]] = ..., objects: _Optional[_Union[ObjectSnapshot, _Mapping]] = ..., drops: _Optional[_Iterable[_Union[DropReport, _Mapping]]] = ..., workers: _Optional[_Iterable[_Union[WorkerEvent, _Mapping]]] = ..., submission_jobs: _Optional[_Iterable[_Union[SubmissionJobEvent, _Mapping]]] = ..., app_metrics: _Optional[_Iterable[_Union[AppMetricScrape, _Mapping]]] = ..., datasets: _Optional[_Iterable[_Union[DatasetEvent, _Mapping]]] = ..., dataset_schemas: _Optional[_Iterable[_Union[DatasetOperatorSchema, _Mapping]]] = ..., dataset_issues: _Optional[_Iterable[_Union[DatasetIssue, _Mapping]]] = ..., dataset_progress: _Optional[_Iterable[_Union[DatasetProgress, _Mapping]]] = ..., serve_status: _Optional[_Iterable[_Union[ServeStatusDoc, _Mapping]]] = ..., serve_metrics: _Optional[_Iterable[_Union[AppMetricScrape, _Mapping]]] = ..., data_metrics: _Optional[_Iterable[_Union[AppMetricScrape, _Mapping]]] = ..., train_runs: _Optional[_Iterable[_Union[TrainRunEvent, _Mapping]]] = ..., train_run_attempts: _Optional[_Iterable[_Union[TrainRunAttemptEvent, _Mapping]]] = ...) -> None: ...

class TaskEvent(_message.Message):
    __slots__ = ("task_id", "attempt", "job_id", "name", "type", "language", "parent_task_id", "actor_id", "placement_group_id", "required_resources", "node_id", "worker_id", "worker_pid", "error_type", "error_message", "state_ts_ns", "stdout_file", "stdout_start", "stdout_end", "stderr_file", "stderr_start", "stderr_end", "is_debugger_paused", "event_time", "data_operator_id")
    class RequiredResourcesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class StateTsNsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: int
        def __init__(self, key: _Optional[int] = ..., value: _Optional[int] = ...) -> None: ...
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    PARENT_TASK_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    PLACEMENT_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_RESOURCES_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    WORKER_PID_FIELD_NUMBER: _ClassVar[int]
    ERROR_TYPE_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    STATE_TS_NS_FIELD_NUMBER: _ClassVar[int]
    STDOUT_FILE_FIELD_NUMBER: _ClassVar[int]
    STDOUT_START_FIELD_NUMBER: _ClassVar[int]
    STDOUT_END_FIELD_NUMBER: _ClassVar[int]
    STDERR_FILE_FIELD_NUMBER: _ClassVar[int]
    STDERR_START_FIELD_NUMBER: _ClassVar[int]
    STDERR_END_FIELD_NUMBER: _ClassVar[int]
    IS_DEBUGGER_PAUSED_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    DATA_OPERATOR_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    attempt: int
    job_id: str
    name: str
    type: str
    language: str
    parent_task_id: str
    actor_id: str
    placement_group_id: str
    required_resources: _containers.ScalarMap[str, float]
    node_id: str
    worker_id: str
    worker_pid: int
    error_type: str
    error_message: str
    state_ts_ns: _containers.ScalarMap[int, int]
    stdout_file: str
    stdout_start: int
    stdout_end: int
    stderr_file: str
    stderr_start: int
    stderr_end: int
    is_debugger_paused: bool
    event_time: float
    data_operator_id: str
    def __init__(self, task_id: _Optional[str] = ..., attempt: _Optional[int] = ..., job_id: _Optional[str] = ..., name: _Optional[str] = ..., type: _Optional[str] = ..., language: _Optional[str] = ..., parent_task_id: _Optional[str] = ..., actor_id: _Optional[str] = ..., placement_group_id: _Optional[str] = ..., required_resources: _Optional[_Mapping[str, float]] = ..., node_id: _Optional[str] = ..., worker_id: _Optional[str] = ..., worker_pid: _Optional[int] = ..., error_type: _Optional[str] = ..., error_message: _Optional[str] = ..., state_ts_ns: _Optional[_Mapping[int, int]] = ..., stdout_file: _Optional[str] = ..., stdout_start: _Optional[int] = ..., stdout_end: _Optional[int] = ..., stderr_file: _Optional[str] = ..., stderr_start: _Optional[int] = ..., stderr_end: _Optional[int] = ..., is_debugger_paused: _Optional[bool] = ..., event_time: _Optional[float] = ..., data_operator_id: _Optional[str] = ...) -> None: ...

class ActorEvent(_message.Message):
    __slots__ = ("actor_id", "job_id", "state", "name", "class_name", "repr_name", "pid", "node_id", "is_detached", "ray_namespace", "placement_group_id", "required_resources", "death_cause", "event_time", "data_operator_id")
    class RequiredResourcesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    ACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CLASS_NAME_FIELD_NUMBER: _ClassVar[int]
    REPR_NAME_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    IS_DETACHED_FIELD_NUMBER: _ClassVar[int]
    RAY_NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    PLACEMENT_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_RESOURCES_FIELD_NUMBER: _ClassVar[int]
    DEATH_CAUSE_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    DATA_OPERATOR_ID_FIELD_NUMBER: _ClassVar[int]
    actor_id: str
    job_id: str
    state: str
    name: str
    class_name: str
    repr_name: str
    pid: int
    node_id: str
    is_detached: bool
    ray_namespace: str
    placement_group_id: str
    required_resources: _containers.ScalarMap[str, float]
    death_cause: str
    event_time: float
    data_operator_id: str
    def __init__(self, actor_id: _Optional[str] = ..., job_id: _Optional[str] = ..., state: _Optional[str] = ..., name: _Optional[str] = ..., class_name: _Optional[str] = ..., repr_name: _Optional[str] = ..., pid: _Optional[int] = ..., node_id: _Optional[str] = ..., is_detached: _Optional[bool] = ..., ray_namespace: _Optional[str] = ..., placement_group_id: _Optional[str] = ..., required_resources: _Optional[_Mapping[str, float]] = ..., death_cause: _Optional[str] = ..., event_time: _Optional[float] = ..., data_operator_id: _Optional[str] = ...) -> None: ...

class WorkerEvent(_message.Message):
    __slots__ = ("worker_id", "node_id", "pid", "worker_type", "job_id", "is_alive", "exit_type", "exit_detail", "start_time", "end_time", "node_ip", "event_time")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    WORKER_TYPE_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    IS_ALIVE_FIELD_NUMBER: _ClassVar[int]
    EXIT_TYPE_FIELD_NUMBER: _ClassVar[int]
    EXIT_DETAIL_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    NODE_IP_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    node_id: str
    pid: int
    worker_type: str
    job_id: str
    is_alive: bool
    exit_type: str
    exit_detail: str
    start_time: float
    end_time: float
    node_ip: str
    event_time: float
    def __init__(self, worker_id: _Optional[str] = ..., node_id: _Optional[str] = ..., pid: _Optional[int] = ..., worker_type: _Optional[str] = ..., job_id: _Optional[str] = ..., is_alive: _Optional[bool] = ..., exit_type: _Optional[str] = ..., exit_detail: _Optional[str] = ..., start_time: _Optional[float] = ..., end_time: _Optional[float] = ..., node_ip: _Optional[str] = ..., event_time: _Optional[float] = ...) -> None: ...

class NodeEvent(_message.Message):
    __slots__ = ("node_id", "state", "node_ip", "node_name", "is_head_node", "resources_total", "labels", "start_time_ms", "end_time_ms", "death_reason", "death_message", "event_time")
    class ResourcesTotalEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    NODE_IP_FIELD_NUMBER: _ClassVar[int]
    NODE_NAME_FIELD_NUMBER: _ClassVar[int]
    IS_HEAD_NODE_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    START_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    END_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    DEATH_REASON_FIELD_NUMBER: _ClassVar[int]
    DEATH_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    state: str
    node_ip: str
    node_name: str
    is_head_node: bool
    resources_total: _containers.ScalarMap[str, float]
    labels: _containers.ScalarMap[str, str]
    start_time_ms: int
    end_time_ms: int
    death_reason: str
    death_message: str
    event_time: float
    def __init__(self, node_id: _Optional[str] = ..., state: _Optional[str] = ..., node_ip: _Optional[str] = ..., node_name: _Optional[str] = ..., is_head_node: _Optional[bool] = ..., resources_total: _Optional[_Mapping[str, float]] = ..., labels: _Optional[_Mapping[str, str]] = ..., start_time_ms: _Optional[int] = ..., end_time_ms: _Optional[int] = ..., death_reason: _Optional[str] = ..., death_message: _Optional[str] = ..., event_time: _Optional[float] = ...) -> None: ...

class JobEvent(_message.Message):
    __slots__ = ("job_id", "is_dead", "driver_pid", "driver_ip", "start_time_ms", "end_time_ms", "entrypoint", "ray_namespace", "event_time", "submission_id")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    IS_DEAD_FIELD_NUMBER: _ClassVar[int]
    DRIVER_PID_FIELD_NUMBER: _ClassVar[int]
    DRIVER_IP_FIELD_NUMBER: _ClassVar[int]
    START_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    END_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    ENTRYPOINT_FIELD_NUMBER: _ClassVar[int]
    RAY_NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    SUBMISSION_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    is_dead: bool
    driver_pid: int
    driver_ip: str
    start_time_ms: int
    end_time_ms: int
    entrypoint: str
    ray_namespace: str
    event_time: float
    submission_id: str
    def __init__(self, job_id: _Optional[str] = ..., is_dead: _Optional[bool] = ..., driver_pid: _Optional[int] = ..., driver_ip: _Optional[str] = ..., start_time_ms: _Optional[int] = ..., end_time_ms: _Optional[int] = ..., entrypoint: _Optional[str] = ..., ray_namespace: _Optional[str] = ..., event_time: _Optional[float] = ..., submission_id: _Optional[str] = ...) -> None: ...

class SubmissionJobEvent(_message.Message):
    __slots__ = ("submission_id", "status", "entrypoint", "message", "error_type", "start_time_ms", "end_time_ms", "driver_exit_code", "driver_node_id", "runtime_env", "event_time")
    SUBMISSION_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ENTRYPOINT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ERROR_TYPE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    END_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    DRIVER_EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    DRIVER_NODE_ID_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_ENV_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    submission_id: str
    status: str
    entrypoint: str
    message: str
    error_type: str
    start_time_ms: int
    end_time_ms: int
    driver_exit_code: int
    driver_node_id: str
    runtime_env: str
    event_time: float
    def __init__(self, submission_id: _Optional[str] = ..., status: _Optional[str] = ..., entrypoint: _Optional[str] = ..., message: _Optional[str] = ..., error_type: _Optional[str] = ..., start_time_ms: _Optional[int] = ..., end_time_ms: _Optional[int] = ..., driver_exit_code: _Optional[int] = ..., driver_node_id: _Optional[str] = ..., runtime_env: _Optional[str] = ..., event_time: _Optional[float] = ...) -> None: ...

class TrainRunEvent(_message.Message):
    __slots__ = ("event_id", "run_id", "name", "status", "status_detail", "start_time_ns", "end_time_ns", "job_id", "controller_actor_id", "controller_log_file_path", "framework_versions", "num_workers", "min_workers", "max_workers", "resources_per_worker", "use_gpu", "max_failures", "storage_path", "event_time")
    class FrameworkVersionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class ResourcesPerWorkerEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_DETAIL_FIELD_NUMBER: _ClassVar[int]
    START_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    END_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    CONTROLLER_ACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    CONTROLLER_LOG_FILE_PATH_FIELD_NUMBER: _ClassVar[int]
    FRAMEWORK_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    NUM_WORKERS_FIELD_NUMBER: _ClassVar[int]
    MIN_WORKERS_FIELD_NUMBER: _ClassVar[int]
    MAX_WORKERS_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_PER_WORKER_FIELD_NUMBER: _ClassVar[int]
    USE_GPU_FIELD_NUMBER: _ClassVar[int]
    MAX_FAILURES_FIELD_NUMBER: _ClassVar[int]
    STORAGE_PATH_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    run_id: str
    name: str
    status: str
    status_detail: str
    start_time_ns: int
    end_time_ns: int
    job_id: str
    controller_actor_id: str
    controller_log_file_path: str
    framework_versions: _containers.ScalarMap[str, str]
    num_workers: int
    min_workers: int
    max_workers: int
    resources_per_worker: _containers.ScalarMap[str, float]
    use_gpu: bool
    max_failures: int
    storage_path: str
    event_time: float
    def __init__(self, event_id: _Optional[str] = ..., run_id: _Optional[str] = ..., name: _Optional[str] = ..., status: _Optional[str] = ..., status_detail: _Optional[str] = ..., start_time_ns: _Optional[int] = ..., end_time_ns: _Optional[int] = ..., job_id: _Optional[str] = ..., controller_actor_id: _Optional[str] = ..., controller_log_file_path: _Optional[str] = ..., framework_versions: _Optional[_Mapping[str, str]] = ..., num_workers: _Optional[int] = ..., min_workers: _Optional[int] = ..., max_workers: _Optional[int] = ..., resources_per_worker: _Optional[_Mapping[str, float]] = ..., use_gpu: _Optional[bool] = ..., max_failures: _Optional[int] = ..., storage_path: _Optional[str] = ..., event_time: _Optional[float] = ...) -> None: ...

class TrainWorker(_message.Message):
    __slots__ = ("world_rank", "local_rank", "node_rank", "actor_id", "node_id", "node_ip", "pid", "gpu_ids", "status", "resources", "log_file_path")
    class ResourcesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    WORLD_RANK_FIELD_NUMBER: _ClassVar[int]
    LOCAL_RANK_FIELD_NUMBER: _ClassVar[int]
    NODE_RANK_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_IP_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    GPU_IDS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    LOG_FILE_PATH_FIELD_NUMBER: _ClassVar[int]
    world_rank: int
    local_rank: int
    node_rank: int
    actor_id: str
    node_id: str
    node_ip: str
    pid: int
    gpu_ids: _containers.RepeatedScalarFieldContainer[int]
    status: str
    resources: _containers.ScalarMap[str, float]
    log_file_path: str
    def __init__(self, world_rank: _Optional[int] = ..., local_rank: _Optional[int] = ..., node_rank: _Optional[int] = ..., actor_id: _Optional[str] = ..., node_id: _Optional[str] = ..., node_ip: _Optional[str] = ..., pid: _Optional[int] = ..., gpu_ids: _Optional[_Iterable[int]] = ..., status: _Optional[str] = ..., resources: _Optional[_Mapping[str, float]] = ..., log_file_path: _Optional[str] = ...) -> None: ...

class TrainRunAttemptEvent(_message.Message):
    __slots__ = ("event_id", "run_id", "attempt_id", "status", "status_detail", "start_time_ns", "end_time_ns", "workers", "event_time")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_DETAIL_FIELD_NUMBER: _ClassVar[int]
    START_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    END_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    run_id: str
    attempt_id: str
    status: str
    status_detail: str
    start_time_ns: int
    end_time_ns: int
    workers: _containers.RepeatedCompositeFieldContainer[TrainWorker]
    event_time: float
    def __init__(self, event_id: _Optional[str] = ..., run_id: _Optional[str] = ..., attempt_id: _Optional[str] = ..., status: _Optional[str] = ..., status_detail: _Optional[str] = ..., start_time_ns: _Optional[int] = ..., end_time_ns: _Optional[int] = ..., workers: _Optional[_Iterable[_Union[TrainWorker, _Mapping]]] = ..., event_time: _Optional[float] = ...) -> None: ...

class DatasetEvent(_message.Message):
    __slots__ = ("dataset_id", "job_id", "state", "start_time", "execution_start_time", "execution_end_time", "operators", "context_summary", "event_time")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_START_TIME_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_END_TIME_FIELD_NUMBER: _ClassVar[int]
    OPERATORS_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_SUMMARY_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    job_id: str
    state: str
    start_time: float
    execution_start_time: float
    execution_end_time: float
    operators: _containers.RepeatedCompositeFieldContainer[DatasetOperator]
    context_summary: str
    event_time: float
    def __init__(self, dataset_id: _Optional[str] = ..., job_id: _Optional[str] = ..., state: _Optional[str] = ..., start_time: _Optional[float] = ..., execution_start_time: _Optional[float] = ..., execution_end_time: _Optional[float] = ..., operators: _Optional[_Iterable[_Union[DatasetOperator, _Mapping]]] = ..., context_summary: _Optional[str] = ..., event_time: _Optional[float] = ...) -> None: ...

class DatasetOperator(_message.Message):
    __slots__ = ("operator_id", "uuid", "name", "input_dependencies", "state", "execution_start_time", "execution_end_time", "sub_stages", "args_summary")
    OPERATOR_ID_FIELD_NUMBER: _ClassVar[int]
    UUID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    INPUT_DEPENDENCIES_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_START_TIME_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_END_TIME_FIELD_NUMBER: _ClassVar[int]
    SUB_STAGES_FIELD_NUMBER: _ClassVar[int]
    ARGS_SUMMARY_FIELD_NUMBER: _ClassVar[int]
    operator_id: str
    uuid: str
    name: str
    input_dependencies: _containers.RepeatedScalarFieldContainer[str]
    state: str
    execution_start_time: float
    execution_end_time: float
    sub_stages: _containers.RepeatedScalarFieldContainer[str]
    args_summary: str
    def __init__(self, operator_id: _Optional[str] = ..., uuid: _Optional[str] = ..., name: _Optional[str] = ..., input_dependencies: _Optional[_Iterable[str]] = ..., state: _Optional[str] = ..., execution_start_time: _Optional[float] = ..., execution_end_time: _Optional[float] = ..., sub_stages: _Optional[_Iterable[str]] = ..., args_summary: _Optional[str] = ...) -> None: ...

class DatasetOperatorSchema(_message.Message):
    __slots__ = ("operator_uuid", "fields", "event_time")
    class FieldsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    OPERATOR_UUID_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    operator_uuid: str
    fields: _containers.ScalarMap[str, str]
    event_time: float
    def __init__(self, operator_uuid: _Optional[str] = ..., fields: _Optional[_Mapping[str, str]] = ..., event_time: _Optional[float] = ...) -> None: ...

class DatasetIssue(_message.Message):
    __slots__ = ("dataset_id", "operator_id", "operator_name", "issue_type", "message", "event_time")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_NAME_FIELD_NUMBER: _ClassVar[int]
    ISSUE_TYPE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    operator_id: str
    operator_name: str
    issue_type: str
    message: str
    event_time: float
    def __init__(self, dataset_id: _Optional[str] = ..., operator_id: _Optional[str] = ..., operator_name: _Optional[str] = ..., issue_type: _Optional[str] = ..., message: _Optional[str] = ..., event_time: _Optional[float] = ...) -> None: ...

class DatasetProgress(_message.Message):
    __slots__ = ("dataset_id", "operator_id", "operator_uuid", "sample_time", "rows_output", "blocks_output", "bytes_output", "estimated_rows", "estimated_blocks", "queued_blocks", "tasks_running", "tasks_finished", "tasks_failed", "actors_alive", "actors_pending", "cpu", "gpu", "object_store_bytes", "cpu_budget", "gpu_budget", "object_store_budget", "error", "finished", "cluster_cpu_limit", "cluster_gpu_limit")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_UUID_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_TIME_FIELD_NUMBER: _ClassVar[int]
    ROWS_OUTPUT_FIELD_NUMBER: _ClassVar[int]
    BLOCKS_OUTPUT_FIELD_NUMBER: _ClassVar[int]
    BYTES_OUTPUT_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_ROWS_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    QUEUED_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    TASKS_RUNNING_FIELD_NUMBER: _ClassVar[int]
    TASKS_FINISHED_FIELD_NUMBER: _ClassVar[int]
    TASKS_FAILED_FIELD_NUMBER: _ClassVar[int]
    ACTORS_ALIVE_FIELD_NUMBER: _ClassVar[int]
    ACTORS_PENDING_FIELD_NUMBER: _ClassVar[int]
    CPU_FIELD_NUMBER: _ClassVar[int]
    GPU_FIELD_NUMBER: _ClassVar[int]
    OBJECT_STORE_BYTES_FIELD_NUMBER: _ClassVar[int]
    CPU_BUDGET_FIELD_NUMBER: _ClassVar[int]
    GPU_BUDGET_FIELD_NUMBER: _ClassVar[int]
    OBJECT_STORE_BUDGET_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_CPU_LIMIT_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_GPU_LIMIT_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    operator_id: str
    operator_uuid: str
    sample_time: float
    rows_output: int
    blocks_output: int
    bytes_output: int
    estimated_rows: int
    estimated_blocks: int
    queued_blocks: int
    tasks_running: int
    tasks_finished: int
    tasks_failed: int
    actors_alive: int
    actors_pending: int
    cpu: float
    gpu: float
    object_store_bytes: int
    cpu_budget: float
    gpu_budget: float
    object_store_budget: int
    error: str
    finished: bool
    cluster_cpu_limit: float
    cluster_gpu_limit: float
    def __init__(self, dataset_id: _Optional[str] = ..., operator_id: _Optional[str] = ..., operator_uuid: _Optional[str] = ..., sample_time: _Optional[float] = ..., rows_output: _Optional[int] = ..., blocks_output: _Optional[int] = ..., bytes_output: _Optional[int] = ..., estimated_rows: _Optional[int] = ..., estimated_blocks: _Optional[int] = ..., queued_blocks: _Optional[int] = ..., tasks_running: _Optional[int] = ..., tasks_finished: _Optional[int] = ..., tasks_failed: _Optional[int] = ..., actors_alive: _Optional[int] = ..., actors_pending: _Optional[int] = ..., cpu: _Optional[float] = ..., gpu: _Optional[float] = ..., object_store_bytes: _Optional[int] = ..., cpu_budget: _Optional[float] = ..., gpu_budget: _Optional[float] = ..., object_store_budget: _Optional[int] = ..., error: _Optional[str] = ..., finished: _Optional[bool] = ..., cluster_cpu_limit: _Optional[float] = ..., cluster_gpu_limit: _Optional[float] = ...) -> None: ...

class LogFile(_message.Message):
    __slots__ = ("file_id", "node_id", "path", "kind", "worker_id", "job_id", "pid", "actor_id", "submission_id")
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    SUBMISSION_ID_FIELD_NUMBER: _ClassVar[int]
    file_id: str
    node_id: str
    path: str
    kind: LogKind
    worker_id: str
    job_id: str
    pid: int
    actor_id: str
    submission_id: str
    def __init__(self, file_id: _Optional[str] = ..., node_id: _Optional[str] = ..., path: _Optional[str] = ..., kind: _Optional[_Union[LogKind, str]] = ..., worker_id: _Optional[str] = ..., job_id: _Optional[str] = ..., pid: _Optional[int] = ..., actor_id: _Optional[str] = ..., submission_id: _Optional[str] = ...) -> None: ...

class LogLine(_message.Message):
    __slots__ = ("file_id", "offset", "generation", "text", "read_at", "truncated_bytes")
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    READ_AT_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_BYTES_FIELD_NUMBER: _ClassVar[int]
    file_id: str
    offset: int
    generation: int
    text: bytes
    read_at: float
    truncated_bytes: int
    def __init__(self, file_id: _Optional[str] = ..., offset: _Optional[int] = ..., generation: _Optional[int] = ..., text: _Optional[bytes] = ..., read_at: _Optional[float] = ..., truncated_bytes: _Optional[int] = ...) -> None: ...

class NodeSample(_message.Message):
    __slots__ = ("ts", "cpu_percent", "cpu_count", "mem_total", "mem_used", "mem_available", "swap_total", "swap_used", "disk_total", "disk_used", "disk_read_bytes", "disk_write_bytes", "net_sent_bytes", "net_recv_bytes", "load1", "gpus")
    TS_FIELD_NUMBER: _ClassVar[int]
    CPU_PERCENT_FIELD_NUMBER: _ClassVar[int]
    CPU_COUNT_FIELD_NUMBER: _ClassVar[int]
    MEM_TOTAL_FIELD_NUMBER: _ClassVar[int]
    MEM_USED_FIELD_NUMBER: _ClassVar[int]
    MEM_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    SWAP_TOTAL_FIELD_NUMBER: _ClassVar[int]
    SWAP_USED_FIELD_NUMBER: _ClassVar[int]
    DISK_TOTAL_FIELD_NUMBER: _ClassVar[int]
    DISK_USED_FIELD_NUMBER: _ClassVar[int]
    DISK_READ_BYTES_FIELD_NUMBER: _ClassVar[int]
    DISK_WRITE_BYTES_FIELD_NUMBER: _ClassVar[int]
    NET_SENT_BYTES_FIELD_NUMBER: _ClassVar[int]
    NET_RECV_BYTES_FIELD_NUMBER: _ClassVar[int]
    LOAD1_FIELD_NUMBER: _ClassVar[int]
    GPUS_FIELD_NUMBER: _ClassVar[int]
    ts: float
    cpu_percent: float
    cpu_count: int
    mem_total: int
    mem_used: int
    mem_available: int
    swap_total: int
    swap_used: int
    disk_total: int
    disk_used: int
    disk_read_bytes: int
    disk_write_bytes: int
    net_sent_bytes: int
    net_recv_bytes: int
    load1: float
    gpus: _containers.RepeatedCompositeFieldContainer[GpuSample]
    def __init__(self, ts: _Optional[float] = ..., cpu_percent: _Optional[float] = ..., cpu_count: _Optional[int] = ..., mem_total: _Optional[int] = ..., mem_used: _Optional[int] = ..., mem_available: _Optional[int] = ..., swap_total: _Optional[int] = ..., swap_used: _Optional[int] = ..., disk_total: _Optional[int] = ..., disk_used: _Optional[int] = ..., disk_read_bytes: _Optional[int] = ..., disk_write_bytes: _Optional[int] = ..., net_sent_bytes: _Optional[int] = ..., net_recv_bytes: _Optional[int] = ..., load1: _Optional[float] = ..., gpus: _Optional[_Iterable[_Union[GpuSample, _Mapping]]] = ...) -> None: ...

class GpuSample(_message.Message):
    __slots__ = ("index", "uuid", "name", "utilization_ratio", "memory_used", "memory_total", "temperature_celsius", "power_watts", "processes")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    UUID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    UTILIZATION_RATIO_FIELD_NUMBER: _ClassVar[int]
    MEMORY_USED_FIELD_NUMBER: _ClassVar[int]
    MEMORY_TOTAL_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_CELSIUS_FIELD_NUMBER: _ClassVar[int]
    POWER_WATTS_FIELD_NUMBER: _ClassVar[int]
    PROCESSES_FIELD_NUMBER: _ClassVar[int]
    index: int
    uuid: str
    name: str
    utilization_ratio: float
    memory_used: int
    memory_total: int
    temperature_celsius: float
    power_watts: float
    processes: _containers.RepeatedCompositeFieldContainer[GpuProcess]
    def __init__(self, index: _Optional[int] = ..., uuid: _Optional[str] = ..., name: _Optional[str] = ..., utilization_ratio: _Optional[float] = ..., memory_used: _Optional[int] = ..., memory_total: _Optional[int] = ..., temperature_celsius: _Optional[float] = ..., power_watts: _Optional[float] = ..., processes: _Optional[_Iterable[_Union[GpuProcess, _Mapping]]] = ...) -> None: ...

class GpuProcess(_message.Message):
    __slots__ = ("pid", "memory_used")
    PID_FIELD_NUMBER: _ClassVar[int]
    MEMORY_USED_FIELD_NUMBER: _ClassVar[int]
    pid: int
    memory_used: int
    def __init__(self, pid: _Optional[int] = ..., memory_used: _Optional[int] = ...) -> None: ...

class ProcessSnapshot(_message.Message):
    __slots__ = ("ts", "processes")
    TS_FIELD_NUMBER: _ClassVar[int]
    PROCESSES_FIELD_NUMBER: _ClassVar[int]
    ts: float
    processes: _containers.RepeatedCompositeFieldContainer[RayProcess]
    def __init__(self, ts: _Optional[float] = ..., processes: _Optional[_Iterable[_Union[RayProcess, _Mapping]]] = ...) -> None: ...

class RayProcess(_message.Message):
    __slots__ = ("pid", "ppid", "role", "cmdline", "title", "cpu_percent", "rss", "uss", "num_fds", "num_threads", "create_time", "worker_id", "job_id", "task_name", "actor_class", "gpu_memory_used")
    PID_FIELD_NUMBER: _ClassVar[int]
    PPID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CMDLINE_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    CPU_PERCENT_FIELD_NUMBER: _ClassVar[int]
    RSS_FIELD_NUMBER: _ClassVar[int]
    USS_FIELD_NUMBER: _ClassVar[int]
    NUM_FDS_FIELD_NUMBER: _ClassVar[int]
    NUM_THREADS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_NAME_FIELD_NUMBER: _ClassVar[int]
    ACTOR_CLASS_FIELD_NUMBER: _ClassVar[int]
    GPU_MEMORY_USED_FIELD_NUMBER: _ClassVar[int]
    pid: int
    ppid: int
    role: str
    cmdline: str
    title: str
    cpu_percent: float
    rss: int
    uss: int
    num_fds: int
    num_threads: int
    create_time: float
    worker_id: str
    job_id: str
    task_name: str
    actor_class: str
    gpu_memory_used: int
    def __init__(self, pid: _Optional[int] = ..., ppid: _Optional[int] = ..., role: _Optional[str] = ..., cmdline: _Optional[str] = ..., title: _Optional[str] = ..., cpu_percent: _Optional[float] = ..., rss: _Optional[int] = ..., uss: _Optional[int] = ..., num_fds: _Optional[int] = ..., num_threads: _Optional[int] = ..., create_time: _Optional[float] = ..., worker_id: _Optional[str] = ..., job_id: _Optional[str] = ..., task_name: _Optional[str] = ..., actor_class: _Optional[str] = ..., gpu_memory_used: _Optional[int] = ...) -> None: ...

class ObjectStoreSample(_message.Message):
    __slots__ = ("ts", "used_bytes", "capacity_bytes", "spilled_bytes_total", "restored_bytes_total", "num_objects", "fallback_bytes")
    TS_FIELD_NUMBER: _ClassVar[int]
    USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_BYTES_FIELD_NUMBER: _ClassVar[int]
    SPILLED_BYTES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    RESTORED_BYTES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    NUM_OBJECTS_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_BYTES_FIELD_NUMBER: _ClassVar[int]
    ts: float
    used_bytes: int
    capacity_bytes: int
    spilled_bytes_total: int
    restored_bytes_total: int
    num_objects: int
    fallback_bytes: int
    def __init__(self, ts: _Optional[float] = ..., used_bytes: _Optional[int] = ..., capacity_bytes: _Optional[int] = ..., spilled_bytes_total: _Optional[int] = ..., restored_bytes_total: _Optional[int] = ..., num_objects: _Optional[int] = ..., fallback_bytes: _Optional[int] = ...) -> None: ...

class ObjectSnapshot(_message.Message):
    __slots__ = ("ts", "refs")
    TS_FIELD_NUMBER: _ClassVar[int]
    REFS_FIELD_NUMBER: _ClassVar[int]
    ts: float
    refs: _containers.RepeatedCompositeFieldContainer[ObjectRef]
    def __init__(self, ts: _Optional[float] = ..., refs: _Optional[_Iterable[_Union[ObjectRef, _Mapping]]] = ...) -> None: ...

class ObjectRef(_message.Message):
    __slots__ = ("object_id", "node_ip", "pid", "worker_type", "call_site", "task_status", "attempt", "object_size", "reference_type", "job_id", "worker_id")
    OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_IP_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    WORKER_TYPE_FIELD_NUMBER: _ClassVar[int]
    CALL_SITE_FIELD_NUMBER: _ClassVar[int]
    TASK_STATUS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    OBJECT_SIZE_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_TYPE_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    object_id: str
    node_ip: str
    pid: int
    worker_type: str
    call_site: str
    task_status: str
    attempt: int
    object_size: int
    reference_type: str
    job_id: str
    worker_id: str
    def __init__(self, object_id: _Optional[str] = ..., node_ip: _Optional[str] = ..., pid: _Optional[int] = ..., worker_type: _Optional[str] = ..., call_site: _Optional[str] = ..., task_status: _Optional[str] = ..., attempt: _Optional[int] = ..., object_size: _Optional[int] = ..., reference_type: _Optional[str] = ..., job_id: _Optional[str] = ..., worker_id: _Optional[str] = ...) -> None: ...

class AppMetricScrape(_message.Message):
    __slots__ = ("ts", "families")
    TS_FIELD_NUMBER: _ClassVar[int]
    FAMILIES_FIELD_NUMBER: _ClassVar[int]
    ts: float
    families: _containers.RepeatedCompositeFieldContainer[AppMetricFamily]
    def __init__(self, ts: _Optional[float] = ..., families: _Optional[_Iterable[_Union[AppMetricFamily, _Mapping]]] = ...) -> None: ...

class AppMetricFamily(_message.Message):
    __slots__ = ("name", "type", "description", "series")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SERIES_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: str
    description: str
    series: _containers.RepeatedCompositeFieldContainer[AppMetricSeries]
    def __init__(self, name: _Optional[str] = ..., type: _Optional[str] = ..., description: _Optional[str] = ..., series: _Optional[_Iterable[_Union[AppMetricSeries, _Mapping]]] = ...) -> None: ...

class AppMetricSeries(_message.Message):
    __slots__ = ("tags", "value", "bucket_bounds", "bucket_counts", "sum", "count")
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TAGS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    BUCKET_BOUNDS_FIELD_NUMBER: _ClassVar[int]
    BUCKET_COUNTS_FIELD_NUMBER: _ClassVar[int]
    SUM_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    tags: _containers.ScalarMap[str, str]
    value: float
    bucket_bounds: _containers.RepeatedScalarFieldContainer[float]
    bucket_counts: _containers.RepeatedScalarFieldContainer[float]
    sum: float
    count: float
    def __init__(self, tags: _Optional[_Mapping[str, str]] = ..., value: _Optional[float] = ..., bucket_bounds: _Optional[_Iterable[float]] = ..., bucket_counts: _Optional[_Iterable[float]] = ..., sum: _Optional[float] = ..., count: _Optional[float] = ...) -> None: ...

class ServeStatusDoc(_message.Message):
    __slots__ = ("ts", "document", "controller_gone")
    TS_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    CONTROLLER_GONE_FIELD_NUMBER: _ClassVar[int]
    ts: float
    document: str
    controller_gone: bool
    def __init__(self, ts: _Optional[float] = ..., document: _Optional[str] = ..., controller_gone: _Optional[bool] = ...) -> None: ...

class DropReport(_message.Message):
    __slots__ = ("source", "reason", "count", "bytes", "detail", "ts")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    TS_FIELD_NUMBER: _ClassVar[int]
    source: str
    reason: str
    count: int
    bytes: int
    detail: str
    ts: float
    def __init__(self, source: _Optional[str] = ..., reason: _Optional[str] = ..., count: _Optional[int] = ..., bytes: _Optional[int] = ..., detail: _Optional[str] = ..., ts: _Optional[float] = ...) -> None: ...

class DebugAgentMessage(_message.Message):
    __slots__ = ("hello", "up", "down", "opened", "data", "closed")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    UP_FIELD_NUMBER: _ClassVar[int]
    DOWN_FIELD_NUMBER: _ClassVar[int]
    OPENED_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    CLOSED_FIELD_NUMBER: _ClassVar[int]
    hello: DebugHello
    up: DebugSessionUp
    down: DebugSessionDown
    opened: TunnelOpened
    data: TunnelData
    closed: TunnelClosed
    def __init__(self, hello: _Optional[_Union[DebugHello, _Mapping]] = ..., up: _Optional[_Union[DebugSessionUp, _Mapping]] = ..., down: _Optional[_Union[DebugSessionDown, _Mapping]] = ..., opened: _Optional[_Union[TunnelOpened, _Mapping]] = ..., data: _Optional[_Union[TunnelData, _Mapping]] = ..., closed: _Optional[_Union[TunnelClosed, _Mapping]] = ...) -> None: ...

class DebugHeadMessage(_message.Message):
    __slots__ = ("open", "data", "close", "resume")
    OPEN_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FIELD_NUMBER: _ClassVar[int]
    RESUME_FIELD_NUMBER: _ClassVar[int]
    open: TunnelOpen
    data: TunnelData
    close: TunnelClosed
    resume: ResumeSession
    def __init__(self, open: _Optional[_Union[TunnelOpen, _Mapping]] = ..., data: _Optional[_Union[TunnelData, _Mapping]] = ..., close: _Optional[_Union[TunnelClosed, _Mapping]] = ..., resume: _Optional[_Union[ResumeSession, _Mapping]] = ...) -> None: ...

class DebugHello(_message.Message):
    __slots__ = ("node_id", "node_ip", "session_name")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_IP_FIELD_NUMBER: _ClassVar[int]
    SESSION_NAME_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    node_ip: str
    session_name: str
    def __init__(self, node_id: _Optional[str] = ..., node_ip: _Optional[str] = ..., session_name: _Optional[str] = ...) -> None: ...

class DebugSessionUp(_message.Message):
    __slots__ = ("session_id", "reason", "exception", "job_id", "task_id", "attempt", "actor_id", "function", "file", "line", "pid", "worker_id", "working_dir", "paused_at", "cluster_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    EXCEPTION_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    WORKING_DIR_FIELD_NUMBER: _ClassVar[int]
    PAUSED_AT_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    reason: str
    exception: str
    job_id: str
    task_id: str
    attempt: int
    actor_id: str
    function: str
    file: str
    line: int
    pid: int
    worker_id: str
    working_dir: str
    paused_at: float
    cluster_id: str
    def __init__(self, session_id: _Optional[str] = ..., reason: _Optional[str] = ..., exception: _Optional[str] = ..., job_id: _Optional[str] = ..., task_id: _Optional[str] = ..., attempt: _Optional[int] = ..., actor_id: _Optional[str] = ..., function: _Optional[str] = ..., file: _Optional[str] = ..., line: _Optional[int] = ..., pid: _Optional[int] = ..., worker_id: _Optional[str] = ..., working_dir: _Optional[str] = ..., paused_at: _Optional[float] = ..., cluster_id: _Optional[str] = ...) -> None: ...

class DebugSessionDown(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class TunnelOpen(_message.Message):
    __slots__ = ("tunnel_id", "session_id")
    TUNNEL_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    tunnel_id: int
    session_id: str
    def __init__(self, tunnel_id: _Optional[int] = ..., session_id: _Optional[str] = ...) -> None: ...

class TunnelOpened(_message.Message):
    __slots__ = ("tunnel_id",)
    TUNNEL_ID_FIELD_NUMBER: _ClassVar[int]
    tunnel_id: int
    def __init__(self, tunnel_id: _Optional[int] = ...) -> None: ...

class TunnelData(_message.Message):
    __slots__ = ("tunnel_id", "data")
    TUNNEL_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    tunnel_id: int
    data: bytes
    def __init__(self, tunnel_id: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class TunnelClosed(_message.Message):
    __slots__ = ("tunnel_id", "reason")
    TUNNEL_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    tunnel_id: int
    reason: str
    def __init__(self, tunnel_id: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class ResumeSession(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class ProfileAgentMessage(_message.Message):
    __slots__ = ("hello", "result")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    hello: ProfileHello
    result: ProfileResult
    def __init__(self, hello: _Optional[_Union[ProfileHello, _Mapping]] = ..., result: _Optional[_Union[ProfileResult, _Mapping]] = ...) -> None: ...

class ProfileHeadMessage(_message.Message):
    __slots__ = ("request_id", "stack", "record")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    STACK_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    request_id: int
    stack: StackRequest
    record: RecordRequest
    def __init__(self, request_id: _Optional[int] = ..., stack: _Optional[_Union[StackRequest, _Mapping]] = ..., record: _Optional[_Union[RecordRequest, _Mapping]] = ...) -> None: ...

class ProfileHello(_message.Message):
    __slots__ = ("node_id", "node_ip", "capabilities")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_IP_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    node_ip: str
    capabilities: ProfilerCapabilities
    def __init__(self, node_id: _Optional[str] = ..., node_ip: _Optional[str] = ..., capabilities: _Optional[_Union[ProfilerCapabilities, _Mapping]] = ...) -> None: ...

class ProfilerCapabilities(_message.Message):
    __slots__ = ("py_spy", "py_spy_version", "memray", "gdb", "ptrace", "remedy", "fallback_signal", "notes")
    PY_SPY_FIELD_NUMBER: _ClassVar[int]
    PY_SPY_VERSION_FIELD_NUMBER: _ClassVar[int]
    MEMRAY_FIELD_NUMBER: _ClassVar[int]
    GDB_FIELD_NUMBER: _ClassVar[int]
    PTRACE_FIELD_NUMBER: _ClassVar[int]
    REMEDY_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_SIGNAL_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    py_spy: str
    py_spy_version: str
    memray: str
    gdb: str
    ptrace: str
    remedy: str
    fallback_signal: bool
    notes: str
    def __init__(self, py_spy: _Optional[str] = ..., py_spy_version: _Optional[str] = ..., memray: _Optional[str] = ..., gdb: _Optional[str] = ..., ptrace: _Optional[str] = ..., remedy: _Optional[str] = ..., fallback_signal: _Optional[bool] = ..., notes: _Optional[str] = ...) -> None: ...

class StackRequest(_message.Message):
    __slots__ = ("pid", "locals", "native")
    PID_FIELD_NUMBER: _ClassVar[int]
    LOCALS_FIELD_NUMBER: _ClassVar[int]
    NATIVE_FIELD_NUMBER: _ClassVar[int]
    pid: int
    locals: bool
    native: bool
    def __init__(self, pid: _Optional[int] = ..., locals: _Optional[bool] = ..., native: _Optional[bool] = ...) -> None: ...

class RecordRequest(_message.Message):
    __slots__ = ("pid", "kind", "duration_s", "rate_hz", "idle", "native")
    PID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    IDLE_FIELD_NUMBER: _ClassVar[int]
    NATIVE_FIELD_NUMBER: _ClassVar[int]
    pid: int
    kind: str
    duration_s: float
    rate_hz: int
    idle: bool
    native: bool
    def __init__(self, pid: _Optional[int] = ..., kind: _Optional[str] = ..., duration_s: _Optional[float] = ..., rate_hz: _Optional[int] = ..., idle: _Optional[bool] = ..., native: _Optional[bool] = ...) -> None: ...

class ProfileResult(_message.Message):
    __slots__ = ("request_id", "error_kind", "error", "stack", "profile")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_KIND_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    STACK_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    request_id: int
    error_kind: str
    error: str
    stack: StackDump
    profile: RecordedProfile
    def __init__(self, request_id: _Optional[int] = ..., error_kind: _Optional[str] = ..., error: _Optional[str] = ..., stack: _Optional[_Union[StackDump, _Mapping]] = ..., profile: _Optional[_Union[RecordedProfile, _Mapping]] = ...) -> None: ...

class StackFrame(_message.Message):
    __slots__ = ("function", "file", "line", "module", "native", "locals")
    class LocalsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    FUNCTION_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    MODULE_FIELD_NUMBER: _ClassVar[int]
    NATIVE_FIELD_NUMBER: _ClassVar[int]
    LOCALS_FIELD_NUMBER: _ClassVar[int]
    function: str
    file: str
    line: int
    module: str
    native: bool
    locals: _containers.ScalarMap[str, str]
    def __init__(self, function: _Optional[str] = ..., file: _Optional[str] = ..., line: _Optional[int] = ..., module: _Optional[str] = ..., native: _Optional[bool] = ..., locals: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ThreadStack(_message.Message):
    __slots__ = ("thread_id", "name", "os_thread_id", "active", "owns_gil", "frames")
    THREAD_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    OS_THREAD_ID_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    OWNS_GIL_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    thread_id: int
    name: str
    os_thread_id: int
    active: bool
    owns_gil: bool
    frames: _containers.RepeatedCompositeFieldContainer[StackFrame]
    def __init__(self, thread_id: _Optional[int] = ..., name: _Optional[str] = ..., os_thread_id: _Optional[int] = ..., active: _Optional[bool] = ..., owns_gil: _Optional[bool] = ..., frames: _Optional[_Iterable[_Union[StackFrame, _Mapping]]] = ...) -> None: ...

class StackDump(_message.Message):
    __slots__ = ("pid", "method", "taken_at", "took_ms", "threads", "warning")
    PID_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    TAKEN_AT_FIELD_NUMBER: _ClassVar[int]
    TOOK_MS_FIELD_NUMBER: _ClassVar[int]
    THREADS_FIELD_NUMBER: _ClassVar[int]
    WARNING_FIELD_NUMBER: _ClassVar[int]
    pid: int
    method: str
    taken_at: float
    took_ms: float
    threads: _containers.RepeatedCompositeFieldContainer[ThreadStack]
    warning: str
    def __init__(self, pid: _Optional[int] = ..., method: _Optional[str] = ..., taken_at: _Optional[float] = ..., took_ms: _Optional[float] = ..., threads: _Optional[_Iterable[_Union[ThreadStack, _Mapping]]] = ..., warning: _Optional[str] = ...) -> None: ...

class RecordedProfile(_message.Message):
    __slots__ = ("pid", "kind", "method", "started_at", "duration_s", "samples", "speedscope_zlib", "top_allocations", "warning", "total_bytes")
    PID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    SPEEDSCOPE_ZLIB_FIELD_NUMBER: _ClassVar[int]
    TOP_ALLOCATIONS_FIELD_NUMBER: _ClassVar[int]
    WARNING_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    pid: int
    kind: str
    method: str
    started_at: float
    duration_s: float
    samples: int
    speedscope_zlib: bytes
    top_allocations: _containers.RepeatedCompositeFieldContainer[Allocation]
    warning: str
    total_bytes: int
    def __init__(self, pid: _Optional[int] = ..., kind: _Optional[str] = ..., method: _Optional[str] = ..., started_at: _Optional[float] = ..., duration_s: _Optional[float] = ..., samples: _Optional[int] = ..., speedscope_zlib: _Optional[bytes] = ..., top_allocations: _Optional[_Iterable[_Union[Allocation, _Mapping]]] = ..., warning: _Optional[str] = ..., total_bytes: _Optional[int] = ...) -> None: ...

class Allocation(_message.Message):
    __slots__ = ("function", "file", "line", "size", "count")
    FUNCTION_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    function: str
    file: str
    line: int
    size: int
    count: int
    def __init__(self, function: _Optional[str] = ..., file: _Optional[str] = ..., line: _Optional[int] = ..., size: _Optional[int] = ..., count: _Optional[int] = ...) -> None: ...
