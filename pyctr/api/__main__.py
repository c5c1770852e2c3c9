"""``python -m pyctr.api [--time S] [--verbose] [URI]``: what ``pyctr system service`` execs.

The command line resolves the settings (flags, PYCTR_*, the config file) and
passes them as JSON in ``PYCTR_SERVICE_CONFIG``; the service runs in a process
of its own interpreter, so no front end imports another.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    from pyctr.api.launcher import config_from_env
    from pyctr.api.server import DEFAULT_IDLE, serve
    from pyctr.core.errors import PyctrError

    idle, verbose, uri = DEFAULT_IDLE, False, None
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg in ("--time", "-t") and args:
            idle = float(args.pop(0))
        elif arg == "--verbose":
            verbose = True
        else:
            uri = arg
    try:
        config = config_from_env("PYCTR_SERVICE_CONFIG")
        from pyctr.core.plugins import plugins

        plugins.configure(config.as_dict())
        return serve(config, uri, idle, verbose)
    except PyctrError as e:
        sys.stderr.write(f"Error: {e}\n")
        return e.exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
