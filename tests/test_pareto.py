import numpy as np

from ecopt import frontier, pareto


def test_as_maximised_negates_minimised_columns_and_reshapes():
    values = np.array([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(pareto.as_maximised(values, [False, True]), [[1.0, -2.0], [3.0, -4.0]])


def test_mixed_directions_front_and_hypervolume():
    # Maximise column 0, minimise column 1: (3, 1) dominates (2, 2); (1, 0) is the best in column 1.
    values = np.array([[3.0, 1.0], [2.0, 2.0], [1.0, 0.0]])
    assert pareto.pareto_mask(values, [False, True]).tolist() == [True, False, True]
    # Reference (0, 3): the union of [0,3]x[1,3] and [0,1]x[0,3] has area 6 + 1.
    assert pareto.hypervolume(values, [0.0, 3.0], [False, True]) == 7.0


def test_the_stage_re_exports_the_core():
    assert frontier.pareto_mask is pareto.pareto_mask and frontier.hypervolume is pareto.hypervolume
