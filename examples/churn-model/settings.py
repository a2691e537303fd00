"""Settings shared by training, batch scoring and the serving app."""

import os

# Where the data lives. Training reads the warehouse; batch scoring reads the nightly S3 export.
WAREHOUSE_URL = os.environ.get("WAREHOUSE_URL", "postgresql://analytics@warehouse.internal:5432/analytics")
CUSTOMERS_TABLE = "analytics.customers_daily"
CANCELLATIONS_TABLE = "billing.cancellations"
SCORING_INPUT_URI = "s3://acme-ml-data/churn/customers/latest/customers.parquet"
SCORING_OUTPUT_URI = "s3://acme-ml-data/churn/scores/"

MODEL_PATH = os.environ.get("CHURN_MODEL_PATH", "artifacts/churn_model.joblib")

# Target encoding for the plan column; one-hot is used until the new encoder has been validated.
USE_NEW_ENCODER = False

RANDOM_SEED = 42
TEST_SIZE = 0.2
CHURN_THRESHOLD = 0.35

XGB_PARAMS = {
    "n_estimators": 400,
    "max_depth": 5,
    "learning_rate": 0.05,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "eval_metric": "auc",
}
