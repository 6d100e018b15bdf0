"""Text from outside (a file's contents, a request from the network) put in a one-line message or on the
terminal: it must not be able to forge a line, move the cursor, or fail to encode."""


def shown(value, limit: int = 80) -> str:
    """`value` as it may be put in a one-line message whatever it holds: shortened to `limit` characters, and
    every character that is not printable (ESC and other controls, newlines, DEL, bidi overrides, line
    separators, lone surrogates) escaped as Python escapes it, so it always encodes as UTF-8."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) > limit:
        text = text[:limit] + "..."
    return "".join(character if character.isprintable() else ascii(character)[1:-1] for character in text)
