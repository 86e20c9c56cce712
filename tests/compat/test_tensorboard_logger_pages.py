"""SB3's "Tensorboard Integration" and "Logger" pages.

Left out: "Logging Images" and "Logging Videos" (classic-control rendering needs pygame, videos
moviepy) and "Logging Figures/Plots" (matplotlib), none installed here. Paths under ``/tmp/``
become folders of the test's own directory.
"""

import glob
import os


def _scalar_tags(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(folder)
    accumulator.Reload()
    return set(accumulator.Tags()["scalars"])


def _hparams_tags(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(folder)
    accumulator.Reload()
    return set(accumulator.PluginTagToContent("hparams"))


def test_tensorboard_basic_usage():
    from ballast import A2C

    model = A2C("MlpPolicy", "CartPole-v1", verbose=1, tensorboard_log="./a2c_cartpole_tensorboard/")
    model.learn(total_timesteps=500)  # compat: 10_000 -> 500

    runs = glob.glob("a2c_cartpole_tensorboard/*")
    assert [os.path.basename(r) for r in runs] == ["A2C_1"]
    tags = _scalar_tags(runs[0])
    assert {"rollout/ep_rew_mean", "rollout/ep_len_mean", "train/value_loss", "train/policy_loss"} <= tags


def test_time_fps_is_logged():
    from ballast import A2C

    model = A2C("MlpPolicy", "CartPole-v1", tensorboard_log="./a2c_cartpole_tensorboard/")
    model.learn(total_timesteps=100)
    assert "time/fps" in _scalar_tags(glob.glob("a2c_cartpole_tensorboard/*")[0])


def test_tensorboard_custom_log_names():
    from ballast import A2C

    model = A2C("MlpPolicy", "CartPole-v1", verbose=1, tensorboard_log="./a2c_cartpole_tensorboard/")
    model.learn(total_timesteps=200, tb_log_name="first_run")  # compat: 10_000 -> 200 (each)
    # Pass reset_num_timesteps=False to continue the training curve in tensorboard
    # By default, it will create a new curve
    # Keep tb_log_name constant to have continuous curve (see note below)
    model.learn(total_timesteps=200, tb_log_name="second_run", reset_num_timesteps=False)
    model.learn(total_timesteps=200, tb_log_name="third_run", reset_num_timesteps=False)

    names = sorted(os.path.basename(r) for r in glob.glob("a2c_cartpole_tensorboard/*"))
    assert [name.rsplit("_", 1)[0] for name in names] == ["first_run", "second_run", "third_run"]
    assert model.num_timesteps == 600


def test_logging_more_values():
    import numpy as np

    from ballast import SAC
    from ballast.common.callbacks import BaseCallback

    model = SAC("MlpPolicy", "Pendulum-v1", tensorboard_log="./sac/", verbose=1)  # compat: /tmp/sac/ -> ./sac/

    class TensorboardCallback(BaseCallback):
        """
        Custom callback for plotting additional values in tensorboard.
        """

        def __init__(self, verbose=0):
            super().__init__(verbose)

        def _on_step(self) -> bool:
            # Log scalar value (here a random variable)
            value = np.random.random()
            self.logger.record("random_value", value)
            return True

    model.learn(800, callback=TensorboardCallback())  # compat: 50000 -> 800 (the 4 episodes of the first dump)

    runs = glob.glob("sac/SAC_*")
    assert len(runs) == 1 and "random_value" in _scalar_tags(runs[0])


def test_logging_hyperparameters():
    from ballast import A2C
    from ballast.common.callbacks import BaseCallback
    from ballast.common.logger import HParam

    class HParamCallback(BaseCallback):
        """
        Saves the hyperparameters and metrics at the start of the training, and logs them to TensorBoard.
        """

        def _on_training_start(self) -> None:
            hparam_dict = {
                "algorithm": self.model.__class__.__name__,
                "learning rate": self.model.learning_rate,
                "gamma": self.model.gamma,
            }
            # define the metrics that will appear in the `HPARAMS` Tensorboard tab by referencing their tag
            # Tensorbaord will find & display metrics from the `SCALARS` tab
            metric_dict = {
                "rollout/ep_len_mean": 0,
                "train/value_loss": 0.0,
            }
            self.logger.record(
                "hparams",
                HParam(hparam_dict, metric_dict),
                exclude=("stdout", "log", "json", "csv"),
            )

        def _on_step(self) -> bool:
            return True

    model = A2C("MlpPolicy", "CartPole-v1", tensorboard_log="runs/", verbose=1)
    model.learn(total_timesteps=500, callback=HParamCallback())  # compat: 5e4 -> 500

    # SB3 writes the HPARAMS summaries into the run's own events file (no sub-folder)
    runs = glob.glob("runs/A2C_*")
    assert len(runs) == 1
    assert "_hparams_/experiment" in _hparams_tags(runs[0])


def test_directly_accessing_the_summary_writer():
    from ballast import SAC
    from ballast.common.callbacks import BaseCallback
    from ballast.common.logger import TensorBoardOutputFormat

    model = SAC("MlpPolicy", "Pendulum-v1", tensorboard_log="./sac/", verbose=1)  # compat: /tmp/sac/ -> ./sac/

    class SummaryWriterCallback(BaseCallback):

        def _on_training_start(self):
            self._log_freq = 1000  # log every 1000 calls

            output_formats = self.logger.output_formats
            # Save reference to tensorboard formatter object
            # note: the failure case (not formatter found) is not handled here, should be done with try/except.
            self.tb_formatter = next(formatter for formatter in output_formats
                                     if isinstance(formatter, TensorBoardOutputFormat))

        def _on_step(self) -> bool:
            if self.n_calls % self._log_freq == 0:
                self.tb_formatter.writer.add_text("direct_access", "this is a value", self.num_timesteps)
                self.tb_formatter.writer.flush()

    callback = SummaryWriterCallback()
    model.learn(200, callback=callback)  # compat: 50000 -> 200

    assert isinstance(callback.tb_formatter, TensorBoardOutputFormat)
    assert hasattr(callback.tb_formatter.writer, "add_text")


def test_logger_configure_and_set_logger():
    import csv

    from ballast import A2C
    from ballast.common.logger import configure

    tmp_path = "./sb3_log/"  # compat: /tmp/sb3_log/ -> ./sb3_log/
    # set up logger
    new_logger = configure(tmp_path, ["stdout", "csv", "tensorboard"])

    model = A2C("MlpPolicy", "CartPole-v1", verbose=1)
    # Set new logger
    model.set_logger(new_logger)
    model.learn(1000)  # compat: 10000 -> 1000

    assert model.logger is new_logger and new_logger.get_dir() == tmp_path
    with open(os.path.join(tmp_path, "progress.csv")) as f:
        rows = list(csv.DictReader(f))
    assert {"time/total_timesteps", "train/value_loss", "train/policy_loss", "train/entropy_loss"} <= set(rows[0])
    assert int(rows[-1]["time/total_timesteps"]) == 1000
    assert glob.glob(os.path.join(tmp_path, "events.out.tfevents.*"))
