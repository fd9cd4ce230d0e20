"""A real test bed: OpenStack Swift and a MediaWiki that stores its media in it, on 127.0.0.1."""
