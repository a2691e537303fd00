import pandas as pd

from features import build_features


def _customers() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": [1, 2, 3],
        "tenure_months": [12, None, 1],
        "monthly_charges": [29.9, 49.0, None],
        "total_charges": [358.8, -5.0, 0.0],
        "support_tickets_90d": [0, 3, 1],
        "logins_30d": [14, 0, 2],
        "plan": ["Basic", "pro", None],
        "contract_type": ["monthly", "annual", "monthly"],
        "payment_method": ["card", "invoice", "card"],
        "region": ["EU", "US", "US"],
        "churned": [0, 1, 0],
    })


def test_build_features_has_no_missing_values():
    features, _, columns = build_features(_customers())
    assert not features.isna().any().any()
    assert "customer_id" not in columns and "churned" not in columns


def test_scoring_reuses_training_columns():
    train, scaler, columns = build_features(_customers())
    scored, _, _ = build_features(_customers().head(1), scaler=scaler, feature_columns=columns)
    assert list(scored.columns) == list(train.columns)
