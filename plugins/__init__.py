"""Built-in method plugins (reducers, policies, trainers) registered through entry points."""
