"""The built-in simulator: a seeded population with a latent story, and its activity. Imports nothing else
from ``core``.
"""
