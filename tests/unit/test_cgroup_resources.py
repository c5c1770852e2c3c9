"""The cgroupfs driver's pure parts: validation, conversions, path safety."""

from __future__ import annotations

import pytest

from pyctr.core.errors import UsageError
from pyctr.plugins.cgroupfs.common import check_container_id, clean_relative
from pyctr.plugins.cgroupfs.resources import cpu_quota_period, parse_cpu_list, validate
from pyctr.plugins.cgroupfs.v2 import (
    blkio_to_io_weight,
    needed_controllers,
    shares_to_weight,
)

MiB = 1024 * 1024


def v(res, **kw):
    kw.setdefault("ncpus", 2)
    return validate(res, **kw)


def test_docker_default_swap_is_twice_memory() -> None:
    assert v({"memory": 32 * MiB}) == {"memory": 32 * MiB, "memory_swap": 64 * MiB}
    assert v({"memory": 32 * MiB}, default_swap=False) == {"memory": 32 * MiB}
    assert v({"memory": 32 * MiB, "memory_swap": -1})["memory_swap"] == -1


@pytest.mark.parametrize(
    "res,msg",
    [
        ({"memory": 4 * MiB}, "Minimum memory limit allowed is 6MB"),
        ({"memory": 64 * MiB, "memory_swap": 32 * MiB}, "Minimum memoryswap limit should be larger"),
        ({"memory_swap": 64 * MiB}, "always set the Memory limit"),
        ({"memory": 32 * MiB, "memory_reservation": 64 * MiB}, "can not be less than memory reservation"),
        ({"kernel_memory": 1024}, "Minimum kernel memory"),
        ({"nano_cpus": 3_000_000_000}, "Range of CPUs is from 0.01 to 2.00"),
        ({"nano_cpus": 1_000_000, }, "Range of CPUs"),
        ({"nano_cpus": 500_000_000, "cpu_period": 100_000}, "Conflicting options"),
        ({"cpu_period": 500}, "CPU cfs period"),
        ({"cpu_period": 2_000_000}, "CPU cfs period"),
        ({"cpu_quota": 999}, "CPU cfs quota"),
        ({"cpu_shares": -5}, "cpu shares"),
        ({"blkio_weight": 1001}, "blkio weight"),
        ({"cpuset_cpus": "0-3"}, "Requested CPUs are not available - requested 0-3, available: 0-1"),
        ({"cpuset_mems": "1"}, "Requested Memory nodes are not available"),
        ({"cpuset_cpus": "a"}, "invalid cpuset list"),
        ({"pids_limit": "20"}, "an integer is needed"),
        ({"oom_kill_disable": 1}, "true or false"),
        ({"memory": True}, "an integer is needed"),
        ({"swap": 1}, "unknown cgroup resource 'swap'"),
    ],
)
def test_nonsense_is_refused_in_one_line(res, msg) -> None:
    with pytest.raises(UsageError) as err:
        v(res, cpus_available="0-1", mems_available="0")
    assert msg in str(err.value) and "\n" not in str(err.value)


def test_unset_values_are_dropped_and_pids_unlimited() -> None:
    assert v({"memory": 0, "cpu_shares": 0, "pids_limit": 0, "cpuset_cpus": ""}) == {"pids_limit": -1}
    assert v({"pids_limit": 20})["pids_limit"] == 20


def test_cpu_quota_from_nano_cpus() -> None:
    assert cpu_quota_period(v({"nano_cpus": 500_000_000})) == (50_000, 100_000)
    assert cpu_quota_period(v({"cpu_quota": 20_000, "cpu_period": 50_000})) == (20_000, 50_000)
    assert cpu_quota_period({}) == (None, None)


def test_cpu_list() -> None:
    assert parse_cpu_list("0-2,5") == {0, 1, 2, 5}
    assert parse_cpu_list("") == set()


def test_v2_conversions_as_runc() -> None:
    assert shares_to_weight(1024) == 39
    assert shares_to_weight(2) == 1 and shares_to_weight(262144) == 10000
    assert blkio_to_io_weight(10) == 1 and blkio_to_io_weight(1000) == 10000 and blkio_to_io_weight(500) == 4950
    assert needed_controllers({"memory": 1, "pids_limit": 3}) == {"memory", "pids"}


@pytest.mark.parametrize("bad", ["..", "a/../..", "/x/../../y", "a\nb"])
def test_parent_escapes_refused(bad: str) -> None:
    with pytest.raises(UsageError):
        clean_relative(bad)


def test_parent_cleaned() -> None:
    assert clean_relative("/a//b/./c/") == "a/b/c"
    assert clean_relative("") == ""


@pytest.mark.parametrize("bad", ["", "../x", "a/b", ".x", "a" * 200, "a b"])
def test_container_id_checked(bad: str) -> None:
    with pytest.raises(UsageError):
        check_container_id(bad)
