"""Built-in plugin: fernn."""
