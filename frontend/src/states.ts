// Ray's task and actor states in the order the web UI shows them (done, running, waiting).
// Ray's enums are defined once, in runtime/ray_enums.py; they reach TypeScript through the API's
// generated types (api-types/). Each list here must name every member of its generated union:
// tsc fails on the list when Ray (and so the API) gains a state it lacks, or on a misspelt one.
import type {
  Actor, ServeApplication, ServeDeployment, ServeReplica, Task, TrainRun, TrainRunAttempt, TrainWorker,
} from "./types";

export type TaskState = Task["state"];
export type ActorState = Actor["state"];

/** The members of `U` that `A` lacks; `never` when it has them all. */
type Missing<U extends string, A extends readonly string[]> = Exclude<U, A[number]>;

/** `values` as given, when they are members of `U` and name every member of it. */
function everyOf<U extends string>() {
  return <const A extends readonly U[]>(
    values: A & ([Missing<U, A>] extends [never] ? unknown : { "lacks these states": Missing<U, A> }),
  ): A => values;
}

export const TASK_STATES = everyOf<TaskState>()(["FINISHED", "FAILED", "RUNNING", "RUNNING_IN_RAY_GET",
  "RUNNING_IN_RAY_WAIT", "SUBMITTED_TO_WORKER", "PENDING_NODE_ASSIGNMENT", "PENDING_ARGS_AVAIL",
  "PENDING_OBJ_STORE_MEM_AVAIL", "PENDING_ARGS_FETCH", "PENDING_ACTOR_TASK_ARGS_FETCH",
  "PENDING_ACTOR_TASK_ORDERING_OR_CONCURRENCY", "GETTING_AND_PINNING_ARGS", "NIL"]);

export const ACTOR_STATES = everyOf<ActorState>()(["ALIVE", "RESTARTING", "PENDING_CREATION", "DEPENDENCIES_UNREADY",
  "DEAD"]);

// Ray Train's run, attempt and worker states (runtime/ray_enums.py), terminal ones first.
export const TRAIN_RUN_STATES = everyOf<TrainRun["status"]>()(["FINISHED", "ERRORED", "ABORTED", "RUNNING",
  "RESTARTING", "RESIZING", "SCHEDULING", "INITIALIZING", "RUN_STATUS_UNSPECIFIED"]);
export const TRAIN_ATTEMPT_STATES = everyOf<TrainRunAttempt["status"]>()(["FINISHED", "ERRORED", "ABORTED", "RUNNING",
  "PENDING", "RUN_ATTEMPT_STATUS_UNSPECIFIED"]);
export const TRAIN_WORKER_STATES = everyOf<NonNullable<TrainWorker["status"]>>()(["ALIVE", "DEAD",
  "ACTOR_STATUS_UNSPECIFIED"]);
// A Ray Data dataset's and operator's states (Ray's DatasetState), in the order the web UI shows them.
export type DatasetState = import("./types").Dataset["state"];
export const DATASET_STATES = everyOf<DatasetState>()(["FINISHED", "FAILED", "RUNNING", "PENDING", "UNKNOWN"]);
// Ray Serve's statuses (runtime/ray_enums.py, checked against ray.serve.schema), healthy first.
export type ServeAppStatus = ServeApplication["status"];
export type ServeDeploymentStatus = ServeDeployment["status"];
export type ServeReplicaState = ServeReplica["state"];

export const SERVE_APP_STATUSES = everyOf<ServeAppStatus>()(["RUNNING", "DEPLOYING", "NOT_STARTED", "UNHEALTHY",
  "DEPLOY_FAILED", "DELETING"]);
export const SERVE_DEPLOYMENT_STATUSES = everyOf<ServeDeploymentStatus>()(["HEALTHY", "UPDATING", "UPSCALING",
  "DOWNSCALING", "UNHEALTHY", "DEPLOY_FAILED"]);
export const SERVE_REPLICA_STATES = everyOf<ServeReplicaState>()(["RUNNING", "STARTING", "UPDATING", "RECOVERING",
  "PENDING_MIGRATION", "STOPPING", "STOPPED"]);
