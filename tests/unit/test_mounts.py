"""-v, --mount and --tmpfs parsing, checked against what Docker accepts and refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyctr.core import mountspec as mounts
from pyctr.core.config import Config
from pyctr.core.engine import Engine
from pyctr.core.errors import UsageError
from pyctr.kernel import mountopts

SEED = ("type=volume,source=nfsvolume,target=/app,volume-driver=local,volume-opt=type=nfs,"
        "volume-opt=device=:/opt/test,volume-opt=o=addr=10.0.0.13")


@pytest.fixture
def engine(tmp_path):
    return Engine(Config(root=tmp_path / "root", runroot=tmp_path / "run"))


# -- the CSV record of --mount (Go's encoding/csv) ---------------------------

@pytest.mark.parametrize("value, fields", [
    ("a,b,c", ["a", "b", "c"]),
    ('"a,b",c', ["a,b", "c"]),
    ('type=bind,"source=/x,y",target=/z', ["type=bind", "source=/x,y", "target=/z"]),
    ('"say ""hi""",b', ['say "hi"', "b"]),
    ("a,", ["a", ""]),
    ('"volume-opt=o=addr=1.2.3.4,vers=4"', ["volume-opt=o=addr=1.2.3.4,vers=4"]),
])
def test_csv_record_reads_quoted_fields_as_go_does(value, fields):
    assert mounts.csv_record(value) == fields


@pytest.mark.parametrize("value, message", [
    ('a"b,c', 'bare " in non-quoted-field'),
    ('"abc', 'extraneous or missing " in quoted-field'),
    ('"a"b,c', 'extraneous or missing " in quoted-field'),
])
def test_csv_record_refuses_what_go_refuses(value, message):
    with pytest.raises(UsageError, match=message):
        mounts.csv_record(value)


# -- --mount ------------------------------------------------------------------

def test_the_seed_mount_string():
    m = mounts.parse_mount(SEED)
    assert (m.type, m.source, m.target, m.driver) == ("volume", "nfsvolume", "/app", "local")
    assert m.driver_options == {"type": "nfs", "device": ":/opt/test", "o": "addr=10.0.0.13"}
    assert not m.readonly and not m.labels


def test_volume_opt_with_commas_needs_quotes_as_in_docker():
    m = mounts.parse_mount('type=volume,src=v1,dst=/d,"volume-opt=o=addr=10.0.0.1,rw,nfsvers=4"')
    assert m.driver_options == {"o": "addr=10.0.0.1,rw,nfsvers=4"}
    with pytest.raises(UsageError, match="unexpected key 'rw' in 'rw'"):
        mounts.parse_mount("type=volume,src=v1,dst=/d,volume-opt=o=addr=10.0.0.1,rw,nfsvers=4")


def test_defaults_and_key_spellings(tmp_path):
    m = mounts.parse_mount("target=/data")  # type defaults to volume; no source: anonymous
    assert m.type == "volume" and len(m.source) == 64 and mounts.ANONYMOUS_LABEL in m.labels
    b = mounts.parse_mount(f"TYPE=bind,src={tmp_path},destination=/x,readonly,bind-propagation=rshared")
    assert (b.type, b.source, b.target, b.readonly, b.propagation) == ("bind", str(tmp_path), "/x", True, "rshared")
    assert mounts.parse_mount(f"type=bind,source={tmp_path},dst=/x,ro=false").readonly is False
    v = mounts.parse_mount("type=volume,src=vol,dst=/v,volume-nocopy,volume-label=a=b,volume-label=c")
    assert v.nocopy and v.labels == {"a": "b", "c": ""}


def test_tmpfs_size_and_mode():
    m = mounts.parse_mount("type=tmpfs,dst=/scratch,tmpfs-size=64m,tmpfs-mode=1770")
    assert m.options == ["size=64m", "mode=1770"]
    assert mounts.parse_mount("type=tmpfs,dst=/s,tmpfs-size=1000,ro").options == ["ro", "size=1000"]


@pytest.mark.parametrize("value, message", [
    ("type=volume,src=v", "target is required"),
    ("type=,dst=/x", "type is required"),
    ("type=volume,dst=/x,bogus=1", "unexpected key 'bogus' in 'bogus=1'"),
    ("type=volume,dst=/x,readonly=maybe", "invalid value for readonly: maybe"),
    ("type=bind,src=/,dst=/x,volume-driver=local", "cannot mix 'volume-\\*' options with mount type 'bind'"),
    ("type=volume,src=v,dst=/x,bind-propagation=shared", "cannot mix 'bind-\\*' options with mount type 'volume'"),
    ("type=volume,src=v,dst=/x,tmpfs-size=1m", "cannot mix 'tmpfs-\\*' options with mount type 'volume'"),
    ("type=tmpfs,dst=/x,tmpfs-size=lots", "invalid value for tmpfs-size: lots"),
    ("type=tmpfs,dst=/x,tmpfs-mode=999", "invalid value for tmpfs-mode: 999"),
    ("type=volume,src=v,dst=relative", "mount path must be absolute"),
    ("type=volume,src=v,dst=/", "destination can't be '/'"),
    ("type=bind,dst=/x", "field Source must not be empty"),
    ("type=bind,src=/no/such/path/pyctr-vol,dst=/x", "bind source path does not exist: /no/such/path/pyctr-vol"),
    ("type=bind,src=/,dst=/x,bind-propagation=sideways", "invalid propagation mode: sideways"),
    ("type=tmpfs,src=x,dst=/x", "field Source must not be specified"),
    ("type=volume,dst=/x,readonly", "must not set ReadOnly mode when using anonymous volumes"),
    ("type=carrier-pigeon,dst=/x", "mount type unknown"),
    ("type=volume,src=a/b,dst=/x", "includes invalid characters for a local volume name"),
    ('type=volume,"src=v,dst=/x', 'extraneous or missing "'),
])
def test_mount_errors_are_dockers_and_one_line(value, message):
    with pytest.raises(UsageError, match=message) as info:
        mounts.parse_mount(value)
    assert "\n" not in str(info.value)


# -- -v -------------------------------------------------------------------------

@pytest.mark.parametrize("raw, kind, source, target, readonly, propagation", [
    ("data:/app", "volume", "data", "/app", False, ""),
    ("data:/app:ro", "volume", "data", "/app", True, ""),
    ("/host:/ctr", "bind", "/host", "/ctr", False, ""),
    ("/host:/ctr:ro,rshared", "bind", "/host", "/ctr", True, "rshared"),
    ("/host:/ctr:z", "bind", "/host", "/ctr", False, ""),
    ("/host:/ctr:rw,Z,cached", "bind", "/host", "/ctr", False, ""),
    ("/data", "volume", "", "/data", False, ""),
])
def test_volume_flag(raw, kind, source, target, readonly, propagation):
    m = mounts.parse_volume(raw)
    assert (m.type, m.source, m.target, m.readonly, m.propagation) == (kind, source, target, readonly, propagation)
    assert m.create_host_path == (kind == "bind")


def test_volume_flag_nocopy_and_driver():
    m = mounts.parse_volume("data:/app:nocopy", volume_driver="nfs")
    assert m.nocopy and m.driver == "nfs"
    assert mounts.parse_volume("/h:/c", volume_driver="nfs").driver == ""


@pytest.mark.parametrize("raw, message", [
    ("", "invalid volume specification: ''"),
    (":/x", "invalid volume specification: ':/x'"),
    ("/foo:rw", "invalid volume specification: '/foo:rw'"),
    ("a:b:c:d", "invalid volume specification: 'a:b:c:d'"),
    ("/h:/c:rw,ro", "invalid mode: rw,ro"),
    ("/h:/c:bogus", "invalid mode: bogus"),
    ("relative", "mount path must be absolute"),
    ("data:/", "destination can't be '/'"),
    ("data:/c:rshared", "field BindOptions must not be specified"),
    ("/h:/c:nocopy", "field VolumeOptions must not be specified"),
    ("bad name:/c", "includes invalid characters"),
    ("x:/c", "volume name is too short"),
])
def test_volume_flag_errors(raw, message):
    with pytest.raises(UsageError, match=message) as info:
        mounts.parse_volume(raw)
    assert "\n" not in str(info.value)


# -- --tmpfs ---------------------------------------------------------------------

def test_tmpfs_flag_defaults_and_overrides():
    assert mounts.parse_tmpfs("/run").options == ["noexec", "nosuid", "nodev"]
    m = mounts.parse_tmpfs("/run:rw,exec,size=64m")
    assert m.options == ["nosuid", "nodev", "rw", "exec", "size=64m"] and not m.readonly
    assert mounts.parse_tmpfs("/ro:ro").readonly
    with pytest.raises(UsageError, match="mount path must be absolute"):
        mounts.parse_tmpfs("run")


def test_mount_options_split_into_flags_and_data():
    from pyctr.kernel import linux

    flags, data = mountopts.parse("ro,nosuid,size=64m,mode=1777,noexec")
    assert flags == linux.MS_RDONLY | linux.MS_NOSUID | linux.MS_NOEXEC and data == "size=64m,mode=1777"
    assert mountopts.parse("noexec,exec")[0] == 0
    assert mountopts.ram_in_bytes("64m") == 64 << 20 and mountopts.ram_in_bytes("1.5GB") == 3 << 29
    assert mountopts.tmpfs_size(3 << 20) == "3m" and mountopts.tmpfs_size(1000) == "1000"


# -- all together ----------------------------------------------------------------

def test_build_orders_parents_first_and_refuses_duplicates(engine, tmp_path):
    ms = mounts.build(engine, volumes=("/a/b/c", "data:/a"), tmpfs=("/a/b",))
    assert [m.target for m in ms] == ["/a", "/a/b", "/a/b/c"]
    with pytest.raises(UsageError, match="Duplicate mount point: /app"):
        mounts.build(engine, volumes=("one:/app",), mounts=("type=volume,src=two,dst=/app/",))


def test_image_volumes_become_anonymous_unless_the_user_mounts_there(engine):
    config = {"config": {"Volumes": {"/data": {}, "/logs/": {}}}}
    ms = {m.target: m for m in mounts.build(engine, volumes=("mine:/data",), image_config=config)}
    assert ms["/data"].source == "mine"
    assert len(ms["/logs"].source) == 64 and mounts.ANONYMOUS_LABEL in ms["/logs"].labels


def test_volume_driver_precedence(engine, tmp_path):
    engine.config.volume_driver = "example"
    ms = {m.target: m for m in mounts.build(engine, volumes=("aa:/a",),
                                            mounts=("type=volume,src=bb,dst=/b,volume-driver=nfs",), check=False)}
    assert ms["/a"].driver == "example" and ms["/b"].driver == "nfs"
    ms = mounts.build(engine, volumes=("aa:/a",), volume_driver="local")
    assert ms[0].driver == "local"


def test_new_volumes_are_checked_with_their_driver_before_anything_exists(engine):
    from pyctr.core.errors import PyctrError
    from pyctr.plugins import nfs_client

    with pytest.raises(UsageError, match='invalid option: "bogus"'):
        mounts.build(engine, mounts=("type=volume,src=vv,dst=/v,volume-opt=bogus=1",))
    with pytest.raises(PyctrError, match="no volume driver named 'nope'"):
        mounts.build(engine, volumes=("vv:/v",), volume_driver="nope")
    problem = nfs_client.support_problem()
    if problem is None:
        pytest.skip("this kernel has an NFS client")
    for kwargs in ({"mounts": ("type=volume,src=vv,dst=/v,volume-opt=type=nfs,volume-opt=device=:/x,"
                               "volume-opt=o=addr=127.0.0.1",)},
                   {"volumes": ("vv:/v",), "volume_driver": "nfs"}):
        with pytest.raises(PyctrError) as info:
            mounts.build(engine, **kwargs)
        assert str(info.value) == problem


def test_volumes_from_copies_volumes_and_binds(engine):
    from pyctr.core.container import Container
    from pyctr.core.spec import ContainerSpec, Mount
    from pyctr.core.state import transaction

    spec = ContainerSpec(mounts=[Mount(type="volume", target="/d", source="data"),
                                 Mount(type="bind", target="/h", source="/tmp"),
                                 Mount(type="tmpfs", target="/t")])
    c = Container(id="c" * 64, name="source", image_id="x", spec=spec, drivers={}, root=Path(engine.config.root))
    with transaction(engine.db):
        c.insert(engine.db)
    ms = {m.target: m for m in mounts.build(engine, volumes_from=("source:ro",))}
    assert set(ms) == {"/d", "/h"} and ms["/d"].readonly and ms["/h"].readonly
    assert not mounts.build(engine, volumes_from=("source",))[0].readonly
    with pytest.raises(UsageError, match="invalid mode: rshared"):
        mounts.build(engine, volumes_from=("source:rshared",))


# -- what the kernel's NFS client is handed (no client needed to check) ---------------

def test_the_seed_volume_options_become_a_kernel_nfs_mount():
    from pyctr.plugins import nfs_client

    source, flags, attempts = nfs_client.plan("nfs", ":/opt/test", "addr=10.0.0.13")
    assert source == "10.0.0.13:/opt/test" and flags == 0
    assert attempts == [f"addr=10.0.0.13,vers={v}" for v in ("4.2", "4.1", "4.0", "3")]


def test_nfs_plan_keeps_an_explicit_version_and_splits_flags():
    from pyctr.kernel import linux
    from pyctr.plugins import nfs_client

    source, flags, attempts = nfs_client.plan("nfs4", "127.0.0.1:/export", "ro,nosuid,port=2050,vers=4.1")
    assert source == "127.0.0.1:/export" and flags == linux.MS_RDONLY | linux.MS_NOSUID
    assert attempts == ["port=2050,vers=4.1,addr=127.0.0.1"]
    assert nfs_client.plan("nfs4", "[::1]:/e", "")[0] == "[::1]:/e"
    assert nfs_client.plan("nfs", "localhost:/e", "nfsvers=3")[2] == ["nfsvers=3,addr=127.0.0.1"]


@pytest.mark.parametrize("device, options, message", [
    ("/export", "addr=127.0.0.1", "expected HOST:/path"),
    ("host:export", "", "expected HOST:/path"),
    (":/export", "", "names no server"),
])
def test_nfs_plan_errors(device, options, message):
    from pyctr.core.errors import DriverError
    from pyctr.plugins import nfs_client

    with pytest.raises(DriverError, match=message):
        nfs_client.plan("nfs", device, options)
