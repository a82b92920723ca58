"""bench/soak.py's settings: tests.settings with the soak's RESULT_TTL and DEAD_LETTER_MAX."""

import os

from tests.settings import *  # noqa: F403
from tests.settings import TASKS

TASKS["default"]["OPTIONS"]["RESULT_TTL"] = int(
    os.environ.get("TQ_SOAK_RESULT_TTL", "60")
)
TASKS["default"]["OPTIONS"]["DEAD_LETTER_MAX"] = int(
    os.environ.get("TQ_SOAK_DEAD_LETTER_MAX", "10000")
)
