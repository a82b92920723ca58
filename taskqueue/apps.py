from django.apps import AppConfig


class TaskQueueConfig(AppConfig):
    name = "taskqueue"
    verbose_name = "Task queue"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from taskqueue import (
            checks,  # noqa: F401  (registers the system checks)
            embedded,
        )
        from taskqueue.web import authchanges

        # Token caches (web/tokencache.py) hear of every change to tokens,
        # users and permissions.
        authchanges.connect()

        # Every process of the site counts as a user of the embedded Redis;
        # the last one to exit stops it (a short command leaves none behind).
        embedded.share_for_process_lifetime()
