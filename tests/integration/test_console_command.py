"""``airflow-messaging sandbox`` serves the sandbox as a real process."""

from __future__ import annotations

import pathlib
import socket
import subprocess
import sys
import time

import httpx
import pytest

from airflow_provider_messaging.cli import build_parser

pytestmark = pytest.mark.integration


def test_help_lists_the_sandbox_command():
    assert {"sandbox", "webhooks"} <= set(build_parser().format_help().split("{")[1].split("}")[0].split(","))


def test_sandbox_command_serves_on_loopback_with_the_given_credentials(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = pathlib.Path(sys.executable).parent / "airflow-messaging"
    proc = subprocess.Popen(
        [str(command), "sandbox", "--host", "127.0.0.1", "--port", str(port), "--signalwire-project", "P",
         "--signalwire-token", "T", "--signing-key", "K", "--whatsapp-token", "W"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base}/_sandbox/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        url = f"{base}/api/laml/2010-04-01/Accounts/P/Messages.json"
        form = {"To": "+15550001001", "From": "+15551230001", "Body": "hi"}
        assert httpx.post(url, data=form, auth=("P", "T")).status_code == 201
        assert httpx.post(url, data=form, auth=("P", "wrong")).status_code == 401
        graph = f"{base}/v25.0/106500000000001/messages"
        text = {"messaging_product": "whatsapp", "to": "15550002001", "type": "text", "text": {"body": "hi"}}
        assert httpx.post(graph, json=text, headers={"Authorization": "Bearer W"}).status_code == 200
        assert httpx.post(graph, json=text, headers={"Authorization": "Bearer wrong"}).status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=10)
