"""SB3's ``stable_baselines3.common.monitor``: episode statistics and monitor files."""

from ballast.envs.monitor import Monitor, ResultsWriter, get_monitor_files, load_results
from ballast.errors import LoadMonitorResultsError

__all__ = ["LoadMonitorResultsError", "Monitor", "ResultsWriter", "get_monitor_files", "load_results"]
