"""Built-in problems, one folder each; each folder's ``plugin`` module is a symco entry point."""
