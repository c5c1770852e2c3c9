"""Options of the global group, of ``run``/``create`` and of the read commands, as plain data.

click builds its options from these tables (:func:`pyctr.cli.group.click_option`)
and the fast path parses ``pyctr run``, ``ps``, ``images``, ``inspect`` and
``version`` with the same tables without importing click (about 35 ms a command
here), so the two cannot drift apart.
"""

from __future__ import annotations

TYPE_CHECKING = False  # (typing's import is ~3 ms of every read command; annotations are strings)
if TYPE_CHECKING:
    from typing import Any


class Opt:
    """One option: its spellings, the parameter it fills and how to read its value."""

    __slots__ = ("decls", "dest", "flag", "multiple", "type", "choices", "default", "help")

    def __init__(self, *decls: str, dest: str | None = None, flag: bool = False, multiple: bool = False,
                 type: str = "str", choices: tuple[str, ...] = (), default: Any = None, help: str = "") -> None:  # noqa: A002
        self.decls = decls
        self.dest = dest or next(d for d in decls if d.startswith("--"))[2:].replace("-", "_")
        self.flag = flag
        self.multiple = multiple
        self.type = type  #: "str", "int", "choice" or "driver:KIND"
        self.choices = choices
        self.default = default
        self.help = help

    def initial(self) -> Any:
        """The value when the option is not given, as click passes it."""
        if self.flag:
            return False
        if self.multiple:
            return ()
        return self.default


GLOBAL_OPTIONS = [
    Opt("--root", help="Storage root (images, layers, state).  [default: /var/lib/pyctr]"),
    Opt("--runroot", help="Volatile run state (locks, sockets).  [default: /run/pyctr]"),
    Opt("--storage-driver", "-s", type="driver:storage", help="Storage driver; default: overlay2 if usable, else vfs."),
    Opt("--network", type="driver:network", help="Network driver for new containers.  [default: bridge]"),
    Opt("--volume-driver", type="driver:volume", help="Volume driver for new volumes.  [default: local]"),
    Opt("--cgroup-manager", type="driver:cgroup", help="cgroup driver.  [default: cgroupfs]"),
    Opt("--runtime", type="driver:runtime", help="Runtime driver that makes containers' processes.  [default: conmon where installed, else pyctr]"),
    Opt("--log-level", type="choice", choices=("debug", "info", "warning", "error", "critical"),
        help="Logging level: debug shows the traceback of an internal error and makes the API service verbose."),
]

CONTAINER_OPTIONS = [
    Opt("--name", help="Assign a name to the container."),
    Opt("--rm", dest="auto_remove", flag=True, help="Remove the container when it exits."),
    Opt("--interactive", "-i", flag=True, help="Keep STDIN open."),
    Opt("--tty", "-t", flag=True, help="Allocate a pseudo-TTY."),
    Opt("--env", "-e", multiple=True, help="Set an environment variable."),
    Opt("--env-file", multiple=True, help="Read environment variables from a file."),
    Opt("--workdir", "-w", default="", help="Working directory inside the container."),
    Opt("--user", "-u", default="", help="Username or UID (format: <name|uid>[:<group|gid>])."),
    Opt("--entrypoint", help="Overwrite the image's ENTRYPOINT."),
    Opt("--hostname", "-h", default="", help="Container host name."),
    Opt("--label", "-l", multiple=True, help="Set metadata on a container."),
    Opt("--network", "--net", dest="network", help="Network driver or mode (bridge, none, host, container:NAME)."),
    Opt("--privileged", flag=True, help="Give extended privileges to this container."),
    Opt("--cap-add", multiple=True, help="Add Linux capabilities."),
    Opt("--cap-drop", multiple=True, help="Drop Linux capabilities."),
    Opt("--group-add", multiple=True, help="Add additional groups to join."),
    Opt("--read-only", flag=True, help="Mount the container's root filesystem as read only."),
    Opt("--security-opt", multiple=True, help="Security options (no-new-privileges, seccomp=...)."),
    Opt("--volume", "-v", dest="volume", multiple=True, help="Bind mount a volume (NAME:/path[:ro], /host:/path[:opts], /path)."),
    Opt("--mount", dest="mount", multiple=True, help="Attach a filesystem mount (type=volume|bind|tmpfs,source=,target=,...)."),
    Opt("--tmpfs", multiple=True, help="Mount a tmpfs directory (/path[:options])."),
    Opt("--volume-driver", dest="volume_driver", default="", help="Volume driver for the container's new volumes."),
    Opt("--volumes-from", dest="volumes_from", multiple=True, help="Mount volumes from the specified container(s)."),
    Opt("--restart", default="no", help="Restart policy: no, on-failure[:max-retries], always, unless-stopped."),
    Opt("--stop-signal", help="Signal to stop the container."),
    Opt("--stop-timeout", type="int", help="Seconds to wait for a stop before killing."),
    Opt("--log-driver", help="Logging driver: json-file or none.  [default: the config's log-driver, else json-file]"),
    Opt("--log-opt", multiple=True, help="Log driver options (max-size=10m, max-file=3, compress=true, labels=, env=, tag=)."),
    Opt("--health-cmd", help="Command to run to check health."),
    Opt("--health-interval", help="Time between running the check (ms|s|m|h).  [default: 30s]"),
    Opt("--health-timeout", help="Maximum time to allow one check to run (ms|s|m|h).  [default: 30s]"),
    Opt("--health-retries", help="Consecutive failures needed to report unhealthy.  [default: 3]"),
    Opt("--health-start-period", help="Start period for the container to initialize (ms|s|m|h).  [default: 0s]"),
    Opt("--health-start-interval", help="Time between checks during the start period (ms|s|m|h).  [default: 5s]"),
    Opt("--no-healthcheck", flag=True, help="Disable any container-specified HEALTHCHECK."),
    Opt("--pid", dest="pid_mode", help="PID namespace: host or container:NAME."),
    Opt("--ipc", dest="ipc_mode", help="IPC namespace: host, private or container:NAME."),
    Opt("--uts", dest="uts_mode", help="UTS namespace: host."),
    Opt("--userns", help="User namespace: host, or private (remap root to 100000)."),
    Opt("--uidmap", multiple=True, help="UID map CONTAINER:HOST:SIZE for a user namespace."),
    Opt("--gidmap", multiple=True, help="GID map CONTAINER:HOST:SIZE for a user namespace."),
    Opt("--init", dest="use_init", flag=True, help="Run a small init (tini) as PID 1 that reaps zombies."),
    Opt("--memory", "-m", help="Memory limit (e.g. 10m, 1g)."),
    Opt("--memory-swap", help="Memory plus swap limit; -1 for unlimited swap."),
    Opt("--memory-reservation", help="Memory soft limit."),
    Opt("--kernel-memory", help="Kernel memory limit (cgroup v1 kernels that still have it)."),
    Opt("--cpus", help="Number of CPUs (e.g. 0.5)."),
    Opt("--cpu-shares", "-c", type="int", help="CPU shares (relative weight)."),
    Opt("--cpu-quota", type="int", help="Limit CPU CFS quota (us)."),
    Opt("--cpu-period", type="int", help="Limit CPU CFS period (us)."),
    Opt("--cpuset-cpus", help="CPUs in which to allow execution (0-3, 0,1)."),
    Opt("--cpuset-mems", help="Memory nodes in which to allow execution."),
    Opt("--pids-limit", type="int", help="Tune container pids limit (-1 for unlimited)."),
    Opt("--blkio-weight", type="int", help="Block IO weight (10-1000)."),
    Opt("--oom-kill-disable", flag=True, help="Disable OOM Killer."),
    Opt("--cgroup-parent", default="", help="Parent cgroup for the container."),
    Opt("--publish", "-p", multiple=True, help="Publish a port: [ip:][hostport:]containerport[/proto]."),
    Opt("--publish-all", "-P", flag=True, help="Publish all exposed ports to random host ports."),
    Opt("--expose", multiple=True, help="Expose a port or a range of ports."),
    Opt("--network-alias", multiple=True, help="Add a network-scoped alias for the container."),
    Opt("--ip", help="IPv4 address on the container's network."),
    Opt("--dns", multiple=True, help="Set custom DNS servers."),
    Opt("--dns-search", multiple=True, help="Set custom DNS search domains."),
    Opt("--dns-option", multiple=True, help="Set DNS options."),
    Opt("--add-host", multiple=True, help="Add a custom host-to-IP mapping (host:ip)."),
    Opt("--pull", dest="pull_policy", type="choice", choices=("missing", "always", "never"), default="missing",
        help="Pull the image before running.  [default: missing]"),
    Opt("--platform", help="Set platform if server is multi-platform capable (default: this host's)."),
]

#: run = the container options + --detach
RUN_OPTIONS = CONTAINER_OPTIONS + [
    Opt("--detach", "-d", flag=True, help="Run the container in the background and print its ID."),
    Opt("--detach-keys", help="Override the key sequence for detaching a container.  [default: ctrl-p,ctrl-q]"),
]

#: ``ps``
PS_OPTIONS = [
    Opt("--all", "-a", dest="show_all", flag=True, help="Show all containers (default shows just running)."),
    Opt("--quiet", "-q", flag=True, help="Only display container IDs."),
    Opt("--no-trunc", flag=True, help="Don't truncate output."),
    Opt("--format", dest="fmt", help="Go template, or 'json'."),
    Opt("--filter", "-f", dest="filters", multiple=True, help="Filter output (name=, id=, status=, label=)."),
    Opt("--last", "-n", type="int", default=-1, help="Show n last created containers."),
    Opt("--latest", "-l", flag=True, help="Show the latest created container."),
]

#: ``images [REPOSITORY]``
IMAGES_OPTIONS = [
    Opt("--all", "-a", dest="show_all", flag=True, help="Show all images (no effect: pyctr keeps no intermediates)."),
    Opt("--quiet", "-q", flag=True, help="Only show image IDs."),
    Opt("--digests", flag=True, help="Show digests."),
    Opt("--no-trunc", flag=True, help="Don't truncate output."),
    Opt("--format", dest="fmt", help="Go template, or 'json'."),
    Opt("--filter", "-f", dest="filters", multiple=True,
        help="Filter output (reference=, dangling=, label=, before=, since=)."),
]

#: ``inspect NAME...``
INSPECT_OPTIONS = [
    Opt("--format", "-f", dest="fmt", help="Go template for each object."),
    Opt("--type", dest="kind", type="choice", choices=("container", "image"), help="Only look for this kind of object."),
    Opt("--size", "-s", flag=True, help="Display total file sizes (containers)."),
]

#: ``version``
VERSION_OPTIONS = [
    Opt("--format", "-f", dest="fmt", help="Go template, or 'json'."),
]
