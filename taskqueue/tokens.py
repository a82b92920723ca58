"""API tokens: random keys shown once, stored only as a SHA-256 digest.

A token key has 256 bits of entropy, so a fast hash is enough (nothing to
brute-force) and lets every API request look its token up by an indexed
column. The plain key exists only in the output of ``createapitoken`` or
on the admin's "token created" page, each shown once.
"""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models


def hash_key(key: str) -> str:
    """The stored form of a token key."""
    return hashlib.sha256(key.encode()).hexdigest()


class APIToken(models.Model):
    """A key that authenticates API requests as its user (``Authorization: Token``)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, blank=True)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(
        max_length=8, editable=False, help_text="First characters, to tell keys apart."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API token"
        # The app's permissions (docs/permissions.md); they live here because
        # the app's only other model is the idempotency ledger.
        permissions = [
            (
                "manage_queues",
                "Can retry, cancel, requeue and delete tasks, pause queues and "
                "run schedules",
            ),
            (
                "view_tasks",
                "Can see task arguments, return values, metadata and tracebacks",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    @classmethod
    def issue(cls, user: models.Model, name: str = "") -> tuple[APIToken, str]:
        """Create a token for ``user``; returns it and the only copy of its key."""
        key = secrets.token_urlsafe(32)
        token = cls.objects.create(
            user=user, name=name, key_hash=hash_key(key), prefix=key[:8]
        )
        return token, key

    def assign_key(self) -> str:
        """Give this (unsaved) token a fresh key, as ``issue`` does; returns its only copy."""
        key = secrets.token_urlsafe(32)
        self.key_hash, self.prefix = hash_key(key), key[:8]
        return key
