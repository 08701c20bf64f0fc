"""The evaluation harness: accuracy, latency and memory of every model variant, measured the same way."""
