"""Processes that decide over time: the supervised projection runner, the dispatcher."""
