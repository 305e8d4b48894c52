"""Oracle: reads one run back from an MLflow tracking server with MLflow's own Python client.

usage: mlflow_readback.py TRACKING_URI RUN_ID [MODEL_NAME ALIAS]
Prints JSON: the run's info, params, tags, the full history of every metric, every artifact (path,
size and the sha256 of the bytes downloaded through the server), dataset inputs and, when asked,
the model version an alias points at. Non-finite metric values are written as strings ("NaN").
"""
import hashlib
import json
import math
import os
import sys
import tempfile

from mlflow import MlflowClient


def num(v):
    return v if math.isfinite(v) else str(v).replace("nan", "NaN").replace("inf", "Infinity")


def main():
    uri, run_id = sys.argv[1], sys.argv[2]
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    run = client.get_run(run_id)
    out = {
        "run_id": run.info.run_id,
        "run_name": run.info.run_name,
        "experiment_id": run.info.experiment_id,
        "experiment_name": client.get_experiment(run.info.experiment_id).name,
        "status": run.info.status,
        "start_time": run.info.start_time,
        "end_time": run.info.end_time,
        "artifact_uri": run.info.artifact_uri,
        "params": run.data.params,
        "tags": run.data.tags,
        "metrics": {},
        "artifacts": [],
        "datasets": [],
    }
    for key in sorted(run.data.metrics):
        history = client.get_metric_history(run_id, key)
        history = sorted(history, key=lambda m: (m.step, m.timestamp))
        out["metrics"][key] = [[m.step, num(m.value), m.timestamp] for m in history]

    with tempfile.TemporaryDirectory() as tmp:
        def walk(path=None):
            for f in client.list_artifacts(run_id, path):
                if f.is_dir:
                    walk(f.path)
                else:
                    local = client.download_artifacts(run_id, f.path, tmp)
                    with open(local, "rb") as fh:
                        data = fh.read()
                    out["artifacts"].append(
                        {"path": f.path, "size": f.file_size, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                    )
                    os.remove(local)

        walk()
    out["artifacts"].sort(key=lambda a: a["path"])

    for di in run.inputs.dataset_inputs:
        d = di.dataset
        out["datasets"].append(
            {
                "name": d.name,
                "digest": d.digest,
                "source_type": d.source_type,
                "source": json.loads(d.source),
                "profile": json.loads(d.profile) if d.profile else None,
                "tags": {t.key: t.value for t in di.tags},
            }
        )

    if len(sys.argv) >= 5:
        name, alias = sys.argv[3], sys.argv[4]
        mv = client.get_model_version_by_alias(name, alias)
        model = client.get_registered_model(name)
        out["model"] = {
            "name": mv.name,
            "version": mv.version,
            "source": mv.source,
            "run_id": mv.run_id,
            "status": mv.status,
            "aliases": dict(model.aliases),
            "versions": sorted(int(v.version) for v in client.search_model_versions(f"name='{name}'")),
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
