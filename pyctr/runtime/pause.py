"""The rootless user's pause process: it keeps the user's namespaces alive and does nothing else.

Run as ``python -S -I pause.py`` inside the user and mount namespaces that
:mod:`pyctr.runtime.userns` made; every pyctr command of the user joins them
through ``/proc/<this pid>/ns``. Terminal signals do not reach it (it leads a
session of its own); SIGTERM or SIGKILL (``pyctr system migrate``) end it.
Standard library only, and as little of it as possible: it lives for days.
"""

import signal

signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGHUP, signal.SIG_IGN)
while True:
    signal.pause()
