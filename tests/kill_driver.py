"""Run the `marlspec` CLI and SIGKILL it at a chosen point (used by tests/test_resume.py).

    python tests/kill_driver.py POINT N -- run SPEC --out DIR ...

POINT is where the process kills itself with SIGKILL (what `kill -9` sends; nothing is
flushed or cleaned up):
- `compile`: 10 ms into the N-th compilation of a training chunk (XLA compiling, or loading
  the program from the persistent cache; if that took less, right after it, before it runs);
- `chunk`: while the N-th training chunk runs (a thread waits until the chunk has started);
- `checkpoint`: half-way through writing the N-th checkpoint file (`*.eqx`: the state, or an
  off-policy run's replay), after half of its bytes reached the temporary file.
The patches wrap the library's own functions; nothing in the library knows about them.
"""

from __future__ import annotations

import io
import os
import signal
import sys
import threading
import time


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    point, n = sys.argv[1], int(sys.argv[2])
    assert sys.argv[3] == "--"
    args = sys.argv[4:]
    count = {"n": 0}

    import jax

    import marlspec.io.rundir as rundir
    import marlspec.train.runner as runner

    if point == "compile":
        real_compile = jax.stages.Lowered.compile

        def compile_then_die(self, *a, **kw):  # type: ignore[no-untyped-def]
            count["n"] += 1
            if count["n"] == n:
                threading.Thread(target=lambda: (time.sleep(0.01), die()), daemon=True).start()
                real_compile(self, *a, **kw)
                time.sleep(5)  # if compiling took less than 10 ms, the kill lands here, before the chunk runs
            return real_compile(self, *a, **kw)

        jax.stages.Lowered.compile = compile_then_die  # type: ignore[method-assign]
    elif point == "chunk":
        real_chunk = runner._compile_chunk

        def chunk_then_die(*a, **kw):  # type: ignore[no-untyped-def]
            call, seconds = real_chunk(*a, **kw)

            def wrapped(state, size):  # type: ignore[no-untyped-def]
                count["n"] += 1
                if count["n"] == n:
                    started = threading.Event()
                    threading.Thread(target=lambda: (started.wait(), die()), daemon=True).start()
                    started.set()
                    out = call(state, size)
                    time.sleep(5)  # if the chunk was quicker than the kill, it still lands before any write
                    return out
                return call(state, size)

            return wrapped, seconds

        runner._compile_chunk = chunk_then_die
    elif point == "checkpoint":
        real_write = rundir.write_atomic

        def write_half_then_die(path, write):  # type: ignore[no-untyped-def]
            if path.suffix == ".eqx":
                count["n"] += 1
                if count["n"] == n:
                    buf = io.BytesIO()
                    write(buf)
                    data = buf.getvalue()
                    with open(path.with_name(path.name + ".tmp"), "wb") as f:
                        f.write(data[: len(data) // 2])
                        f.flush()
                        os.fsync(f.fileno())
                    die()
            return real_write(path, write)

        rundir.write_atomic = write_half_then_die
    else:
        raise SystemExit(f"unknown kill point {point!r}")

    from marlspec.cli import app

    app(args)


if __name__ == "__main__":
    main()
