"""Predictions -> metrics and plots: the metrics every model and the grey baseline are scored with
(`metrics`) and the comparison plots (`plots`)."""
