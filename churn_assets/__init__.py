"""churn_assets: a Dagster asset platform for customer-churn machine learning."""
