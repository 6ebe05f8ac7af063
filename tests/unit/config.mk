# Unit tests and fuzz target of core/config.
