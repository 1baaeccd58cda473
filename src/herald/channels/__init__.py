"""The delivery channels as plug-ins: one module per channel, one registry that lists them."""
