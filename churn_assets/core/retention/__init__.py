"""Retention work: what a prediction is worth (value at risk), whom to call (the call list, never the control
group) and, once a scored day's horizon has passed, how right its predictions were (outcomes)."""
