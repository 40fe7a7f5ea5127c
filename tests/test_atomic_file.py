"""write_atomic (common/atomic_file.py), the one way Rayscope replaces a file others read."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from rayscope.common.atomic_file import write_atomic


def test_replaces_content_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "ready.json"
    target.write_text("old")
    write_atomic(target, '{"new": 1}')
    write_atomic(str(target), b"bytes too", durable=True)
    assert target.read_bytes() == b"bytes too"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ready.json"]


def test_mode_is_applied_for_private_files(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    write_atomic(target, "{}", mode=0o600)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_a_failed_write_keeps_the_old_content_and_removes_its_temporary_file(tmp_path: Path) -> None:
    """A real write failure: the file-size limit (RLIMIT_FSIZE) makes write(2) fail with EFBIG, as a
    full disk fails with ENOSPC, after part of the data may have reached the temporary file."""
    target = tmp_path / "checkpoint.json"
    target.write_text("old content")
    script = (
        "import resource, signal, sys\n"
        "from rayscope.common.atomic_file import write_atomic\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
        "try:\n"
        "    write_atomic(sys.argv[1], 'x' * 100_000, durable=True)\n"
        "except OSError as e:\n"
        "    print('failed', e.errno)\n"
        "    sys.exit(0)\n"
        "sys.exit('the write did not fail')\n"
    )
    out = subprocess.run([sys.executable, "-c", script, str(target)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr + out.stdout
    assert out.stdout.split() == ["failed", str(__import__("errno").EFBIG)]
    assert target.read_text() == "old content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.json"]


def test_missing_parent_is_an_error_not_a_silent_skip(tmp_path: Path) -> None:
    try:
        write_atomic(tmp_path / "no" / "such" / "file", "x")
    except FileNotFoundError:
        pass
    else:
        raise AssertionError("write_atomic wrote into a directory that does not exist")
    assert not (tmp_path / "no").exists()
    assert os.listdir(tmp_path) == []
