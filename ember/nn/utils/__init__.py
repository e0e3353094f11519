"""nn utilities: gradient clipping, parameter vectors, rnn packing."""
