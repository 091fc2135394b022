"""The ``churn-assets`` command: ``run`` (its plan, stages and summary), ``evaluate``, ``model``, ``serve``,
``dev``. The top of the house: it may import every other room.
"""
