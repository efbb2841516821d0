"""Generic training and evaluation of any registered module (the core's ``training`` plugin)."""
