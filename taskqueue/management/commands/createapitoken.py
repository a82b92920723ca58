"""createapitoken <username>: issue an API token and print its key, once."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from taskqueue.management.commands._common import TaskqueueCommand
from taskqueue.tokens import APIToken


class Command(TaskqueueCommand):
    help = "Create an API token for a user. The key is printed once and stored hashed."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("username", help="The user the token acts as.")
        parser.add_argument(
            "--name", default="", help="A label, e.g. the client's name."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        model = get_user_model()
        try:
            user = model._default_manager.get_by_natural_key(options["username"])
        except model.DoesNotExist:
            raise CommandError(f"No user named {options['username']!r}") from None
        if not user.is_active:
            raise CommandError(f"User {options['username']!r} is inactive")
        _token, key = APIToken.issue(user, options["name"])
        # On stderr so that stdout is the key alone (KEY=$(... createapitoken u)),
        # unstyled: Django would paint it as an error on a terminal.
        self.stderr.write(
            f"Token created for {options['username']}; it is shown only this once. "
            "Send it as 'Authorization: Token <key>'.",
            style_func=str,
        )
        self.stdout.write(key)
