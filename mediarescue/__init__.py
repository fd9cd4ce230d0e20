"""mediarescue: the shared core (catalog, MediaWiki API, Swift, blob store, config) and the command."""
