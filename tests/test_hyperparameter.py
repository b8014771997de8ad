import pytest

from ecopt.hyperparameter import Choice, Fixed, Hyperparameter, Range, ValueType


def test_base_class_is_abstract():
    with pytest.raises(NotImplementedError):
        Hyperparameter()


def test_value_type_is_a_str_enum():
    assert ValueType.INT == "int" and ValueType("float") is ValueType.FLOAT
    assert [t.value for t in ValueType] == ["int", "float", "bool", "str"]


def test_range_int_to_dict_and_bounds():
    width = Range(32, 1, 128, log_scale=True, value_type=ValueType.INT)
    assert width.value == 32
    assert width.to_dict("width") == {
        "name": "width",
        "type": "range",
        "bounds": [1, 128],
        "value_type": "int",
        "log_scale": True,
    }
    width.value = 128.0  # Ax may hand back integral floats
    assert width.value == 128 and isinstance(width.value, int)
    for bad in (0, 129, 3.5, "7", True):
        with pytest.raises(ValueError):
            width.value = bad


def test_range_infers_float_and_rejects_other_types():
    assert Range(0.1, 0, 1).value_type is ValueType.FLOAT
    assert Range(2, 1, 5).value_type is ValueType.INT
    with pytest.raises(ValueError, match="only int or float"):
        Range("a", "a", "b", value_type=ValueType.STR)
    with pytest.raises(ValueError, match="only int or float"):
        Range(True, 0, 1, value_type="bool")


def test_range_checks_its_own_domain():
    with pytest.raises(ValueError, match="outside"):
        Range(5, 0, 1)
    with pytest.raises(ValueError, match="min < max"):
        Range(1, 2, 2)
    with pytest.raises(ValueError, match="log-scale"):
        Range(1, 0, 2, log_scale=True)


def test_choice_to_dict_ordering_and_validation():
    kernel = Choice(3, [5, 1, 3], sort_values=True, value_type="int")
    assert kernel.values == [1, 3, 5]
    assert kernel.to_dict("kernel") == {
        "name": "kernel",
        "type": "choice",
        "values": [1, 3, 5],
        "value_type": "int",
        "is_ordered": True,
        "sort_values": True,
    }
    with pytest.raises(ValueError, match="not one of"):
        kernel.value = 7
    padding = Choice("same", ["same", "valid"], is_ordered=False)
    assert padding.value_type is ValueType.STR and padding.to_dict("p")["is_ordered"] is False
    with pytest.raises(ValueError):
        Choice(1, [1])
    with pytest.raises(ValueError):
        Choice("x", ["a", "b"])


def test_choice_bool_keeps_bools_distinct_from_ints():
    pooling = Choice(False, [False, True])
    assert pooling.value_type is ValueType.BOOL
    with pytest.raises(ValueError):
        pooling.value = 1


def test_fixed_accepts_only_its_value():
    fixed = Fixed("same")
    assert fixed.to_dict("padding") == {"name": "padding", "type": "fixed", "value": "same", "value_type": "str"}
    fixed.value = "same"
    with pytest.raises(ValueError):
        fixed.value = "valid"


def test_domains_in_words():
    from ecopt.hyperparameter import describe_domain

    assert describe_domain(Range(8, 4, 64, log_scale=True)) == "an int in [4, 64] (log scale)"
    assert describe_domain(Range(0.5, 0.0, 1.0)) == "a float in [0.0, 1.0]"
    assert describe_domain(Choice("same", ["same", "valid"])) == "one of ['same', 'valid'] (str)"
    assert describe_domain(Fixed(3)) == "the fixed value 3"
