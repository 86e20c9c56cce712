"""SB3's ``stable_baselines3.common.sb2_compat`` path."""
