"""OpenAPI 3.1 description of the JSON API, served at /api/schema/.

A static dict: the tests check that every route in taskqueue.urls and
recipe.urls appears here, so the description cannot drift silently.
"""

from __future__ import annotations

from typing import Any


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


_AUTH_ERRORS = {
    "401": _error("Not authenticated (no session, no or bad token)"),
    "403": _error("Missing permission, or CSRF check failed for a session"),
    "500": _error("Unexpected server error (logged; the body says no more)"),
    "503": _error("Redis is unavailable"),
}
_BODY_ERRORS = {
    "411": _error("Chunked body without Content-Length"),
    "413": _error("Body over TASKQUEUE_MAX_BODY_BYTES (default 64 KiB)"),
}
_ENQUEUE_ERRORS = {
    **_AUTH_ERRORS, **_BODY_ERRORS, "405": _error("Method not allowed"),
}  # fmt: skip
_TIME = {"type": ["string", "null"], "format": "date-time"}
_ACCEPTED = _json(_ref("Accepted"), "Task enqueued")

_UNREADABLE = {
    "type": "array",
    "items": {"type": "string"},
    "description": "Present when stored fields could not be read: their names "
    "(shown as null or empty); 'entry' or 'msg' when the whole record is unreadable",
}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "status"],
        "properties": {"error": {"type": "string"}, "status": {"type": "integer"}},
    },
    "Accepted": {
        "type": "object",
        "required": ["task_id", "status_url"],
        "properties": {
            "task_id": {"type": "string"},
            "status_url": {"type": "string", "format": "uri"},
        },
    },
    "TaskError": {
        "type": "object",
        "properties": {
            "exception": {
                "type": "object",
                "properties": {
                    "class": {"type": "string"},
                    "args": {"type": "array", "items": {}},
                    "str": {"type": "string"},
                },
            },
            "traceback": {"type": "string"},
        },
    },
    "TaskResult": {
        "type": "object",
        "required": ["id", "task", "status", "attempts", "errors"],
        "properties": {
            "id": {"type": "string"},
            "task": {"type": "string", "description": "Dotted path of the task"},
            "status": {
                "type": "string",
                "enum": ["READY", "RUNNING", "FAILED", "SUCCESSFUL"],
            },
            "enqueued_at": _TIME,
            "started_at": {
                **_TIME,
                "description": "null until an attempt ran (a poison message never does)",
            },
            "finished_at": _TIME,
            "last_attempted_at": _TIME,
            "attempts": {"type": "integer", "description": "Attempts that ran"},
            "args": {"type": "array", "items": {}},
            "kwargs": {"type": "object"},
            "metadata": {
                "type": "object",
                "description": "The task's metadata (django/new-features#141); {} if none",
            },
            "enqueued_by": {
                "type": ["string", "null"],
                "description": "The pk of the user whose request enqueued it "
                "(API or admin), null when not enqueued by a web request",
            },
            "return_value": {"description": "Present only when SUCCESSFUL"},
            "errors": {"type": "array", "items": _ref("TaskError")},
            "cancel": {
                "type": "string",
                "enum": ["stop", "terminate"],
                "description": "Present when the task was cancelled (its result "
                "is then FAILED with taskqueue.exceptions.TaskCancelled)",
            },
            "schedule": {
                "type": "object",
                "description": "Present on a run fired by a schedule (docs/schedules.md)",
                "required": ["name", "tick"],
                "properties": {
                    "name": {"type": "string"},
                    "tick": _TIME,
                    "manual": {"type": "boolean"},
                    "catch_up": {"type": "boolean"},
                },
            },
            "unreadable": _UNREADABLE,
        },
    },
    "Cancelled": {
        "type": "object",
        "required": ["task_id", "cancelled"],
        "properties": {
            "task_id": {"type": "string"},
            "cancelled": {"type": "boolean", "const": True},
        },
    },
    "QueueStats": {
        "type": "object",
        "required": ["name", "pending", "in_flight", "scheduled", "dead", "paused"],
        "properties": {
            name: {"type": "integer"}
            for name in ("pending", "in_flight", "scheduled", "dead")
        }
        | {"name": {"type": "string"}, "paused": {"type": "boolean"}},
    },
    "Queues": {
        "type": "object",
        "required": ["queues", "workers"],
        "properties": {
            "queues": {"type": "array", "items": _ref("QueueStats")},
            "workers": {"type": "array", "items": _ref("Worker")},
        },
    },
    "Worker": {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string"},
            "host": {"type": ["string", "null"]},
            "pid": {"type": ["integer", "null"]},
            "queues": {"type": ["array", "null"], "items": {"type": "string"}},
            "started_at": _TIME,
            "heartbeat_at": _TIME,
            "current": {"type": ["array", "null"], "items": {"type": "string"}},
            "processed": {"type": ["integer", "null"]},
            "consumers": {"type": ["array", "null"], "items": {"type": "string"}},
            "unreadable": _UNREADABLE,
        },
    },
    "WorkflowStep": {
        "type": "object",
        "required": ["role", "index", "id", "task", "status"],
        "properties": {
            "role": {"type": "string", "enum": ["step", "member", "callback"]},
            "index": {"type": "integer", "description": "1-based, within its role"},
            "id": {"type": "string", "description": "The step's task id"},
            "task": {"type": ["string", "null"]},
            "status": {
                "type": ["string", "null"],
                "enum": ["READY", "RUNNING", "FAILED", "SUCCESSFUL", None],
                "description": "null when the step's record has expired",
            },
        },
    },
    "Workflow": {
        "type": "object",
        "required": ["id", "kind", "status", "steps", "callback"],
        "properties": {
            "id": {"type": "string"},
            "kind": {"type": ["string", "null"], "enum": ["chain", "group", None]},
            "queue": {"type": "string"},
            "status": {
                "type": "string",
                "enum": ["READY", "RUNNING", "FAILED", "SUCCESSFUL"],
                "description": "FAILED or SUCCESSFUL once every step is final",
            },
            "finished": {"type": "integer"},
            "total": {"type": "integer"},
            "only_if_all_succeeded": {"type": "boolean"},
            "steps": {"type": "array", "items": _ref("WorkflowStep")},
            "callback": {"oneOf": [_ref("WorkflowStep"), {"type": "null"}]},
        },
    },
    "Health": {
        "type": "object",
        "properties": {"database": {"type": "string"}, "redis": {"type": "string"}},
    },
}

_PATHS: dict[str, Any] = {
    "/api/recipes/{recipe_id}/process/": {
        "post": {
            "summary": "Process one recipe in the background",
            "parameters": [
                {
                    "name": "recipe_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer"},
                }
            ],
            "responses": {
                "202": _ACCEPTED,
                "404": _error("Unknown recipe"),
                **_ENQUEUE_ERRORS,
            },
        }
    },
    "/api/tasks/": {
        "post": {
            "summary": 'Enqueue from the original payload {"recipe_id": 5}',
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["recipe_id"],
                            "properties": {
                                "recipe_id": {
                                    "type": "integer",
                                    "minimum": 1,
                                    "maximum": 2**63 - 1,
                                    "description": "As in JSON Schema, a number "
                                    "with a zero fraction (5.0) is an integer",
                                }
                            },
                        }
                    }
                },
            },
            "responses": {
                "202": _ACCEPTED,
                "400": _error(
                    "Body is not valid JSON, or recipe_id is missing, not an "
                    "integer or not positive"
                ),
                "404": _error("Unknown recipe"),
                "415": _error("Body is not sent as application/json"),
                **_ENQUEUE_ERRORS,
            },
        }
    },
    "/api/tasks/{task_id}/": {
        "get": {
            "summary": "A task's status, times, return value and errors",
            "parameters": [
                {
                    "name": "task_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                },
                {
                    "name": "wait",
                    "in": "query",
                    "required": False,
                    "description": "Long-poll: answer once the task is finished, "
                    "or after this many seconds",
                    "schema": {"type": "number", "minimum": 0, "maximum": 30},
                },
            ],
            "responses": {
                "200": _json(_ref("TaskResult"), "The task result"),
                "400": _error("wait is not a number of seconds from 0 to 30"),
                "404": _error("Unknown task id"),
                **_AUTH_ERRORS,
            },
        }
    },
    "/api/workflows/{workflow_id}/": {
        "get": {
            "summary": "A workflow's status and each step's (chains and groups)",
            "parameters": [
                {
                    "name": "workflow_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                }
            ],
            "responses": {
                "200": _json(_ref("Workflow"), "The workflow"),
                "404": _error("Unknown, expired or malformed workflow id"),
                **_AUTH_ERRORS,
            },
        }
    },
    "/api/tasks/{task_id}/cancel/": {
        "post": {
            "summary": "Cancel a task that has not finished (needs "
            "taskqueue.manage_queues): a waiting task never starts, a running "
            "one is asked to stop; its result becomes FAILED/TaskCancelled",
            "parameters": [
                {
                    "name": "task_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                },
                {
                    "name": "terminate",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "enum": ["0", "1"]},
                    "description": "1: stop the prefork child running it",
                },
            ],
            "responses": {
                "200": _json(_ref("Cancelled"), "Cancelled"),
                "400": _error("Not a task id, or a bad terminate value"),
                "404": _error("Unknown task id"),
                "409": _error("The task has already finished"),
                "405": _error("Method not allowed"),
                **_AUTH_ERRORS,
            },
        }
    },
    "/api/queues/": {
        "get": {
            "summary": "Counts per queue and the live workers",
            "responses": {"200": _json(_ref("Queues"), "Queue counts"), **_AUTH_ERRORS},
        }
    },
    "/api/schema/": {
        "get": {
            "summary": "This description",
            "security": [],
            "responses": {"200": {"description": "OpenAPI document"}},
        }
    },
    "/healthz": {
        "get": {
            "summary": "Database and Redis health",
            "security": [],
            "responses": {
                "200": _json(_ref("Health"), "Everything answers"),
                "503": _json(_ref("Health"), "Something is down (named in the body)"),
            },
        }
    },
}

SCHEMA: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "taskqueue API", "version": "1"},
    "paths": _PATHS,
    "components": {
        "schemas": _SCHEMAS,
        "securitySchemes": {
            "token": {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "Token <key>, from manage.py createapitoken",
            },
            "session": {"type": "apiKey", "in": "cookie", "name": "sessionid"},
        },
    },
    "security": [{"token": []}, {"session": []}],
}
