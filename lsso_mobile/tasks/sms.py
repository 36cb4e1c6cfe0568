"""The SMS job (the ``sms`` queue): raising lets RQ retry it with the task's backoff."""

from __future__ import annotations

from lsso_mobile import runtime


def send_sms(phone: str, text: str) -> None:
    runtime.current().sms_sender.send(phone, text)
