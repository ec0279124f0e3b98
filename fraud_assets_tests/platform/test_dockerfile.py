"""The image's properties, read from the Dockerfile (no Docker engine here): stages, user, layer
order, the pinned install, and commands that the installed CLIs accept."""

from __future__ import annotations

import importlib
import re
import sys

import click
import pytest
from dagster._cli import create_dagster_cli
from seldon_core import microservice

from fraud_assets.deployment.seldon_model import MODEL_CLASS
from fraud_assets_tests.platform import dockerfile
from fraud_assets_tests.platform.project import DOCKERFILE, ROOT, pyproject

STAGES = dockerfile.parse(DOCKERFILE)
TARGETS = ("code", "model")


def instructions(target: str) -> list[dockerfile.Instruction]:
    return [i for stage in dockerfile.chain(STAGES, target) for i in stage.instructions]


def position(target: str, keyword: str, pattern: str) -> int:
    found = [n for n, i in enumerate(instructions(target)) if i.keyword == keyword and re.search(pattern, i.args)]
    assert found, f"no {keyword} matching {pattern!r} in target {target}"
    return found[0]


def click_params(group: click.Group, argv: list[str]) -> dict:
    """Parse `argv` with the real click command (subcommands resolved), without running it."""
    command, words, context = group, argv[1:], None
    while isinstance(command, click.Group):
        context = click.Context(command, info_name=command.name, parent=context)
        sub = command.get_command(context, words[0])
        assert sub is not None, f"{argv[0]}: no subcommand {words[0]!r}"
        command, words = sub, words[1:]
    return command.make_context(command.name, words, parent=context).params


def test_both_targets_build_on_one_python_base():
    assert set(TARGETS) <= set(STAGES)
    base = dockerfile.chain(STAGES, "code")[0]
    assert next(s.name for s in dockerfile.chain(STAGES, "model")) == base.name
    python = re.fullmatch(r"python:(\d+\.\d+)-slim", base.base)
    assert python, f"base image {base.base!r} is not an official python:X.Y-slim"
    assert f">={python.group(1)}" in pyproject()["project"]["requires-python"]


@pytest.mark.parametrize("target", TARGETS)
def test_runs_as_an_unprivileged_user_the_image_creates(target):
    user = dockerfile.effective(STAGES, target, "USER")
    assert user is not None and user.args not in ("root", "0") and not user.args.startswith(("root:", "0:"))
    assert any(
        re.search(rf"useradd .*--uid [1-9]\d{{3,}} {re.escape(user.args)}\b", i.args)
        for i in instructions(target)
        if i.keyword == "RUN"
    ), f"user {user.args!r} is not created with a uid"


@pytest.mark.parametrize("target", TARGETS)
def test_dependencies_come_from_the_lock_before_the_source(target):
    lock = position(target, "COPY", r"^requirements\.lock ")
    install = position(target, "RUN", r"pip install .*-r ")
    source = position(target, "COPY", r"^fraud_assets ")
    assert lock < install < source
    for i in instructions(target):
        for command in re.findall(r"pip install[^&;]*", i.args):
            assert "--no-deps" in command and " -r " in command, f"line {i.line}: {command!r} installs outside the lock"


def test_the_image_leaves_out_exactly_the_dev_tools():
    """The grep in the install line, run on the real lock, removes pyproject's `dev` extra and nothing else."""
    run = instructions("code")[position("code", "RUN", r"pip install .*-r ")]
    pattern = re.search(r"grep -vE '([^']+)' requirements\.lock", run.args).group(1)
    lock = [line for line in (ROOT / "requirements.lock").read_text().splitlines() if "==" in line]
    removed = {line.split("==")[0].lower() for line in lock if re.search(pattern, line)}
    dev = {re.split(r"[<>=!~\[ ]", req)[0].lower() for req in pyproject()["project"]["optional-dependencies"]["dev"]}
    assert removed == dev


def test_every_copied_path_exists():
    for stage in STAGES.values():
        for i in stage.instructions:
            if i.keyword == "COPY" and not i.args.startswith("--from"):
                *sources, _ = i.args.split()
                for source in sources:
                    assert (ROOT / source).exists(), f"Dockerfile line {i.line}: COPY {source} does not exist"


def test_code_target_serves_the_definitions_with_dagsters_cli():
    command = dockerfile.effective(STAGES, "code", "CMD").exec_form()
    params = click_params(create_dagster_cli(), command)
    assert params["module_name"] == pyproject()["tool"]["dagster"]["module_name"] and params["host"] == "0.0.0.0"
    assert str(params["port"]) in dockerfile.effective(STAGES, "code", "EXPOSE").args.split()
    # The Helm chart sets the container's args to the whole command: an ENTRYPOINT would prefix it.
    assert dockerfile.effective(STAGES, "code", "ENTRYPOINT") is None


def test_model_target_runs_the_seldon_class(monkeypatch):
    command = dockerfile.effective(STAGES, "model", "CMD").exec_form()
    assert command[0] == "seldon-core-microservice"
    monkeypatch.setattr(sys, "argv", command)
    args, unknown = microservice.parse_args()
    assert unknown == [] and args.service_type == "MODEL"
    # Loaded the way seldon-core-microservice loads it, and the class the SeldonDeployment runs.
    module, name = args.interface_name.rsplit(".", 1)
    assert isinstance(getattr(importlib.import_module(module), name), type)
    assert args.interface_name == MODEL_CLASS
    exposed = {int(p) for p in dockerfile.effective(STAGES, "model", "EXPOSE").args.split()}
    assert exposed == {
        microservice.DEFAULT_HTTP_PORT,
        microservice.DEFAULT_GRPC_PORT,
        microservice.DEFAULT_METRICS_PORT,
    }
    assert dockerfile.effective(STAGES, "model", "ENTRYPOINT") is None


def test_a_shell_form_command_is_refused(tmp_path):
    path = tmp_path / "Dockerfile"
    path.write_text("FROM python:3.12-slim AS base\nCMD dagster code-server start \\\n  -p 4000\n")
    (instruction,) = dockerfile.parse(path)["base"].instructions
    assert instruction.line == 2 and instruction.args == "dagster code-server start  -p 4000"
    with pytest.raises(ValueError, match="line 2: CMD must be a JSON array"):
        instruction.exec_form()
