"""The web surfaces: the JSON API, the admin dashboard and the /metrics view.

Each reads through ``taskqueue.backends.backend_for`` (a typed backend and
its Broker) and ``taskqueue.results.ResultRecord``; ``taskqueue.urls`` is
the URLconf a project includes.
"""
