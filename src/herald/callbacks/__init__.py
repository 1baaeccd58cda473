"""Provider callbacks in: receipts that say what became of a message after the provider
accepted it, each verified by the provider's own signature before anything is recorded."""
