"""The metadata instructions' handler shared by build, import --change and commit --change."""

import pytest

from pyctr.build.instructions import apply, apply_changes, env_set, parse_duration
from pyctr.build.parser import parse
from pyctr.core.errors import UsageError


def run(lines, config=None, vars_=None, cmd_set=True):
    config = {} if config is None else config
    image = {}
    for node in parse("FROM x\n" + lines).nodes[1:]:
        apply(node, config, vars_ if vars_ is not None else {}, image=image, cmd_set=cmd_set)
    return config, image


def test_env_replaces_in_place_and_expands_with_earlier_values():
    config, _ = run('ENV A=1 B="two words"\nENV A=2 C=$A\n', {"Env": ["PATH=/bin", "A=0"]},
                    vars_={"A": "0"})
    # each instruction sees the values from before it (vars_ is fixed here: the builder refreshes it)
    assert config["Env"] == ["PATH=/bin", "A=2", "B=two words", "C=0"]


def test_env_legacy_form():
    config, _ = run("ENV GREETING hello   world\n")
    assert config["Env"] == ["GREETING=hello   world"]


def test_label_and_quotes():
    config, _ = run('LABEL "a b"="c d" e=f\\ g h=\'$x\'\n', vars_={"x": "no"})
    assert config["Labels"] == {"a b": "c d", "e": "f g", "h": "$x"}


def test_workdir_relative_chain():
    config, _ = run("WORKDIR /a\nWORKDIR b\nWORKDIR ../c/./d\n")
    assert config["WorkingDir"] == "/a/c/d"


def test_expose_ranges_and_protocols():
    config, _ = run("EXPOSE 80 53/UDP 8000-8002/tcp $P\n", vars_={"P": "9000"})
    assert sorted(config["ExposedPorts"]) == sorted(["53/udp", "8000/tcp", "8001/tcp", "8002/tcp", "80/tcp", "9000/tcp"])


def test_cmd_and_entrypoint_forms_and_the_inherited_cmd():
    config, _ = run('CMD echo $HOME\n', {"Shell": ["/bin/bash", "-c"]})
    assert config["Cmd"] == ["/bin/bash", "-c", "echo $HOME"]  # not expanded, through SHELL
    config, _ = run('ENTRYPOINT ["/x"]\n', {"Cmd": ["sh"]}, cmd_set=False)
    assert config["Entrypoint"] == ["/x"] and config["Cmd"] is None
    config, _ = run('ENTRYPOINT ["/x"]\n', {"Cmd": ["sh"]}, cmd_set=True)
    assert config["Cmd"] == ["sh"]
    config, _ = run("ENTRYPOINT []\n", {"Entrypoint": ["/x"]})
    assert config["Entrypoint"] is None


def test_healthcheck():
    config, _ = run("HEALTHCHECK --interval=1m30s --timeout=500ms --retries=3 CMD curl -f http://x/\n")
    assert config["Healthcheck"] == {"Test": ["CMD-SHELL", "curl -f http://x/"], "Interval": 90_000_000_000,
                                     "Timeout": 500_000_000, "Retries": 3}
    config, _ = run('HEALTHCHECK CMD ["/check", "-q"]\n')
    assert config["Healthcheck"] == {"Test": ["CMD", "/check", "-q"]}
    config, _ = run("HEALTHCHECK NONE\n")
    assert config["Healthcheck"] == {"Test": ["NONE"]}


def test_shell_stopsignal_volume_user_maintainer_onbuild():
    config, image = run('SHELL ["/bin/ash", "-eo", "pipefail", "-c"]\nSTOPSIGNAL $S\nVOLUME ["/a", "/b"]\n'
                        "VOLUME /c /d\nUSER ${U}:0\nMAINTAINER me <me@x>\nONBUILD RUN echo $HOME\n",
                        vars_={"S": "SIGUSR1", "U": "app"})
    assert config["Shell"] == ["/bin/ash", "-eo", "pipefail", "-c"]
    assert config["StopSignal"] == "SIGUSR1"
    assert sorted(config["Volumes"]) == ["/a", "/b", "/c", "/d"]
    assert config["User"] == "app:0"
    assert image["author"] == "me <me@x>"
    assert config["OnBuild"] == ["RUN echo $HOME"]


@pytest.mark.parametrize(("text", "ns"), [("0", 0), ("1s", 10**9), ("1.5h", 5400 * 10**9), ("2m3s", 123 * 10**9),
                                          ("10us", 10_000), ("7ns", 7)])
def test_durations(text, ns):
    assert parse_duration(text) == ns


def test_env_set():
    assert env_set(["A=1", "B=2"], "A", "3") == ["A=3", "B=2"]
    assert env_set([], "A", "") == ["A="]


def test_apply_changes_as_import_and_commit_use_it():
    config = apply_changes({"Env": ["PATH=/bin"]}, ['CMD ["sh"]', "ENV A=1 B=$PATH", "EXPOSE 80", "WORKDIR /srv",
                                                   "LABEL a=b", "USER nobody"])
    assert config == {"Env": ["PATH=/bin", "A=1", "B=/bin"], "Cmd": ["sh"], "ExposedPorts": {"80/tcp": {}},
                      "WorkingDir": "/srv", "Labels": {"a": "b"}, "User": "nobody"}


@pytest.mark.parametrize("bad", ["RUN echo", "FROM x", "COPY a b", "BOGUS x", "CMD [1]", "ENV"])
def test_apply_changes_refuses(bad):
    with pytest.raises(UsageError):
        apply_changes({}, [bad])
