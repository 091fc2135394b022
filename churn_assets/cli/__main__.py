"""``python -m churn_assets.cli``: the same as the ``churn-assets`` command."""

import sys

from churn_assets.cli.main import console

sys.exit(console())
