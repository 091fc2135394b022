"""Watching the data and the models: PSI drift, a day's drift against its model's reference, and readiness
(what the automation may run next). The top of ``core``: may import any other ``core`` folder but ``serving``.
"""
