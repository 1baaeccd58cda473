"""The Celery + Redis baseline Herald is measured against (see README.md)."""
