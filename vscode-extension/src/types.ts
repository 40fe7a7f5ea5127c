/**
 * Wire shapes of the Rayscope head API the extension reads: generated from the head's OpenAPI schema
 * (dashboard/models.py -> api-types/, see api-types/README.md), never written by hand.
 */
import type { DebugSession } from "@rayscope/api-types";

export type {
  DebugSession,
  DebugTicket,
  Job,
  LogLine,
  Page,
  ResolvedTarget,
  StackDump,
  StackFrame,
  StackGroup,
  StackSummary,
  Task,
  ThreadStack,
  WsDelta,
} from "@rayscope/api-types";

export type SessionState = DebugSession["state"];
