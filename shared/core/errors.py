"""One exception type for every mistake a user can make (bad path, corrupt file, impossible value).

The CLI catches `UserError`, prints its one-line message (problem + fix) and exits with status 2;
anything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A problem the user can fix; the message names the problem and the fix in one line."""
