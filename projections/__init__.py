"""Projections: events in, the compatibility tables of spec §3.2 out."""
