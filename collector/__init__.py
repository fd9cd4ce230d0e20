"""The collector: backs up every file version of a wiki, with its metadata, into the catalog."""
