"""Shared pytest set-up for the unit tests."""
import torch

# The course's models are tiny: intra-op threads cost more in synchronisation than they save,
# and with other processes on a 2-core machine, spinning OpenMP threads slow training ~20x.
torch.set_num_threads(1)
