"""Online scoring API: the CRM calls POST /predict with one customer's record."""

from __future__ import annotations

import os

import joblib
import numpy as np
import pandas as pd
from flask import Flask, jsonify, request

NUMERIC = ["tenure_months", "monthly_charges", "total_charges", "support_tickets_90d", "logins_30d"]
CATEGORICAL = ["plan", "contract_type", "payment_method", "region"]
THRESHOLD = 0.35

app = Flask(__name__)
artifact = joblib.load(os.environ.get("CHURN_MODEL_PATH", "artifacts/churn_model.joblib"))


def prepare(df: pd.DataFrame) -> pd.DataFrame:
    # Kept in this file so the image does not need the training code.
    df = df.copy()
    df[NUMERIC] = df[NUMERIC].fillna(-1.0)
    df["charges_per_month"] = df["total_charges"] / df["tenure_months"].clip(lower=1)
    df["log_logins_30d"] = np.log1p(df["logins_30d"])
    for column in CATEGORICAL:
        df[column] = df[column].fillna("unknown").str.lower().str.strip()
    encoded = pd.get_dummies(df, columns=CATEGORICAL, dtype=float)
    encoded = encoded.reindex(columns=artifact["feature_columns"], fill_value=0.0)
    numeric = [*NUMERIC, "charges_per_month", "log_logins_30d"]
    encoded[numeric] = artifact["scaler"].transform(encoded[numeric])
    return encoded


@app.get("/healthz")
def healthz():
    return {"status": "ok"}


@app.post("/predict")
def predict():
    record = request.get_json(force=True)
    features = prepare(pd.DataFrame([record]))
    probability = float(artifact["model"].predict_proba(features)[0, 1])
    return jsonify({
        "customer_id": record.get("customer_id"),
        "churn_probability": probability,
        "at_risk": probability >= THRESHOLD,
    })
