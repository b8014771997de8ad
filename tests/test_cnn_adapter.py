import pytest

from ecopt.adapters.cnn import CNNClassifier, feature_map_sizes
from ecopt.errors import ConfigError, InfeasibleArchitecture
from ecopt.fixtures import write_cifar10_fixture


def test_declares_the_paper_search_dimensions():
    model = CNNClassifier()
    assert set(model.hyperparameters) == {"width", "depth", "kernel_size", "stride", "padding", "pooling"}
    assert model.hyperparameters["width"].to_dict("width")["bounds"] == [1, 128]
    assert model.hyperparameters["kernel_size"].values == [1, 3, 5, 7, 9]
    assert model.hyperparameters["depth"].to_dict("depth")["bounds"] == [1, 6]


def test_feature_map_sizes_and_infeasible_architectures():
    assert feature_map_sizes(8, 3, 3, 1, "same", True) == [4, 2, 1]
    assert feature_map_sizes(32, 2, 5, 2, "valid", False) == [14, 5]
    with pytest.raises(InfeasibleArchitecture, match="max-pooling a 1x1"):
        feature_map_sizes(8, 4, 3, 1, "same", True)
    with pytest.raises(InfeasibleArchitecture, match="does not fit"):
        feature_map_sizes(8, 2, 9, 1, "valid", False)


def test_define_refuses_pooling_below_one_pixel_on_digits():
    model = CNNClassifier(data={"dataset": "digits"})
    model.set_hyperparameters({"depth": 4, "pooling": True})
    with pytest.raises(InfeasibleArchitecture):
        model.define()


def test_trains_and_beats_chance_on_digits():
    model = CNNClassifier(data={"dataset": "digits"}, max_epochs=15, patience=3)
    model.set_hyperparameters({"width": 8, "depth": 1, "kernel_size": 3, "pooling": True})
    model.define()
    model.train()
    accuracy, samples = model.evaluate()
    assert samples == 359
    assert accuracy > 0.8  # chance is 0.1
    assert 1 <= model.epochs_trained <= 15
    again, _ = model.evaluate()
    assert again == accuracy  # evaluation is deterministic


def test_early_stopping_stops_before_the_budget():
    model = CNNClassifier(data={"dataset": "digits", "max_train_samples": 200}, max_epochs=200, patience=2, min_delta=0.05)
    model.set_hyperparameters({"width": 4, "depth": 1})
    model.define()
    model.train()
    assert model.epochs_trained < 200


def test_weighted_f1_and_cifar_fixture(tmp_path):
    write_cifar10_fixture(tmp_path, train_per_batch=40, test=30)
    model = CNNClassifier(
        data={"dataset": "cifar10", "root": str(tmp_path), "verify_checksums": False, "validation_size": 40},
        performance_metric="weighted_f1",
        max_epochs=3,
    )
    model.set_hyperparameters({"width": 4, "depth": 2, "kernel_size": 3, "stride": 2, "pooling": True})
    model.define()
    model.train()
    f1, samples = model.evaluate()
    assert samples == 30 and 0.0 <= f1 <= 1.0
    (sample,) = model.single_sample_input()
    assert tuple(sample.shape) == (1, 3, 32, 32)


@pytest.mark.parametrize(
    "options, key",
    [
        ({"performance_metric": "auc"}, "adapter_options.performance_metric"),
        ({"batch_size": 0}, "adapter_options.batch_size"),
        ({"patience": -1}, "adapter_options.patience"),
        ({"learning_rate": 0}, "adapter_options.learning_rate"),
        ({"device": "tpu"}, "adapter_options.device"),
    ],
)
def test_bad_options_name_the_key(options, key):
    with pytest.raises(ConfigError) as caught:
        CNNClassifier(**options)
    assert caught.value.key == key


def test_a_rung_monitor_stops_training_at_a_dominated_rung_and_every_check_keeps_its_curve_point():
    from ecopt.early_stopping import RungHistory, RungMonitor

    model = CNNClassifier(data={"dataset": "digits", "max_train_samples": 200}, max_epochs=5, patience=10)
    model.set_hyperparameters({"width": 4, "depth": 1})
    model.define()
    model.train()  # no monitor: trains the budget, one curve point per epoch
    assert [point["epoch"] for point in model.learning_curve] == [1, 2, 3, 4, 5] and model.stopped_at_resource is None
    assert all(set(point) == {"epoch", "train_loss", "validation_loss", "performance", "train_seconds"} for point in model.learning_curve)
    assert all(0 <= point["performance"] <= 1 for point in model.learning_curve)
    seconds = [point["train_seconds"] for point in model.learning_curve]
    assert seconds == sorted(seconds) and seconds[0] > 0
    perfect = [[1.0, 1e9]] * 3  # earlier trials perfect at epoch 3, in both objectives
    model.rung_monitor = RungMonitor(RungHistory(["performance", "samples_per_joule"], [True, True], {3: perfect}), SETTINGS, {"samples_per_joule": 1.0}, 5)
    model.define()
    model.train()
    assert model.epochs_trained == 3 and model.stopped_at_resource == 3 and len(model.learning_curve) == 3
    assert model.rung_monitor.decision.rung == 3


SETTINGS = {"reduction_factor": 3, "min_resource": 1, "min_points_at_rung": 3}
