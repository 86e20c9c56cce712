import json

import numpy as np
import pytest
import torch
from gymnasium import spaces
from torch import nn

from ballast.buffers import make_storage
from ballast.common.torch_layers import (
    BaseFeaturesExtractor,
    CombinedExtractor,
    FlattenExtractor,
    MlpExtractor,
    NatureCNN,
    create_mlp,
)
from ballast.encoders import (
    AttentionSetEncoder,
    DeepSetsEncoder,
    DictEncoder,
    FlattenEncoder,
    GraphEncoder,
    MlpEncoder,
    OneHotEncoder,
    build_encoder,
)
from ballast.encoders.preprocessing import preprocess, sb3_space
from ballast.errors import ConfigurationError, UnsupportedSpaceError
from ballast.spaces import check_observation_space, space_from_json, space_to_json

CAPACITY, N_ENVS = 3, 2

VECTOR = spaces.Box(-1.0, 1.0, (3,), np.float32)
IMAGE_CHW = spaces.Box(0, 255, (3, 36, 36), np.uint8)
IMAGE_HWC = spaces.Box(0, 255, (36, 36, 3), np.uint8)
DISCRETE = spaces.Discrete(5, start=-2)
MULTI_DISCRETE = spaces.MultiDiscrete([3, 4], start=[1, -1])
MULTI_BINARY = spaces.MultiBinary(4)
DICT = spaces.Dict(
    {"image": IMAGE_HWC, "vec": VECTOR, "disc": DISCRETE, "md": MULTI_DISCRETE, "mb": MULTI_BINARY}
)

LEAVES = {
    "box_vector": (VECTOR, np.float32),
    "image_channels_first": (IMAGE_CHW, np.uint8),
    "image_channels_last": (IMAGE_HWC, np.uint8),
    "discrete_start": (DISCRETE, np.int64),
    "multi_discrete": (MULTI_DISCRETE, np.int64),
    "multi_binary": (MULTI_BINARY, np.int8),
}


def vector_step(space, n_envs):
    """One observation per env copy, stacked as a vector env returns them."""
    items = [space.sample() for _ in range(n_envs)]
    if isinstance(space, spaces.Dict):
        return {k: np.stack([item[k] for item in items]) for k in space.spaces}
    return np.stack([np.asarray(item) for item in items])


def fill(storage, space):
    space.seed(0)
    rows = [vector_step(space, N_ENVS) for _ in range(CAPACITY)]
    for row, batch in enumerate(rows):
        storage.put(row, batch)
    storage.sync()
    return rows


def expected_items(rows, order, key=None):
    picked = []
    for flat in order:
        batch = rows[flat // N_ENVS]
        picked.append((batch[key] if key else batch)[flat % N_ENVS])
    return np.stack(picked)


ORDER = [5, 0, 3, 3, 2]


@pytest.mark.parametrize("name", list(LEAVES))
def test_storage_round_trips_by_flat_index(name):
    space, dtype = LEAVES[name]
    storage = make_storage(space, CAPACITY, N_ENVS)
    rows = fill(storage, space)
    out = storage.gather(torch.tensor(ORDER))
    assert isinstance(out, torch.Tensor)
    assert out.numpy().dtype == dtype
    np.testing.assert_array_equal(out.numpy(), expected_items(rows, ORDER))


def test_storage_accepts_tensors():
    storage = make_storage(VECTOR, CAPACITY, N_ENVS)
    storage.put(1, torch.tensor([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]))
    out = storage.gather(torch.tensor([3, 2]))
    np.testing.assert_allclose(out.numpy(), [[0.4, 0.5, 0.6], [0.1, 0.2, 0.3]], rtol=1e-6)


def test_dict_storage_round_trips_each_key():
    storage = make_storage(DICT, CAPACITY, N_ENVS)
    rows = fill(storage, DICT)
    out = storage.gather(torch.tensor(ORDER))
    assert set(out) == set(DICT.spaces)
    for key in DICT.spaces:
        np.testing.assert_array_equal(out[key].numpy(), expected_items(rows, ORDER, key))
    assert out["image"].dtype == torch.uint8


def test_normalized_keys_are_stored_as_float():
    space = spaces.Dict({"vec": spaces.Box(-1, 1, (2,), np.float64), "ints": spaces.Box(0, 9, (2,), np.int8)})
    storage = make_storage(space, CAPACITY, N_ENVS, normalized_keys={"ints"})
    assert storage.gather(torch.tensor([0]))["ints"].dtype == torch.float32
    assert storage.gather(torch.tensor([0]))["vec"].dtype == torch.float32


ENCODER_CASES = [
    (VECTOR, "MlpPolicy", 3),
    (IMAGE_CHW, "CnnPolicy", 512),
    (IMAGE_HWC, "CnnPolicy", 512),
    (IMAGE_HWC, "MlpPolicy", 36 * 36 * 3),
    (DISCRETE, "MlpPolicy", 5),
    (MULTI_DISCRETE, "MlpPolicy", 3 + 4),
    (MULTI_BINARY, "MlpPolicy", 4),
    (DICT, "MultiInputPolicy", 256 + 3 + 5 + 7 + 4),
]


@pytest.mark.parametrize(("space", "policy", "features_dim"), ENCODER_CASES)
def test_encoder_output_shape_on_stored_batches(space, policy, features_dim):
    storage = make_storage(space, CAPACITY, N_ENVS)
    fill(storage, space)
    encoder = build_encoder(space, policy)
    assert encoder.features_dim == features_dim
    out = encoder(storage.gather(torch.tensor(ORDER)))
    assert out.shape == (len(ORDER), features_dim)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()


def test_one_hot_encoder_multi_discrete_with_start():
    encoder = OneHotEncoder(MULTI_DISCRETE)
    out = encoder(torch.tensor([[2, -1], [1, 2], [3, 0]]))
    # dimension 0 takes 1, 2, 3; dimension 1 takes -1, 0, 1, 2
    expected = torch.tensor([
        [0, 1, 0, 1, 0, 0, 0],
        [1, 0, 0, 0, 0, 0, 1],
        [0, 0, 1, 0, 1, 0, 0],
    ], dtype=torch.float32)
    torch.testing.assert_close(out, expected)


def test_one_hot_encoder_discrete_with_start():
    out = OneHotEncoder(DISCRETE)(torch.tensor([-2, 0, 2]))
    expected = torch.tensor([[1, 0, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 1]], dtype=torch.float32)
    torch.testing.assert_close(out, expected)


def test_flatten_encoder_scales_images_but_not_vectors():
    image = torch.full((2, 36, 36, 3), 255, dtype=torch.uint8)
    torch.testing.assert_close(build_encoder(IMAGE_HWC, "MlpPolicy")(image), torch.ones(2, 36 * 36 * 3))
    vectors = torch.tensor([[0.5, -0.5, 1.0]])
    torch.testing.assert_close(build_encoder(VECTOR, "MlpPolicy")(vectors), vectors)


def test_cnn_handles_channels_first_and_last_alike():
    torch.manual_seed(0)
    first = build_encoder(IMAGE_CHW, "CnnPolicy")
    last = build_encoder(IMAGE_HWC, "CnnPolicy")
    last.load_state_dict(first.state_dict())
    images = torch.randint(0, 256, (2, 3, 36, 36), dtype=torch.uint8)
    torch.testing.assert_close(first(images), last(images.permute(0, 2, 3, 1)))


UNSUPPORTED = {
    "Text": spaces.Text(8),
    "Tuple": spaces.Tuple((spaces.Discrete(2), spaces.Discrete(3))),
}


@pytest.mark.parametrize("name", list(UNSUPPORTED))
def test_unsupported_observation_spaces_raise_naming_the_space(name):
    space = UNSUPPORTED[name]
    with pytest.raises(UnsupportedSpaceError, match=name):
        check_observation_space(space)
    with pytest.raises(UnsupportedSpaceError, match=name):
        space_to_json(space)


def test_sequence_of_non_box_elements_is_refused_with_a_hint():
    with pytest.raises(UnsupportedSpaceError, match="Box elements"):
        check_observation_space(spaces.Sequence(spaces.Discrete(3)))


@pytest.mark.parametrize("name", ["Text", "Tuple"])
def test_no_storage_or_encoder_for_unsupported_spaces(name):
    space = UNSUPPORTED[name]
    with pytest.raises(UnsupportedSpaceError, match=name):
        make_storage(space, CAPACITY, N_ENVS)
    with pytest.raises(UnsupportedSpaceError, match=name):
        build_encoder(space)


def test_unsupported_space_inside_a_dict_is_named():
    with pytest.raises(UnsupportedSpaceError, match="Text"):
        check_observation_space(spaces.Dict({"ok": VECTOR, "text": spaces.Text(4)}))


def test_nested_dict_raises_naming_the_key():
    nested = spaces.Dict({"outer": spaces.Dict({"inner": VECTOR}), "vec": VECTOR})
    with pytest.raises(UnsupportedSpaceError, match="nested Dict.*'outer'"):
        check_observation_space(nested)


def test_supported_spaces_pass_the_check():
    for space in [*(s for s, _ in LEAVES.values()), DICT]:
        check_observation_space(space)


JSON_SPACES = {
    **{name: space for name, (space, _) in LEAVES.items()},
    "box_bounds_per_dim": spaces.Box(np.array([-1.0, 0.0]), np.array([2.5, 3.0]), dtype=np.float64),
    "box_infinite": spaces.Box(-np.inf, np.inf, (2, 2), np.float32),
    "box_int": spaces.Box(-3, 7, (4,), np.int32),
    "discrete": spaces.Discrete(3),
    "multi_binary_2d": spaces.MultiBinary([2, 3]),
    "dict": DICT,
}


@pytest.mark.parametrize("name", list(JSON_SPACES))
def test_space_json_round_trip(name):
    space = JSON_SPACES[name]
    text = json.dumps(space_to_json(space))
    back = space_from_json(json.loads(text))
    assert back == space
    assert type(back) is type(space)
    assert back.dtype == space.dtype


@pytest.mark.parametrize("space", [
    spaces.Discrete(3, dtype=np.int32),
    spaces.MultiDiscrete([3, 4], dtype=np.int32),
])
def test_space_json_round_trip_keeps_integer_dtype(space):
    back = space_from_json(json.loads(json.dumps(space_to_json(space))))
    assert back.dtype == space.dtype
    assert back == space


# --- SB3's features extractor contract ----------------------------------------------------------------------
def test_every_ballast_encoder_is_a_features_extractor_that_preprocesses_itself():
    for space, policy, _ in ENCODER_CASES:
        encoder = build_encoder(space, policy)
        assert isinstance(encoder, BaseFeaturesExtractor)
    assert all(cls.takes_raw_observations for cls in (FlattenEncoder, OneHotEncoder, DictEncoder, MlpEncoder,
                                                      GraphEncoder, DeepSetsEncoder, AttentionSetEncoder))
    assert not any(cls.takes_raw_observations for cls in (BaseFeaturesExtractor, NatureCNN, FlattenExtractor,
                                                          CombinedExtractor))


def test_base_features_extractor_keeps_sb3s_constructor_contract():
    class Two(BaseFeaturesExtractor):
        def __init__(self, observation_space, features_dim=2):
            super().__init__(observation_space, features_dim)

    extractor = Two(VECTOR, features_dim=np.int64(5))
    assert extractor.features_dim == 5 and type(extractor.features_dim) is int
    assert extractor._observation_space is VECTOR
    with pytest.raises(ConfigurationError, match="features_dim must be a positive int"):
        BaseFeaturesExtractor(VECTOR)  # SB3's default of 0 is refused, as SB3's assertion does


def test_sb3_preprocessing_leaf_by_leaf():
    image = torch.arange(2 * 36 * 36 * 3, dtype=torch.int64).remainder(256).to(torch.uint8).reshape(2, 36, 36, 3)
    out = preprocess(image, IMAGE_HWC, normalize_images=True)
    assert out.dtype == torch.float32 and out.shape == (2, 3, 36, 36)
    assert out[1, 2, 5, 7].item() == np.float32(image[1, 5, 7, 2].item()) / np.float32(255.0)  # (B, C, H, W)
    assert preprocess(image, IMAGE_HWC, normalize_images=False)[1, 2, 5, 7].item() == float(image[1, 5, 7, 2])
    chw = image.permute(0, 3, 1, 2)
    torch.testing.assert_close(preprocess(chw, IMAGE_CHW, True), out, rtol=0, atol=0)
    # Discrete(5, start=-2): one-hot of obs - start
    torch.testing.assert_close(preprocess(torch.tensor([-2, 2]), DISCRETE, True),
                               torch.tensor([[1.0, 0, 0, 0, 0], [0, 0, 0, 0, 1]]))
    # MultiDiscrete([3, 4], start=[1, -1]): one-hot of each entry, concatenated
    torch.testing.assert_close(preprocess(torch.tensor([[3, -1]]), MULTI_DISCRETE, True),
                               torch.tensor([[0.0, 0, 1, 1, 0, 0, 0]]))
    torch.testing.assert_close(preprocess(torch.tensor([[1, 0, 1, 1]], dtype=torch.int8), MULTI_BINARY, True),
                               torch.tensor([[1.0, 0, 1, 1]]))
    vectors = torch.tensor([[0.5, -0.5, 1.0]], dtype=torch.float64)
    assert preprocess(vectors, VECTOR, True).dtype == torch.float32
    batch = preprocess({"image": image, "disc": torch.tensor([0, 1]), "vec": vectors.repeat(2, 1),
                        "md": torch.tensor([[1, 0], [2, 1]]), "mb": torch.zeros(2, 4, dtype=torch.int8)}, DICT, True)
    assert batch["image"].shape == (2, 3, 36, 36) and batch["disc"].shape == (2, 5)


def test_sb3_space_transposes_channels_last_images_only():
    assert sb3_space(IMAGE_HWC).shape == (3, 36, 36) and sb3_space(IMAGE_HWC).dtype == np.uint8
    assert sb3_space(IMAGE_CHW) is IMAGE_CHW and sb3_space(VECTOR) is VECTOR
    assert sb3_space(DICT)["image"].shape == (3, 36, 36) and sb3_space(DICT)["vec"] is VECTOR


def test_nature_cnn_is_sb3s():
    torch.manual_seed(0)
    cnn = NatureCNN(IMAGE_CHW, features_dim=32)
    assert [type(m).__name__ for m in cnn.cnn] == ["Conv2d", "ReLU", "Conv2d", "ReLU", "Conv2d", "ReLU", "Flatten"]
    assert [(m.out_channels, m.kernel_size, m.stride) for m in cnn.cnn if isinstance(m, nn.Conv2d)] == [
        (32, (8, 8), (4, 4)), (64, (4, 4), (2, 2)), (64, (3, 3), (1, 1))]
    assert cnn.linear[0].in_features == 64 and cnn(torch.rand(2, 3, 36, 36)).shape == (2, 32)
    with pytest.raises(UnsupportedSpaceError, match="NatureCNN needs channels-first images"):
        NatureCNN(VECTOR)
    with pytest.raises(UnsupportedSpaceError, match="at least 36x36"):
        NatureCNN(spaces.Box(0, 255, (3, 16, 16), np.uint8))
    scaled = spaces.Box(0.0, 1.0, (3, 36, 36), np.float32)
    with pytest.raises(UnsupportedSpaceError):
        NatureCNN(scaled)
    assert NatureCNN(scaled, features_dim=8, normalized_image=True).features_dim == 8


def test_the_default_cnn_is_the_nature_cnn_with_sb3_preprocessing():
    torch.manual_seed(0)
    encoder = build_encoder(IMAGE_HWC, "CnnPolicy")
    assert type(encoder) is NatureCNN and encoder._observation_space.shape == (3, 36, 36)
    images = torch.randint(0, 256, (2, 36, 36, 3), dtype=torch.uint8)
    expected = encoder.linear(encoder.cnn(images.permute(0, 3, 1, 2).float() / 255.0))
    torch.testing.assert_close(encoder(images), expected, rtol=0, atol=0)


def test_flatten_and_combined_extractors_read_preprocessed_observations():
    flat = FlattenExtractor(MULTI_DISCRETE)
    assert flat.features_dim == 7
    assert flat(preprocess(torch.tensor([[1, -1]]), MULTI_DISCRETE, True)).shape == (1, 7)
    combined = CombinedExtractor(sb3_space(DICT), cnn_output_dim=16)
    assert combined.features_dim == 16 + 3 + 5 + 7 + 4
    assert type(combined.extractors["image"]) is NatureCNN and type(combined.extractors["vec"]) is nn.Flatten
    with pytest.raises(UnsupportedSpaceError, match="Dict observation space"):
        CombinedExtractor(VECTOR)


def test_create_mlp_and_mlp_extractor_build_sb3s_layers():
    layers = create_mlp(4, 2, [8, 6], nn.Tanh, squash_output=True, post_linear_modules=[nn.LayerNorm])
    assert [type(m).__name__ for m in layers] == ["Linear", "LayerNorm", "Tanh", "Linear", "LayerNorm", "Tanh",
                                                  "Linear", "Tanh"]
    assert [(m.in_features, m.out_features) for m in layers if isinstance(m, nn.Linear)] == [(4, 8), (8, 6), (6, 2)]
    assert create_mlp(4, 0, []) == []
    no_bias = create_mlp(3, 1, [5], with_bias=False, pre_linear_modules=[nn.BatchNorm1d])
    assert type(no_bias[0]) is nn.BatchNorm1d and no_bias[0].num_features == 3 and no_bias[1].bias is None
    extractor = MlpExtractor(10, dict(pi=[16], vf=[8, 4]), nn.ReLU, device="cpu")
    assert (extractor.latent_dim_pi, extractor.latent_dim_vf) == (16, 4)
    pi, vf = extractor(torch.zeros(3, 10))
    assert pi.shape == (3, 16) and vf.shape == (3, 4)
    assert MlpExtractor(10, [], nn.Tanh, device="cpu").latent_dim_vf == 10
