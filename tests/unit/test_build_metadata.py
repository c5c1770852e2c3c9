"""pyctr build of Dockerfiles that make no layer (FROM scratch, metadata only): the whole
command line, no root needed. ARG scoping, stages and targets, the cache, bad input."""

import json
import os
import subprocess
import sys

import pytest

PYCTR = [sys.executable, "-m", "pyctr"]


@pytest.fixture
def build(tmp_path):
    env = dict(os.environ, PYCTR_ROOT=str(tmp_path / "root"), PYCTR_RUNROOT=str(tmp_path / "run"),
               PYCTR_CONFIG=str(tmp_path / "none.toml"))

    def run(dockerfile, *args, context_files=None, env_extra=None):
        ctx = tmp_path / "ctx"
        ctx.mkdir(exist_ok=True)
        (ctx / "Dockerfile").write_text(dockerfile)
        for name, text in (context_files or {}).items():
            (ctx / name).write_text(text)
        r = subprocess.run(PYCTR + ["build", *args, str(ctx)], capture_output=True, text=True,
                           env={**env, **(env_extra or {})}, timeout=60)
        return r

    def config(image_id):
        return json.loads((tmp_path / "root/blobs/sha256" / image_id.strip()[7:]).read_bytes())

    run.config = config
    return run


def test_arg_scoping(build):
    df = ("ARG GLOBAL=g\nARG BOTH=global\nFROM scratch\nARG BOTH\nARG LOCAL=l-$GLOBAL\n"
          "ENV SEEN_GLOBAL=${GLOBAL:-unseen} BOTH=$BOTH LOCAL=$LOCAL\nARG TWICE=one\nARG TWICE=two\n"
          "ARG LOCAL=ignored\nENV AFTER=$TWICE,$LOCAL\n")
    r = build(df, "-q")
    assert r.returncode == 0, r.stderr
    env = build.config(r.stdout)["config"]["Env"]
    # a global ARG is seen only where a stage declares it again; LOCAL's default did not see GLOBAL either;
    # a later ARG replaces an earlier one; ENV beats ARG
    assert env[1:] == ["SEEN_GLOBAL=unseen", "BOTH=global", "LOCAL=l-", "AFTER=two,l-"]
    assert env[0].startswith("PATH=")
    r = build(df, "-q", "--build-arg", "BOTH=cli", "--build-arg", "LOCAL=forced")
    env = build.config(r.stdout)["config"]["Env"]
    assert env[2:] == ["BOTH=cli", "LOCAL=forced", "AFTER=two,forced"]


def test_env_beats_arg_and_unused_build_args_warn(build):
    r = build("FROM scratch\nARG V=arg\nENV V=env\nLABEL v=$V\n", "-q", "--build-arg", "NOPE=1")
    assert r.returncode == 0
    assert build.config(r.stdout)["config"]["Labels"] == {"v": "env"}
    assert "[WARNING]: One or more build-args ['NOPE'] were not consumed" in r.stderr


def test_targets_build_only_what_is_needed(build):
    df = ("FROM scratch AS a\nLABEL stage=a\nFROM scratch AS b\nLABEL stage=b\nFROM a AS c\nLABEL also=c\n")
    r = build(df)
    assert r.returncode == 0, r.stderr
    assert "stage=b" not in r.stdout  # the last stage (c) needs a, not b
    r = build(df, "-q", "--target", "b")
    assert build.config(r.stdout)["config"]["Labels"] == {"stage": "b"}
    r = build(df, "--target", "nope")
    assert r.returncode == 1 and "target stage 'nope' could not be found" in r.stderr


def test_cache_and_reproducible_ids(build):
    df = "FROM scratch\nENV A=1\nCMD [\"x\"]\n"
    first = build(df, "-q").stdout
    again = build(df)
    assert again.stdout.count("Using cache") == 2
    assert build(df, "-q").stdout == first
    epoch = {"SOURCE_DATE_EPOCH": "1600000000"}
    one = build(df, "-q", "--no-cache", env_extra=epoch).stdout
    two = build(df, "-q", "--no-cache", env_extra=epoch).stdout
    assert one == two and build.config(one)["created"] == "2020-09-13T12:26:40Z"


def test_labels_iidfile_and_history(build, tmp_path):
    r = build("FROM scratch\nMAINTAINER me\nCMD echo\n", "--label", "x=y", "--iidfile", str(tmp_path / "iid"), "-t",
              "named:1")
    assert r.returncode == 0, r.stderr
    assert "Successfully tagged named:1" in r.stdout
    config = build.config((tmp_path / "iid").read_text())
    assert config["config"]["Labels"] == {"x": "y"} and config["author"] == "me"
    assert [h["created_by"] for h in config["history"]] == ["/bin/sh -c #(nop) MAINTAINER me",
                                                            "/bin/sh -c #(nop) CMD echo"]
    assert all(h["empty_layer"] for h in config["history"])


@pytest.mark.parametrize(("dockerfile", "message", "code"), [
    ("# syntax=example.com/other:1\nFROM scratch\n", "cannot run other frontends", 1),
    ("# syntax=docker/dockerfile:1.7\nFROM scratch\nRUN [1]\n", "Dockerfile:3:", 1),
    ("FROM scratch\nHEALTHCHECK --interval=1x CMD true\n", "invalid duration", 1),
    ("FROM scratch AS 1bad\n", "invalid name for build stage", 1),
    ("FROM scratch\nFROM scratch AS x\nFROM scratch AS x\n", "duplicate stage name", 1),
    ("FROM scratch\nONBUILD FROM x\n", "isn't allowed as an ONBUILD trigger", 1),
    ("FROM scratch\nEXPOSE 80-70\n", "invalid range", 1),
    ("FROM --platform=linux/arm64 scratch\n", "linux/amd64 only", 1),
])
def test_bad_input(build, dockerfile, message, code):
    r = build(dockerfile)
    assert r.returncode == code, r.stdout
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_bad_flags_are_125(build):
    assert build("FROM scratch\n", "--platform", "linux/s390x").returncode == 125
    assert build("FROM scratch\n", "-t", "Bad:Name:x").returncode == 125
