"""compress: distil, prune, quantize and export fine-tuned BERT classifiers, and measure each step."""

__version__ = "0.1.0"
