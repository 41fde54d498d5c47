"""The command line, the demo and the book report: the only layer that imports every other."""
