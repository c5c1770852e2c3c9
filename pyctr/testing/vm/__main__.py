"""``python -m pyctr.testing.vm [options] -- CMD...``: run CMD inside a guest kernel.

Exits with the command's exit code; 124 when the guest timed out, 125 when
the guest could not be started or stopped without an exit code.
"""

from __future__ import annotations

import argparse
import os
import sys

from pyctr.core.errors import PyctrError
from pyctr.testing.vm.kernel import DEFAULT_KERNEL
from pyctr.testing.vm.runner import run_in_vm


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pyctr.testing.vm",
                                description="Run a command in a qemu guest booting another kernel.")
    p.add_argument("--kernel", default=os.environ.get("PYCTR_VM_KERNEL", DEFAULT_KERNEL),
                   help="Debian kernel package (default %(default)s) or a kernel image path")
    p.add_argument("--timeout", type=float, default=1800,
                   help="kill the guest after this many seconds (default %(default)s)")
    p.add_argument("--cwd", default=os.getcwd(), help="working directory in the guest")
    p.add_argument("--env", "-e", action="append", default=[], metavar="NAME[=VALUE]",
                   help="set a variable in the guest; NAME alone copies ours")
    p.add_argument("--share", action="append", default=[], metavar="DIR",
                   help="host folder the guest may write, at the same path (repeatable)")
    p.add_argument("--accel", choices=("kvm", "tcg"), default=None,
                   help="force an accelerator (default: kvm only where it can run stock kernels)")
    p.add_argument("--memory", type=int, default=2048, help="guest memory in MiB")
    p.add_argument("--cpus", type=int, default=2)
    p.add_argument("--console", action="store_true", help="show the guest kernel's console")
    p.add_argument("--quiet", "-q", action="store_true", help="no timing line at the end")
    p.add_argument("command", nargs="+", help="the command, after --")
    return p


def _environment(items: list[str]) -> dict[str, str]:
    env = {}
    for item in items:
        name, sep, value = item.partition("=")
        if sep:
            env[name] = value
        elif name in os.environ:
            env[name] = os.environ[name]
    return env


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        result = run_in_vm(args.command, args.kernel, cwd=args.cwd,
                           env=_environment(args.env), timeout=args.timeout,
                           shares=args.share, accel=args.accel, memory=args.memory,
                           cpus=args.cpus, stream=True, console=args.console)
    except PyctrError as e:
        print(f"pyctr-vm: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    if result.message:
        print(result.message, file=sys.stderr)
    if not args.quiet:
        t = result.timings
        lines = result.facts.splitlines()
        if len(lines) == 2:
            print(f"pyctr-vm: guest kernel {lines[0]}, cgroup v2 only, controllers: {lines[1]}",
                  file=sys.stderr)
        if "boot" in t:
            boot = (f"command started {t['boot']:.1f} s after qemu (guest clock: /init at "
                    f"{t.get('guest_init', 0):.1f} s, command at {t.get('guest_ready', 0):.1f} s)")
        else:
            boot = "the command never started"
        print(f"pyctr-vm: kernel {args.kernel}: exit code {result.returncode}, {boot}, "
              f"total {t.get('total', 0):.1f} s", file=sys.stderr)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
