"""Feature engineering for the churn model: the same code runs at training and batch-scoring time."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.preprocessing import StandardScaler

import settings

NUMERIC_COLUMNS = [
    "tenure_months",
    "monthly_charges",
    "total_charges",
    "support_tickets_90d",
    "logins_30d",
]
CATEGORICAL_COLUMNS = ["plan", "contract_type", "payment_method", "region"]
ID_COLUMN = "customer_id"
LABEL_COLUMN = "churned"


def _target_encode(df: pd.DataFrame, column: str, prior: float = 0.25, weight: float = 20.0) -> pd.Series:
    stats = df.groupby(column)[LABEL_COLUMN].agg(["sum", "count"])
    smoothed = (stats["sum"] + prior * weight) / (stats["count"] + weight)
    return df[column].map(smoothed).fillna(prior)


def clean(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df[NUMERIC_COLUMNS] = df[NUMERIC_COLUMNS].fillna(0.0)
    df["total_charges"] = df["total_charges"].clip(lower=0.0)
    df["charges_per_month"] = df["total_charges"] / df["tenure_months"].clip(lower=1)
    df["log_logins_30d"] = np.log1p(df["logins_30d"])
    for column in CATEGORICAL_COLUMNS:
        df[column] = df[column].fillna("unknown").str.lower().str.strip()
    return df


def encode(df: pd.DataFrame) -> pd.DataFrame:
    if settings.USE_NEW_ENCODER:
        df = df.assign(plan_te=_target_encode(df, "plan"))
        return pd.get_dummies(df, columns=[c for c in CATEGORICAL_COLUMNS if c != "plan"], dtype=float)
    return pd.get_dummies(df, columns=CATEGORICAL_COLUMNS, dtype=float)


def build_features(
    df: pd.DataFrame,
    scaler: StandardScaler | None = None,
    feature_columns: list[str] | None = None,
) -> tuple[pd.DataFrame, StandardScaler, list[str]]:
    """Clean, one-hot encode and scale; pass the fitted scaler and columns back in at scoring time."""
    encoded = encode(clean(df))
    numeric = [*NUMERIC_COLUMNS, "charges_per_month", "log_logins_30d"]
    if feature_columns is None:
        feature_columns = [c for c in encoded.columns if c not in (ID_COLUMN, LABEL_COLUMN)]
    encoded = encoded.reindex(columns=feature_columns, fill_value=0.0)
    if scaler is None:
        scaler = StandardScaler().fit(encoded[numeric])
    encoded[numeric] = scaler.transform(encoded[numeric])
    return encoded, scaler, feature_columns
