"""The restorer: a bot that re-uploads lost or corrupt files through the MediaWiki API."""
