"""Stable-Baselines3's module paths, for scripts that move from SB3 by changing their imports.

``from stable_baselines3.common.callbacks import EvalCallback`` becomes
``from ballast.common.callbacks import EvalCallback``: each module here re-exports, under SB3's
module name, what Ballast implements in its own modules. See ``docs/migrating-from-sb3.md``.
"""
