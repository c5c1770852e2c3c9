"""A real ``docker-credential-*`` helper for tests: an executable on a private ``$PATH``.

It speaks the protocol of docker/docker-credential-helpers (``get``,
``store``, ``erase``, ``list``; the server URL or the credentials JSON on
stdin) and keeps what it is given in a JSON file next to it, so a test can
see what pyctr stored, and logs every call (action and server) so a test can
see that pyctr asked it. Used by the credential tests as ``pass`` or
``secretservice`` would be used on a desktop.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

_SCRIPT = '''#!{python}
import json, sys
store, log = {store!r}, {log!r}
action = sys.argv[1] if len(sys.argv) > 1 else ""
data = sys.stdin.read()
with open(log, "a") as f:
    f.write(json.dumps([action, data.strip() if action != "store" else json.loads(data)["ServerURL"]]) + "\\n")
try:
    with open(store) as f:
        creds = json.load(f)
except FileNotFoundError:
    creds = {{}}
if action == "get":
    server = data.strip()
    if server not in creds:
        print("credentials not found in native keychain")
        sys.exit(1)
    print(json.dumps({{"ServerURL": server, **creds[server]}}))
elif action == "store":
    doc = json.loads(data)
    creds[doc["ServerURL"]] = {{"Username": doc["Username"], "Secret": doc["Secret"]}}
    with open(store, "w") as f:
        json.dump(creds, f)
elif action == "erase":
    server = data.strip()
    if server not in creds:
        print("credentials not found in native keychain")
        sys.exit(1)
    del creds[server]
    with open(store, "w") as f:
        json.dump(creds, f)
elif action == "list":
    print(json.dumps({{k: v["Username"] for k, v in creds.items()}}))
else:
    print("unknown action: " + action)
    sys.exit(1)
'''


class CredentialHelper:
    """``docker-credential-NAME`` in ``bindir``; ``env()`` puts it first on ``$PATH``."""

    def __init__(self, bindir: Path, name: str = "pyctrtest") -> None:
        self.name = name
        self.bindir = Path(bindir)
        self.bindir.mkdir(parents=True, exist_ok=True)
        self.store_path = self.bindir / f"{name}-store.json"
        self.log_path = self.bindir / f"{name}-calls.log"
        self.program = self.bindir / f"docker-credential-{name}"
        self.program.write_text(_SCRIPT.format(python=sys.executable, store=str(self.store_path),
                                               log=str(self.log_path)))
        self.program.chmod(0o755)

    def put(self, server: str, username: str, secret: str) -> None:
        creds = self.stored()
        creds[server] = {"Username": username, "Secret": secret}
        self.store_path.write_text(json.dumps(creds))

    def stored(self) -> dict:
        try:
            return json.loads(self.store_path.read_text())
        except FileNotFoundError:
            return {}

    def calls(self) -> list[list[str]]:
        try:
            return [json.loads(line) for line in self.log_path.read_text().splitlines()]
        except FileNotFoundError:
            return []

    def path_env(self) -> str:
        return f"{self.bindir}{os.pathsep}{os.environ.get('PATH', '')}"
