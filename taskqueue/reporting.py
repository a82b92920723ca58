"""Django's error reports (the DEBUG page, admin mails) without Redis credentials.

Django hides settings whose *name* looks secret (``PASSWORD``, ``KEY``...),
but ``REDIS_URL`` and ``TASKS["default"]["OPTIONS"]["REDIS_URL"]`` carry the
password inside the *value*, and so do frame variables and ``request.META``
(runserver copies the environment into it). Set in project/settings.py::

    DEFAULT_EXCEPTION_REPORTER_FILTER = "taskqueue.reporting.MaskingReporterFilter"
    DEFAULT_EXCEPTION_REPORTER = "taskqueue.reporting.MaskingReporter"
"""

from __future__ import annotations

from typing import Any

from django.utils.safestring import SafeString, mark_safe
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

from taskqueue.connection import mask_credentials


class _MaskedRepr:
    """Shows a frame variable as its repr with credentials masked."""

    __slots__ = ("_text",)

    def __init__(self, value: Any) -> None:
        try:
            text = repr(value)
        except Exception as exc:  # noqa: BLE001 - a broken __repr__ must not hide the report
            text = f"<unrepresentable {type(value).__name__}: {exc!r}>"
        self._text = mask_credentials(text)

    def __repr__(self) -> str:
        return self._text


class MaskingReporterFilter(SafeExceptionReporterFilter):
    """Django's filter, plus credentials masked in every string setting and META value."""

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        cleansed = super().cleanse_setting(key, value)
        return mask_credentials(cleansed) if isinstance(cleansed, str) else cleansed

    def get_traceback_frame_variables(self, request: Any, tb_frame: Any) -> Any:
        return [
            (name, value if _is_substitute(value, self) else _MaskedRepr(value))
            for name, value in super().get_traceback_frame_variables(request, tb_frame)
        ]


def _is_substitute(value: Any, report_filter: SafeExceptionReporterFilter) -> bool:
    return isinstance(value, str) and value == report_filter.cleansed_substitute


class MaskingReporter(ExceptionReporter):
    """The stock report, masked once more as a whole (exception messages included)."""

    def get_traceback_html(self) -> SafeString:
        # Masking only replaces credentials with "***": still safe HTML.
        return mark_safe(mask_credentials(super().get_traceback_html()))  # noqa: S308

    def get_traceback_text(self) -> SafeString:
        return mark_safe(mask_credentials(super().get_traceback_text()))  # noqa: S308
