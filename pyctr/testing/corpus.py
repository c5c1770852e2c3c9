"""A generated corpus of hostile and odd layers, for the store-robustness test.

:func:`hostile_layers` returns (name, blob) pairs, more than 200, in families:
path tricks, symlink tricks, hardlink tricks, whiteout tricks, device nodes,
huge and sparse members, xattrs, duplicates, deep and wide trees, bad
headers, and compression bombs. Every trick that aims outside the layer aims
at ``victim`` (an absolute directory the test owns and checks afterwards,
independently of the code under test), by absolute path, by ``..`` runs of
every length up to 12, and through links. Nothing here touches the disk.
"""

from __future__ import annotations

import gzip
import io
import tarfile

from pyctr.testing.tarbuild import entry as E
from pyctr.testing.tarbuild import tar_bytes


def _ups(n: int) -> str:
    return "../" * n


def _raw_header(name: bytes, size_field: bytes, typeflag: bytes = b"0", linkname: bytes = b"",
                checksum: bool = True) -> bytes:
    """A ustar header built by hand, fields as given (for headers tarfile would not write)."""
    h = bytearray(512)
    h[0:len(name[:100])] = name[:100]
    h[100:108] = b"0000644\0"
    h[108:116] = b"0000000\0"
    h[116:124] = b"0000000\0"
    h[124:136] = size_field[:12].ljust(12, b"\0")
    h[136:148] = b"14000000000\0"
    h[148:156] = b"        "
    h[156:157] = typeflag
    h[157:157 + len(linkname[:100])] = linkname[:100]
    h[257:263] = b"ustar\0"
    h[263:265] = b"00"
    if checksum:
        h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


def hostile_layers(victim: str) -> list[tuple[str, bytes]]:
    v = victim.rstrip("/")
    vrel = v.lstrip("/")
    out: list[tuple[str, bytes]] = []

    def add(name: str, *entries, fmt: int = tarfile.PAX_FORMAT) -> None:
        out.append((name, tar_bytes(*entries, fmt=fmt)))

    # -- path tricks ---------------------------------------------------------------
    for n in range(1, 13):
        add(f"path-dotdot-{n}-file", E(_ups(n) + vrel + "/pwn", data=b"pwned"))
        add(f"path-dotdot-{n}-dir", E(_ups(n) + vrel + "/pwndir", "dir"))
    for kind in ("file", "dir", "fifo"):
        add(f"path-absolute-{kind}", E(v + "/pwn-" + kind, kind, data=b"pwned" if kind == "file" else b""))
        add(f"path-inner-climb-{kind}", E("a/b/" + _ups(3) + vrel + "/pwn", kind, data=b"x" if kind == "file" else b""))
        add(f"path-dot-climb-{kind}", E("./" + _ups(2) + "pwn", kind, data=b"x" if kind == "file" else b""))
    for name in ("..", ".", "/", "//", "./", "a//b/../../..", "x/" * 50 + _ups(51) + "pwn"):
        add(f"path-odd-{name[:12]!r}", E(name, "dir"), E(name.rstrip("/") + "/f" if name.strip("/.") else "f",
                                                               data=b"x"))
    add("path-long-component", E("a" * 255, data=b"ok"), E("b" * 256, data=b"too long"))
    add("path-4k-name", E("/".join(["p" * 50] * 90), data=b"deep name"))
    add("path-newline-and-backslash", E("new\nline", data=b"x"), E("back\\..\\slash", data=b"y"))
    add("path-unicode", E("ünïcödé/日本語", data=b"x"))
    add("path-bad-utf8", E("bad\udcff\udcfename", data=b"x"))

    # -- symlink tricks --------------------------------------------------------------
    add("symlink-abs-then-file", E("l", "symlink", link=v), E("l/pwn", data=b"pwned"))
    add("symlink-abs-then-dir", E("l", "symlink", link=v), E("l/pwndir", "dir"))
    add("symlink-abs-then-fifo", E("l", "symlink", link=v), E("l/pwnfifo", "fifo"))
    add("symlink-root-then-path", E("l", "symlink", link="/"), E("l" + v + "/pwn", data=b"pwned"))
    for n in range(1, 13):
        add(f"symlink-dotdot-{n}", E("l", "symlink", link=_ups(n) + vrel), E("l/pwn", data=b"pwned"))
        add(f"symlink-nested-dotdot-{n}", E("a/b", "dir"), E("a/b/l", "symlink", link=_ups(n)),
            E(f"a/b/l/{vrel}/pwn", data=b"pwned"))
    add("symlink-chain", *[E(f"l{i}", "symlink", link=f"l{i + 1}") for i in range(10)],
        E("l10", "symlink", link=v), E("l0/pwn", data=b"pwned"))
    add("symlink-loop", E("a", "symlink", link="b"), E("b", "symlink", link="a"), E("a/x", data=b"x"))
    add("symlink-self-loop", E("s", "symlink", link="s"), E("s/x", data=b"x"))
    add("symlink-over-dir-then-write", E("d", "dir"), E("d", "symlink", link=v), E("d/pwn", data=b"pwned"))
    add("symlink-then-file-replaces-link", E("l", "symlink", link=v + "/keep"), E("l", data=b"replaced"))
    add("symlink-then-symlink-inside", E("l", "symlink", link=v), E("l/x", "symlink", link="/etc/passwd"))
    add("symlink-proc-self-root", E("l", "symlink", link="/proc/self/root" + v), E("l/pwn", data=b"pwned"))
    add("symlink-long-target", E("l", "symlink", link="a/" * 3000))
    add("symlink-dotdot-through-link", E("a", "symlink", link=v), E("a/../pwn", data=b"x"))
    add("symlink-relative-chain-out", E("x/y", "dir"), E("x/y/up", "symlink", link="../.."),
        E("x/y/up/up2", "symlink", link=_ups(8) + vrel), E("x/y/up/up2/pwn", data=b"pwned"))
    add("symlink-parent-of-root", E("l", "symlink", link=".."), E("l/l/l/" + vrel + "/pwn", data=b"pwned"))

    # -- hardlink tricks ---------------------------------------------------------------
    for n in range(1, 13):
        add(f"hardlink-dotdot-{n}", E("h", "hardlink", link=_ups(n) + vrel + "/keep"))
    add("hardlink-absolute", E("h", "hardlink", link=v + "/keep"))
    add("hardlink-through-symlink", E("l", "symlink", link=v), E("h", "hardlink", link="l/keep"))
    add("hardlink-to-symlink-out", E("l", "symlink", link=v + "/keep"), E("h", "hardlink", link="l"),
        E("h", data=b"write through?"))
    add("hardlink-to-directory", E("d", "dir"), E("h", "hardlink", link="d"))
    add("hardlink-to-itself", E("h", "hardlink", link="h"))
    add("hardlink-to-missing", E("h", "hardlink", link="not/there"))
    add("hardlink-to-lower-layer-name", E("h", "hardlink", link="etc/passwd"))
    add("hardlink-with-data", E("f", data=b"one"), (tarfile.TarInfo("h"), b""))
    add("hardlink-chain", E("f", data=b"x"), E("h1", "hardlink", link="f"), E("h2", "hardlink", link="h1"))
    add("hardlink-then-overwrite-target", E("f", data=b"x"), E("h", "hardlink", link="f"), E("f", data=b"new"))
    add("hardlink-to-device", E("c", "char", major=1, minor=3), E("h", "hardlink", link="c"))

    # -- whiteout tricks ---------------------------------------------------------------------
    for name in (".wh..", ".wh...", "a/.wh..", ".wh." + _ups(3) + vrel, ".wh..wh..opq", "a/.wh..wh..opq",
                 ".wh.", "a/.wh.", ".wh..wh.plnk", ".wh..wh.aufs", ".wh..wh..wh..opq"):
        add(f"whiteout-{name[:16]!r}", E(name))
    add("whiteout-through-symlink", E("l", "symlink", link=v), E("l/.wh.keep"))
    add("opaque-through-symlink", E("l", "symlink", link=v), E("l/.wh..wh..opq"))
    add("whiteout-with-data", E(".wh.x", data=b"data in a whiteout"))
    add("whiteout-as-dir", E(".wh.x", "dir"), E(".wh.x/inner", data=b"x"))
    add("whiteout-as-symlink", E(".wh.x", "symlink", link=v))
    add("whiteout-then-same-name", E(".wh.f"), E("f", data=b"x"))
    add("same-name-then-whiteout", E("f", data=b"x"), E(".wh.f"))
    add("opaque-then-entries", E("d", "dir"), E("d/.wh..wh..opq"), E("d/f", data=b"x"))
    add("whiteout-deep-parent", E("a/b/c/.wh.d"))

    # -- device nodes ----------------------------------------------------------------------
    for kind, major, minor in (("char", 1, 3), ("char", 1, 5), ("char", 1, 1), ("block", 8, 0), ("block", 7, 0),
                               ("char", 10, 200), ("char", 0, 0), ("char", 4095, 1048575), ("block", 259, 0)):
        add(f"device-{kind}-{major}-{minor}", E(f"dev{major}_{minor}", kind, major=major, minor=minor))
    add("device-through-symlink", E("l", "symlink", link=v), E("l/mem", "char", major=1, minor=1))
    add("fifo-plain", E("fifo", "fifo"))

    # -- huge and sparse members --------------------------------------------------------------
    big = tarfile.TarInfo("big")
    big.size = (8 << 30) + 1  # declared, never sent
    out.append(("huge-declared-size", big.tobuf(tarfile.PAX_FORMAT) + b"\0" * 1024))
    out.append(("huge-base256-size", _raw_header(b"big", b"\x80" + b"\xff" * 11) + b"\0" * 1024))
    out.append(("negative-base256-size", _raw_header(b"neg", b"\xff" * 12) + b"\0" * 1024))
    out.append(("sparse-gnu-type", _raw_header(b"sparse", b"00000001000\0", typeflag=b"S") + b"\0" * 2048))
    out.append(("non-octal-size", _raw_header(b"nonoctal", b"99999999999\0") + b"\0" * 1024))

    # -- xattrs ------------------------------------------------------------------------------
    for key, val in (("trusted.overlay.opaque", b"y"), ("trusted.overlay.redirect", b"/" + vrel.encode()),
                     ("trusted.overlay.origin", b"\0" * 16), ("security.capability", b"\x01\x00\x00\x02" + b"\xff" * 16),
                     ("security.selinux", b"system_u:object_r:shadow_t:s0"), ("user.big", b"x" * 65536),
                     ("system.posix_acl_access", b"garbage"), ("user.with/slash", b"x"), ("user.", b"x"),
                     ("user.overlay.opaque", b"y")):
        add(f"xattr-{key}", E("f", data=b"x", xattrs={key: val}))
        add(f"xattr-dir-{key}", E("d", "dir", xattrs={key: val}))

    # -- duplicates ------------------------------------------------------------------------------
    add("dup-file-twice", E("f", data=b"one"), E("f", data=b"two"))
    add("dup-file-then-dir", E("f", data=b"one"), E("f", "dir"), E("f/x", data=b"x"))
    add("dup-dir-then-file", E("d", "dir"), E("d/x", data=b"x"), E("d", data=b"file now"))
    add("dup-symlink-then-file", E("s", "symlink", link=v), E("s", data=b"file now"))
    add("dup-file-then-symlink", E("s", data=b"file"), E("s", "symlink", link=v), E("s/pwn", data=b"pwned"))
    add("dup-dir-mode-twice", E("d", "dir", mode=0o700), E("d", "dir", mode=0o4777))
    add("dup-thousand-times", *[E("f", data=str(i).encode()) for i in range(1000)])
    add("dup-hardlink-then-file", E("f", data=b"x"), E("h", "hardlink", link="f"), E("h", data=b"y"))

    # -- deep and wide ---------------------------------------------------------------------------
    for depth in (100, 1000, 2000):
        add(f"deep-{depth}-members", *[E("/".join(["d"] * i), "dir") for i in range(1, depth + 1)])
    add("deep-one-member-implied-parents", E("/".join(["i"] * 5000) + "/f", data=b"bottom"))
    add("wide-5000", *[E(f"w/{i:05d}", data=b"") for i in range(5000)])
    add("deep-then-whiteout", *[E("/".join(["d"] * i), "dir") for i in range(1, 1500)], E(".wh.d"))

    # -- bad headers ------------------------------------------------------------------------------
    good = tar_bytes(E("a", data=b"x" * 1000), E("b", data=b"y" * 1000))
    broken = bytearray(good)
    broken[148:156] = b"0000000\0"
    out.append(("header-bad-checksum-first", bytes(broken)))
    broken = bytearray(good)
    second = len(tar_bytes(E("a", data=b"x" * 1000))) - 1024
    broken[second + 148:second + 156] = b"0000000\0"
    out.append(("header-bad-checksum-second", bytes(broken)))
    out.append(("header-truncated", good[:300]))
    out.append(("data-truncated", good[:1200]))
    out.append(("not-a-tar", b"this is not a tar archive\n" * 100))
    out.append(("empty-file", b""))
    out.append(("only-zero-blocks", b"\0" * 10240))
    out.append(("junk-after-end", good + b"junk" * 100))
    pax = tarfile.TarInfo("pax")
    pax.pax_headers = {"path": "../" * 5 + vrel + "/pwn"}
    out.append(("pax-path-climb", tar_bytes((pax, b""))))
    out.append(("pax-bogus-length", _raw_header(b"././@PaxHeader", b"00000000020\0", typeflag=b"x") +
                b"999 path=x\n".ljust(512, b"\0") + b"\0" * 1024))
    gnu = tarfile.TarInfo("../" * 4 + vrel + "/" + "n" * 120)
    out.append(("gnu-longname-climb", tar_bytes((gnu, b""), fmt=tarfile.GNU_FORMAT)))
    gnul = tarfile.TarInfo("gl")
    gnul.type = tarfile.SYMTYPE
    gnul.linkname = v + "/" + "t" * 120
    out.append(("gnu-longlink-out", tar_bytes((gnul, b""), E("gl/pwn", data=b"x"), fmt=tarfile.GNU_FORMAT)))
    out.append(("v7-format", tar_bytes(E("v7", data=b"x"), fmt=tarfile.USTAR_FORMAT)))
    out.append(("mtime-negative", tar_bytes(E("t", data=b"x", mtime=-1_000_000))))
    out.append(("mtime-huge", tar_bytes(E("t", data=b"x", mtime=2 ** 40))))
    out.append(("uid-huge", tar_bytes(E("u", data=b"x", uid=2 ** 31, gid=2 ** 31))))
    out.append(("gzip-truncated", _gz(good)[:-20]))
    out.append(("gzip-garbage-tail", _gz(good) + b"garbage"))
    out.append(("gzip-of-garbage", _gz(b"garbage" * 1000)))
    try:
        import zstandard

        out.append(("zstd-truncated", zstandard.ZstdCompressor().compress(good)[:-10]))
        out.append(("zstd-of-garbage", zstandard.ZstdCompressor().compress(b"garbage" * 1000)))
    except ImportError:
        pass

    # -- odd but valid ------------------------------------------------------------------------------
    add("ok-plain", E("etc/hello", data=b"hello"))
    add("ok-empty-dir-only", E("empty", "dir"))
    out.append(("ok-gzip", _gz(tar_bytes(E("gz", data=b"gzip")))))
    return out


def compression_bombs(unpacked: int = 256 << 20) -> list[tuple[str, bytes]]:
    """Small blobs that unpack to ``unpacked`` bytes or more: a test extracts them with a lower
    ``max_size`` and expects a refusal, not a full disk."""
    zeros = tarfile.TarInfo("zeros")
    zeros.size = unpacked
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9, mtime=0) as gz:
        gz.write(zeros.tobuf(tarfile.PAX_FORMAT))
        chunk = b"\0" * (1 << 20)
        for _ in range(unpacked >> 20):
            gz.write(chunk)
        gz.write(b"\0" * 1024)
    bombs = [("bomb-gzip-one-file", buf.getvalue())]
    many = io.BytesIO()
    with gzip.GzipFile(fileobj=many, mode="wb", compresslevel=9, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        for i in range(unpacked >> 22):
            ti = tarfile.TarInfo(f"f{i}")
            ti.size = 4 << 20
            tf.addfile(ti, io.BytesIO(b"\0" * ti.size))
    bombs.append(("bomb-gzip-many-files", many.getvalue()))
    return bombs
