"""The exit codes of every verb: few, stable, and the same table in the README."""

OK = 0            # done; nothing found broken
FAILED = 1        # done, but something failed or was found broken, or could not be carried out
USAGE = 2         # bad usage or configuration (the message names the option or key)
OUTAGE = 3        # the media storage is down: nothing was declared lost
INTERRUPTED = 130  # stopped by a signal: run the same command again to resume
