"""``stable_baselines3.common.logger``: SB3's logger, implemented in :mod:`ballast.logger` and
:mod:`ballast.log_formats`."""

from ballast.log_formats import (
    CSVOutputFormat,
    Figure,
    FormatUnsupportedError,
    HParam,
    HumanOutputFormat,
    Image,
    JSONOutputFormat,
    KVWriter,
    SeqWriter,
    TensorBoardOutputFormat,
    Video,
    filter_excluded_keys,
    make_output_format,
)
from ballast.logger import DEBUG, DISABLED, ERROR, INFO, WARN, Logger, configure

__all__ = [
    "DEBUG", "INFO", "WARN", "ERROR", "DISABLED", "Logger", "configure", "Video", "Figure", "Image", "HParam",
    "FormatUnsupportedError", "KVWriter", "SeqWriter", "HumanOutputFormat", "JSONOutputFormat", "CSVOutputFormat",
    "TensorBoardOutputFormat", "filter_excluded_keys", "make_output_format",
]
