"""The `colorize` command: users' photos colorized at full resolution with a model this project trained
(`cli`), and reading and writing those photos (`photos`)."""
