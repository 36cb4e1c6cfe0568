"""schemathesis hooks for the contract gate (loaded through SCHEMATHESIS_HOOKS=tests.contract.hooks).

Signs in through the API as the role in CONTRACT_ROLE (the demo accounts), and signs in again whenever
an answer is 401: the run itself may end the session (``POST /auth/logout``) or change the PIN.
"""

from __future__ import annotations

import os
from typing import Any

import requests
import schemathesis

from lsso_mobile.demo import DEMO_MEMBER_PHONE, DEMO_PIN, DEMO_STAFF_PASSWORD

STAFF_ACCOUNTS = {"officer": "officer.vte", "ops": "ops.central", "admin": "admin"}


def sign_in(base_url: str, role: str) -> str:
    if role == "member":
        response = requests.post(
            f"{base_url}/api/v1/auth/login", json={"phone": DEMO_MEMBER_PHONE, "pin": DEMO_PIN}, timeout=30
        )
    else:
        response = requests.post(
            f"{base_url}/api/v1/auth/staff/login",
            json={"username": STAFF_ACCOUNTS[role], "password": DEMO_STAFF_PASSWORD},
            timeout=30,
        )
    response.raise_for_status()
    return response.json()["access_token"]


@schemathesis.auth(refresh_interval=600)  # the access token lives 15 minutes; a 401 also signs in again
class SignedInAs:
    def get(self, case: Any, ctx: Any) -> str:
        return sign_in(os.environ["CONTRACT_BASE_URL"], os.environ["CONTRACT_ROLE"])

    def set(self, case: Any, data: str, ctx: Any) -> None:
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"
