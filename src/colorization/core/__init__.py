"""The shared core every stage and the `colorize` command use: colour conversions and the shard encoding,
params, one-line errors, atomic writes and the one photo decoder."""
