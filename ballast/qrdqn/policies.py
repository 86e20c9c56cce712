"""sb3-contrib's ``sb3_contrib.qrdqn.policies``: QR-DQN's policy classes under sb3-contrib's names."""

from ballast.policies.q_network import QRDQNCnnPolicy, QRDQNMultiInputPolicy, QRDQNPolicy, QuantileNetwork

MlpPolicy = QRDQNPolicy
CnnPolicy = QRDQNCnnPolicy
MultiInputPolicy = QRDQNMultiInputPolicy

__all__ = ["CnnPolicy", "MlpPolicy", "MultiInputPolicy", "QRDQNPolicy", "QuantileNetwork"]
