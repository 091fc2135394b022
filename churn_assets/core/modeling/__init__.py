"""Training and judging models: the time split, the candidates' pipelines and their fitting, baselines (recency,
BG/NBD, sBG), the buy-till-you-die models (BG/NBD, Gamma-Gamma) and their view as features, the trainer and its
card, calibration and scoring, metrics, plots, promotion, the walk-forward. May import ``core.registry``,
``core.warehouse``, ``core.intake`` and ``core``'s root.
"""
