"""What a real ``airflow api-server`` shows of the provider's connections, and of the receiver mounted in it.

The UI's connection editor reads ``GET /api/v2/connections/{id}``, which hides an extra only when
its name holds a sensitive word. The connections are saved as the UI's form saves them: every field
of the provider's connection form under its own name.
"""

from __future__ import annotations

import json

import httpx
import pytest

from airflow_provider_messaging import get_provider_info
from tests.dag.airflow_processes import airflow_env, api_server, free_port, migrate

pytestmark = pytest.mark.dag
PASSWORDS = {"admin": "rest-admin-pass-1"}


def secret_fields(conn_type: str) -> list[str]:
    """The extras the provider's form shows as password inputs: the ones holding secrets."""
    (conn,) = [c for c in get_provider_info()["connection-types"] if c["connection-type"] == conn_type]
    return [name for name, f in conn["conn-fields"].items() if f["schema"].get("format") == "password"]


def as_the_form_saves_it(conn_id: str, conn_type: str, password: str, **plain: str) -> dict[str, object]:
    extra = {**plain, **{name: f"{conn_type}-{name}-value-never-shown" for name in secret_fields(conn_type)}}
    return {"connection_id": conn_id, "conn_type": conn_type, "host": "example.signalwire.com",
            "login": "project-1", "password": password, "extra": json.dumps(extra)}  # fmt: skip


CONNECTIONS = [
    as_the_form_saves_it("sw_rest", "signalwire", "PT-api-token-never-shown", from_number="+15551230001"),
    as_the_form_saves_it("wa_rest", "whatsapp", "EAAG-access-token-never-shown", phone_number_id="1065"),
]


def test_every_secret_of_both_connection_types_comes_back_as_stars_and_the_receiver_has_no_docs(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "passwords.json").write_text(json.dumps(PASSWORDS))
    env = airflow_env(
        home, tmp_path,
        AIRFLOW__API_AUTH__JWT_SECRET="rest-test-jwt-secret-" + "0123456789abcdef" * 4,
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(home / "passwords.json"),
        AIRFLOW__MESSAGING__STORE_URL=f"sqlite:///{tmp_path / 'store.db'}",
    )  # fmt: skip
    migrate(env)
    with api_server(env, free_port()) as url:
        token = httpx.post(f"{url}/auth/token", json={"username": "admin", "password": PASSWORDS["admin"]})
        api = httpx.Client(base_url=f"{url}/api/v2", timeout=30,
                           headers={"Authorization": f"Bearer {token.json()['access_token']}"})  # fmt: skip
        shown = {}
        for conn in CONNECTIONS:
            created = api.post("/connections", json=conn)
            assert created.status_code == 201, created.text
            shown[conn["connection_id"]] = api.get(f"/connections/{conn['connection_id']}")
        listed = api.get("/connections").text
        docs = {
            path: httpx.get(f"{url}/messaging{path}").status_code
            for path in ("/docs", "/redoc", "/openapi.json")
        }
        health = httpx.get(f"{url}/messaging/health")

    for conn in CONNECTIONS:
        answer = shown[conn["connection_id"]]
        assert answer.status_code == 200, answer.text
        body = answer.json()
        extra = json.loads(body["extra"])
        secrets = secret_fields(body["conn_type"])
        assert body["password"] == "***"
        assert {name: extra[name] for name in secrets} == dict.fromkeys(secrets, "***")
        assert "never-shown" not in answer.text and "never-shown" not in listed
    assert (
        json.loads(shown["sw_rest"].json()["extra"])["from_number"] == "+15551230001"
    )  # the rest is left alone
    assert docs == {"/docs": 404, "/redoc": 404, "/openapi.json": 404}
    assert health.json() == {"status": "ok"}  # the receiver is mounted and answers
