# Unit tests and fuzz target of core/http.
