import json

import pytest

from ballast import schedules
from ballast.errors import ConfigurationError
from ballast.schedules import CallableSchedule, ConstantSchedule, LinearSchedule, as_schedule, linear

PROGRESS = [1.0, 0.75, 0.5, 0.0]


@pytest.mark.parametrize("value", [3e-4, 2, "0.01"])
def test_constant(value):
    schedule = as_schedule(value)
    assert isinstance(schedule, ConstantSchedule)
    assert [schedule(p) for p in PROGRESS] == [float(value)] * 4


def test_linear_goes_from_start_to_end_over_remaining_progress():
    schedule = linear(1.0, 0.2)
    # 0.2 + p * 0.8
    assert [schedule(p) for p in PROGRESS] == pytest.approx([1.0, 0.8, 0.6, 0.2])


def test_lin_string_decays_to_zero():
    schedule = as_schedule("lin_0.001")
    assert schedule == LinearSchedule(0.001, 0.0)
    assert [schedule(p) for p in PROGRESS] == pytest.approx([0.001, 0.00075, 0.0005, 0.0])


def test_callable_is_called_with_remaining_progress():
    schedule = as_schedule(lambda p: 2.0 * p + 1.0)
    assert isinstance(schedule, CallableSchedule)
    assert [schedule(p) for p in PROGRESS] == pytest.approx([3.0, 2.5, 2.0, 1.0])


def test_schedules_pass_through():
    schedule = linear(0.5)
    assert as_schedule(schedule) is schedule


@pytest.mark.parametrize("schedule", [ConstantSchedule(0.3), LinearSchedule(0.001, 0.0), linear(1.0, 0.25)])
def test_json_round_trip(schedule):
    data = json.loads(json.dumps(schedule.to_json()))
    back = as_schedule(data)
    assert back == schedule
    assert [back(p) for p in PROGRESS] == [schedule(p) for p in PROGRESS]


def test_callable_cannot_be_stored_but_is_frozen_at_its_current_value():
    schedule = as_schedule(lambda p: 10.0 * p)
    with pytest.raises(ConfigurationError, match="callable"):
        schedule.to_json()
    frozen = as_schedule(schedules.schedule_to_json(schedule, 0.25))
    assert frozen == ConstantSchedule(2.5)


@pytest.mark.parametrize("bad", ["fast", True, None, {"type": "cosine"}, [0.1]])
def test_invalid_values_raise_configuration_error(bad):
    with pytest.raises(ConfigurationError, match="learning_rate"):
        as_schedule(bad, "learning_rate")


@pytest.mark.parametrize("bad", ["lin_", "lin_fast"])
def test_malformed_lin_string_raises_configuration_error(bad):
    with pytest.raises(ConfigurationError, match="learning_rate"):
        as_schedule(bad, "learning_rate")
