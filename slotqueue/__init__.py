"""slotqueue: an event-sourced, fair booking queue for DMV appointment slots."""

__version__ = "0.1.0"
