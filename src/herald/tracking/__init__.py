"""Engagement tracking in the email Herald sends: an open pixel and click-through links
rewritten at render time, a one-click unsubscribe link (RFC 8058), the public endpoints they
point at, and the opens and clicks that push and in-app clients report for their own
deliveries. Every event goes to the delivery's timeline through `events.EventLog`."""
