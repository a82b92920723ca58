"""The 202's host: Django's ALLOWED_HOSTS check, made once per Host value."""

from __future__ import annotations

import pytest
from django.core.exceptions import DisallowedHost
from django.test import RequestFactory

from taskqueue.web.endpoint import request_host


def post(host: str, **extra: str):
    return RequestFactory().post("/api/tasks/", HTTP_HOST=host, **extra)


def test_an_allowed_host_is_the_one_get_host_gives(settings):
    settings.ALLOWED_HOSTS = ["api.example.com", ".example.org"]
    for host in ("api.example.com", "api.example.com:8443", "www.example.org"):
        request = post(host)
        assert request_host(request) == request.get_host() == host


def test_a_host_not_allowed_raises_as_get_host_does(settings):
    settings.ALLOWED_HOSTS = ["api.example.com"]
    for host in ("evil.example.net", "api.example.com.evil.net", "bad host", ""):
        with pytest.raises(DisallowedHost):
            request_host(post(host))


def test_a_change_of_the_settings_is_seen_at_once(settings):
    settings.ALLOWED_HOSTS = ["api.example.com"]
    assert request_host(post("api.example.com")) == "api.example.com"
    settings.ALLOWED_HOSTS = ["other.example.com"]
    with pytest.raises(DisallowedHost):
        request_host(post("api.example.com"))
    settings.ALLOWED_HOSTS, settings.DEBUG = [], True  # Django's DEBUG defaults
    assert request_host(post("localhost:8000")) == "localhost:8000"
    settings.DEBUG = False
    with pytest.raises(DisallowedHost):
        request_host(post("localhost:8000"))


def test_a_forwarded_host_counts_only_when_the_site_says_so(settings):
    settings.ALLOWED_HOSTS = ["api.example.com"]
    forwarded = {"HTTP_X_FORWARDED_HOST": "evil.example.net"}
    assert request_host(post("api.example.com", **forwarded)) == "api.example.com"
    settings.USE_X_FORWARDED_HOST = True
    with pytest.raises(DisallowedHost):
        request_host(post("api.example.com", **forwarded))
