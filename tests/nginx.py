"""A real nginx in front of c4actors, configured with the documented ``docs/deploy/nginx.conf``.

Everything nginx writes (pid file, logs, temporary files) stays in a temporary directory;
it runs in the foreground (``daemon off``) as a child process on a free loopback port and
is stopped with SIGQUIT (a graceful stop), killed if that takes too long.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Final, Self

REPOSITORY: Final = Path(__file__).resolve().parent.parent
TEMPLATE: Final = REPOSITORY / "docs" / "deploy" / "nginx.conf"
START_TIMEOUT: Final = 10.0

MAIN_CONFIG: Final = """\
{user}
pid {directory}/nginx.pid;
worker_processes 1;
events {{ worker_connections 256; }}
http {{
    access_log {directory}/access.log;
    error_log {directory}/error.log info;
    client_body_temp_path {directory}/client_body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    include {directory}/c4actors.conf;
}}
"""
"""What a distribution's ``/etc/nginx/nginx.conf`` provides around the documented file.
As root, nginx's workers would switch to ``nobody``, who may not write in the temporary
directory: they stay root here."""


def find_nginx() -> str | None:
    """Debian installs nginx in /usr/sbin, which is not on every user's PATH."""
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def render(
    template: str, listen: str, upstream: str, certificate: tuple[Path, Path] | None = None
) -> str:
    """The documented file with its placeholders filled in; with ``certificate`` (the
    certificate chain and key files), its two ``ssl_certificate`` lines uncommented."""
    for placeholder, value in (("@LISTEN@", listen), ("@UPSTREAM@", upstream)):
        if placeholder not in template:
            raise ValueError(f"the template has no {placeholder}")
        template = template.replace(placeholder, value)
    if certificate is not None:
        lines = []
        for line in template.splitlines(keepends=True):
            directive = line.strip().removeprefix("# ").split(" ", 1)[0]
            if directive in ("ssl_certificate", "ssl_certificate_key"):
                path = certificate[0] if directive == "ssl_certificate" else certificate[1]
                line = f"    {directive} {path};\n"
            lines.append(line)
        template = "".join(lines)
        if template.count(str(certificate[1])) != 1:
            raise ValueError("the template lost its ssl_certificate lines")
    return template


class Nginx:
    """nginx proxying ``127.0.0.1:port`` to ``upstream`` with the documented configuration."""

    def __init__(
        self,
        binary: str,
        directory: Path,
        upstream: str,
        certificate: tuple[Path, Path] | None = None,
    ) -> None:
        self.directory = directory
        self.port = free_port()
        self.scheme = "http" if certificate is None else "https"
        user = "user root;" if os.geteuid() == 0 else ""
        (directory / "nginx.conf").write_text(MAIN_CONFIG.format(user=user, directory=directory))
        listen = f"127.0.0.1:{self.port}" + ("" if certificate is None else " ssl")
        (directory / "c4actors.conf").write_text(
            render(TEMPLATE.read_text(), listen, upstream, certificate)
        )
        self.process = subprocess.Popen(
            [
                binary,
                "-p",
                str(directory),
                "-c",
                str(directory / "nginx.conf"),
                "-e",
                str(directory / "error.log"),
                "-g",
                "daemon off;",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )

    @classmethod
    def start(
        cls,
        binary: str,
        directory: Path,
        upstream: str,
        certificate: tuple[Path, Path] | None = None,
    ) -> Self:
        nginx = cls(binary, directory, upstream, certificate)
        try:
            nginx.wait_listening()
        except BaseException:
            nginx.stop()
            raise
        return nginx

    def wait_listening(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited ({self.process.returncode}):\n{self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"nginx did not listen:\n{self.log()}") from None
                time.sleep(0.05)

    def log(self) -> str:
        path = self.directory / "error.log"
        return path.read_text() if path.exists() else ""

    @property
    def http_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # nginx's graceful shutdown
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
