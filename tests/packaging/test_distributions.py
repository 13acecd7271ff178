"""The distributions as they would be published: built, checked, installed, run.

``python -m build`` makes the sdist and, from it, the wheel (so the sdist must hold all
the wheel needs); ``twine check`` accepts both; the wheel is installed into a fresh
virtual environment, with no checkout on its path, and the quick start of the docs runs
from it against a real client (python-socketio).
"""

from __future__ import annotations

import email
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import venv
import zipfile
from pathlib import Path

import pytest
import requests
import socketio

import flask_realtime
from docs.snippets import DOCS, blocks_of

ROOT = Path(__file__).resolve().parents[2]
SHIM = ROOT / "tests" / "docs" / "run_server_snippet.py"
VERSION = flask_realtime.__version__


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        check=True, capture_output=True, env=_env(), timeout=120,
    )  # fmt: skip
    return out


def _wheel(dist: Path) -> Path:
    return dist / f"flask_realtime-{VERSION}-py3-none-any.whl"


def _sdist(dist: Path) -> Path:
    return dist / f"flask_realtime-{VERSION}.tar.gz"


@pytest.mark.timeout(180)
def test_twine_accepts_both(dist: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(_wheel(dist)), str(_sdist(dist))],
        capture_output=True, text=True, env=_env(), check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.timeout(180)
def test_the_wheel_holds_the_package_and_not_the_dev_files(dist: Path) -> None:
    with zipfile.ZipFile(_wheel(dist)) as wheel:
        names = set(wheel.namelist())
        info = f"flask_realtime-{VERSION}.dist-info"
        metadata = email.message_from_bytes(wheel.read(f"{info}/METADATA"))
    assert {
        "flask_realtime/__init__.py",
        "flask_realtime/py.typed",
        "flask_realtime/static/socket.io.js",
        "flask_realtime/static/socket.io.esm.js",
        f"{info}/licenses/LICENSE",
        f"{info}/entry_points.txt",
    } <= names
    assert "flask_realtime/static/build.py" not in names
    # The official admin UI (make admin-ui): shipped, with its licences, without source maps.
    assert {
        "flask_realtime/static/admin-ui/index.html",
        "flask_realtime/static/admin-ui/LICENSE",
        "flask_realtime/static/admin-ui/mdi/LICENSE",
        "flask_realtime/static/admin-ui/mdi/fonts/materialdesignicons-webfont.woff2",
    } <= names
    assert not [n for n in names if n.endswith(".map")]
    assert "flask_realtime/static/README.md" not in names
    assert not [n for n in names if not n.startswith(("flask_realtime/", info))]
    assert metadata["Name"] == "flask-realtime"
    assert metadata["Version"] == VERSION
    assert metadata["Requires-Python"] == ">=3.11"
    assert metadata["License-Expression"] == "MIT"
    classifiers = metadata.get_all("Classifier") or []
    assert "Framework :: Flask" in classifiers
    assert "Typing :: Typed" in classifiers
    assert "Programming Language :: Python :: 3.11" in classifiers
    assert metadata.get_all("Project-URL")
    extras = metadata.get_all("Provides-Extra") or []
    assert {"redis", "msgpack", "gunicorn", "asgi", "docs"} <= set(extras)
    sphinx = [r for r in metadata.get_all("Requires-Dist") or [] if r.startswith("sphinx")]
    assert sphinx, "sphinx is in the docs extra"
    assert "sphinx>=7.2; extra == 'docs'" in sphinx
    assert all("extra ==" in r for r in sphinx), sphinx  # never in the core install


@pytest.mark.timeout(180)
def test_the_sdist_leaves_out_results_and_node_modules(dist: Path) -> None:
    with tarfile.open(_sdist(dist)) as sdist:
        names = [n.split("/", 1)[1] for n in sdist.getnames() if "/" in n]
    assert {"CHANGELOG.md", "LICENSE", "docs/conf.py", "docs/index.md"} <= set(names)
    assert "src/flask_realtime/static/socket.io.js" in names
    assert not [n for n in names if n.startswith("bench/results")]
    assert not [n for n in names if "node_modules" in n or n.startswith(("docs/_build", ".venv"))]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.timeout(420)
def test_the_quick_start_runs_from_the_installed_wheel(dist: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    pip = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", str(_wheel(dist))],
        capture_output=True, text=True, env=_env(), cwd=tmp_path, timeout=360, check=False,
    )  # fmt: skip
    assert pip.returncode == 0, pip.stdout + pip.stderr
    where = subprocess.run(
        [str(python), "-c", "import flask_realtime as m; print(m.__file__, m.__version__)"],
        capture_output=True, text=True, env=_env(), cwd=tmp_path, check=True,
    )  # fmt: skip
    path, version = where.stdout.split()
    assert Path(path).is_relative_to(env_dir), path  # the wheel, not the checkout
    assert version == VERSION

    quick_start = next(b for b in blocks_of(DOCS / "getting-started.md") if b.kind == "server")
    (tmp_path / "app.py").write_text(quick_start.code, encoding="utf-8")
    shutil.copy(SHIM, tmp_path / "serve.py")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [str(python), "serve.py", str(port), "app.py"],
            cwd=tmp_path, env=_env(), stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        _wait_for(url, server, log)
        page = requests.get(url, timeout=5)
        assert '<script src="/socket.io/socket.io.js">' in page.text
        script = requests.get(f"{url}/socket.io/socket.io.js", timeout=5)
        assert script.status_code == 200
        assert "function io" in script.text
        with socketio.SimpleClient() as a, socketio.SimpleClient() as b:
            a.connect(url, transports=["websocket"])
            b.connect(url)  # long-polling, then the upgrade
            a.emit("echo", "hello")
            assert a.receive(timeout=5) == ["echo", "hello"]
            b.emit("chat", {"text": "hi", "n": 1})
            assert a.receive(timeout=5) == ["chat", {"text": "hi", "n": 1}]
            assert b.receive(timeout=5) == ["chat", {"text": "hi", "n": 1}]
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            code = server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            code = server.wait(5)
    assert code == 0, log.read_text()


def _wait_for(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        if server.poll() is not None:
            pytest.fail(f"the server exited with {server.returncode}:\n{log.read_text()}")
        try:
            requests.get(f"{url}/socket.io/?EIO=4&transport=polling", timeout=5)
            return
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not listen within 30 s:\n{log.read_text()}")
            time.sleep(0.1)
