"""KeyCRM REST API emulator (``/v1``) for tests, demos and benchmarks."""

from emulators.keycrm.app import KeyCrmEmulator

__all__ = ["KeyCrmEmulator"]
