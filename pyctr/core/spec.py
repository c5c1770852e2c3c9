"""The container specification: everything decided at ``create``.

Built from the image config and the command line, changed by the
``pyctr_modify_container_spec`` hooks, stored as JSON with the container and
handed to the child process. Plain data only, so it crosses ``fork`` and the
state database unchanged.
"""

from __future__ import annotations

import json

from pyctr.core.records import Record, factory

TYPE_CHECKING = False  # (typing's import is ~3 ms of every command; annotations are strings here)
if TYPE_CHECKING:
    from typing import Any

#: the PATH a container gets when neither the image nor the user sets one (Docker's)
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#: the label Docker (23+) puts on anonymous volumes; ``volume prune`` keys on it
ANONYMOUS_LABEL = "com.docker.volume.anonymous"

#: namespace kinds, in the order they are unshared (user first: it owns the rest)
NAMESPACE_KINDS = ("user", "mount", "uts", "ipc", "network", "pid", "cgroup")


class Mount(Record):
    """One mount inside the container (bind, tmpfs or volume)."""

    type: str  # bind | tmpfs | volume
    target: str
    source: str = ""  # host path (bind), volume name (volume)
    readonly: bool = False
    options: list[str] = factory(list)  # mount(8)-style extra options
    propagation: str = ""  # rprivate, rshared, ... (bind)
    driver: str = ""  # volume driver chosen for a volume mount
    driver_options: dict[str, str] = factory(dict)
    labels: dict[str, str] = factory(dict)  # labels of a volume the mount creates
    nocopy: bool = False  # volume: do not copy the image's content into an empty volume
    create_host_path: bool = False  # bind from -v: a missing host directory is created, as Docker does


class ContainerSpec(Record):
    """What a container is: image, process, isolation, resources, wiring."""

    image: str = ""  # the reference as the user gave it
    image_id: str = ""
    name: str = ""
    hostname: str = ""
    domainname: str = ""
    # process
    argv: list[str] = factory(list)  # entrypoint + cmd, resolved
    entrypoint: list[str] = factory(list)
    cmd: list[str] = factory(list)
    env: list[str] = factory(list)
    workdir: str = "/"
    user: str = ""  # as given: name|uid[:gid]
    tty: bool = False
    interactive: bool = False
    labels: dict[str, str] = factory(dict)
    # isolation: kind -> "private" | "host" | "container:<id>" | "path:<ns file>"
    namespaces: dict[str, str] = factory(dict)
    uid_map: list[tuple[int, int, int]] = factory(list)
    gid_map: list[tuple[int, int, int]] = factory(list)
    mounts: list[Mount] = factory(list)
    read_only: bool = False
    privileged: bool = False
    cap_add: list[str] = factory(list)
    cap_drop: list[str] = factory(list)
    group_add: list[str] = factory(list)  # --group-add: supplementary groups (names resolved in the container)
    no_new_privileges: bool = False
    seccomp: str = "default"  # default | unconfined | a profile's JSON text (the file is read at create, as Docker)
    # resources: cgroup limits, keys as the cgroup driver documents them
    resources: dict[str, Any] = factory(dict)
    cgroup_parent: str = ""
    # network: mode is the network driver's name; the rest is the driver's business
    network: dict[str, Any] = factory(dict)
    # lifecycle
    auto_remove: bool = False
    restart_policy: str = "no"
    stop_signal: str = "SIGTERM"
    stop_timeout: int = 10
    log_driver: str = "json-file"
    log_options: dict[str, str] = factory(dict)  # --log-opt, checked by pyctr.core.logconfig
    #: Docker's Healthcheck object (Test, Interval, Timeout, StartPeriod, StartInterval in ns, Retries),
    #: from the image and the --health-* flags; None: none (see pyctr.core.health)
    healthcheck: dict[str, Any] | None = None
    init: bool = False
    #: free-form data for plugins, namespaced by the plugin's name
    annotations: dict[str, Any] = factory(dict)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ContainerSpec:
        data = json.loads(text)
        known = cls._fields
        spec = cls(**{k: v for k, v in data.items() if k in known})
        spec.mounts = [Mount(**m) if isinstance(m, dict) else m for m in spec.mounts]
        spec.uid_map = [tuple(x) for x in spec.uid_map]  # type: ignore[misc]
        spec.gid_map = [tuple(x) for x in spec.gid_map]  # type: ignore[misc]
        return spec
