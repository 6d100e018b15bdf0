"""What a network is trained to minimise, and how its output becomes ab: one module per loss."""
