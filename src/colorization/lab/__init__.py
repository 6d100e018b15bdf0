"""Raw photos -> LAB shards: the prepare stage (`prepare`), the shard format and its memory-mapped reader
(`shards`), and data/lab/meta.json with the opening of both splits (`meta`)."""
