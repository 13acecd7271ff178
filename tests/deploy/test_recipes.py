"""The systemd unit and the Dockerfile of README's Deployment section, run as far as a test
machine allows.

Neither can run whole here: systemd is not the init of the test machine, and there is no
Docker daemon (nor a registry to pull ``python:3.12-slim`` from). So the recipes are read
from README.md itself (a change there is tested, the test cannot drift from the docs) and
what they ask of *this package* is run for real: the unit's ``ExecStart`` and the image's
``CMD``, exactly as written but for the paths and the port, in the unit's working
directory, serving the official clients' protocol (python-socketio) and stopping on the
unit's ``KillSignal`` (``docker stop`` sends SIGTERM) with exit status 0 well within the
time the recipe gives (``TimeoutStopSec``; ``docker stop``'s 10 s). The unit file itself is
checked by ``systemd-analyze verify``; the Dockerfile's install line must name extras the
package has, and its base image a Python the package supports.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import signal
import subprocess
import textwrap
import time
import tomllib
from pathlib import Path

import pytest

from .clients import Recorder
from .processes import BIN, TESTS, ServerProcess

pytestmark = pytest.mark.timeout(90)

ROOT = TESTS.parent
LISTENING = r"Listening at: https?://127\.0\.0\.1:(\d+)"
GUNICORN_GRACEFUL_TIMEOUT = 30  # gunicorn's default --graceful-timeout, which the unit relies on
DOCKER_STOP_TIMEOUT = 10  # docker stop's default


def readme_block(item: str, language: str) -> str:
    """The first ``language`` code block after the README list item that starts ``item``."""
    text = (ROOT / "README.md").read_text()
    start = text.index(item)
    found = re.compile(rf"\n( *)```{language}\n(.*?)\n\1```", re.S).search(text, start)
    assert found is not None, f"no {language} block after {item!r} in README.md"
    return textwrap.dedent(found.group(2))


def same_in_the_docs(block: str) -> None:
    """docs/deployment.md gives the same recipe, word for word."""
    assert block in (ROOT / "docs" / "deployment.md").read_text()


def unit_settings(unit: str) -> dict[str, str]:
    """The ``[Service]`` settings of a systemd unit."""
    section = unit.split("[Service]", 1)[1].split("\n[", 1)[0]
    return dict(
        line.split("=", 1) for line in section.strip().splitlines() if "=" in line
    )  # fmt: skip


def app_dir(tmp_path: Path) -> Path:
    """A working directory holding ``app.py``, the module both recipes serve as ``app:app``
    (the deployment tests' app)."""
    folder = tmp_path / "srv"
    folder.mkdir()
    (folder / "app.py").write_text("from deploy.deploy_app import app  # noqa: F401\n")
    return folder


def serve_and_stop(command: list[str], folder: Path, log: Path, stop: int, limit: float) -> None:
    """Run ``command`` in ``folder``; a client connects, echoes and joins a room; ``stop``
    ends it with status 0 within ``limit`` seconds, the client told."""
    with ServerProcess(command, log, LISTENING, cwd=folder) as server:
        server.start()
        client = Recorder(server.url, ["polling", "websocket"])
        try:
            pid = client.call("echo", "through the recipe")
            assert client.wait_for("echo") == [{"data": "through the recipe", "pid": pid}]
            started = time.monotonic()
            server.signal(stop)
            assert client.wait_for("disconnect", timeout=limit)
            assert server.wait(timeout=limit) == 0
            assert time.monotonic() - started < limit
        finally:
            client.close()
        assert "Booting worker" in server.log()


def test_the_systemd_unit_verifies_and_its_command_serves_and_stops_on_its_signal(
    tmp_path: Path,
) -> None:
    unit = readme_block("- **systemd**", "ini")
    same_in_the_docs(unit)
    settings = unit_settings(unit)
    folder = app_dir(tmp_path)
    gunicorn = str(BIN / "gunicorn")
    written = shlex.split(settings["ExecStart"])
    assert written[0].endswith("/.venv/bin/gunicorn"), written
    # The unit as a user would install it, with this machine's paths.
    local = unit.replace(written[0], gunicorn).replace(
        f"WorkingDirectory={settings['WorkingDirectory']}", f"WorkingDirectory={folder}"
    )
    verify = shutil.which("systemd-analyze")
    if verify is None:
        pytest.fail("systemd-analyze is not installed (apt-get install -y systemd)")
    path = tmp_path / "myapp.service"
    path.write_text(local)
    checked = subprocess.run(
        [verify, "verify", str(path)], capture_output=True, text=True, timeout=30, check=False
    )
    complaints = [
        line for line in (checked.stdout + checked.stderr).splitlines() if str(path) in line
    ]
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert not complaints, checked.stdout + checked.stderr
    # systemd waits TimeoutStopSec for the stop before SIGKILL: more than gunicorn's
    # graceful timeout, so handlers in progress may finish.
    assert float(settings["TimeoutStopSec"]) > GUNICORN_GRACEFUL_TIMEOUT
    assert int(settings["LimitNOFILE"]) >= 65536
    command = [gunicorn, *written[1:]]
    command[command.index("-b") + 1] = "127.0.0.1:0"
    serve_and_stop(
        command, folder, tmp_path / "unit.log", signal.Signals[settings["KillSignal"]],
        float(settings["TimeoutStopSec"]),
    )  # fmt: skip


def test_the_dockerfile_installs_what_exists_and_its_cmd_serves_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    dockerfile = readme_block("- **Docker**", "dockerfile")
    same_in_the_docs(dockerfile)
    lines = dict(line.split(" ", 1) for line in dockerfile.splitlines() if line.strip())
    # The base image runs a Python the package supports.
    image = re.fullmatch(r"python:(\d+)\.(\d+)-slim", lines["FROM"])
    assert image is not None, lines["FROM"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11"
    assert (int(image.group(1)), int(image.group(2))) >= (3, 11)
    # The install line names extras the package has.
    extras = re.findall(r'"flask-realtime\[([^\]]+)\]"', lines["RUN"])
    assert extras, lines["RUN"]
    for extra in extras[0].split(","):
        assert extra in project["optional-dependencies"], extra
    # CMD in exec form (so that docker stop's SIGTERM reaches gunicorn), on the port exposed.
    cmd = json.loads(lines["CMD"])
    bind = cmd[cmd.index("-b") + 1]
    assert bind == f"0.0.0.0:{lines['EXPOSE']}", bind
    assert cmd[0] == "gunicorn"
    command = [str(BIN / "gunicorn"), *cmd[1:]]
    command[command.index("-b") + 1] = "127.0.0.1:0"
    serve_and_stop(
        command, app_dir(tmp_path), tmp_path / "docker.log", signal.SIGTERM, DOCKER_STOP_TIMEOUT
    )
