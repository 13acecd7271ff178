"""The commands the pages show (shell, systemd and Dockerfile blocks, and ``flask ... run``
in the text) name programs, options, worker classes, extras and make targets that exist.

They cannot all run here (a systemd unit, a Docker image, an hour of benchmarks), so each
is parsed by the tool it names: gunicorn's own argument parser (and its worker class
imported as gunicorn imports it), waitress's, ``flask run --help`` of an app with a
``SocketIO``, the benchmark runner's ``--help``, the Makefiles' targets, pyproject's extras.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path

import pytest

from .snippets import DOCS, PAGES

ROOT = DOCS.parent
BIN = Path(sys.executable).parent
_BLOCK = re.compile(r"^```(sh|ini|dockerfile)\n(.*?)^```", re.M | re.S)
_FLASK_RUN = re.compile(r"flask --app \S+ run(?: --?[a-z][\w-]*(?: \d+)?)*")
_OPTION = re.compile(r"^(--?[a-z][\w-]*)")


def _commands() -> list[tuple[str, list[str]]]:
    """(where, argv) of every command in the pages' shell, systemd and Dockerfile blocks."""
    found: list[tuple[str, list[str]]] = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in _BLOCK.finditer(text):
            lang, body = match.group(1), match.group(2)
            where = f"{page.relative_to(DOCS)}:{text[: match.start()].count(chr(10)) + 1}"
            for line in body.splitlines():
                if lang == "ini":
                    if line.startswith("ExecStart="):
                        argv = shlex.split(line.removeprefix("ExecStart="))
                        found.append((where, [Path(argv[0]).name, *argv[1:]]))
                elif lang == "dockerfile":
                    if line.startswith("CMD "):
                        found.append((where, json.loads(line.removeprefix("CMD "))))
                    elif line.startswith("RUN "):
                        found.append((where, shlex.split(line.removeprefix("RUN "))))
                elif line.strip() and not line.startswith("#"):
                    found.append((where, shlex.split(line, comments=True)))
        found += [(page.name, shlex.split(m.group(0))) for m in _FLASK_RUN.finditer(text)]
    return found


COMMANDS = _commands()


def _options(argv: list[str]) -> list[str]:
    return [m.group(1) for arg in argv if (m := _OPTION.match(arg))]


@cache
def _flask_run_help(tmp: Path) -> str:
    (tmp / "app.py").write_text(
        "from flask import Flask\nfrom flask_realtime import SocketIO\n"
        "app = Flask(__name__)\nsocketio = SocketIO(app)\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [str(BIN / "flask"), "--app", "app", "run", "--help"], cwd=tmp, capture_output=True,
        text=True, timeout=60, check=True,
    )  # fmt: skip
    return done.stdout


def _check_gunicorn(argv: list[str]) -> None:
    from gunicorn.config import Config

    config = Config()
    parser = config.parser()
    parser.allow_abbrev = False  # a misspelt option must not pass as a prefix of another
    args = parser.parse_args(argv[1:])  # exits (SystemExit) on an unknown option
    assert args.args == ["app:app"], args.args
    if args.worker_class:
        config.set("worker_class", args.worker_class)
        assert config.worker_class is not None  # imports the class as gunicorn does


def _check_make(argv: list[str]) -> None:
    args = argv[1:]
    directory = ROOT
    if args[:1] == ["-C"]:
        directory, args = ROOT / args[1], args[2:]
    makefile = (directory / "Makefile").read_text(encoding="utf-8")
    for arg in args:
        if "=" in arg:
            name, value = arg.split("=", 1)
            assert f"$({name})" in (ROOT / "bench" / "Makefile").read_text(encoding="utf-8")
            runner_help = subprocess.run(
                [sys.executable, str(ROOT / "bench" / "run.py"), "--help"],
                capture_output=True, text=True, timeout=60, check=True,
            ).stdout  # fmt: skip
            for option in _options(shlex.split(value)):
                assert option in runner_help, option
        else:
            assert re.search(rf"^{re.escape(arg)}:", makefile, re.M), f"no target {arg}"


def _extras() -> dict[str, list[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return dict(project["optional-dependencies"])


def _check_pip(argv: list[str]) -> None:
    extras = _extras()
    for arg in argv:
        if m := re.fullmatch(r"flask-realtime\[([\w,-]+)\]", arg):
            for extra in m.group(1).split(","):
                assert extra in extras, f"no extra {extra!r}"


def _id(value: object) -> str:
    return value if isinstance(value, str) else ""


@pytest.mark.parametrize(("where", "argv"), COMMANDS, ids=_id)
def test_command_exists(
    where: str, argv: list[str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    program = argv[0]
    if program == "gunicorn":
        _check_gunicorn(argv)
    elif program == "waitress-serve":
        from waitress.adjustments import Adjustments

        _, args = Adjustments.parse_args(argv[1:])  # raises on an unknown option
        assert args == ["app:app"], args
    elif program == "flask":
        help_text = _flask_run_help(tmp_path_factory.mktemp("flask"))
        for option in _options(argv[3:]):
            assert re.search(rf"(^|[\s,]){re.escape(option)}\b", help_text, re.M), option
    elif program == "make":
        _check_make(argv)
    elif program == "pip" or argv[:3] == ["python", "-m", "pip"]:
        _check_pip(argv)
    elif argv[:3] in (["python", "-m", "build"], ["python", "app.py"]) or program == "cd":
        pass  # the packaging test runs the build; getting-started.md runs app.py
    else:
        pytest.fail(f"{where}: no check for the command {shlex.join(argv)}: add one")


def test_the_pages_show_commands() -> None:
    programs = {argv[0] for _, argv in COMMANDS}
    assert {"gunicorn", "waitress-serve", "flask", "make"} <= programs, programs
    assert any("--workers" in argv for _, argv in COMMANDS if argv[0] == "flask")


def test_every_extra_named_exists() -> None:
    extras = _extras()
    named = set()
    for page in [*PAGES, ROOT / "README.md"]:
        text = page.read_text(encoding="utf-8")
        named |= set(re.findall(r"flask-realtime\[([\w-]+)\]", text))
        if page.name == "getting-started.md":
            named |= set(re.findall(r"`\[([\w-]+)\]`", text))
    assert {"redis", "gunicorn"} <= named, named
    assert sorted(named - extras.keys()) == []


def test_the_nginx_recipes_are_the_tested_ones() -> None:
    # tests/deploy/test_nginx.py runs a real nginx with its own copy of the recipe: the
    # pages' directives (the upstream addresses aside) must be the ones it runs.
    tested = (ROOT / "tests" / "deploy" / "test_nginx.py").read_text(encoding="utf-8")
    directives = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for block in re.findall(r"^```nginx\n(.*?)^```", text, re.M | re.S):
            for line in block.splitlines():
                directive = line.split("#", 1)[0].strip()
                if directive.startswith(("proxy_", "ip_hash")) and "proxy_pass" not in directive:
                    directives.append(directive)
    assert len(directives) >= 6, directives
    assert [d for d in directives if d not in tested] == []
