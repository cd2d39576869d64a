"""The README's Python example: a raw CSV table in, predictions with uncertainty out.

python tutorials/readme_example.py [output_dir]              # default: tutorials/figures/
PYRO_BNN_FAST=1 python tutorials/readme_example.py /tmp/out  # smoke run, tiny budgets

Prints the test metrics as JSON (the numbers the README quotes) and writes
``readme_diabetes.png``. The lines between the markers are the README's code block
(tests/test_readme.py checks that they are the same).
"""

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "tutorials" / "figures"
STEPS = 30 if os.environ.get("PYRO_BNN_FAST") == "1" else 5000
os.chdir(ROOT)  # the example reads models/data/diabetes.csv relative to the repository

# --- README ---
import pyro_bnn as pb  # noqa: E402

table = pb.load_csv("models/data/diabetes.csv", target="progression", exclude=["id"])
data = table.train_test_split(test_fraction=0.2, seed=0)  # raw units, no scaling by hand
model = pb.BayesianMLP(data.num_features, hidden=(10,))  # Gaussian noise, learned
post = pb.fit_svi(model, data.x, data.y, num_steps=STEPS)  # standardizes, warns if unfinished
pred = pb.predict(post, data.x_test)  # numpy in, numpy out, in the table's units
low, high = pred.interval(0.9)  # 90 % predictive interval per patient
print(pred.mean[:3], pred.epistemic_std[:3], pred.aleatoric_std[:3])  # data would fix / noise
metrics = pb.metrics.evaluate(pred, data.y_test)  # RMSE, log-likelihood, coverage, ...
figure = pb.plots.plot_predicted_vs_observed(pred, data.y_test, target_name="progression")
pb.plots.save_figure(figure, OUT / "readme_diabetes.png")
# --- end README ---

# references on the same split: least squares and the training mean
import numpy as np  # noqa: E402

design = np.hstack([data.x, np.ones((len(data.x), 1))])
coefficients = np.linalg.lstsq(design, data.y, rcond=None)[0]
least_squares = np.hstack([data.x_test, np.ones((len(data.x_test), 1))]) @ coefficients
metrics["least_squares_rmse"] = float(np.sqrt(np.mean((least_squares - data.y_test) ** 2)))
metrics["mean_rmse"] = float(np.sqrt(np.mean((data.y.mean() - data.y_test) ** 2)))
print(json.dumps({key: round(value, 3) for key, value in metrics.items()}))
