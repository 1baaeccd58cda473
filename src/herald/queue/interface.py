"""Transitional: the names other modules imported from here before the broker split.

`Broker` is now `queue.transport.Broker`, and `Job` (what the claim hands the send path) is
`delivery.claim.Job`. This module stays only while delivery/pipeline.py, notifications/,
apps/ and deadletters/ are rewritten on other branches; once their imports point at the new
homes it goes, and with it the queue package's last import of the send path.
"""

from herald.delivery.claim import Job
from herald.queue.transport import Broker

__all__ = ["Broker", "Job"]
