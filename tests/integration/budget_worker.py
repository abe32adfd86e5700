"""A process that spends a KeyCRM rate budget: ``python -m tests.integration.budget_worker
BASE_URL API_KEY PER_MINUTE CALLS``. Started several times at once by the rate-budget tests;
the environment (DATABASE_URL, REDIS_URL, KEYCRM_RATE_WINDOW_SECONDS) says where the budget
lives."""

from __future__ import annotations

import os
import sys

import django


def main() -> None:
    base_url, api_key, per_minute, calls = sys.argv[1:5]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from integration.keycrm.client import KeyCrmClient  # needs the app registry ready
    from integration.ratelimit import rate_budget_for

    client = KeyCrmClient(base_url=base_url, api_key=api_key,
                          budget=rate_budget_for(api_key, per_minute=int(per_minute)),
                          max_retries=0)
    for _ in range(int(calls)):
        client.check_key()
    print(f"done {calls}", flush=True)


if __name__ == "__main__":
    main()
