"""Print a /predict request body: the first test record, with the features the model card lists."""

import json
from pathlib import Path

import pandas as pd

card = json.loads(Path("models/model.json").read_text())
names = [feature["name"] for feature in card["features"]]
row = pd.read_parquet("data/prepared/test.parquet")[names].head(1)
print(json.dumps({"records": json.loads(row.to_json(orient="records"))}))
