"""Nightly batch scoring: score every active customer from the S3 export and write the scores back."""

from __future__ import annotations

import datetime as dt
import logging

import joblib
import pandas as pd

import settings
from features import ID_COLUMN, build_features

log = logging.getLogger("churn.batch_score")


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    artifact = joblib.load(settings.MODEL_PATH)
    customers = pd.read_parquet(settings.SCORING_INPUT_URI)
    customers = customers[customers["status"] == "active"]
    log.info("scoring %d active customers", len(customers))

    features, _, _ = build_features(customers, scaler=artifact["scaler"],
                                    feature_columns=artifact["feature_columns"])
    scores = artifact["model"].predict_proba(features)[:, 1]

    out = pd.DataFrame({
        ID_COLUMN: customers[ID_COLUMN].to_numpy(),
        "churn_probability": scores,
        "at_risk": scores >= settings.CHURN_THRESHOLD,
        "scored_at": dt.datetime.now(dt.timezone.utc),
    })
    target = f"{settings.SCORING_OUTPUT_URI}date={dt.date.today():%Y-%m-%d}/scores.parquet"
    out.to_parquet(target, index=False)
    log.info("wrote %s", target)


if __name__ == "__main__":
    main()
