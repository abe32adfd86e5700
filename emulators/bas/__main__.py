"""``python -m emulators.bas --port 8701 [--seed-demo]``"""

from emulators.bas import BasEmulator
from emulators.common import run_main

if __name__ == "__main__":
    run_main(BasEmulator, default_port=8701)
