"""The ``pyctr`` command line.

The commands are click commands (pyctr.cli.group and the modules it
loads lazily, one per family). ``pyctr run`` — the command whose latency
matters most — is first tried by pyctr.cli.fastpath, which parses the
same option tables without importing click and hands anything it does not
fully understand (help, errors, rare spellings) to click. Either way pyctr's
own errors are one line and exit 125 (or the error's code), never a traceback.
"""

from __future__ import annotations

import gc
import os
import sys

_froze = False


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``pyctr`` console script and ``python -m pyctr``."""
    # A command makes tens of thousands of objects (modules, classes, functions:
    # nearly all live to its end) in a tenth of a second, and Python's cyclic
    # collector would walk them again and again meanwhile: 7-12 ms of a
    # container start. So it is off for the fast path's ``run``, whose one long
    # part, waiting for a foreground container (waitpid, or the pty relay),
    # makes no reference cycles; click's commands, some of which follow logs
    # or events for hours, turn it back on (_resume_gc).
    collecting = gc.isenabled()
    gc.disable()
    try:
        _main(argv)
    finally:
        _restore_gc(collecting)  # (main called in-process, as by tests: leave the collector as found)


def _resume_gc() -> None:
    """Collect garbage again from here on; what exists now stays out of it (gc.freeze)."""
    global _froze
    if not gc.isenabled():
        gc.freeze()
        _froze = True
        gc.enable()


def _restore_gc(collecting: bool) -> None:
    global _froze
    if _froze:
        gc.unfreeze()
        _froze = False
    if collecting:
        gc.enable()
    else:
        gc.disable()


def _main(argv: list[str] | None) -> None:
    from pyctr.core.errors import PyctrError

    args = sys.argv[1:] if argv is None else list(argv)
    try:
        from pyctr.cli import fastpath

        handled = fastpath.run(args)
        if handled is not None:
            _exit_now(handled)
        from pyctr.cli.group import run_click

        _resume_gc()
        run_click(args)
    except PyctrError as e:
        _error(str(e))
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        os._exit(0)
    except SystemExit:
        raise
    except OSError as e:
        _error(str(e))
        sys.exit(125)
    except Exception as e:  # a bug in pyctr or a plugin: still one line (PYCTR_DEBUG=1: the traceback)
        if os.environ.get("PYCTR_DEBUG") or _log_level() == "debug":
            raise
        _error(f"internal error: {type(e).__name__}: {e} (PYCTR_DEBUG=1 shows where)")
        sys.exit(125)


def _log_level() -> str:
    """--log-level (or PYCTR_LOG_LEVEL) of this command: debug shows an internal error's traceback."""
    from pyctr.cli import settings

    flags = settings.current.flags if settings.current is not None else {}
    return (flags.get("log_level") or os.environ.get("PYCTR_LOG_LEVEL") or "").lower()


def _exit_now(code: int) -> None:
    """Leave without the interpreter's teardown (~25 ms of module and GC cleanup
    here, on the start path). Safe after a command: every file pyctr writes is
    closed by its ``with`` block, SQLite's committed data is already in the
    database or its WAL, and pyctr registers no atexit work; the standard
    streams are flushed first."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        pass
    os._exit(code)


def _error(message: str) -> None:
    sys.stderr.write(f"Error: {message}\n")
    sys.stderr.flush()


def __getattr__(name: str) -> object:
    # `from pyctr.cli import cli` (the click group) keeps working, at click's price
    if name in ("cli", "COMMANDS", "LazyGroup", "DriverName"):
        from pyctr.cli import group

        return getattr(group, name)
    raise AttributeError(name)
