"""Source texts of the duplication rules' cases: small repositories written for the cases, nothing copied."""

from __future__ import annotations

import json

TRAIN = '''import numpy as np
import pandas as pd


def build_features(df):
    df = df.copy()
    df["age"] = df["age"].fillna(0.0)
    df["ratio"] = df["income"] / df["debt"]
    df["log_income"] = df["income"].clip(lower=0).apply(np.log1p)
    df = pd.get_dummies(df, columns=["city"])
    return df.astype("float32")
'''
SERVE = TRAIN.replace("build_features(df)", "features_for_request(frame)").replace("df", "frame")
SERVE_DIVERGED = SERVE.replace("fillna(0.0)", "fillna(-1.0)")
ARGPARSE = '''import argparse


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="data.csv")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=0.001)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--output", default="model.pkl")
    return parser.parse_args()
'''

# The four-statement function of a taxi-fare model, written once for training and copied into three serving paths.
_TRIP = '''def trip_features(trip):
    features = {}
    features["route"] = "%s_%s" % (trip["pickup_zone"], trip["dropoff_zone"])
    features["distance"] = trip["distance_km"]
    return features
'''
FARE_TRAIN = f'''import pickle

from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import Ridge


{_TRIP}

def fit(trips, fares):
    vectorizer = DictVectorizer()
    x = vectorizer.fit_transform([trip_features(t) for t in trips])
    model = Ridge().fit(x, fares)
    pickle.dump((vectorizer, model), open("fare.bin", "wb"))
'''
FARE_FLASK = f'''import pickle

from flask import Flask, jsonify, request

app = Flask("fare")
vectorizer, model = pickle.load(open("fare.bin", "rb"))


{_TRIP}

@app.route("/fare", methods=["POST"])
def fare():
    x = vectorizer.transform(trip_features(request.get_json()))
    return jsonify({{"fare": float(model.predict(x)[0])}})
'''
FARE_LAMBDA = f'''import json
import pickle

vectorizer, model = pickle.load(open("/opt/fare.bin", "rb"))


{_TRIP.replace("trip", "ride")}

def lambda_handler(event, context):
    x = vectorizer.transform(ride_features(json.loads(event["body"])))
    return {{"statusCode": 200, "body": json.dumps({{"fare": float(model.predict(x)[0])}})}}
'''
FARE_BATCH = f'''import pickle
import sys

import pandas as pd


{_TRIP}

def score(path, out):
    vectorizer, model = pickle.load(open("fare.bin", "rb"))
    frame = pd.read_parquet(path)
    x = vectorizer.transform([trip_features(row) for row in frame.to_dict("records")])
    frame["fare"] = model.predict(x)
    frame.to_parquet(out)


if __name__ == "__main__":
    score(sys.argv[1], sys.argv[2])
'''

# A character tokeniser built while preparing the data, and the same two functions as lambdas in a sampling script.
CHAR_PREPARE = '''import numpy as np

text = open("corpus.txt").read()
symbols = sorted(set(text))
stoi = {ch: i for i, ch in enumerate(symbols)}
itos = {i: ch for i, ch in enumerate(symbols)}


def encode(s):
    return [stoi[c] for c in s]


def decode(ids):
    return "".join([itos[i] for i in ids])


np.array(encode(text), dtype=np.uint16).tofile("train.bin")
'''
CHAR_SAMPLE = '''import pickle

import torch

model = torch.load("ckpt.pt")
model.eval()
stoi, itos = pickle.load(open("meta.pkl", "rb"))
encode = lambda text: [stoi[ch] for ch in text]
decode = lambda tokens: "".join([itos[t] for t in tokens])
prompt = torch.tensor(encode("Once"))[None, :]
print(decode(model.generate(prompt, 100)[0].tolist()))
'''

# A training loop every example script repeats.
LOOP = '''import torch


def run_epoch(model, loader, optimizer, device):
    model.train()
    total = 0.0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        total += loss.item()
    return total / len(loader)


if __name__ == "__main__":
    run_epoch(None, [], None, "cpu")
'''

# Two losses sharing one skeleton: the core computation differs, which is the point of each.
LOSSES = '''import torch
from torch import nn


class FocalLoss(nn.Module):
    def forward(self, logits, target):
        probs = torch.sigmoid(logits)
        pt = torch.where(target == 1, probs, 1 - probs)
        weight = (1 - pt) ** 2
        loss = -weight * torch.log(pt.clamp(min=1e-6))
        loss = loss.mean(dim=1)
        return loss.mean()


class DiceLoss(nn.Module):
    def forward(self, logits, target):
        probs = torch.sigmoid(logits)
        inter = (probs * target).sum(dim=1)
        union = probs.sum(dim=1) + target.sum(dim=1)
        loss = 1 - (2 * inter + 1) / (union + 1)
        loss = loss.clamp(min=0)
        return loss.mean()
'''
# Two scalers with one skeleton: neutral names, so only their statements can tell them apart.
SCALERS = '''import numpy as np
import pandas as pd


def standardise(frame, columns):
    out = frame.copy()
    out[columns] = out[columns].fillna(out[columns].median())
    centre = out[columns].mean()
    spread = out[columns].std().replace(0, 1)
    out[columns] = (out[columns] - centre) / spread
    return out.astype("float32")


def rank_scale(frame, columns):
    out = frame.copy()
    out[columns] = out[columns].fillna(out[columns].median())
    centre = out[columns].rank(pct=True)
    spread = np.log1p(out[columns].abs())
    out[columns] = centre * spread.clip(upper=5)
    return out.astype("float32")
'''
PLOTS = '''import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import wandb


def show_history(history):
    frame = pd.DataFrame(history)
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(frame["epoch"], frame["train_loss"], label="train")
    ax.plot(frame["epoch"], frame["val_loss"], label="val")
    ax.set_xlabel("epoch")
    ax.legend()
    fig.savefig("history.png")


class WandbHook:
    def after_batch(self, step, outputs):
        values = np.array(outputs["scores"])
        wandb.log({"mean_score": values.mean(), "step": step})
        wandb.log({"max_score": values.max(), "step": step})
        wandb.log({"hist": wandb.Histogram(values), "step": step})
'''
KFOLD = '''import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

frame = pd.read_csv("train.csv")
x, y = frame.drop(columns=["target"]), frame["target"]
folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
scores = []
for fold, (fit_idx, val_idx) in enumerate(folds.split(x, y)):
    x_fit, x_val = x.iloc[fit_idx], x.iloc[val_idx]
    y_fit, y_val = y.iloc[fit_idx], y.iloc[val_idx]
    model.fit(x_fit, y_fit)
    scores.append(roc_auc_score(y_val, model.predict_proba(x_val)[:, 1]))
print(np.mean(scores))
'''
# Tokenisation copied into every week's folder of a course.
WEEK_DATA = '''import torch


def collate(batch, tokenizer, max_length):
    texts = [example["text"].strip().lower() for example in batch]
    encoded = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    labels = torch.tensor([example["label"] for example in batch])
    return encoded["input_ids"], encoded["attention_mask"], labels
'''


def notebook(*cells: str) -> str:
    return json.dumps({"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "source": c} for c in cells],
                       "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


_CLEAN_CELL = '''df = pd.read_csv("houses.csv")
df["rooms"] = df["rooms"].fillna(df["rooms"].median())
df["age"] = 2024 - df["built"]
df["price_per_m2"] = df["price"] / df["area"]
df = pd.get_dummies(df, columns=["district"])
df = df.astype("float32")
'''
HOUSES_NOTEBOOK = notebook("import pandas as pd\n", _CLEAN_CELL)
HOUSES_SCRIPT = "#!/usr/bin/env python\n# exported from houses.ipynb\nimport pandas as pd\n\n" + _CLEAN_CELL

# A recipe assistant: the training rows and the serving request spell the same prompt layout by hand.
RECIPE_TRAIN = '''from datasets import load_dataset


def to_example(record):
    prompt = f"Pantry: {record['pantry']}\\nCuisine: {record['cuisine']}\\nRecipe:"
    return {"text": prompt + " " + record["recipe"]}


rows = load_dataset("json", data_files="recipes.jsonl")["train"].map(to_example)
'''
RECIPE_SERVE = '''from transformers import AutoTokenizer


class Chef:
    def __init__(self, model, tokenizer):
        self.model = model
        self.tokenizer = tokenizer

    def suggest(self, pantry, cuisine):
        prompt = f"Pantry: {pantry}\\nCuisine: {cuisine}\\nRecipe:"
        ids = self.tokenizer(prompt, return_tensors="pt").input_ids
        return self.tokenizer.decode(self.model.generate(ids)[0])
'''
# The same layout in two functions that only write a report line: no text reaches a model.
RECIPE_REPORT = '''import pandas as pd


def summary(row):
    line = f"Pantry: {row['pantry']}\\nCuisine: {row['cuisine']}\\nRecipe:"
    return line.upper()


def header(pantry, cuisine):
    line = f"Pantry: {pantry}\\nCuisine: {cuisine}\\nRecipe:"
    return pd.Series([line])
'''

# A training and a test dataset, each decoding and scaling images in place, reading from different folders.
READERS = '''import cv2
import numpy as np


class TrainImages:
    def __getitem__(self, index):
        name, label = self.names[index], self.labels[index]
        image = cv2.imread(f"{ROOT}/train/{name}", cv2.IMREAD_COLOR)
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB).astype(np.float32)
        image /= 255.0
        if self.augment:
            image = self.augment(image=image)["image"]
        return image, label


class TestImages:
    def __getitem__(self, index):
        name = self.names[index]
        image = cv2.imread(f"{self.folder}/{name}", cv2.IMREAD_COLOR)
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB).astype(np.float32)
        image /= 255.0
        if self.augment:
            image = self.augment(image=image)["image"]
        return name, image
'''

# A lap-time summary table: descriptive statistics, then the table's own formatting. A report, not features.
LAP_REPORT = '''import pandas as pd


def lap_report(laps, season):
    laps["lap_seconds"] = laps["lap_ms"] / 1000
    table = laps[laps["season"] == season].groupby("team")["lap_seconds"].describe()
    table = table.sort_values(by="mean")
    table.reset_index(inplace=True)
    table.columns = table.columns.str.upper()
    table["season"] = table["season"].astype(str)
    return table
'''
# A stream job started and stopped, and stored features fetched only to be shown to the reader.
STREAM_DEMO = '''job = source.writeStream.option("checkpointLocation", "/tmp/jobs/{n}/").start()
job.awaitTermination(timeout=30)
job.stop()
features = store.get_online_features(features=["trips:count", "trips:miles"], entity_rows=[{{"rider": 7}}])
show_features(features)
finished = job.id
'''

# Player codes published by a second function that repeats the selection, the filter and one of the encodings.
_PICK = '''    settings = {"min_games": 3, "source": "games"}
    frame = frame.reset_index(drop=True)
    picked = frame[["team", "player", "venue", "season", "active", "score"]]
    picked = picked[(picked["active"] == 1) & (picked["season"] > 2019)]
    encoder = LabelEncoder()
'''
ENCODE_PLAYERS = ('''import pandas as pd
from sklearn.preprocessing import LabelEncoder


def encode_players(frame):
''' + _PICK + '''    picked["team"] = encoder.fit_transform(picked["team"])
    picked["venue"] = encoder.fit_transform(picked["venue"])
    picked["player"] = encoder.fit_transform(picked["player"])
    return picked.drop(columns=["active"])
''')
PLAYER_CODES = ('''import pandas as pd
from sklearn.preprocessing import LabelEncoder


def player_codes(frame):
''' + _PICK + '''    picked["player"] = encoder.fit_transform(picked["player"])
    codes = pd.DataFrame({"player": encoder.classes_, "code": range(len(encoder.classes_))})
    return codes
''')

# A question-answering fine-tune: the template is stored once for training, and a smoke test writes it out by hand.
QA_TRAIN = '''from datasets import load_dataset

QA_TEMPLATE = (
    "You answer questions about the shop's return policy. Keep the answer short and polite.\\n\\n"
    "### Question:\\n{question}\\n\\n### Answer:"
)


def to_text(row):
    return {"text": QA_TEMPLATE.format_map(row) + row["answer"]}


rows = load_dataset("json", data_files="qa.jsonl")["train"].map(to_text)
'''
QA_SMOKE = '''from transformers import AutoTokenizer


def smoke_test(model, tokenizer):
    prompt = (
        "You answer questions about the shop's return policy. Keep the answer short and polite.\\n\\n"
        "### Question:\\nCan I return shoes after a month?\\n\\n### Answer:"
    )
    ids = tokenizer(prompt, return_tensors="pt").input_ids
    return tokenizer.decode(model.generate(ids)[0])
'''
# The same prompt written out only to show readers an example: no text reaches a model.
QA_DOCS = QA_SMOKE.replace('''    ids = tokenizer(prompt, return_tensors="pt").input_ids
    return tokenizer.decode(model.generate(ids)[0])''', '''    open("example.txt", "w").write(prompt)''')

# One function holding two feature steps, each copied on its own into a different module.
_PEOPLE_STEPS = '''    df = df.copy()
    df["age"] = df["age"].fillna(0.0)
    df["ratio"] = df["income"] / df["debt"]
    df["log_income"] = np.log1p(df["income"].clip(lower=0))
    df = pd.get_dummies(df, columns=["city"])
'''
_PAYMENT_STEPS = '''    tx = tx.dropna(subset=["amount"])
    tx["amount"] = tx["amount"].clip(lower=0)
    tx["day"] = pd.to_datetime(tx["ts"]).dt.dayofweek
    tx["hour"] = pd.to_datetime(tx["ts"]).dt.hour
    tx = pd.get_dummies(tx, columns=["merchant"])
'''
_HEAD = "import numpy as np\nimport pandas as pd\n\n\n"
COMBINED = (_HEAD + "def build_all(df, tx):\n" + _PEOPLE_STEPS + _PAYMENT_STEPS
            + "    return df.join(tx.groupby(\"customer\").mean())\n")
PEOPLE = _HEAD + "def people(df):\n" + _PEOPLE_STEPS + "    return df.astype(\"float32\")\n"
PAYMENTS = _HEAD + "def payments(tx):\n" + _PAYMENT_STEPS + "    return tx.astype(\"float32\")\n"

# Two experiment scripts whose main code shares its preparation steps and then tries different things.
_EXPERIMENT = '''import numpy as np
import pandas as pd

from pkg.io import load


def main():
    df = load("rides.csv")
    df["age"] = df["age"].fillna(0.0)
    df["ratio"] = df["income"] / df["debt"]
    df["log_income"] = np.log1p(df["income"].clip(lower=0))
    df = pd.get_dummies(df, columns=["city"])
    df = df.astype("float32")
{tail}

if __name__ == "__main__":
    main()
'''
EXPERIMENT_RIDGE = _EXPERIMENT.format(tail='''    model = Ridge(alpha=0.5)
    model.fit(df.drop(columns="fare"), df["fare"])
    save(model, "ridge.bin")''')
EXPERIMENT_TREES = _EXPERIMENT.format(tail='''    grid = {"depth": [3, 5, 8], "rounds": [100, 300]}
    search = GridSearch(Trees(), grid)
    search.fit(df.drop(columns="fare"), df["fare"])
    save(search.best, "trees.bin")''')
