"""SignalWire's own Python SDKs, unmodified, each in a throwaway virtualenv, for tests that hold the
sandbox and the provider to what SignalWire ships.

A test asks for one with ``@pytest.mark.official_sdk("signalwire2")`` and the ``official_sdk``
fixture. The virtualenvs are built once per test session with pip from the package index, in the
background from the moment such a test is collected, so the other tests run meanwhile. When pip
cannot install an SDK (no index reachable), its tests are skipped with pip's own words.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

# what each virtualenv installs: the 2.x SDK the Blade framing and RequestValidator come from, and
# the current SDK (its RelayClient, REST client and webhook validator)
SDKS = {"signalwire2": "signalwire==2.1.1", "signalwire3": "signalwire-sdk>=3,<4"}
INSTALL_TIMEOUT = 900


@dataclass
class SdkVenv:
    name: str
    requirement: str
    path: Path
    problem: str | None = None
    version: str = ""
    _done: threading.Event = field(default_factory=threading.Event)

    @property
    def python(self) -> str:
        return str(self.path / "bin" / "python")

    def build(self) -> None:
        try:
            subprocess.run([sys.executable, "-m", "venv", str(self.path)], check=True, capture_output=True)
            pip = subprocess.run(
                [self.python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", self.requirement],
                capture_output=True, text=True, timeout=INSTALL_TIMEOUT,
            )  # fmt: skip
            if pip.returncode != 0:
                self.problem = f"pip could not install {self.requirement}: {pip.stderr.strip()[-500:]}"
                return
            dist = "signalwire-sdk" if self.name == "signalwire3" else "signalwire"
            self.version = self.run(f"import importlib.metadata as m; print(m.version({dist!r}))").strip()
        except (OSError, subprocess.SubprocessError) as exc:
            self.problem = f"could not build a virtualenv for {self.requirement}: {exc}"
        finally:
            self._done.set()

    def ready(self) -> SdkVenv:
        if not self._done.wait(INSTALL_TIMEOUT + 60):
            pytest.fail(f"installing {self.requirement} took longer than {INSTALL_TIMEOUT} s")
        if self.problem:
            pytest.skip(self.problem)
        return self

    def run(
        self, script: str, *, stdin: Any = None, env: dict[str, str] | None = None, timeout: float = 60
    ) -> str:
        """Run ``script`` with the SDK's interpreter; ``stdin`` goes in as JSON. Its stdout, or a failure
        that shows what it printed."""
        done = subprocess.run(
            [self.python, "-c", script], input=None if stdin is None else json.dumps(stdin), text=True,
            capture_output=True, timeout=timeout, env={**os.environ, **(env or {})},
        )  # fmt: skip
        if done.returncode != 0:
            raise AssertionError(
                f"{self.requirement} script failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
            )
        return done.stdout


_venvs: dict[str, SdkVenv] = {}


def _start(name: str) -> SdkVenv:
    if name not in _venvs:
        root = Path(tempfile.mkdtemp(prefix=f"sdk-{name}-"))
        venv = _venvs[name] = SdkVenv(name, SDKS[name], root / "venv")
        threading.Thread(target=venv.build, name=f"build-{name}", daemon=True).start()
    return _venvs[name]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Start building every virtualenv a collected test needs, right away."""
    for item in items:
        for marker in item.iter_markers("official_sdk"):
            _start(marker.args[0])


def pytest_sessionfinish() -> None:
    """Throw the virtualenvs away (a build still running keeps its folder)."""
    for venv in _venvs.values():
        if venv._done.is_set():
            shutil.rmtree(venv.path.parent, ignore_errors=True)


@pytest.fixture
def official_sdk(request: pytest.FixtureRequest) -> SdkVenv:
    marker = request.node.get_closest_marker("official_sdk")
    assert marker is not None, "mark the test with @pytest.mark.official_sdk('signalwire2' or 'signalwire3')"
    return _start(marker.args[0]).ready()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A throwaway CA and a certificate for 127.0.0.1 signed by it (PEM files)."""
    import trustme

    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    folder = tmp_path_factory.mktemp("tls")
    files = {"ca": folder / "ca.pem", "cert": folder / "cert.pem", "key": folder / "key.pem"}
    ca.cert_pem.write_to_path(str(files["ca"]))
    leaf.private_key_pem.write_to_path(str(files["key"]))
    for blob in leaf.cert_chain_pems:
        blob.write_to_path(str(files["cert"]), append=True)
    return {name: str(path) for name, path in files.items()}
