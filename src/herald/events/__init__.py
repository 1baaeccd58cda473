"""What happened to a delivery after Herald handed it over: the providers' receipts (delivered,
bounced, complained...) and the recipient's engagement (opened, clicked, unsubscribed), each
recorded once, on the delivery's timeline, and passed on to the webhooks and the rollups."""
