"""`cloudlet start` without click (cli/fast.py): the same parameters as click for every flag of the
table, click for everything else, and a start path that does not import click."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import fields

import pytest

from cloudlet.cli import fast
from cloudlet.cli.commands import cli
from cloudlet.cli.fast import START_OPTIONS, parse_start
from cloudlet.config import Settings, flag_of

# Plain values of each kind, as a user would type them (click converts some: " 8 " -> 8, INFO -> info).
VALUES = {
    "text": ["127.0.0.2", "", "-1", "a=b"],
    "variable": ["7", "", "-3", "x:y,z"],
    "int": ["7", " 8 ", "-1", "0"],
    "path": ["/nonexistent/cloudlet-state", ".", ""],
    "level": ["INFO", "debug", "Warning"],
}


def click_params(args: list[str]) -> dict:
    return cli.commands["start"].make_context("start", list(args)).params


def uses(option: fast.StartOption) -> list[list[str]]:
    if option.kind == "flag":
        return [[option.flag], [option.flag, option.flag]]
    out = []
    for value in VALUES[option.kind]:
        out += [[option.flag, value], [f"{option.flag}={value}"]]
    return out


@pytest.mark.parametrize("option", START_OPTIONS, ids=lambda o: o.flag)
def test_every_flag_parses_as_click_parses_it(option):
    for args in uses(option):
        assert parse_start(args) == click_params(args), args
    # ... and among others, the last one winning.
    args = ["--ephemeral", "--port", "5", *uses(option)[0], "--region", "eu-west-1", *uses(option)[-1]]
    assert parse_start(args) == click_params(args), args


def test_no_flags_is_every_parameter_unset():
    assert parse_start([]) == click_params([]) == {option.name: None for option in START_OPTIONS}


@pytest.mark.parametrize("args", [
    ["--help"], ["--port", "5", "--help"], ["-h"], ["--bogus"], ["--por", "5"], ["extra"], ["--"],
    ["--port"], ["--region"], ["--port", "x"], ["--port="], ["--ephemeral=1"], ["--log-level", "loud"],
    ["--data-dir", "a\0b"],
])
def test_anything_else_is_left_to_click(args):
    assert parse_start(args) is None


def test_a_bad_setting_is_left_to_click_to_word():
    """Settings.from_env refuses it; click parses again and says so (exit code 2)."""
    assert fast.start(["--port", "-1", "--ephemeral"]) is None
    assert fast.start(["--lambda-network", "wifi"]) is None


def test_the_table_is_every_setting():
    assert [option.name for option in START_OPTIONS] == [option.flag[2:].replace("-", "_") for option in START_OPTIONS]
    assert {option.name for option in START_OPTIONS} == {f.name for f in fields(Settings)}
    for option in START_OPTIONS:
        assert option.flag == flag_of(option.name)
        assert option.variable == f"CLOUDLET_{option.name.upper()}"
        assert option.kind in fast.KINDS
        assert option.variable in option.help or option.kind == "flag", option


def test_starting_imports_neither_click_nor_what_the_first_requests_may_never_need():
    """The start path, entry point to a built platform, without click, the compute engine (built
    for the first invocation), event streams, the XML parser or CBOR (loaded on first use)."""
    code = """
import sys
import cloudlet.server

built = []
def serve(settings):
    gateway, platform = cloudlet.server.build_app(settings)
    built.append(platform)
    platform.close()
    return 0

cloudlet.server.serve = serve
sys.argv = ["cloudlet", "start", "--port", "0", "--ephemeral", "--log-level=warning"]
from cloudlet.cli.main import main
try:
    main()
except SystemExit as exc:
    assert exc.code == 0, exc.code
assert built, "the fast path did not start"
deferred = ("click", "cloudlet.compute.manager", "cloudlet.protocol.events", "defusedxml", "cbor2")
loaded = [name for name in deferred if name in sys.modules]
assert not loaded, f"loaded at start-up: {loaded}"
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={k: v for k, v in os.environ.items() if not k.startswith("CLOUDLET_")})
    assert run.returncode == 0, run.stderr


def test_help_and_other_commands_are_clicks():
    run = subprocess.run([sys.executable, "-m", "cloudlet", "start", "--help"], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0 and "Usage:" in run.stdout, run.stderr
    for option in START_OPTIONS:
        assert option.flag in run.stdout
    run = subprocess.run([sys.executable, "-m", "cloudlet", "start", "--bogus"], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 2 and "No such option '--bogus'" in run.stderr, run.stderr
