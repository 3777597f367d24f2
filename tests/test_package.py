"""The wheel as a user installs it: built, installed in a fresh virtual environment, served.

An editable install reads the checkout, so it hides a module or a page file that the wheel
lacks.  This test builds the wheel, installs it alone (``--no-deps``) into a new virtual
environment, lends that environment this one's third-party packages through a ``.pth`` file
(no network needed beyond the build), and runs its ``c4actors serve`` from a directory
outside the checkout.

It needs pip (to build, with the build backend fetched as usual) and takes a few seconds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import httpx

from c4actors.server_process import running_server

ROOT = Path(__file__).resolve().parent.parent
LOCAL_ONLY = (
    ".git",
    ".venv",
    ".nox",
    "build",
    "*.egg-info",
    "__pycache__",
    "*_cache",
    "*.sqlite3*",
)


def _run(*command: str | Path, cwd: Path | None = None) -> str:
    result = subprocess.run(
        [str(part) for part in command], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _build_wheel(out: Path) -> Path:
    """Build from a clean copy of the checkout: setuptools reuses a stale ``build/`` folder,
    which would smuggle in files the packaging configuration does not ship."""
    source = out.parent / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*LOCAL_ONLY))
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", out, source)
    (wheel,) = out.glob("c4actors-*.whl")
    return wheel


def _fresh_venv(where: Path, wheel: Path) -> Path:
    """A new virtual environment with the wheel installed; the dependencies borrowed."""
    _run(sys.executable, "-m", "venv", "--without-pip", where)
    python = where / "bin" / "python"
    _run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", wheel)
    purelib = _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    # Appended to sys.path after the venv's own site-packages: the wheel's copy comes first.
    borrowed = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(purelib.strip()) / "borrowed-deps.pth").write_text("\n".join(sorted(borrowed)) + "\n")
    return where / "bin"


def test_the_wheel_serves_the_page_from_another_directory(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path / "dist")
    names = zipfile.ZipFile(wheel).namelist()
    assert "c4actors/store/sqlite.py" in names
    assert "c4actors/www/index.html" in names
    assert not any(name.startswith(("tests/", "bench/", "www/")) for name in names), names

    bin_dir = _fresh_venv(tmp_path / "venv", wheel)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    where_www = _run(
        bin_dir / "python", "-c", "from c4actors.web import WWW_DIR; print(WWW_DIR)", cwd=elsewhere
    )
    assert Path(where_www.strip()).is_relative_to(tmp_path / "venv"), where_www

    args = ["serve", "--port", "0", "--db", str(elsewhere / "c4.sqlite3")]
    with running_server(
        args, command=[str(bin_dir / "c4actors")], cwd=elsewhere, env=env
    ) as server:
        page = httpx.get(server.http_url + "/")
        assert page.status_code == 200 and "<title>" in page.text
        for static in ("/static/app.js", "/static/style.css"):
            response = httpx.get(server.http_url + static)
            assert response.status_code == 200 and len(response.content) > 100, static
    assert server.process.returncode == 0, server.log()
