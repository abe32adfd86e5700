"""Running the demo next to the portal: the two emulators as child processes, configured
through their control API, and a "live shop" that places a new order in KeyCRM every so often
through KeyCRM's own API (so it arrives by webhook, as a real order would)."""

from __future__ import annotations

import json
import logging
import random
import subprocess
import sys
import threading
import time
import urllib.request
from typing import Any

from demo.services import DEMO_BAS_PASSWORD, DEMO_BAS_USER, DEMO_KEYCRM_KEY

logger = logging.getLogger(__name__)

LOCAL = "127.0.0.1"


def emulators_start(*, keycrm_port: int, bas_port: int,
                    cwd: str) -> dict[str, subprocess.Popen]:
    """Both emulators with their demo data, listening on loopback; returns once both answer."""
    children = {
        name: subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", f"emulators.{name}", "--host", LOCAL, "--port", str(port),
             "--seed-demo"], cwd=cwd)
        for name, port in (("keycrm", keycrm_port), ("bas", bas_port))}
    for port in (keycrm_port, bas_port):
        _wait_until_up(f"http://{LOCAL}:{port}/__emulator__/state")
    control(keycrm_port, "keys", {"keys": [DEMO_KEYCRM_KEY]})
    control(bas_port, "users", {"base": "sb", "users": {DEMO_BAS_USER: DEMO_BAS_PASSWORD}})
    return children


def control(port: int, verb: str, body: Any) -> Any:
    request = urllib.request.Request(
        f"http://{LOCAL}:{port}/__emulator__/{verb}", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read() or b"null")


def _wait_until_up(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - loopback
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the emulator at {url} did not start") from None
            time.sleep(0.2)


class LiveShop(threading.Thread):
    """Places an order in the KeyCRM emulator every ``every`` seconds, like a shop's website."""

    def __init__(self, *, keycrm_port: int, every: float = 20.0) -> None:
        super().__init__(name="demo-live-shop", daemon=True)
        self.api = f"http://{LOCAL}:{keycrm_port}/v1"
        self.every = every
        self.stopped = threading.Event()
        self.random = random.Random(2026)  # noqa: S311 - demo data, not security

    def run(self) -> None:
        while not self.stopped.wait(self.every):
            try:
                self.place_order()
            except OSError as exc:  # the emulator is stopping; try again next time
                logger.warning("demo shop could not place an order: %s", exc)

    def place_order(self) -> int:
        """A new order, then a manager confirming it: KeyCRM's webhooks fire on status
        changes, so the confirmation is what the portal hears at once (polling would find
        the order later anyway)."""
        order_id = self._new_order()
        statuses = {s["name"]: s["id"] for s in self._get("/order/status?limit=50")["data"]}
        confirmed = statuses.get("Підтверджено")
        if confirmed is not None:
            self._call(urllib.request.Request(  # noqa: S310 - the loopback emulator
                f"{self.api}/order/{order_id}",
                data=json.dumps({"status_id": confirmed}).encode(),
                headers={**self._headers(), "Content-Type": "application/json"}, method="PUT"))
        return order_id

    def _new_order(self) -> int:
        offers = self._get("/offers?limit=50")["data"]
        picked = self.random.sample(offers, k=min(len(offers), self.random.randint(1, 3)))
        name, phone = self.random.choice(_BUYERS)
        order = {
            "source_id": 1,
            "buyer": {"full_name": name, "phone": phone},
            "products": [{"sku": offer["sku"], "price": offer["price"],
                          "quantity": self.random.randint(1, 2), "name": offer["sku"]}
                         for offer in picked],
        }
        return self._post("/order", order)["id"]

    def _get(self, path: str) -> Any:
        return self._call(urllib.request.Request(  # noqa: S310 - the loopback emulator
            self.api + path, headers=self._headers()))

    def _post(self, path: str, body: Any) -> Any:
        return self._call(urllib.request.Request(  # noqa: S310 - the loopback emulator
            self.api + path, data=json.dumps(body, ensure_ascii=False).encode(),
            headers={**self._headers(), "Content-Type": "application/json"}, method="POST"))

    @staticmethod
    def _headers() -> dict[str, str]:
        return {"Authorization": f"Bearer {DEMO_KEYCRM_KEY}", "Accept": "application/json"}

    @staticmethod
    def _call(request: urllib.request.Request) -> Any:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return json.loads(response.read())


# New buyers of the live shop, phones written the many ways people write them.
_BUYERS = (
    ("Марченко Ярослава", "067 555 12 34"),
    ("Ткаченко Богдан", "+38 (050) 765-43-21"),
    ("Гнатюк Соломія", "0931112233"),
    ("Лисенко Тарас", "380971234567"),
    ("Петренко Олена", "+380671234567"),
)
