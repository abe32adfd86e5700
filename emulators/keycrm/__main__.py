"""``python -m emulators.keycrm --port 8702 [--seed-demo]``"""

from emulators.common import run_main
from emulators.keycrm import KeyCrmEmulator

if __name__ == "__main__":
    run_main(KeyCrmEmulator, default_port=8702)
