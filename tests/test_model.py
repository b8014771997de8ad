import pytest

from ecopt.hyperparameter import Choice, Fixed, Range
from ecopt.model import Model


class Declared(Model):
    shared = Range(1, 0, 10)  # class attributes count too (reference API allows both)

    def __init__(self):
        super().__init__()
        self.width = Range(4, 1, 8)
        self.act = Choice("relu", ["relu", "tanh"])
        self.padding = Fixed("same")
        self.not_a_hyperparameter = 3


def test_bare_base_class_cannot_be_constructed():
    with pytest.raises(NotImplementedError):
        Model()


def test_hyperparameters_collects_every_hyperparameter_attribute():
    model = Declared()
    assert set(model.hyperparameters) == {"shared", "width", "act", "padding"}


def test_set_hyperparameters_validates_each_value():
    model = Declared()
    model.set_hyperparameters({"width": 8, "act": "tanh"})
    assert model.width.value == 8 and model.act.value == "tanh"
    with pytest.raises(ValueError, match="hyperparameter 'width'"):
        model.set_hyperparameters({"width": 9})
    with pytest.raises(ValueError, match="unknown"):
        model.set_hyperparameters({"depth": 2})


def test_interface_methods_must_be_implemented():
    class Empty(Model):
        pass

    empty = Empty()
    for method in (empty.define, empty.train, empty.evaluate):
        with pytest.raises(NotImplementedError):
            method()
    assert empty.network() is None and empty.single_sample_input() is None
