from __future__ import annotations

import pytest

from pyctr.core.errors import UsageError
from pyctr.core.units import format_bytes, parse_bytes, parse_cpus


@pytest.mark.parametrize(
    "text,want",
    [
        ("10m", 10485760),
        ("10M", 10485760),
        ("10mb", 10485760),
        ("10MiB", 10485760),
        ("10kib", 10240),
        ("10 MB", 10485760),
        ("512k", 524288),
        ("1g", 1 << 30),
        ("1.5g", 3 << 29),
        ("2t", 2 << 40),
        ("1p", 1 << 50),
        ("100", 100),
        ("100b", 100),
        ("100B", 100),
        ("0", 0),
        ("32.5", 32),
    ],
)
def test_parse_bytes_like_docker(text: str, want: int) -> None:
    assert parse_bytes(text) == want


@pytest.mark.parametrize("bad", ["", "m", "-1", "10x", "10mm", "10kbi", "10 kbb", "ten", "1_0m", "10bi", "--5", "10.m5"])
def test_parse_bytes_refuses_with_one_line(bad: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_bytes(bad, what="memory")
    assert "\n" not in str(err.value) and "memory" in str(err.value)


def test_parse_bytes_unlimited_only_when_allowed() -> None:
    assert parse_bytes("-1", allow_unlimited=True) == -1
    assert parse_bytes(-1, allow_unlimited=True) == -1
    with pytest.raises(UsageError):
        parse_bytes(-1)
    assert parse_bytes(4096) == 4096


@pytest.mark.parametrize(
    "text,want",
    [("0.5", 500_000_000), ("1", 1_000_000_000), ("1.25", 1_250_000_000), ("0.01", 10_000_000), ("0", 0),
     ("2.000000001", 2_000_000_001), (".5", 500_000_000)],
)
def test_parse_cpus(text: str, want: int) -> None:
    assert parse_cpus(text) == want


@pytest.mark.parametrize("bad", ["", "half", "-1", "0.0000000001", "1/0x"])
def test_parse_cpus_refuses(bad: str) -> None:
    with pytest.raises(UsageError):
        parse_cpus(bad)


@pytest.mark.parametrize(
    "n,binary,want",
    [
        (0, True, "0B"),
        (1023, True, "1023B"),
        (1024, True, "1KiB"),
        (1536 * 1024, True, "1.5MiB"),
        (10485760, True, "10MiB"),
        (32 * 1024**3, True, "32GiB"),
        (999, False, "999B"),
        (1000, False, "1kB"),
        (12345, False, "12.35kB"),
        (1_050_000_000, False, "1.05GB"),
        (5 * 1000**4, False, "5TB"),
    ],
)
def test_format_bytes_like_docker(n: int, binary: bool, want: str) -> None:
    assert format_bytes(n, binary=binary) == want
