"""Status webhooks out: an app's endpoints, subscribed to the delivery events they want, are
sent each one as a message signed per Standard Webhooks, retried on a ladder, with every
attempt logged, replayable, and disabled after failing for days on end."""
