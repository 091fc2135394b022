"""What Dagster loads: assets by domain (``assets/``), jobs, the automation, partitions, resources and the
resource set per deployment. ``definitions.py`` builds the factories' assets and automation from the settings and
merges whatever the modules here define at module level (the jobs; what ``dg scaffold defs`` adds). May import
``wiring``, ``io``, ``settings`` and ``core``.
"""
