"""BAS (1C:Enterprise 8.3) standard OData interface emulator; see ``app.py``."""

from emulators.bas.app import BasEmulator
from emulators.bas.reference import reference_key

__all__ = ["BasEmulator", "reference_key"]
