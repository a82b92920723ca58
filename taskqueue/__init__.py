"""taskqueue: a reliable Redis task queue for Django's Tasks API."""

__version__ = "0.1.0"
