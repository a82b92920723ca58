import os

from django.apps import AppConfig


class TestsConfig(AppConfig):
    name = "tests"
    label = "tests"

    def ready(self) -> None:
        # A worker subprocess started with TEST_SIGNAL_LOG records Django's
        # task signals there, the way a monitoring app would receive them.
        path = os.environ.get("TEST_SIGNAL_LOG")
        if path:
            from tests.signal_log import connect

            connect(path)
