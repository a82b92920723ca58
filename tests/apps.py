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
        if os.environ.get("TQ_TEST_CONSUMER_DIES"):
            _first_consumer_dies_after_a_claim()


def _first_consumer_dies_after_a_claim() -> None:
    """A worker subprocess whose first consumer to get a batch dies outside any
    task (the way a bug in the loop would end its thread), with the batch held."""
    from taskqueue.worker import loop

    process, died = loop.Consumer.process, []

    def dies_once(self: loop.Consumer, batch: list) -> None:
        if not died:
            died.append(self.id)
            raise RuntimeError("a bug outside any task (TQ_TEST_CONSUMER_DIES)")
        process(self, batch)

    loop.Consumer.process = dies_once  # type: ignore[method-assign]
