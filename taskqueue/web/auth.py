"""Who is calling the API: a token (``Authorization: Token <key>``) or a session.

Session requests that change state must pass Django's CSRF check; token
requests are exempt because a browser never adds the header by itself.
A token's user and permissions are cached per process (web/tokencache.py).
Failures are raised as AuthFailure so the API answers them as JSON, never
with Django's HTML pages.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware

from taskqueue.tokens import hash_key
from taskqueue.web import tokencache
from taskqueue.web.errors import AuthFailure


class _JsonCsrfCheck(CsrfViewMiddleware):
    """Django's own CSRF check, raising instead of rendering the HTML 403 page."""

    def _reject(self, request: HttpRequest, reason: str) -> HttpResponse:
        raise AuthFailure(403, f"CSRF verification failed: {reason}")


def _no_view(request: HttpRequest) -> HttpResponse:  # pragma: no cover - never called
    raise NotImplementedError


def _check_csrf(request: HttpRequest) -> None:
    # The API views are csrf_exempt so the middleware lets them through;
    # session requests get the same check here, with a JSON failure.
    _JsonCsrfCheck(_no_view).process_view(request, _no_view, (), {})


def _token_user(header: str) -> Any:
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "token" or not key.strip():
        raise AuthFailure(401, "Unsupported Authorization header: use 'Token <key>'")
    user = tokencache.caller(hash_key(key.strip()))
    if user is None:
        raise AuthFailure(401, "Invalid or revoked API token")
    return user


def authenticate(request: HttpRequest) -> AbstractBaseUser:
    """The calling user; sets ``request.user`` for token requests.

    Raises AuthFailure(401) for anonymous or bad-token requests and
    AuthFailure(403) for a session request that fails the CSRF check.
    """
    # META, not request.headers: building that mapping cost more than the token check.
    header = request.META.get("HTTP_AUTHORIZATION")
    if header:
        user = _token_user(header)
        request.user = user
        return user  # type: ignore[no-any-return]
    user = getattr(request, "user", AnonymousUser())
    if not user.is_authenticated:
        raise AuthFailure(
            401, "Authentication required: log in or send 'Authorization: Token <key>'"
        )
    _check_csrf(request)
    return user  # type: ignore[no-any-return]


def require_permission(user: AbstractBaseUser, permission: str) -> None:
    """Raise AuthFailure(403) unless the user has ``permission``.

    A token's cached user is answered from the permissions cached with it
    (what ``has_perm`` would find through ModelBackend, without loading the
    authentication backends again, which cost a request about 10 µs).
    """
    perms = tokencache.cached_permissions(user)
    superuser = getattr(user, "is_superuser", False)
    if perms is not None and user.is_active and (permission in perms or superuser):
        return
    if not user.has_perm(permission):  # type: ignore[attr-defined]
        raise AuthFailure(403, f"Permission {permission!r} is required")
