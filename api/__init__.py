"""Entry points over HTTP: the public, customer, operator, webhook and operations APIs (and
later the dashboard). Thin: they validate, authenticate and call the application commands."""
