"""Training and judging models: the time split, candidates, baselines (recency, BG/NBD), the trainer and its
card, calibration and scoring, metrics, plots, promotion, the walk-forward. May import ``core.registry``,
``core.warehouse``, ``core.intake`` and ``core``'s root.
"""
