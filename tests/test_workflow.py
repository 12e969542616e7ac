"""The workflow of issue 25: the job registry, cache-only runs, one trainer per key, receipts, the manifest with
push/pull, the launcher's schedule and its one-line errors, and Snakemake's own view of the DAG (where the workflow
extra is installed: CI installs it)."""
import json
import os
import pathlib
import shutil
import subprocess
import threading
import time

import pytest
import torch

from quanos_lib import checkpoints, jobs, profiles, training, workflow

ROOT = pathlib.Path(__file__).resolve().parents[1]
SNAKEMAKE = ROOT / ".venv" / "bin" / "snakemake"
# The job counts per profile: a change to the notebooks' models moves them, and should be seen here.
JOB_COUNTS = {"smoke": 32, "cpu": 42, "full": 56}


@pytest.mark.parametrize("profile", profiles.PROFILES)
def test_the_registry_is_well_formed(profile):
    registry = jobs.registry(profile)
    ids = [job["id"] for job in registry]
    assert len(ids) == len(set(ids)) == JOB_COUNTS[profile]
    assert len({job["call"] for job in registry}) == len(ids)  # one job per call: no model trained by two jobs
    position = {job_id: k for k, job_id in enumerate(ids)}
    for job in registry:
        assert all(need in position and position[need] < position[job["id"]] for need in job["needs"])  # acyclic
        assert job["family"] in {"linear", "mlp", "conv", "vgg", "mpdbm"} and job["notebooks"]
    assert {job["id"] for job in registry if job["needs"]} >= {"07-front", "07-comparison-seed-0"}
    assert next(job for job in registry if job["id"] == "07-front")["needs"] == ["06-vgg19"]
    # a model several notebooks read is one job, with all of them
    assert next(job for job in registry if job["id"] == "02-maxout-naive")["notebooks"] == [
        "02_maxout_fgsm_and_linearity", "03_adversarial_training", "04_ensembles_rbf_rubbish"]


def test_a_checkpoint_two_jobs_reach_is_trained_where_the_sequential_runner_trains_it(profile="smoke"):
    """A stacked run's weights depend on the runs beside it in its stack (F6's naive seeds are also ensemble
    members), so a job that reaches a stacked checkpoint an earlier job (in the sequential runner's order) also
    reaches must wait for it: checked against each job's own plan (untrained models on blank data), not the
    registry's runs. (A run trained alone is the same bits whichever job trains it; a lock makes it one.)"""
    registry = {job["id"]: job for job in jobs.registry(profile)}
    datasets, first = jobs.Datasets(profile, synthetic=True), {}

    def upstream(job_id):
        found = set(registry[job_id]["needs"])
        for need in registry[job_id]["needs"]:
            found |= upstream(need)
        return found

    shared = 0
    for job in jobs._workflow_jobs(profile):
        if job.id not in registry:  # a call another notebook's job makes first
            continue
        with training.dry_run(steps=False, exact_keys=False) as planned:
            job.run(datasets)
        for name in {model["checkpoint"] for model in planned if model["config"].stacked}:
            owner = first.setdefault(name, job.id)
            if owner != job.id:
                shared += 1
                assert owner in upstream(job.id), f"{job.id} reaches {name}, which {owner} trains first"
    assert shared > 0  # the profile has such checkpoints (the ensemble's members among them)
    # at full (its plan takes a minute: the registry's edges only): notebook 02's naive net is F6's seed 0 and an
    # ensemble member, trained alone first by the sequential runner
    needs = {job["id"]: job["needs"] for job in jobs.registry("full")}
    assert needs["03-naive-ensemble-caps-seeds"] == ["02-maxout-naive"]
    assert needs["04-ensemble-members"] == ["02-maxout-naive", "03-naive-ensemble-caps-seeds"]


def test_the_job_list_prints_json_and_an_unknown_job_is_one_line(capsys):
    assert jobs.main(["list", "--profile", "smoke"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [job["id"] for job in listed] == [job["id"] for job in jobs.registry("smoke")]
    assert jobs.main(["train", "no-such-job", "--profile", "smoke"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: no job 'no-such-job' at profile smoke") and error.count("\n") == 1


def _linear(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Linear(3, 2)


def _fit(model, pause=0.0):
    time.sleep(pause)
    with torch.no_grad():
        model.weight.add_(1.0)
    return {"loss": [0.5]}


def test_a_cache_only_run_names_the_checkpoint_and_the_job_instead_of_training(tmp_path, monkeypatch):
    key = {"what": "tiny"}
    names = tmp_path / "names.json"
    names.write_text(json.dumps({"tiny": "05-tiny-job"}))
    monkeypatch.setenv("QUANOS_CACHE_ONLY", "1")
    monkeypatch.setenv("QUANOS_JOBS_FILE", str(names))
    with pytest.raises(checkpoints.CacheMiss) as miss:
        checkpoints.load_or_train("tiny", key, _linear, _fit)
    message = str(miss.value)
    assert checkpoints.path_for("tiny", key).name in message and "05-tiny-job" in message and "\n" not in message
    assert not checkpoints.path_for("tiny", key).exists()
    monkeypatch.setenv("QUANOS_CACHE_ONLY", "0")
    trained, _ = checkpoints.load_or_train("tiny", key, _linear, _fit)
    monkeypatch.setenv("QUANOS_CACHE_ONLY", "1")
    read, _ = checkpoints.load_or_train("tiny", key, _linear, _fit)  # a hit is fine
    assert torch.equal(read.weight, trained.weight)
    monkeypatch.setenv("QUANOS_CACHE_ONLY", "0")
    with checkpoints.reading_only(), pytest.raises(checkpoints.CacheMiss):  # an upstream model, inside a job
        checkpoints.load_or_train("tiny", {"what": "other"}, _linear, _fit)


def test_two_trainers_of_one_key_train_it_once(monkeypatch):
    calls, found = [], []

    def fit(model):
        calls.append(threading.get_ident())
        return _fit(model, pause=0.5)

    def trainer():
        found.append(checkpoints.load_or_train("shared", {"k": 1}, _linear, fit)[0])

    threads = [threading.Thread(target=trainer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1  # the second waited on the key's lock, then read the first one's checkpoint
    assert torch.equal(found[0].weight, found[1].weight)
    actions = [entry["action"] for entry in checkpoints.LEDGER if entry["checkpoint"].startswith("shared-")]
    assert sorted(actions[-2:]) == ["read", "trained"]


def test_a_job_trains_its_models_and_writes_a_receipt(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    receipt = tmp_path / "receipt.json"
    made = jobs.train("smoke", "02-softmax", receipt)
    assert json.loads(receipt.read_text()) == made
    assert made["slurm_job_id"] == "4242" and made["job"] == "02-softmax" and made["device"] == "cpu"
    assert len(made["checkpoints"]["trained"]) == 1 and made["checkpoints"]["read"] == []
    again = jobs.train("smoke", "02-softmax")
    assert again["checkpoints"] == {"read": made["checkpoints"]["trained"], "trained": []}


def test_push_and_pull_copy_only_what_matches_the_manifest(tmp_path, monkeypatch):
    for name in ("a", "b"):
        checkpoints.save(checkpoints.path_for(name, {"k": name}), _linear(), {"loss": []})
    names = sorted(path.name for path in checkpoints.cache_dir().glob("*.pt"))
    receipt = tmp_path / "receipt.json"
    receipt.write_text(json.dumps({"job": "j", "device": "cpu", "checkpoints": {"trained": names, "read": []}}))
    manifest = json.loads(jobs.manifest([receipt], "smoke").read_text())
    assert sorted(manifest["checkpoints"]) == names and manifest["profile"] == "smoke"
    shared = tmp_path / "shared"
    assert jobs.push(str(shared)) == 2
    (shared / names[1]).write_bytes(b"not the file the manifest names")
    monkeypatch.setenv("QUANOS_CACHE", str(tmp_path / "reader"))
    with pytest.warns(UserWarning, match="does not match"):
        copied, rejected = jobs.pull(str(shared))
    assert copied == [names[0]] and rejected == [names[1]]
    assert (tmp_path / "reader" / names[0]).read_bytes() == (tmp_path / "checkpoints" / names[0]).read_bytes()
    assert not (tmp_path / "reader" / names[1]).exists()


def test_the_schedule_of_a_small_graph_is_the_one_worked_out_by_hand():
    minutes = {"base": 10.0, "a": 30.0, "b": 20.0, "c": 5.0, "nb": 1.0}
    needs = {"base": [], "a": ["base"], "b": ["base"], "c": [], "nb": ["a", "b", "c"]}
    assert workflow.schedule(minutes, needs, 1) == (66.0, ["base", "a", "nb"])
    assert workflow.schedule(minutes, needs, 2)[0] == 41.0  # base | c, then a | b, then nb after a
    assert workflow.schedule(minutes, needs, 32)[0] == 41.0  # the critical path: base, a, nb


def test_the_launcher_says_in_one_line_what_cannot_work(monkeypatch):
    with pytest.raises(workflow.UsageError, match="unknown executor"):
        workflow.check("kubernetes")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(workflow.UsageError, match="no CUDA GPU"):
        workflow.check(None, gpus=2)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(workflow.UsageError, match="no SLURM client"):
        workflow.check("slurm")


@pytest.mark.parametrize("line, says", [
    (["--executor", "kubernetes"], "unknown executor"), (["--gpus", "2"], "--gpus goes with --cores"),
    (["--cores", "two"], "--cores takes a positive whole number"), (["--cores", "2", "--test"], "run the workflow")])
def test_reproduce_sh_refuses_bad_workflow_options_in_one_line(line, says):
    done = subprocess.run([str(ROOT / "reproduce.sh"), *line], capture_output=True, text=True)
    assert done.returncode == 2 and says in done.stderr and done.stderr.count("\n") == 1


def test_the_dry_run_lists_every_job_with_its_estimate(capsys, monkeypatch):
    planned = workflow.write_plan("smoke", threads=1)
    walls = workflow.dry_run("smoke", planned, gpus=4)
    shown = capsys.readouterr().out
    assert all(job["id"] in shown for job in planned["jobs"]) and "critical path:" in shown
    assert sorted(walls) == [1, 4, 8, 32] and walls[1] >= walls[4] >= walls[32] > 0


@pytest.mark.skipif(not SNAKEMAKE.exists(), reason="the workflow extra is not installed (CI installs it)")
@pytest.mark.parametrize("profile", ["smoke", "full"])
def test_snakemake_plans_every_job_of_the_registry(profile):
    workflow.write_plan(profile, threads=1)
    # --forceall: every job, whatever markers an earlier workflow run here left under build/ (seen: 28 of 32)
    done = subprocess.run([str(SNAKEMAKE), "-n", "--snakefile", str(workflow.SNAKEFILE), "--directory", str(ROOT),
                           "--config", f"profile={profile}", "--cores", "1", "--forceall", "--quiet", "rules"],
                          capture_output=True, text=True, cwd=ROOT, env={**os.environ, "QUANOS_CACHE_ONLY": "0"})
    assert done.returncode == 0, done.stderr[-2000:]
    counts = {line.split()[0]: int(line.split()[1]) for line in done.stdout.splitlines()
              if len(line.split()) == 2 and line.split()[1].isdigit()}
    assert counts["train"] == JOB_COUNTS[profile] and counts["notebook"] == len(workflow.notebooks())
    assert counts["scorecard"] == counts["manifest"] == counts["data"] == 1


def test_a_local_job_takes_a_gpu_no_other_job_holds(monkeypatch, tmp_path):
    chosen = []
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", chosen.append)
    monkeypatch.setattr(jobs.tempfile, "gettempdir", lambda: str(tmp_path))  # this test's own locks
    try:
        assert [jobs._pick_gpu(), jobs._pick_gpu(), jobs._pick_gpu()] == [0, 1, None]  # the third finds both held
        assert chosen == [0, 1]
    finally:
        for handle in jobs._HELD:
            handle.close()
        jobs._HELD.clear()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")  # SLURM assigned one: the job keeps it
    assert jobs._pick_gpu() is None and chosen == [0, 1]
