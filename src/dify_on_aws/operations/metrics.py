"""The project's own CloudWatch metrics: published by operations/queue_depth.py, scaled on by
operations/scaling.py and graphed by the monitoring dashboard."""

from __future__ import annotations

NAMESPACE = "DifyOnAws"
# The number of Celery messages waiting in the worker's queues (the sum over every queue the worker
# consumes), unit Count, published every minute with the dimension below.
QUEUE_DEPTH = "CeleryQueueDepth"
# Dimension value: the configuration's `name`, so several Dify instances in one account stay apart.
INSTANCE_DIMENSION = "Instance"
