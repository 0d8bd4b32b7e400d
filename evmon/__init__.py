"""evmon: watch and operate NATS and Kafka event streams from the terminal."""

__version__ = "0.1.0"
