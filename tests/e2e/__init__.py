"""Browser tests: the official frontend, served by a real impasto server, driven in headless Chromium."""
