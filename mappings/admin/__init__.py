"""Admin pages of the mappings app, one module per area."""

from mappings.admin import correspondence, directories, profiles  # noqa: F401 - registers
