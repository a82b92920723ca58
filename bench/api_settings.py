"""The load check's settings: the site's production settings, plus the bare view.

Only ROOT_URLCONF differs (``bench/api_urls.py`` adds the bare RPUSH view in
front of the site's URLs), so the bare view never ships as a product URL.
"""

import os

from project.settings import *  # noqa: F403

ROOT_URLCONF = "bench.api_urls"
TASKQUEUE_BENCH_BARE_KEY = os.environ.get("TASKQUEUE_KEY_PREFIX", "") + "bench:bare"
