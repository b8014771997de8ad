import torch
from torch import nn

from ecopt.cost import count_flops, count_parameters


def test_parameters_and_flops_of_a_known_network():
    network = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 10))
    assert count_parameters(network) == (1 * 4 * 9 + 4) + (256 * 10 + 10)
    # conv: 2 * (out H*W*C) * (k*k*in) ; linear: 2 * in * out (bias adds are not counted by torch)
    expected = 2 * (8 * 8 * 4) * (3 * 3 * 1) + 2 * 256 * 10
    assert count_flops(network, (torch.zeros(1, 1, 8, 8),)) == expected


def test_stride_cuts_flops_but_not_parameters():
    # The paper's point: parameter count misses what stride does to the work.
    dense = nn.Conv2d(3, 16, 3, stride=1, padding=1)
    strided = nn.Conv2d(3, 16, 3, stride=2, padding=1)
    sample = (torch.zeros(1, 3, 32, 32),)
    assert count_parameters(dense) == count_parameters(strided)
    assert count_flops(strided, sample) * 4 == count_flops(dense, sample)


def test_flop_count_restores_training_mode():
    network = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    network.train()
    count_flops(network, (torch.zeros(1, 4),))
    assert network.training
