"""The churn repository the end-to-end tests install the App on: its name, installation and files."""

from __future__ import annotations

INSTALLATION_ID = 4711
REPO = "octo-org/churn"

FILES = {
    "requirements.txt": "pandas>=1.5\nscikit-learn\n",
    "train.py": (
        "import pandas as pd\n\n\n"
        "def load():\n"
        "    return pd.read_csv('s3://warehouse/churn/customers.csv')\n"
    ),
}
