"""The console's Activity: a notification's whole story as one timeline, and a search of the
log exported as CSV. The search itself is the notifications' (`notifications.search`)."""
