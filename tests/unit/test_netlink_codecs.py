"""The bridge's pyroute2 codecs load without pyroute2/__init__ and pyroute2.config's imports, only for
the pyroute2 versions that was checked with, and give the package's own codecs.

When a pyroute2 upgrade moves outside pyroute2.network_plugins.bridge.codecs.CHECKED, the first
test fails and says so: check the light import against the new version (the other tests here),
then widen CHECKED and setup.cfg's pin together."""

from __future__ import annotations

import configparser
import re
import subprocess
import sys
from pathlib import Path

from pyctr.network_plugins.bridge import codecs

ROOT = Path(__file__).resolve().parents[2]

ENCODE = r"""
msg = msgs["ifinfmsg"]()
msg["index"] = 7
msg["attrs"] = [["IFLA_IFNAME", "pyctr0"], ["IFLA_MTU", 1500],
                ["IFLA_LINKINFO", {"attrs": [["IFLA_INFO_KIND", "veth"]]}]]
msg.encode()
back = msgs["ifinfmsg"](msg.data)
back.decode()
addr = msgs["ifaddrmsg"]()
addr["family"] = 2
addr["prefixlen"] = 16
addr["attrs"] = [["IFA_LOCAL", "172.17.0.1"], ["IFA_ADDRESS", "172.17.0.1"]]
addr.encode()
route = msgs["rtmsg"]()
route["family"] = 2
route["attrs"] = [["RTA_GATEWAY", "172.17.0.1"]]
route.encode()
print("bytes:", bytes(msg.data).hex(), bytes(addr.data).hex(), bytes(route.data).hex())
print("decoded:", back["index"], back.get_attr("IFLA_IFNAME"), back.get_attr("IFLA_MTU"))
"""


def _run(code: str) -> list[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()


def test_the_installed_pyroute2_is_one_the_light_import_was_checked_with() -> None:
    version = codecs.installed_version()
    assert version is not None, "cannot read pyroute2's version from its dist-info: the light import is off"
    low, high = codecs.CHECKED
    assert low <= version[:2] < high, (
        f"pyroute2 {'.'.join(map(str, version))} is outside the versions the bridge's light import "
        f"(pyctr/network_plugins/bridge/codecs.py) was checked with, {low} <= v < {high}: it now falls back to "
        f"'import pyroute2' (~130 ms a bridged start). Check it against this version and widen CHECKED and "
        f"setup.cfg's pin together")


def test_setup_cfg_pins_what_the_light_import_was_checked_with() -> None:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    (pin,) = [line for line in cfg["options"]["install_requires"].split("\n") if line.startswith("pyroute2")]
    low, high = codecs.CHECKED
    assert re.sub(r"\s", "", pin) == f"pyroute2>={low[0]}.{low[1]},<{high[0]}.{high[1]}"


def test_codecs_without_the_package_init_nor_config_imports() -> None:
    out = _run("import sys\nfrom pyctr.network_plugins.bridge import codecs\nmsgs = codecs.messages()\n"
               "print('loaded:', sorted(m for m in ('multiprocessing', 'platform', 'asyncio', 'pyroute2', "
               "'pyroute2.config', 'pyroute2.ndb', 'pyroute2.iproute') if m in sys.modules))\n"
               "print('placeholders:', [n for n, m in sys.modules.items() if type(m).__name__ == 'module' "
               "and n.startswith('pyroute2') and getattr(m, '__getattr__', None) is not None])\n" + ENCODE +
               "import pyroute2.netlink.rtnl.ifinfmsg as real\n"
               "from pyroute2 import IPRoute\nimport pyroute2.config\n"
               "print('same classes:', real.ifinfmsg is msgs['ifinfmsg'], IPRoute.__name__, "
               "hasattr(pyroute2.config, 'MpProcess'))\n")
    assert out[0] == "loaded: []", out
    assert out[1] == "placeholders: []", out  # nothing of the light import outlives it
    assert "decoded: 7 pyctr0 1500" in out, out
    assert "same classes: True IPRoute True" in out, out


def test_light_and_plain_imports_encode_byte_for_byte_alike() -> None:
    light = _run("from pyctr.network_plugins.bridge import codecs\nmsgs = codecs.messages()\n" + ENCODE)
    plain = _run("import pyroute2.netlink.rtnl.ifinfmsg as i, pyroute2.netlink.rtnl.ifaddrmsg as a, "
                 "pyroute2.netlink.rtnl.rtmsg as r\n"
                 "msgs = {'ifinfmsg': i.ifinfmsg, 'ifaddrmsg': a.ifaddrmsg, 'rtmsg': r.rtmsg}\n" + ENCODE)
    assert light == plain and light[0].startswith("bytes: ")


def test_outside_the_checked_versions_the_codecs_come_from_a_plain_import() -> None:
    out = _run("import sys\nfrom pyctr.network_plugins.bridge import codecs\n"
               "codecs.CHECKED = ((0, 1), (0, 2))\nmsgs = codecs.messages()\n"
               "print(type(sys.modules['pyroute2']).__name__, 'pyroute2.iproute' in sys.modules or "
               "hasattr(sys.modules['pyroute2'], 'IPRoute'))\n" + ENCODE)
    assert out[0] == "module True", out
    assert "decoded: 7 pyctr0 1500" in out, out
