"""The bridge's pyroute2 codecs load without pyroute2/__init__, the real pyroute2.config, nor
logging, threading, traceback, socket nor pkgutil; those load, for real, when first used."""

from __future__ import annotations

import subprocess
import sys

CODE = r"""
import sys
from pyctr.network_plugins.bridge import netlink
msgs = netlink._light_import()
loaded = sorted(m for m in ("multiprocessing", "platform", "asyncio", "pyroute2", "pyroute2.config",
                            "logging", "threading", "traceback", "socket", "pkgutil") if m in sys.modules)
print("loaded:", ",".join(loaded))
# the codecs work: encode a link request and decode it again
msg = msgs["ifinfmsg"]()
msg["index"] = 7
msg["attrs"] = [["IFLA_IFNAME", "pyctr0"], ["IFLA_MTU", 1500]]
msg.encode()
back = msgs["ifinfmsg"](msg.data)
back.decode()
print("decoded:", back["index"], back.get_attr("IFLA_IFNAME"), back.get_attr("IFLA_MTU"))
# the codecs' logger is logging's own once used, and logging is the real module
from pyroute2.netlink import log
print("logger:", log.getEffectiveLevel() == 30, type(sys.modules["logging"]).__name__)
import logging, threading
print("real stdlib:", logging.getLogger("pyroute2.netlink") is logging.getLogger("pyroute2.netlink"),
      hasattr(threading, "Thread"), hasattr(logging, "Handler"))
# a later plain import gets the real modules
import pyroute2.config
from pyroute2 import IPRoute
print("real config:", pyroute2.config.uname[0], hasattr(pyroute2.config, "MpProcess"), IPRoute.__name__)
"""


def test_codecs_without_the_package_init_nor_config_imports() -> None:
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[0] == "loaded: ", out  # none of them: not multiprocessing, not the stubs
    assert "decoded: 7 pyctr0 1500" in out, out
    assert "logger: True module" in out, out
    assert "real stdlib: True True True" in out, out
    assert "real config: Linux True IPRoute" in out, out
