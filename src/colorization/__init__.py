"""Colorization of black-and-white photographs in CIE LAB space: data, models, training, evaluation."""

import os

# TensorFlow's C++ start-up chatter (CPU features, absent CUDA drivers) hides the stages' own output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
