"""Trained models from LAB shards: the training loop (`loop`) and its resumable checkpoints (`checkpoints`)."""
