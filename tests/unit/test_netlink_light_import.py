"""The bridge's pyroute2 codecs load without pyroute2/__init__ and without the real pyroute2.config."""

from __future__ import annotations

import subprocess
import sys

CODE = r"""
import sys
from pyctr.network_plugins.bridge import netlink
msgs = netlink._light_import()
loaded = sorted(m for m in ("multiprocessing", "platform", "asyncio", "pyroute2", "pyroute2.config") if m in sys.modules)
print("loaded:", ",".join(loaded))
# the codecs work: encode a link request and decode it again
msg = msgs["ifinfmsg"]()
msg["index"] = 7
msg["attrs"] = [["IFLA_IFNAME", "pyctr0"], ["IFLA_MTU", 1500]]
msg.encode()
back = msgs["ifinfmsg"](msg.data)
back.decode()
print("decoded:", back["index"], back.get_attr("IFLA_IFNAME"), back.get_attr("IFLA_MTU"))
# a later plain import gets the real modules
import pyroute2.config
from pyroute2 import IPRoute
print("real config:", pyroute2.config.uname[0], hasattr(pyroute2.config, "MpProcess"), IPRoute.__name__)
"""


def test_codecs_without_the_package_init_nor_config_imports() -> None:
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[0] == "loaded: ", out  # none of them: not multiprocessing, not the stubs
    assert "decoded: 7 pyctr0 1500" in out, out
    assert "real config: Linux True IPRoute" in out, out
