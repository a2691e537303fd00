"""Train the churn model from the warehouse and save it with its preprocessing state."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import joblib
import pandas as pd
import yaml
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sqlalchemy import create_engine
from xgboost import XGBClassifier

import settings
from features import LABEL_COLUMN, build_features

log = logging.getLogger("churn.train")

TRAINING_QUERY = f"""
SELECT c.*, CASE WHEN x.customer_id IS NULL THEN 0 ELSE 1 END AS churned
FROM {settings.CUSTOMERS_TABLE} AS c
LEFT JOIN {settings.CANCELLATIONS_TABLE} AS x
  ON x.customer_id = c.customer_id
 AND x.cancelled_at BETWEEN c.snapshot_date AND c.snapshot_date + INTERVAL '60 days'
WHERE c.snapshot_date >= %(since)s
"""


def load_customers(since: str) -> pd.DataFrame:
    engine = create_engine(settings.WAREHOUSE_URL)
    with engine.connect() as connection:
        return pd.read_sql(TRAINING_QUERY, connection, params={"since": since})


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--since", default="2023-01-01", help="first snapshot date to train on")
    parser.add_argument("--output", type=Path, default=Path(settings.MODEL_PATH))
    parser.add_argument("--legacy-features", action="store_true",
                        help="build the v1 feature set (without usage features) for comparison")
    parser.add_argument("--metrics", type=Path, default=Path("artifacts/metrics.yaml"))
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.INFO)
    customers = load_customers(args.since)
    log.info("loaded %d rows from %s", len(customers), settings.CUSTOMERS_TABLE)

    train_df, test_df = train_test_split(customers, test_size=settings.TEST_SIZE,
                                         random_state=settings.RANDOM_SEED, stratify=customers[LABEL_COLUMN])
    x_train, scaler, feature_columns = build_features(train_df)
    x_test, _, _ = build_features(test_df, scaler=scaler, feature_columns=feature_columns)

    model = XGBClassifier(random_state=settings.RANDOM_SEED, **settings.XGB_PARAMS)
    model.fit(x_train, train_df[LABEL_COLUMN])

    scores = model.predict_proba(x_test)[:, 1]
    metrics = {
        "roc_auc": float(roc_auc_score(test_df[LABEL_COLUMN], scores)),
        "average_precision": float(average_precision_score(test_df[LABEL_COLUMN], scores)),
        "rows": len(customers),
    }
    log.info("test metrics: %s", metrics)

    args.output.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump({"model": model, "scaler": scaler, "feature_columns": feature_columns}, args.output)
    args.metrics.write_text(yaml.safe_dump(metrics))


if __name__ == "__main__":
    main()
