"""Scaling out: joblib's dask backend on a loopback cluster, and training through accelerate on CPU.

The dask tests start a ``LocalCluster`` of two worker processes (one thread
each) on this machine and check two things for each workload: the results
are exactly those of the default backend, and the work ran as tasks on the
cluster's workers (the scheduler's task stream records every task with the
worker that computed it; joblib's dask backend names each task
``batch_of_<function>_<n>_calls-<id>``).

The accelerate tests train skasd's nets wrapped by skorch's
``AccelerateMixin`` with ``Accelerator(cpu=True)``: one process, no GPU. See
docs/scaling.md and docs/gpu.md.
"""

import copy
import json
import logging
import os
import pickle
import re
import subprocess
import sys
from collections import Counter

import joblib
import numpy as np
import pytest
import sklearn
import torch
from sklearn.model_selection import GridSearchCV, PredefinedSplit
from sklearn.pipeline import make_pipeline

from skasd import LocalDensityKNNScorer, LogMelStatistics
from skasd.datasets import load_dcase, make_machine_sounds
from skasd.embedding import SubspaceLoss
from skasd.embedding._multibranch import MultiBranchNet
from skasd.embedding._training import AuxiliaryClassifierNet, seeded_torch
from skasd.embedding._triplet_net import TripletAuxiliaryNet
from skasd.metrics import make_dcase_scorer

# ---------------------------------------------------------------------------
# joblib's dask backend on a loopback LocalCluster
# ---------------------------------------------------------------------------

_TASK_KEY = re.compile(r"^(?:mixed_)?batch_of_(?P<function>.+)_(?P<n_calls>\d+)_calls-[0-9a-f]+$")


@pytest.fixture(scope="module")
def dask_client():
    """Two worker processes of one thread on the loopback interface, closed after the module."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        worker_dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    client = distributed.Client(cluster)
    try:
        client.wait_for_workers(2, timeout=120)
        yield client
    finally:
        client.close()
        cluster.close()


def _calls_on_workers(client, records):
    """Calls per function in the task stream, after checking each task ran on a worker of the cluster."""
    workers = set(client.scheduler_info()["workers"])
    calls = Counter()
    for record in records:
        assert record["worker"] in workers, record
        assert record["status"] == "OK", record
        assert [span["action"] for span in record["startstops"]].count("compute") == 1
        match = _TASK_KEY.match(str(record["key"]))
        assert match is not None, f"not a joblib task: {record['key']!r}"
        calls[match["function"]] += int(match["n_calls"])
    return calls


def test_load_dcase_reads_the_files_on_the_dask_workers(dask_client, dcase_samples):
    from distributed import get_task_stream

    expected = load_dcase(dcase_samples, n_jobs=-1, verbose=0)
    with get_task_stream(dask_client) as stream, joblib.parallel_backend("dask"):
        got = load_dcase(dcase_samples, n_jobs=-1, verbose=0)

    assert got.data.dtype == expected.data.dtype
    np.testing.assert_array_equal(got.data, expected.data)
    np.testing.assert_array_equal(got.target, expected.target)
    assert got.frame.equals(expected.frame)
    assert got.sample_rate == expected.sample_rate
    # Every file was read by a task on a worker, none twice, none in this process.
    calls = _calls_on_workers(dask_client, stream.data)
    assert calls == {"read_clip": len(expected.frame)}


@pytest.fixture(scope="module")
def development_set():
    """Short synthetic clips: normal training clips, then two test folds of both domains and labels."""
    data = make_machine_sounds(
        machine_types="fan", n_source_train=16, n_target_train=4, n_test_normal=8, n_test_anomalous=8,
        duration=0.5, random_state=0,
    )
    test = (data.frame["split"] == "test").to_numpy()
    test_fold = np.full(len(test), -1)  # -1: always in the training set
    test_fold[test] = np.arange(test.sum()) % 2
    return data.data, data.target, data.frame["domain"].to_numpy(), test_fold


def test_feature_batches_run_on_the_dask_workers(dask_client, development_set):
    from distributed import get_task_stream

    X = development_set[0]
    features = LogMelStatistics(n_mels=32, batch_size=8)
    expected = features.fit_transform(X)
    with get_task_stream(dask_client) as stream, joblib.parallel_backend("dask"):
        got = features.fit_transform(X)
    np.testing.assert_array_equal(got, expected)
    # One task per batch of clips: torch ran inside the worker processes.
    n_batches = -(-len(X) // features.batch_size)
    assert sum(_calls_on_workers(dask_client, stream.data).values()) == n_batches


def test_grid_search_over_a_scorer_parameter_on_the_dask_workers(dask_client, development_set):
    from distributed import get_task_stream

    X, y, domain, test_fold = development_set
    grid = {"localdensityknnscorer__n_neighbors": [1, 2, 3]}

    def search():
        with sklearn.config_context(enable_metadata_routing=True):
            return GridSearchCV(
                make_pipeline(LogMelStatistics(n_mels=32), LocalDensityKNNScorer()),
                grid,
                scoring=make_dcase_scorer().set_score_request(domain=True),
                cv=PredefinedSplit(test_fold),
                refit=False,
            ).fit(X, y, domain=domain)

    expected = search()  # the default backend: n_jobs=None runs in this process
    with get_task_stream(dask_client) as stream, joblib.parallel_backend("dask"):
        got = search()

    timing = {"mean_fit_time", "std_fit_time", "mean_score_time", "std_score_time"}
    assert set(got.cv_results_) == set(expected.cv_results_)
    for key in sorted(set(expected.cv_results_) - timing):
        np.testing.assert_array_equal(got.cv_results_[key], expected.cv_results_[key], err_msg=key)
    # The scores are real DCASE scores, computed with the routed domains.
    assert np.all((expected.cv_results_["mean_test_score"] > 0) & (expected.cv_results_["mean_test_score"] <= 1))
    # Each (candidate, split) was fitted and scored by a task on a worker; the
    # feature batches inside those fits became further tasks on the cluster.
    calls = _calls_on_workers(dask_client, stream.data)
    assert calls["_fit_and_score"] == len(grid["localdensityknnscorer__n_neighbors"]) * 2
    assert sum(calls.values()) > calls["_fit_and_score"]


# ---------------------------------------------------------------------------
# accelerate: skasd's nets through skorch's AccelerateMixin, on CPU
# ---------------------------------------------------------------------------


@pytest.fixture
def make_accelerator():
    """Builds ``Accelerator(cpu=True, ...)``; accelerate's process-wide state is reset around the test."""
    pytest.importorskip("accelerate")
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState

    def reset():
        # One Accelerator configuration per process: without a reset, a test
        # asking for another mixed_precision would be refused.
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()

    reset()
    yield lambda **kwargs: Accelerator(cpu=True, **kwargs)
    reset()


@pytest.fixture(scope="module")
def two_classes():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(32, 1600)).astype(np.float32)
    y = np.repeat([0, 1], 16)
    X[y == 1] *= np.sin(np.arange(1600) / 5).astype(np.float32)  # class 1: a modulated spectrum
    return X, y


def _net_params(**kwargs):
    """What MultiBranchEmbedder passes to its net, for a tiny two-branch model."""
    return {
        "module__branches": ("stft_16ms", "spectrum"),
        "module__sample_rate": 16000,
        "module__channels": (4,),
        "module__embedding_dim": 8,
        "module__n_samples": 1600,
        "n_classes": 2,
        "mixup_probability": 0.5,
        "optimizer": torch.optim.AdamW,
        "lr": 1e-2,
        "batch_size": 8,
        "iterator_train__shuffle": True,
        "iterator_train__drop_last": True,
        "max_epochs": 2,
        "train_split": None,
        "verbose": 0,
        **kwargs,
    }


def _criterion():
    return SubspaceLoss(2, [8, 8], n_subclusters=2, generator=torch.Generator().manual_seed(0))


def _full_batch_loss(net, X, y):
    """The criterion on all clips, unmixed, through a copy of the module in training mode (batch statistics)."""
    # Copies: the loss's adaptive scale is a buffer its forward pass updates.
    module, criterion = copy.deepcopy(net.module_).train(), copy.deepcopy(net.criterion_).train()
    with torch.no_grad():
        return criterion(module(torch.from_numpy(X)), torch.from_numpy(y)).item()


def _accelerated_classes():
    from skasd.embedding._accelerate import AcceleratedAuxiliaryClassifierNet

    class CountingNet(AcceleratedAuxiliaryClassifierNet):
        """Counts skasd's mixup steps, records whether the targets were mixed and the autocast dtype."""

        def mix(self, Xi, yi):
            mixed, targets = super().mix(Xi, yi)
            self.mix_log_.append(bool((targets.max(dim=1).values < 1).any()))
            return mixed, targets

        def infer(self, x, **fit_params):
            autocast = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else None
            self.autocast_log_.append(autocast)
            return super().infer(x, **fit_params)

        def on_train_begin(self, net, X=None, y=None, **kwargs):
            # The parameters as training starts: initialised and prepared.
            self.initial_ = {name: p.detach().clone() for name, p in self.module_.named_parameters()}
            self.initial_loss_ = _full_batch_loss(self, X, y)
            return super().on_train_begin(net, X=X, y=y, **kwargs)

    return CountingNet


def _spy_accelerator(accelerator, calls):
    """Count what the accelerator prepares and how often it runs the backward pass."""
    prepare, backward = accelerator.prepare, accelerator.backward

    def counting_prepare(*objects, **kwargs):
        calls.extend(type(obj).__name__ for obj in objects)
        return prepare(*objects, **kwargs)

    def counting_backward(loss, **kwargs):
        calls.append("backward")
        return backward(loss, **kwargs)

    accelerator.prepare, accelerator.backward = counting_prepare, counting_backward


def test_accelerated_net_trains_on_cpu_exactly_like_the_plain_net(make_accelerator, two_classes):
    X, y = two_classes
    counting_net = _accelerated_classes()
    accelerator = make_accelerator()
    calls = []
    _spy_accelerator(accelerator, calls)
    net = counting_net(MultiBranchNet, _criterion(), accelerator=accelerator, **_net_params(mixup_probability=1.0))
    net.mix_log_, net.autocast_log_ = [], []
    with seeded_torch(0, torch.device("cpu")):
        net.fit(X, y)

    # accelerate prepared the module, the criterion, the optimizer and the data loader ...
    assert Counter(calls) == {"MultiBranchNet": 1, "SubspaceLoss": 1, "AdamW": 1, "DataLoader": 1, "backward": 8}
    # ... and skasd's own training step ran: each of the 2 epochs x 4 steps
    # mixed its batch (mixup_probability=1: soft targets) and went backward
    # through the accelerator.
    n_steps = 2 * (len(X) // 8)
    assert len(net.mix_log_) == n_steps and all(net.mix_log_)
    assert calls.count("backward") == n_steps
    assert set(net.autocast_log_) == {None}  # full precision
    # It learned: every parameter moved and the loss on all clips went down.
    after = dict(net.module_.named_parameters())
    assert all(not torch.equal(net.initial_[name], after[name]) for name in after)
    assert np.all(np.isfinite(net.history[:, "train_loss"]))
    assert _full_batch_loss(net, X, y) < net.initial_loss_ - 0.05
    # After training the plain module is back (unwrap_after_train=True).
    assert type(net.module_) is MultiBranchNet and type(net.criterion_) is SubspaceLoss

    # One CPU process: the same seed gives the weights AuxiliaryClassifierNet learns.
    plain = AuxiliaryClassifierNet(MultiBranchNet, _criterion(), device="cpu", **_net_params(mixup_probability=1.0))
    with seeded_torch(0, torch.device("cpu")):
        plain.fit(X, y)
    for name, parameter in plain.module_.named_parameters():
        torch.testing.assert_close(after[name], parameter, rtol=1e-5, atol=1e-6, msg=name)
    np.testing.assert_allclose(net.history[:, "train_loss"], plain.history[:, "train_loss"], rtol=1e-5)


def test_initialize_then_fit_prepares_the_new_module(make_accelerator, two_classes):
    from skasd.embedding._accelerate import AcceleratedAuxiliaryClassifierNet

    X, y = two_classes
    accelerator = make_accelerator()
    calls = []
    _spy_accelerator(accelerator, calls)
    net = AcceleratedAuxiliaryClassifierNet(MultiBranchNet, _criterion(), accelerator=accelerator, **_net_params(max_epochs=1))
    net.initialize()
    net.fit(X, y)  # builds a new module, criterion and optimizer: they are prepared too
    assert Counter(name for name in calls if name != "backward") == {
        "MultiBranchNet": 2, "SubspaceLoss": 2, "AdamW": 2, "DataLoader": 1
    }


def test_accelerated_net_in_bf16_mixed_precision_on_cpu(make_accelerator, two_classes):
    X, y = two_classes
    counting_net = _accelerated_classes()
    net = counting_net(MultiBranchNet, _criterion(), accelerator=make_accelerator(mixed_precision="bf16"), **_net_params())
    net.mix_log_, net.autocast_log_ = [], []
    with seeded_torch(0, torch.device("cpu")):
        net.fit(X, y)
    # Every forward pass ran under bf16 autocast; the parameters stayed float32 and moved.
    assert net.autocast_log_ == [torch.bfloat16] * 2 * (len(X) // 8)
    assert len(net.mix_log_) == 2 * (len(X) // 8)
    assert all(p.dtype == torch.float32 for p in net.module_.parameters())
    assert all(not torch.equal(net.initial_[name], p) for name, p in net.module_.named_parameters())
    assert np.all(np.isfinite(net.history[:, "train_loss"]))


def test_accelerated_net_validates_pickles_and_stays_silent(make_accelerator, two_classes, capsys):
    from skorch.dataset import ValidSplit
    from skorch.exceptions import DeviceWarning

    from skasd.embedding._accelerate import AcceleratedAuxiliaryClassifierNet

    X, y = two_classes
    net = AcceleratedAuxiliaryClassifierNet(
        MultiBranchNet, _criterion(), accelerator=make_accelerator(),
        **_net_params(train_split=ValidSplit(0.25, stratified=True, random_state=0)),
    )
    with seeded_torch(0, torch.device("cpu")):
        net.fit(X, y)
    # verbose=0 prints nothing (skorch's accelerate sink would print the epoch table).
    assert capsys.readouterr().out == ""
    # The validation loss (averaged over the one process) is recorded as usual.
    assert np.all(np.isfinite(net.history[:, "valid_loss"]))
    # Unwrapped after training, the net pickles and embeds like any net (skorch
    # warns that it loads a net of device=None on the CPU).
    with pytest.warns(DeviceWarning, match="requested device was not specified"):
        restored = pickle.loads(pickle.dumps(net))
    np.testing.assert_allclose(restored.forward(X[:4]).numpy(), net.forward(X[:4]).numpy(), rtol=1e-6)


def test_accelerated_triplet_net_trains_like_the_plain_triplet_net(make_accelerator, two_classes):
    from skasd.embedding._accelerate import AcceleratedTripletAuxiliaryNet

    X, y = two_classes
    # Two "machine types", each its own class: positives mix in a clip of the other one.
    triplet_params = {"class_machine": np.arange(2), "background": X, "background_machine": y}
    accelerated = AcceleratedTripletAuxiliaryNet(
        MultiBranchNet, _criterion(), accelerator=make_accelerator(), **triplet_params, **_net_params(max_epochs=1)
    )
    plain = TripletAuxiliaryNet(MultiBranchNet, _criterion(), device="cpu", **triplet_params, **_net_params(max_epochs=1))
    for net in (accelerated, plain):
        with seeded_torch(0, torch.device("cpu")):
            net.fit(X, y)
    batches = accelerated.history[-1, "batches"]
    assert len(batches) == len(X) // 8
    for key in ("train_loss", "ss_loss", "triplet_loss"):
        np.testing.assert_allclose(
            [batch[key] for batch in batches], [batch[key] for batch in plain.history[-1, "batches"]], rtol=1e-5
        )


_TWO_PROCESS_SCRIPT = """
import json, os, sys
import numpy as np, torch
from accelerate import Accelerator
from skorch.callbacks import EarlyStopping
from skorch.dataset import ValidSplit
from skasd.embedding import SubspaceLoss
from skasd.embedding._accelerate import AcceleratedAuxiliaryClassifierNet
from skasd.embedding._multibranch import MultiBranchNet
from skasd.embedding._training import seeded_torch

class CountingNet(AcceleratedAuxiliaryClassifierNet):
    def mix(self, Xi, yi):
        self.batch_sizes_.append(len(Xi))
        return super().mix(Xi, yi)

accelerator = Accelerator(cpu=True)
rng = np.random.default_rng(0)
X = rng.normal(size=(64, 1600)).astype(np.float32)
y = np.repeat([0, 1], 32)
X[y == 1] *= np.sin(np.arange(1600) / 5).astype(np.float32)
net = CountingNet(
    MultiBranchNet, SubspaceLoss(2, [8, 8], n_subclusters=2, generator=torch.Generator().manual_seed(0)),
    module__branches=("stft_16ms", "spectrum"), module__sample_rate=16000, module__channels=(4,),
    module__embedding_dim=8, module__n_samples=1600, n_classes=2, mixup_probability=0.5, optimizer=torch.optim.AdamW, lr=1e-2,
    batch_size=8, iterator_train__shuffle=True, iterator_train__drop_last=True, max_epochs=6,
    train_split=ValidSplit(0.25, stratified=True, random_state=0),
    callbacks=[("early_stopping", EarlyStopping(patience=1, load_best=True, sink=accelerator.print))],
    accelerator=accelerator, verbose=0,
)
net.batch_sizes_ = []
with seeded_torch(0, accelerator.device):
    net.fit(X, y)
weights = torch.cat([p.detach().flatten() for p in net.module_.parameters()])
with open(f"{sys.argv[1]}/rank{accelerator.process_index}.json", "w") as f:
    json.dump({
        "n_processes": accelerator.num_processes,
        "valid_loss": net.history[:, "valid_loss"],
        "batch_sizes": net.batch_sizes_,
        "module": type(net.module_).__name__,
        "weights": weights.tolist(),
        "embedding": net.forward(X[:4]).flatten().tolist(),
    }, f)
# Leave together, with the process group torn down: a process that exits with
# gloo's threads still running aborts ("terminate called without an active exception").
accelerator.wait_for_everyone()
torch.distributed.destroy_process_group()
# With torch 2.15 one process in ten still aborted so while the interpreter shut down
# (after the results above were written and closed): skip the shutdown.
os._exit(0)
"""


@pytest.mark.parametrize("triplet", [False, True])
def test_multibranch_embedder_trains_through_an_accelerator(make_accelerator, triplet):
    from sklearn.base import clone

    from skasd import MultiBranchEmbedder

    rng = np.random.default_rng(0)
    X = rng.normal(size=(24, 1600)).astype(np.float32)
    machine = np.repeat(["fan", "pump"], 12)
    X[machine == "pump"] *= np.sin(np.arange(1600) / 5).astype(np.float32)
    params = dict(branches=("stft_16ms", "spectrum"), embedding_dim=4, channels=(4,), n_subclusters=2,
                  batch_size=8, max_epochs=2, triplet=triplet, random_state=0, verbose=0)
    plain = MultiBranchEmbedder(**params, device="cpu").fit(X, machine)
    calls = []
    accelerator = make_accelerator()
    _spy_accelerator(accelerator, calls)
    embedder = MultiBranchEmbedder(**params, accelerator=accelerator).fit(X, machine)
    assert "backward" in calls and "MultiBranchNet" in calls
    # One CPU process: the accelerated training is the plain one, step for step.
    np.testing.assert_allclose(embedder.transform(X), plain.transform(X), rtol=1e-5, atol=1e-6)
    assert clone(embedder).get_params()["accelerator"] is not None
    del accelerator.prepare, accelerator.backward  # the spies are closures, which do not pickle
    again = pickle.loads(pickle.dumps(embedder))
    np.testing.assert_array_equal(again.transform(X[:4]), embedder.transform(X[:4]))


def test_two_cpu_processes_train_one_model_and_stop_together(tmp_path):
    """DistributedDataParallel over two CPU processes (gloo), launched by torchrun: the multi-GPU code path."""
    pytest.importorskip("accelerate")
    if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
        pytest.skip("torch.distributed with the gloo backend is not available")
    script = tmp_path / "train.py"
    script.write_text(_TWO_PROCESS_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script), str(tmp_path)]
    completed = subprocess.run(command, check=False, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    assert [rank["n_processes"] for rank in ranks] == [2, 2]
    # Each process drew batches of batch_size=8 from its own half of the 48
    # training clips (3 steps per epoch; one step sees 16 clips in all) ...
    for rank in ranks:
        assert set(rank["batch_sizes"]) == {8} and len(rank["batch_sizes"]) == 3 * len(rank["valid_loss"])
    # ... saw the same validation loss every epoch (averaged over the processes), so that
    # EarlyStopping stopped both at the same epoch, and restored the same best weights
    # into the unwrapped module: one model.
    assert ranks[0]["valid_loss"] == ranks[1]["valid_loss"]
    assert len(ranks[0]["valid_loss"]) < 6, "early stopping should have stopped before max_epochs"
    assert ranks[0]["module"] == ranks[1]["module"] == "MultiBranchNet"
    assert ranks[0]["weights"] == ranks[1]["weights"]
    np.testing.assert_allclose(ranks[0]["embedding"], ranks[1]["embedding"], rtol=1e-6)


def test_accelerated_net_class():
    pytest.importorskip("accelerate")
    from skasd.embedding._accelerate import (
        AcceleratedAuxiliaryClassifierNet,
        AcceleratedTripletAuxiliaryNet,
        accelerated_net_class,
    )

    assert accelerated_net_class(AuxiliaryClassifierNet) is AcceleratedAuxiliaryClassifierNet
    assert accelerated_net_class(TripletAuxiliaryNet) is AcceleratedTripletAuxiliaryNet
    assert accelerated_net_class(AcceleratedTripletAuxiliaryNet) is AcceleratedTripletAuxiliaryNet
    with pytest.raises(ValueError, match="No accelerate-enabled counterpart"):
        accelerated_net_class(torch.nn.Linear)
