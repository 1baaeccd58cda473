"""Herald: a self-hostable, multi-channel notification service.

The path of one notification:
API (validate, dedup, commit log + queue) -> per-channel queue -> worker
(contacts/prefs from cache, rate limit, render) -> provider adapter ->
attempt recorded -> status / retry ladder / dead letter.
"""

__version__ = "0.1.0"
