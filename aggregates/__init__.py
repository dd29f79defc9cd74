"""The domain: aggregates, the lifecycle tables, the target-window matcher, domain errors.

Nothing in here imports psycopg, projections or processes.
"""
