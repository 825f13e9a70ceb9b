"""`vtn serve` as a real process: a spec-only client obtains a token and uses the API."""

from __future__ import annotations

import httpx2

from tests.support.server import running_vtn
from vtn.core.security import Role


def test_real_server_token_and_crud(tmp_path):
    with running_vtn(tmp_path) as vtn:
        secret = vtn.provision("operator", Role.BL)
        token = httpx2.post(
            vtn.base_url + "/auth/token",
            data={"grant_type": "client_credentials"},
            auth=("operator", secret),
        )
        assert token.status_code == 200, token.text
        assert token.headers["cache-control"] == "no-store"
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        created = httpx2.post(vtn.base_url + "/programs", json={"programName": "real"}, headers=headers)
        assert created.status_code == 201
        listed = httpx2.get(vtn.base_url + "/programs", headers=headers)
        assert [p["programName"] for p in listed.json()] == ["real"]
