"""Inside Ray workers: `breakpoint()` (and opt-in post-mortem) pause in Rayscope's debugger.

How it gets in (docs/ray-integration.md, "Debugger"): the wheel ships `rayscope_debugger.pth`,
which calls `boot.install()` at interpreter start when `RAYSCOPE_DEBUGGER=1` is in the environment
(`rayscope start` sets it for the raylet, so every worker of every job inherits it). Ray sets
`PYTHONBREAKPOINT=ray.util.rpdb.set_trace` when a worker connects and its C++ task loop calls
`ray.util.pdb._post_mortem()` on task errors when `RAY_DEBUG_POST_MORTEM=1`; `boot.install()` makes
those two names ours the moment `ray.util.rpdb` is imported. Drivers keep Ray's own hook:
Ray points their PYTHONBREAKPOINT at `_driver_set_trace`, which we leave alone.

A paused thread: debugpy listens on 127.0.0.1 behind an access token only the node's agent
learns (debugpy_auth; in-process adapter: no extra process, no other listener), the session is
announced to the node's agent over its Unix socket, and the thread waits until a client has
attached (then stops at the user's frame), a resume arrives, or the optional TTL (`RAYSCOPE_DEBUG_TTL_S`) runs out.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from types import FrameType, TracebackType
from typing import Any, Callable, Optional

from rayscope.debugger import debugpy_auth
from rayscope.debugger import relay_protocol as rp

log = logging.getLogger("rayscope.debugger")

ENV_ENABLE = "RAYSCOPE_DEBUGGER"
ENV_TTL = "RAYSCOPE_DEBUG_TTL_S"
POLL_S = 0.05
MONITOR_S = 0.1
RECONNECT_S = 0.5

_ray_set_trace: Optional[Callable[..., None]] = None
_ray_post_mortem: Optional[Callable[..., None]] = None


# ---------------------------------------------------------------- installation (see boot.py)


def patch_rpdb(rpdb: Any) -> None:
    global _ray_set_trace, _ray_post_mortem
    if getattr(rpdb.set_trace, "__module__", "") == __name__:
        return
    _ray_set_trace, _ray_post_mortem = rpdb.set_trace, rpdb._post_mortem
    rpdb.set_trace = set_trace
    rpdb._post_mortem = post_mortem


# ---------------------------------------------------------------- the link to the agent


class _AgentLink:
    """One Unix-socket connection per worker process; reconnects and re-announces on loss."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.sock: Optional[socket.socket] = None
        self.announced: dict[str, tuple[dict[str, Any], int, str]] = {}  # session id -> up_message args
        self.on_resume: Callable[[str], None] = lambda _sid: None

    def _connect(self) -> socket.socket:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.path)
        for info, port, token in list(self.announced.values()):
            s.sendall(rp.up_message(info, port, token))
        _daemon(self._read, "rayscope-debug-link", s)
        return s

    def _send(self, data: bytes) -> None:
        with self.lock:
            for attempt in (1, 2):
                try:
                    if self.sock is None:
                        self.sock = self._connect()
                    self.sock.sendall(data)
                    return
                except OSError:
                    if self.sock is not None:
                        self.sock.close()
                    self.sock = None
                    if attempt == 2:
                        raise

    def up(self, info: dict[str, Any], port: int, token: str) -> None:
        self.announced[info["session_id"]] = (info, port, token)
        self._send(rp.up_message(info, port, token))

    def down(self, session_id: str) -> None:
        if self.announced.pop(session_id, None) is not None:
            try:
                self._send(rp.down_message(session_id))
            except OSError:
                pass  # the agent is gone; it forgets our sessions with the connection

    def _read(self, s: socket.socket) -> None:
        try:
            self._read_until_closed(s)
        finally:
            self._after_loss(s)

    def _after_loss(self, s: socket.socket) -> None:
        """The agent went away (restart): reconnect while sessions are paused, re-announcing them."""
        with self.lock:
            if self.sock is s:
                self.sock = None
        while self.announced:
            time.sleep(RECONNECT_S)
            with self.lock:
                if self.sock is not None:
                    return  # another thread reconnected
            try:
                self._send(b"")
                return
            except OSError:
                continue

    def _read_until_closed(self, s: socket.socket) -> None:
        buf = b""
        while True:
            try:
                chunk = s.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                if msg.get("op") == "resume":
                    self.on_resume(str(msg.get("session_id")))


# ---------------------------------------------------------------- paused threads


@dataclass
class _Paused:
    info: dict[str, Any]  # DebugSession fields
    frame: FrameType  # the user's frame: the session lasts while it is on its thread's stack
    thread_id: int
    resume: threading.Event = field(default_factory=threading.Event)
    released: bool = False  # a client attached and the thread went on under the debugger


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.port: Optional[int] = None
        self.token = ""  # debugpy's access token (debugpy_auth), made with the listener
        self.link: Optional[_AgentLink] = None
        self.paused: dict[str, _Paused] = {}
        self.monitor: Optional[threading.Thread] = None


_state = _State()


def _is_worker() -> bool:
    try:
        import ray

        w = ray._private.worker.global_worker
        return w.connected and w.mode == ray._private.worker.WORKER_MODE
    except Exception:  # noqa: BLE001 - anything odd: behave like plain Ray
        return False


def _agent_link() -> Optional[_AgentLink]:
    import ray

    with _state.lock:
        return _agent_link_locked(ray)


def _agent_link_locked(ray: Any) -> Optional[_AgentLink]:
    if _state.link is None:
        path = rp.socket_path(ray._private.worker.global_worker.node.get_session_dir_path())
        if not os.path.exists(path):
            return None
        link = _AgentLink(path)
        link.on_resume = _resume
        _state.link = link
    return _state.link


def _debug_listener() -> tuple[int, str]:
    """debugpy listening on loopback only, once per process, behind an access token that only
    this node's agent learns (debugpy_auth): (port, token)."""
    with _state.lock:
        if _state.port is None:
            import debugpy

            debugpy.configure(subProcess=False)
            token = debugpy_auth.new_token()
            _state.port = debugpy_auth.listen_with_token(token)
            _state.token = token
            _restore_breakpoint_hook()
        return _state.port, _state.token


def _daemon(target: Callable[..., None], name: str, *args: Any) -> threading.Thread:
    """Our helper threads: hidden from the debugger's thread list, never traced or suspended."""
    t = threading.Thread(target=target, args=args, name=name, daemon=True)
    t.pydev_do_not_trace = True  # type: ignore[attr-defined]
    t.is_pydev_daemon_thread = True  # type: ignore[attr-defined]
    t.start()
    return t


def _restore_breakpoint_hook() -> None:
    """debugpy/pydevd may repoint sys.breakpointhook; keep Ray's env-driven default, i.e. us."""
    sys.breakpointhook = sys.__breakpointhook__


def _resume(session_id: str) -> None:
    p = _state.paused.get(session_id)
    if p is not None:
        p.resume.set()


def _exception_text(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _describe(frame: FrameType, reason: str, exc: Optional[BaseException]) -> dict[str, Any]:
    """A `DebugSession` as plain data: the agent validates it; pydantic would cost the worker
    ~0.3 s of imports before the session is listed."""
    import ray

    w: Any = ray._private.worker.global_worker  # private: its attributes (node, core_worker) are untyped
    rc = ray.get_runtime_context()

    def safe(fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except Exception:  # noqa: BLE001 - a missing detail must not stop the pause
            return None

    return dict(
        session_id=uuid.uuid4().hex, cluster_id=safe(lambda: w.node.session_name) or "", state="paused",
        reason=reason, pid=os.getpid(), paused_at=time.time(), node_id=safe(rc.get_node_id) or "",
        node_ip=safe(lambda: w.node_ip_address),
        exception=_exception_text(exc) if exc is not None else None,
        job_id=safe(rc.get_job_id), task_id=safe(rc.get_task_id), actor_id=safe(rc.get_actor_id),
        attempt=safe(w.core_worker.get_current_task_attempt_number),
        function=safe(rc.get_task_function_name) or safe(rc.get_task_name) or frame.f_code.co_name,
        file=frame.f_code.co_filename, line=frame.f_lineno, worker_id=safe(rc.get_worker_id),
        working_dir=safe(os.getcwd),
    )


def _ttl() -> Optional[float]:
    raw = os.environ.get(ENV_TTL)
    try:
        return float(raw) if raw else None
    except ValueError:
        log.warning("rayscope debugger: ignoring %s=%r (not a number)", ENV_TTL, raw)
        return None


def _wait_for_client(p: _Paused) -> bool:
    """Block the paused thread: True once a client is attached, False on resume or TTL."""
    ttl = _ttl()
    deadline = time.monotonic() + ttl if ttl else None
    # While it waits, the thread is invisible to pydevd's "suspend all threads" (done when any
    # other paused thread of this worker stops), which would otherwise freeze it here, inside
    # this loop, instead of at its own breakpoint.
    me = threading.current_thread()
    me.pydev_do_not_trace = True  # type: ignore[attr-defined]
    try:
        return _poll(p, deadline, ttl)
    finally:
        me.pydev_do_not_trace = False  # type: ignore[attr-defined]


def _poll(p: _Paused, deadline: Optional[float], ttl: Optional[float]) -> bool:
    import debugpy

    while True:
        if debugpy.is_client_connected():
            p.released = True
            return True
        if p.resume.wait(POLL_S):
            print(f"rayscope debugger: session {p.info['session_id']} resumed without a client", file=sys.stderr,
                  flush=True)
            return False
        if deadline is not None and time.monotonic() > deadline:
            what = "failing the task with its exception" if p.info['reason'] == "exception" else "resuming the task"
            print(f"rayscope debugger: no client attached to session {p.info['session_id']} "
                  f"(task {p.info['task_id']}, {p.info['file']}:{p.info['line']}) within {ttl:g} s "
                  f"({ENV_TTL}); {what}", file=sys.stderr, flush=True)
            return False


def _pause(frame: FrameType, reason: str, exc: Optional[BaseException]) -> Optional[_Paused]:
    """Announce the session and wait. None: not paused (no agent, resumed or TTL).

    Announced twice: at once with port 0 (listed within ms; the agent holds an attach until the
    port follows), then with the port once debugpy listens (its first start takes ~0.5 s)."""
    link = _agent_link()
    if link is None:
        return None
    p = _Paused(info=_describe(frame, reason, exc), frame=frame, thread_id=threading.get_ident())
    _state.paused[p.info['session_id']] = p
    try:
        link.up(p.info, 0, "")
        link.up(p.info, *_debug_listener())
        print(f"rayscope debugger: paused at {p.info['file']}:{p.info['line']} ({reason}); "
              f"session {p.info['session_id']}; attach with `ray-debug attach {p.info['session_id']}`",
              file=sys.stderr, flush=True)
        attached = _wait_for_client(p)
    except BaseException:
        _end(p)
        raise
    if not attached:
        _end(p)
        return None
    _ensure_monitor()
    return p


def _end(p: _Paused) -> None:
    _state.paused.pop(p.info['session_id'], None)
    if _state.link is not None:
        _state.link.down(p.info['session_id'])


def _on_stack(frame: FrameType, thread_id: int) -> bool:
    f: Optional[FrameType] = sys._current_frames().get(thread_id)
    while f is not None:
        if f is frame:
            return True
        f = f.f_back
    return False


def _monitor() -> None:
    """Ends released sessions once their client detached or their frame returned."""
    import debugpy

    while True:
        time.sleep(MONITOR_S)
        connected = debugpy.is_client_connected()
        for p in list(_state.paused.values()):
            if p.released and (not connected or not _on_stack(p.frame, p.thread_id)):
                _end(p)


def _ensure_monitor() -> None:
    with _state.lock:
        if _state.monitor is None:
            _state.monitor = _daemon(_monitor, "rayscope-debug-monitor")


# ---------------------------------------------------------------- Ray's two entry points


def set_trace(breakpoint_uuid: Any = None) -> None:
    """`breakpoint()` in a worker. Must end with the settrace call (see below)."""
    user = sys._getframe().f_back
    if user is None or not _is_worker():
        return _ray_set_trace(breakpoint_uuid) if _ray_set_trace else None
    if not _client_attached():
        paused = _pause(user, "breakpoint", None)
        if paused is None:
            if _agent_link() is None and _ray_set_trace is not None:
                log.warning("rayscope debugger: no agent socket on this node; using Ray's debugger")
                return _ray_set_trace(breakpoint_uuid)
            return None
    _restore_breakpoint_hook()
    _stop_in_caller()  # must stay the last statement (see there)


def _client_attached() -> bool:
    """A client is already attached to this worker (another of its threads paused)."""
    return _state.port is not None and sys.modules["debugpy"].is_client_connected()


def _stop_in_caller() -> None:
    """Step over out of set_trace (Ray's own frame layout: set_trace -> this -> pydevd.settrace):
    the first stop is the user's frame at the line after breakpoint(), as with pdb."""
    import pydevd

    pydevd.settrace(stop_at_frame=sys._getframe().f_back)


def post_mortem() -> None:
    """Ray calls this inside its except block when RAY_DEBUG_POST_MORTEM=1 (cluster or job)."""
    etype, exc, tb = sys.exc_info()
    if exc is None or not _is_worker():
        return _ray_post_mortem() if _ray_post_mortem else None
    frame = _raising_frame(tb)
    paused: Optional[_Paused] = None
    if not _client_attached():
        paused = _pause(frame, "exception", exc)
        if paused is None:
            return None
    try:
        _stop_on_exception((etype, exc, tb))
    finally:
        if paused is not None:
            _end(paused)


def _raising_frame(tb: Optional[TracebackType]) -> FrameType:
    last = tb
    while last is not None and last.tb_next is not None:
        last = last.tb_next
    return last.tb_frame if last is not None else sys._getframe(1)


def _stop_on_exception(excinfo: tuple[Any, Any, Any]) -> None:
    """pydevd's post-mortem stop at the raising frame, with the exception shown; returns on
    continue (then Ray records the task's failure as usual). Called directly, not through
    `stop_on_unhandled_exception`, which stops only if the client enabled the "uncaught"
    exception filter: post-mortem must not depend on the client's settings."""
    import pydevd

    _etype, exc, tb = excinfo
    frames = []
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    if not frames:
        return
    py_db = pydevd.get_global_debugger()
    thread = threading.current_thread()
    info = py_db.set_additional_thread_info(thread)
    info.pydev_message = _exception_text(exc)
    info.is_tracing += 1
    try:
        py_db.do_stop_on_unhandled_exception(thread, frames[-1], {id(f): f for f in frames}, excinfo)
    except Exception:  # noqa: BLE001 - a debugger failure must not hide the task's own error
        traceback.print_exc()
    finally:
        info.is_tracing -= 1
