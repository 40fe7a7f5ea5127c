"""The agent's end of `rayscope.wire.Ingest/Profile`: the head asks, this node's tools answer.

Hops (one request):
  head REST route -> head_link.ProfileBroker (request id, future) -> gRPC stream (dialled by this
  agent: the head never dials an agent) -> `NodeLink._serve_one` on this thread's loop -> a tool
  run in `_pool` (blocking: py-spy / memray subprocesses, the fallback's signal and file read) ->
  ProfileResult on `_outbox` -> `_write_loop` -> the stream -> the broker resolves the future.

Only pids of this node are touched, and only by the tools (profiling/pyspy.py, fallback.py,
memory.py); nothing here listens on the network. Runs its own asyncio loop in one daemon thread,
like the debugger's relay (agent/debug_relay.py); with `credentials` the stream is TLS.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Optional

import grpc

from rayscope.agent.side_streams import LoopThread, open_call, redial_forever, write_outbox
from rayscope.agent.tls import open_aio_channel
from rayscope.profiling import capabilities, fallback, memory, pyspy
from rayscope.profiling.errors import ProfilingError
from rayscope.wire import rayscope_ingest_pb2 as pb
from rayscope.wire.grpc_service import PROFILE, method_path

log = logging.getLogger(__name__)

METHOD = method_path(PROFILE)
# Tools run at once on this node: a cluster-wide summary asks every worker of the node together;
# each py-spy dump is a short subprocess, a profile holds one thread for its duration.
MAX_PARALLEL_TOOLS = 8
STALE_SWEEP_S = 600.0  # how often the stack files of exited workers are deleted (profiling/fallback.py)


class NodeLink(LoopThread):
    what = "profiling link"

    def __init__(self, session_dir: str, head: str, token_reader: Callable[[], str], node_id: str, node_ip: str,
                 credentials: Optional[grpc.ChannelCredentials] = None) -> None:
        super().__init__("rayscope-profile-link")
        self.session_dir = session_dir
        self.head = head
        self.token_reader = token_reader
        self.credentials = credentials  # None: plaintext, as without --tls-ca
        self.node_id = node_id
        self.node_ip = node_ip
        self.caps: Optional[pb.ProfilerCapabilities] = None
        self.connected = threading.Event()  # set while a stream to the head is open (tests wait on it)
        self._pool = ThreadPoolExecutor(max_workers=MAX_PARALLEL_TOOLS, thread_name_prefix="rayscope-profile-tool")
        # One fallback dump (it truncates and reads the worker's one file) and one memray session per
        # process at a time; py-spy's reads need no such care.
        self._stack_locks: defaultdict[int, threading.Lock] = defaultdict(threading.Lock)
        self._memory_locks: defaultdict[int, threading.Lock] = defaultdict(threading.Lock)
        self._outbox: Optional[asyncio.Queue[pb.ProfileAgentMessage]] = None

    def _after_loop(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _main(self) -> None:
        self._halt = asyncio.Event()
        self._outbox = asyncio.Queue()
        # Probed once: which tools this node has and how far ptrace reaches (a few subprocesses).
        caps = await asyncio.get_running_loop().run_in_executor(self._pool, capabilities.probe)
        self.caps = caps
        log.info("profiling: py-spy %s, memray %s, gdb %s, ptrace %s", caps.py_spy or "missing",
                 caps.memray or "missing", caps.gdb or "missing", caps.ptrace)
        head = asyncio.create_task(redial_forever(self._head_once, self._unlinked, "profiling", self.head))
        try:
            while not self._halt.is_set():
                fallback.remove_stale(self.session_dir)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._halt.wait(), STALE_SWEEP_S)
        finally:
            head.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await head

    # ------------------------------------------------------------------ head
    async def _unlinked(self) -> None:
        self.connected.clear()

    async def _head_once(self) -> None:
        assert self._outbox is not None and self.caps is not None
        async with open_aio_channel(self.head, self.credentials) as channel:
            call = open_call(channel, METHOD, pb.ProfileAgentMessage, pb.ProfileHeadMessage, self.token_reader())
            while not self._outbox.empty():  # answers to a previous stream's requests: that head forgot them
                self._outbox.get_nowait()
            await call.write(pb.ProfileAgentMessage(hello=pb.ProfileHello(
                node_id=self.node_id, node_ip=self.node_ip, capabilities=self.caps)))
            self.connected.set()
            writer = asyncio.create_task(write_outbox(call, self._outbox))
            running: set[asyncio.Task[None]] = set()
            try:
                while True:
                    msg = await call.read()
                    if not isinstance(msg, pb.ProfileHeadMessage):  # grpc.aio.EOF: the head closed it
                        return
                    task = asyncio.create_task(self._serve_one(msg))
                    running.add(task)
                    task.add_done_callback(running.discard)
            finally:
                writer.cancel()
                call.cancel()

    async def _serve_one(self, msg: pb.ProfileHeadMessage) -> None:
        assert self._outbox is not None
        result = pb.ProfileResult(request_id=msg.request_id)
        loop = asyncio.get_running_loop()
        try:
            kind = msg.WhichOneof("kind")
            if kind == "stack":
                result.stack.CopyFrom(await loop.run_in_executor(self._pool, self._stack, msg.stack))
            elif kind == "record":
                result.profile.CopyFrom(await loop.run_in_executor(self._pool, self._record, msg.record))
            else:
                raise ProfilingError("failed", f"this agent does not know the request {kind!r}: upgrade it")
        except ProfilingError as err:
            result.error_kind, result.error = err.kind, str(err)
        except Exception as err:  # noqa: BLE001 - a bug answers the request instead of leaving it hanging
            log.exception("profiling request %d failed", msg.request_id)
            result.error_kind, result.error = "failed", f"{type(err).__name__}: {err}"
        self._outbox.put_nowait(pb.ProfileAgentMessage(result=result))

    # ------------------------------------------------------------------ tools (pool threads)
    def _stack(self, req: pb.StackRequest) -> pb.StackDump:
        assert self.caps is not None
        with self._stack_locks[req.pid]:
            return capabilities.take_stack(req.pid, self.session_dir, locals=req.locals, native=req.native, caps=self.caps)

    def _record(self, req: pb.RecordRequest) -> pb.RecordedProfile:
        if req.kind == "memory":
            with self._memory_locks[req.pid]:
                return memory.record(req.pid, duration_s=req.duration_s, native=req.native)
        if req.kind == "cpu":
            return pyspy.record(req.pid, duration_s=req.duration_s, rate_hz=req.rate_hz or 100, idle=req.idle,
                                native=req.native)
        raise ProfilingError("failed", f"unknown profile kind {req.kind!r} (cpu or memory)")
