"""The in-app feed: each user's notifications inside the app's own product, with their states."""
