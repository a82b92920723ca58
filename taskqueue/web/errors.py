"""The API's one error shape: ``{"error": "<message>", "status": <code>}``.

A view raises ApiError (the auth check its subclass AuthFailure) and the
endpoint wrapper answers it with ``json_error``; nothing under /api/ answers
with Django's HTML pages.
"""

from __future__ import annotations

from django.http import JsonResponse


class ApiError(Exception):
    """Raised by a view to answer ``status`` with a JSON error message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status

    @property
    def message(self) -> str:
        return str(self.args[0])


class AuthFailure(ApiError):
    """The request is not allowed; ``status`` is 401 or 403."""


def json_error(status: int, message: str) -> JsonResponse:
    """The one error body of the API: a human message and the status code."""
    return JsonResponse({"error": message, "status": status}, status=status)
