"""SMS behind one small interface: ``log`` (development: the text goes to the log) or ``http``.

The ``http`` backend POSTs JSON to the configured gateway with a bearer token. Sending happens
in a job (queue ``sms``) so gateway failures are retried by the queue; errors never contain the
message text, because the text holds a sign-in code.
"""

from __future__ import annotations

import logging
from typing import Protocol

import requests

from lsso_mobile.config import Settings
from lsso_mobile.services.phones import mask_phone

log = logging.getLogger(__name__)


class SmsDeliveryError(RuntimeError):
    """The gateway refused or could not be reached; the message says which, never the text."""


class SmsSender(Protocol):
    def send(self, phone: str, text: str) -> None: ...


class LogSmsSender:
    def send(self, phone: str, text: str) -> None:
        # The development backend: the code is read from the log. Production uses ``http``.
        log.info("SMS (log backend) to %s: %s", mask_phone(phone), text)


class HttpSmsSender:
    def __init__(self, url: str, token: str, timeout: float = 10.0) -> None:
        self.url = url
        self.token = token
        self.timeout = timeout
        self._session = requests.Session()

    def send(self, phone: str, text: str) -> None:
        try:
            response = self._session.post(
                self.url,
                json={"to": phone, "text": text},
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise SmsDeliveryError(f"SMS gateway unreachable ({type(exc).__name__})") from None
        if response.status_code >= 300:
            raise SmsDeliveryError(f"SMS gateway answered HTTP {response.status_code}")


def build_sms_sender(settings: Settings) -> SmsSender:
    if settings.sms_backend == "http":
        return HttpSmsSender(settings.sms_gateway_url, settings.sms_gateway_token)
    return LogSmsSender()
