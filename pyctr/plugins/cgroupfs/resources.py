"""Validation of the resources dict, shared by both backends; pure (no I/O).

Rules and messages follow Docker's daemon (``verifyPlatformContainerResources``)
so that a nonsense value is refused with one line before any cgroup exists.
"""

from __future__ import annotations

from pyctr.core.errors import UsageError

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

#: Docker's linuxMinMemory
MIN_MEMORY = 6 * 1024 * 1024
DEFAULT_CPU_PERIOD = 100_000  # us, the kernel's default cfs period

INT_KEYS = (
    "memory",
    "memory_swap",
    "memory_reservation",
    "kernel_memory",
    "nano_cpus",
    "cpu_shares",
    "cpu_quota",
    "cpu_period",
    "pids_limit",
    "blkio_weight",
)
STR_KEYS = ("cpuset_cpus", "cpuset_mems")
BOOL_KEYS = ("oom_kill_disable",)
#: device cgroup rules, in order: {"allow": bool, "type": "a|c|b", "major": int|None,
#: "minor": int|None, "access": "rwm"} (an OCI bundle's linux.resources.devices)
LIST_KEYS = ("devices",)
KEYS = INT_KEYS + STR_KEYS + BOOL_KEYS + LIST_KEYS


def parse_cpu_list(text: str) -> set[int]:
    """``0-2,5`` -> {0, 1, 2, 5}; the kernel's list format. Empty string -> empty set."""
    out: set[int] = set()
    text = text.strip()
    if not text:
        return out
    for part in text.split(","):
        lo, sep, hi = part.strip().partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            raise UsageError(f"invalid cpuset list '{text}'")
        a, b = int(lo), int(hi) if sep else int(lo)
        if b < a:
            raise UsageError(f"invalid cpuset list '{text}'")
        out.update(range(a, b + 1))
    return out


def validate(
    resources: dict[str, Any],
    *,
    ncpus: int,
    cpus_available: str | None = None,
    mems_available: str | None = None,
    default_swap: bool = True,
) -> dict[str, Any]:
    """Check every value; return a normalised copy (zero/unset values dropped).

    ``cpus_available``/``mems_available`` are the parent's effective cpuset
    lists; ``default_swap`` applies Docker's "swap defaults to memory" rule
    (memory+swap = 2 x memory) when only ``memory`` is given.
    """
    res: dict[str, Any] = {}
    for key, value in resources.items():
        if key not in KEYS:
            raise UsageError(f"unknown cgroup resource '{key}'")
        if value is None:
            continue
        if key in INT_KEYS:
            if isinstance(value, bool) or not isinstance(value, int):
                raise UsageError(f"invalid value for {key}: {value!r} (an integer is needed)")
        elif key in STR_KEYS:
            if not isinstance(value, str):
                raise UsageError(f"invalid value for {key}: {value!r}")
        elif key in LIST_KEYS:
            value = [device_rule(r) for r in value] if isinstance(value, list) else None
            if value is None:
                raise UsageError(f"invalid value for {key}: a list of rules is needed")
        elif not isinstance(value, bool):
            raise UsageError(f"invalid value for {key}: {value!r} (true or false)")
        res[key] = value

    mem = res.get("memory", 0)
    if mem < -1 or 0 < mem < MIN_MEMORY:
        raise UsageError("Minimum memory limit allowed is 6MB")
    swap = res.get("memory_swap", 0)
    if swap < -1:
        raise UsageError(f"invalid memory swap limit {swap}")
    if swap > 0 and mem <= 0:
        raise UsageError("You should always set the Memory limit when using Memoryswap limit, see usage")
    if swap > 0 and swap < mem:
        raise UsageError("Minimum memoryswap limit should be larger than memory limit, see usage")
    if swap == 0 and mem > 0 and default_swap:
        res["memory_swap"] = 2 * mem
    resv = res.get("memory_reservation", 0)
    if resv < 0 or 0 < resv < MIN_MEMORY:
        raise UsageError("Minimum memory reservation allowed is 6MB")
    if mem > 0 and resv > mem:
        raise UsageError("Minimum memory limit can not be less than memory reservation limit, see usage")
    kmem = res.get("kernel_memory", 0)
    if kmem < 0 or 0 < kmem < MIN_MEMORY:
        raise UsageError("Minimum kernel memory limit allowed is 6MB")

    nano = res.get("nano_cpus", 0)
    if nano and (res.get("cpu_quota") or res.get("cpu_period")):
        raise UsageError("Conflicting options: Nano CPUs and CPU Period/Quota cannot both be set")
    if nano < 0 or (nano and (nano < 10_000_000 or nano > ncpus * 1_000_000_000)):
        raise UsageError(
            f"Range of CPUs is from 0.01 to {ncpus}.00, as there are only {ncpus} CPUs available"
        )
    period = res.get("cpu_period", 0)
    if period and not 1000 <= period <= 1_000_000:
        raise UsageError("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
    quota = res.get("cpu_quota", 0)
    if quota < -1 or 0 < quota < 1000:
        raise UsageError("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    if res.get("cpu_shares", 0) < 0:
        raise UsageError(f"invalid cpu shares {res['cpu_shares']}: must not be negative")
    bw = res.get("blkio_weight", 0)
    if bw and not 10 <= bw <= 1000:
        raise UsageError("Range of blkio weight is from 10 to 1000")

    for key, avail, what in (
        ("cpuset_cpus", cpus_available, "CPUs"),
        ("cpuset_mems", mems_available, "Memory nodes"),
    ):
        if key not in res:
            continue
        wanted = parse_cpu_list(res[key])
        if not wanted:
            del res[key]
            continue
        if avail is not None and not wanted <= parse_cpu_list(avail):
            raise UsageError(
                f"Requested {what} are not available - requested {res[key]}, available: {avail.strip()}"
            )
    # drop what means "not set" so backends only see what they must write
    for key in ("memory", "memory_reservation", "kernel_memory", "nano_cpus", "cpu_shares",
                "cpu_period", "cpu_quota", "blkio_weight", "memory_swap"):
        if res.get(key) == 0:
            del res[key]
    if "pids_limit" in res and res["pids_limit"] <= 0:
        res["pids_limit"] = -1  # Docker: 0 and -1 both mean unlimited
    return res


def device_rule(rule: Any) -> str:
    """A device cgroup rule as devices.allow/deny take it: ``c 1:3 rwm``."""
    if not isinstance(rule, dict):
        raise UsageError(f"invalid device rule {rule!r}")
    kind = rule.get("type") or "a"
    access = rule.get("access") or "rwm"
    if kind not in ("a", "c", "b") or not access or set(access) - set("rwm"):
        raise UsageError(f"invalid device rule {rule!r}")
    numbers = []
    for key in ("major", "minor"):
        n = rule.get(key)
        if n is not None and (isinstance(n, bool) or not isinstance(n, int)):
            raise UsageError(f"invalid device rule {rule!r}: {key} is not a number")
        numbers.append("*" if n is None or n < 0 else str(n))
    return f"{'allow' if rule.get('allow') else 'deny'} {kind} {numbers[0]}:{numbers[1]} {access}"


def cpu_quota_period(res: dict[str, Any]) -> tuple[int | None, int | None]:
    """(quota, period) in us from nano_cpus or cpu_quota/cpu_period; None = leave as is."""
    if "nano_cpus" in res:
        period = DEFAULT_CPU_PERIOD
        return res["nano_cpus"] * period // 1_000_000_000, period
    return res.get("cpu_quota"), res.get("cpu_period")
