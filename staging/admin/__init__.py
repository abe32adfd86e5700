"""Admin pages of the staging app, one module per area."""

from staging.admin import outbox, polling, records  # noqa: F401 - registers
