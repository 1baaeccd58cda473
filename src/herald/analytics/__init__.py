"""Analytics: counters per app, template, channel, provider and hour (and day), kept up to date
by the events of each delivery as they are recorded, and the API that reads them.

A delivery's whole story is counted in the hour Herald accepted it (a cohort): a late receipt
or an open days later lands in the same bucket as the send, so the rates of a period are those
of the notifications sent in that period.
"""
