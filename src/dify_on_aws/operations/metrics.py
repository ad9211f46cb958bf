"""Names of the custom metrics the stack publishes (the worker's scaling) and graphs (the dashboard)."""

from __future__ import annotations

NAMESPACE = "DifyOnAws"
# The sum of the Celery worker's queue lengths, per instance (Count).
QUEUE_DEPTH = "CeleryQueueDepth"
INSTANCE_DIMENSION = "Instance"
