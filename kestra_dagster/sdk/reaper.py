"""Reap a task's process group when the run worker dies without cleaning up (SIGKILL, OOM).

A script task's command runs in its own session (so stopping it can signal the whole group). If
the worker process is SIGKILLed, nothing is left to signal that group and the commands run on.
Each group therefore gets a tiny watchdog (``/bin/sh``) reading a pipe whose only writer is the
worker: at the worker's normal end the worker tells it "done"; when the worker dies the kernel
closes the pipe, ``read`` sees end-of-file and the watchdog SIGKILLs the group.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable

_WATCHDOG = 'read _ || kill -9 "-$1" 2>/dev/null'  # dash: no "--" before a negative pgid


def watch_group(pgid: int) -> Callable[[], None]:
    """Start the watchdog for ``pgid``; returns ``dismiss()`` to call once the group is over."""
    read_end, write_end = os.pipe()
    try:
        watchdog = subprocess.Popen(
            ["/bin/sh", "-c", _WATCHDOG, "kestra-reaper", str(pgid)],
            stdin=read_end, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, close_fds=True,
        )
    except OSError:
        os.close(write_end)
        return lambda: None
    finally:
        os.close(read_end)

    def dismiss() -> None:
        try:
            os.write(write_end, b"done\n")
        except OSError:
            pass
        finally:
            os.close(write_end)
        try:
            watchdog.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover
            watchdog.kill()
            watchdog.wait()

    return dismiss
