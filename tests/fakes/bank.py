"""A local fake bank: the sandbox provider's counterpart, for tests, benchmarks and `lsso-mobile dev`.

It keeps a ledger of transactions, answers the provider protocol (``GET /transactions/{id}``,
``GET /transactions?date=``) and sends signed callbacks to the app, on demand: once, twice, late (an old
timestamp), out of order, or for a failed transaction. It can be told to be down (503) or slow.

    bank = FakeBank(secret).start()
    tx = bank.pay("4829105736", 540000)
    bank.callback(app_url, tx)                 # what a real bank does after a payment

Run alone: ``python -m tests.fakes.bank --port 8124 --app http://127.0.0.1:5000`` with ``POST /pay
{"bill_number", "amount"}`` to pay a bill and call back (``POST /ledger {"transactions": [...]}`` records
payments without calling back, for the benchmark).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

import requests

from lsso_mobile.services.payment_providers import sign

VIENTIANE = ZoneInfo("Asia/Vientiane")
DEV_SECRET = "sandbox-callback-secret-not-for-production"


class FakeBank:
    def __init__(self, secret: str = DEV_SECRET, host: str = "127.0.0.1", port: int = 0) -> None:
        self.secret = secret
        self.ledger: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.down = False
        self.delay_seconds = 0.0
        self.queries = 0
        self.hidden: set[str] = set()  # transactions left out of the daily list (to plant a mismatch)
        self._session = requests.Session()
        bank = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def setup(self) -> None:
                super().setup()
                import socket

                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _answer(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                bank.queries += 1
                if bank.delay_seconds:
                    time.sleep(bank.delay_seconds)
                if bank.down:
                    self._answer(503, {"error": "down"})
                    return
                url = urlparse(self.path)
                if url.path == "/transactions":
                    day = parse_qs(url.query).get("date", [""])[0]
                    self._answer(200, {"transactions": bank.transactions_on(day)})
                    return
                if url.path.startswith("/transactions/"):
                    found = bank.ledger.get(url.path.rpartition("/")[2])
                    self._answer(200, found) if found else self._answer(404, {"error": "unknown"})
                    return
                self._answer(404, {"error": "no such path"})

            def do_POST(self) -> None:  # the stand-alone form: pay a bill and call back, or fill the ledger
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path == "/ledger":  # {"transactions": [{transaction_id, bill_number, amount}]}: no callback
                    for item in body["transactions"]:
                        bank.pay(item["bill_number"], int(item["amount"]), transaction_id=item["transaction_id"])
                    self._answer(200, {"recorded": len(body["transactions"])})
                    return
                tx = bank.pay(body["bill_number"], int(body["amount"]))
                if bank.app_url:
                    bank.callback(bank.app_url, tx)
                self._answer(200, bank.ledger[tx])

        self.app_url = ""
        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://{host}:{self.server.server_address[1]}"

    def start(self) -> FakeBank:
        threading.Thread(target=self.server.serve_forever, daemon=True, name="fake-bank").start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- the ledger --------------------------------------------------------------------------------

    def pay(
        self,
        bill_number: str,
        amount: int,
        *,
        status: str = "paid",
        transaction_id: str | None = None,
        paid_at: datetime | None = None,
    ) -> str:
        transaction_id = transaction_id or f"TX{uuid.uuid4().hex[:16].upper()}"
        with self.lock:
            self.ledger[transaction_id] = {
                "transaction_id": transaction_id,
                "bill_number": bill_number,
                "amount": amount,
                "status": status,
                "paid_at": (paid_at or datetime.now(UTC)).isoformat(),
            }
        return transaction_id

    def set_status(self, transaction_id: str, status: str) -> None:
        with self.lock:
            self.ledger[transaction_id]["status"] = status

    def transactions_on(self, day: str) -> list[dict[str, Any]]:
        with self.lock:
            return [
                t
                for t in self.ledger.values()
                if t["transaction_id"] not in self.hidden
                and datetime.fromisoformat(t["paid_at"]).astimezone(VIENTIANE).date().isoformat() == day
            ]

    # -- callbacks ---------------------------------------------------------------------------------

    def signed(self, transaction_id: str, timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
        entry = self.ledger.get(transaction_id, {"transaction_id": transaction_id})
        body = json.dumps(
            {k: entry.get(k) for k in ("transaction_id", "bill_number", "amount", "status")}, separators=(",", ":")
        ).encode()
        stamp = str(timestamp if timestamp is not None else int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Timestamp": stamp,
            "X-Signature": sign(self.secret, stamp, body),
        }
        return body, headers

    def callback(
        self, app_url: str, transaction_id: str, *, provider: str = "sandbox", timestamp: int | None = None
    ) -> requests.Response:
        body, headers = self.signed(transaction_id, timestamp)
        return self._session.post(
            f"{app_url.rstrip('/')}/api/v1/payments/callbacks/{provider}", data=body, headers=headers, timeout=30
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8124)
    parser.add_argument("--app", default="http://127.0.0.1:5000", help="where to send callbacks")
    parser.add_argument("--secret", default=DEV_SECRET)
    args = parser.parse_args()
    bank = FakeBank(args.secret, port=args.port)
    bank.app_url = args.app
    print(f"fake bank on {bank.url}, calling back {args.app}", flush=True)
    bank.server.serve_forever()


if __name__ == "__main__":
    main()
