"""The outside world: the monitor's tables, operator-edited presets, booking adapters, and
(later) payment, SMS and email providers."""
