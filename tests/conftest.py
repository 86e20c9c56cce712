import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _restore_torch_rng():
    state = torch.get_rng_state()
    yield
    torch.set_rng_state(state)
